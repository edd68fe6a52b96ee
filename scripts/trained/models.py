"""The three trained miniatures: the same module trees as scripts/make_fixtures.py (YOLOv5 v7.0, ultralytics 8.3
YOLOv8n and RT-DETR-l), reused from it, with 3 classes, widths a little larger than the untrained fixtures and
anchors fitted to the synthetic shapes (YOLOv5's autoanchor would pick similar ones for boxes of 8-80 px).

Export is make_fixtures' own path (fuse, eval, export flags, two dry runs, torch.onnx.export with
do_constant_folding=True, then the metadata_props each upstream exporter writes), so node names follow
shared/docs/export-conventions.md exactly as the other fixtures do.
"""

import copy
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import make_fixtures as mf  # noqa: E402  (the module definitions, shared with the untrained fixtures)

from synthetic import NAMES, NC  # noqa: E402

IMGSZ = 128

V5_ANCHORS = [[10, 10, 14, 14, 20, 20], [28, 28, 36, 36, 48, 48], [56, 56, 72, 72, 96, 96]]
# Detect hidden widths: upstream max(16, ch0//4, 64) and max(ch0, min(nc, 100)); the box branch is capped at 32 so the
# file stays small (the untrained fixtures cap both at 16).
V8_DETECT_HIDDEN = 32

RTDETR_YAML = {  # rtdetr-l.yaml at miniature widths and depth 0.33 (HGBlock 2 convs, RepC3 1 RepConv)
    "nc": NC,
    "scale": [0.33, 1.00, 1024],
    "backbone": [
        [-1, 1, "HGStem", [16, 32]],  # 0-P2/4
        [-1, 6, "HGBlock", [16, 64, 3]],  # stage 1
        [-1, 1, "DWConv", [64, 3, 2, 1, False]],  # 2-P3/8
        [-1, 6, "HGBlock", [32, 96, 3]],  # stage 2
        [-1, 1, "DWConv", [96, 3, 2, 1, False]],  # 4-P4/16
        [-1, 6, "HGBlock", [32, 128, 5, True, False]],
        [-1, 6, "HGBlock", [32, 128, 5, True, True]],
        [-1, 6, "HGBlock", [32, 128, 5, True, True]],  # stage 3
        [-1, 1, "DWConv", [128, 3, 2, 1, False]],  # 8-P5/32
        [-1, 6, "HGBlock", [48, 160, 5, True, False]],  # stage 4
    ],
    "head": [
        [-1, 1, "Conv", [32, 1, 1, None, 1, 1, False]],  # 10 input_proj.2
        [-1, 1, "AIFI", [64, 8]],
        [-1, 1, "Conv", [32, 1, 1]],  # 12, Y5, lateral_convs.0
        [-1, 1, "nn.Upsample", [None, 2, "nearest"]],
        [7, 1, "Conv", [32, 1, 1, None, 1, 1, False]],  # 14 input_proj.1
        [[-2, -1], 1, "Concat", [1]],
        [-1, 3, "RepC3", [32]],  # 16, fpn_blocks.0
        [-1, 1, "Conv", [32, 1, 1]],  # 17, Y4, lateral_convs.1
        [-1, 1, "nn.Upsample", [None, 2, "nearest"]],
        [3, 1, "Conv", [32, 1, 1, None, 1, 1, False]],  # 19 input_proj.0
        [[-2, -1], 1, "Concat", [1]],  # cat backbone P4
        [-1, 3, "RepC3", [32]],  # X3 (21), fpn_blocks.1
        [-1, 1, "Conv", [32, 3, 2]],  # 22, downsample_convs.0
        [[-1, 17], 1, "Concat", [1]],  # cat Y4
        [-1, 3, "RepC3", [32]],  # F4 (24), pan_blocks.0
        [-1, 1, "Conv", [32, 3, 2]],  # 25, downsample_convs.1
        [[-1, 12], 1, "Concat", [1]],  # cat Y5
        [-1, 3, "RepC3", [32]],  # F5 (27), pan_blocks.1
        [[21, 24, 27], 1, "RTDETRDecoder", ["nc"]],  # 28 Detection(P3, P4, P5)
    ],
}
# upstream defaults: hd=256, nq=300, ndl=6, d_ffn=1024 (nh=8, 4 points per level)
RTDETR_DECODER = dict(hd=32, nq=100, ndl=3, d_ffn=64)

FILES = {"yolov5": "yolov5-mini", "yolov8": "yolov8-mini", "rtdetr": "rtdetr-mini"}
OPSET = {"yolov5": 12, "yolov8": 17, "rtdetr": 16}  # yolov5 export.py default; ultralytics with torch 1.13 (17, 16 for RT-DETR)


def build(family, seed=0):
    """A freshly initialised training model (train mode)."""
    torch.manual_seed(seed)
    if family == "yolov5":
        cfg = copy.deepcopy(mf.YOLOV5S_YAML)
        cfg["nc"] = NC
        cfg["width_multiple"] = 0.0625  # channels 16..64 (yolov5s 0.50)
        cfg["anchors"] = copy.deepcopy(V5_ANCHORS)
        cfg["head"][-1][3] = [NC, cfg["anchors"]]
        model = mf.yolov5.DetectionModel(cfg)
    elif family == "yolov8":
        mf.ultralytics.DETECT_HIDDEN = V8_DETECT_HIDDEN  # the module global its Detect reads
        cfg = copy.deepcopy(mf.YOLOV8_YAML)
        cfg["nc"] = NC
        cfg["scale"] = [0.33, 0.0625, 1024]  # channels 16..64 (yolov8n 0.25)
        model = mf.DetectionModel(cfg)
    elif family == "rtdetr":
        model = mf.DetectionModel(copy.deepcopy(RTDETR_YAML), head_kwargs=RTDETR_DECODER)
    else:
        raise ValueError(family)
    model.names = dict(NAMES)
    return model.train()


def export_ready(family, model):
    """make_fixtures' build_yolov5 / build_ultralytics steps after training: fuse, eval, export flags, dry runs.
    Returns the model and the metadata_props the upstream exporter writes."""
    model = copy.deepcopy(model).float()
    for p in model.parameters():
        p.requires_grad = False
    model.eval()
    model = model.fuse().eval()
    for m in model.modules():
        if isinstance(m, mf.yolov5.Detect):
            m.inplace = False
            m.dynamic = False
            m.export = True
        elif isinstance(m, (mf.Detect, mf.RTDETRDecoder)):
            m.dynamic = False
            m.export = True
            m.format = "onnx"
            m.max_det = 300
        elif isinstance(m, mf.C2f):
            m.forward = m.forward_split
    im = torch.zeros(1, 3, IMGSZ, IMGSZ)
    for _ in range(2):
        model(im)
    if family == "yolov5":
        meta = {"stride": int(max(model.stride)), "names": model.names}
    else:
        pretty = {"yolov8": "YOLOv8n", "rtdetr": "rtdetr-l"}[family]
        meta = {
            "description": f"Ultralytics {pretty} model trained on synthetic shapes (onnx-attn fixtures/trained)",
            "author": "Ultralytics",
            "date": "2026-12-03T12:00:00.000000",  # fixed for determinism (upstream: datetime.now())
            "version": "8.3.33",
            "license": "AGPL-3.0 License (https://ultralytics.com/license)",
            "docs": "https://docs.ultralytics.com",
            "stride": int(max(model.stride)),
            "task": "detect",
            "batch": 1,
            "imgsz": [IMGSZ, IMGSZ],
            "names": model.names,
        }
    return model, meta


def export_onnx(family, model, path):
    """Export the trained model exactly as the untrained fixtures are exported (make_fixtures.export)."""
    model, meta = export_ready(family, model)
    im = torch.zeros(1, 3, IMGSZ, IMGSZ)
    return mf.export(model, im, path, OPSET[family], ["images"], ["output0"], None, meta)


def save_weights(model, path):
    """state_dict rounded to float16 (half the bytes); load_weights gives back exactly these values."""
    sd = {k: (v.half() if v.is_floating_point() else v) for k, v in model.state_dict().items()}
    torch.save(sd, path)


def round_weights(model):
    """Round every float parameter and buffer to float16 and back, so what is evaluated is what is saved."""
    with torch.no_grad():
        for v in list(model.state_dict().values()):
            if v.is_floating_point():
                v.copy_(v.half().float())


def load_weights(family, path):
    model = build(family)
    sd = torch.load(path)
    model.load_state_dict({k: (v.float() if v.is_floating_point() else v) for k, v in sd.items()})
    return model
