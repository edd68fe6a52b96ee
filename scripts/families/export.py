"""Export with torch.onnx.export as the upstream exporters do, verify every layer boundary the manifest records,
and write the manifest entry and the optional onnxruntime probe files."""

import json
import os
import re
import tempfile

import onnx
import torch
import torch.nn as nn

from .common import FIXTURES, IMGSZ
from .yolov5 import yolov5
from .ultralytics import (
    AIFI, C2PSA, C2f, C3k2, Concat, Conv, DWConv, Detect, HGBlock, HGStem, RTDETRDecoder, RepC3, SPPF,
)


# ======================================================================================================
# Export, verification and manifest
# ======================================================================================================
def boundary_tensor(i, m):
    """Expected output tensor of YOLO / RT-DETR-l layer i, from export-conventions.md section 1.4."""
    p = f"/model.{i}/"
    t = type(m)
    if t in {Detect, RTDETRDecoder, yolov5.Detect}:
        return "output0"
    if t in {Conv, DWConv, yolov5.Conv}:
        if isinstance(m.act, nn.SiLU):
            return p + "act/Mul_output_0"
        if isinstance(m.act, nn.ReLU):
            return p + "act/Relu_output_0"
        return p + "conv/Conv_output_0"
    if t in {yolov5.C3}:
        return p + "cv3/act/Mul_output_0"
    if t in {C2f, C3k2, SPPF, C2PSA, yolov5.SPPF}:
        return p + "cv2/act/Mul_output_0"
    if t is nn.Upsample:
        return p + "Resize_output_0"
    if t in {Concat, yolov5.Concat}:
        return p + "Concat_output_0"
    if t is HGStem:
        return p + "stem4/act/Relu_output_0"
    if t is HGBlock:
        return p + ("Add_output_0" if m.add else "ec/act/Relu_output_0")
    if t is RepC3:
        assert isinstance(m.cv3, nn.Identity)
        return p + "Add_output_0"
    if t is AIFI:
        return p + "Reshape_7_output_0"
    raise KeyError(t)


OFFICIAL_SCOPES = [  # export-conventions.md section 5: backbone->encoder and encoder->decoder interfaces
    ("model/backbone/res_layers.1", "/model/backbone/res_layers.1/blocks.1/act/Relu_output_0"),
    ("model/backbone/res_layers.2", "/model/backbone/res_layers.2/blocks.1/act/Relu_output_0"),
    ("model/backbone/res_layers.3", "/model/backbone/res_layers.3/blocks.1/act/Relu_output_0"),
    ("model/encoder/fpn_blocks.1", "/model/encoder/fpn_blocks.1/conv3/act/Mul_output_0"),
    ("model/encoder/pan_blocks.0", "/model/encoder/pan_blocks.0/conv3/act/Mul_output_0"),
    ("model/encoder/pan_blocks.1", "/model/encoder/pan_blocks.1/conv3/act/Mul_output_0"),
]


def official_scope_module(model, scope):
    m = model
    for part in scope.split("/"):
        for a in part.split("."):
            m = m[int(a)] if a.isdigit() else getattr(m, a)
    return m


def shapes_by_hooks(modules, run):
    """Runtime output shapes of the given {key: module} from one torch forward pass."""
    shapes, hooks = {}, []
    for key, mod in modules.items():
        def hook(_m, _inp, out, key=key):
            out = out[0] if isinstance(out, (tuple, list)) else out
            shapes[key] = list(out.shape)
        hooks.append(mod.register_forward_hook(hook))
    with torch.no_grad():
        outputs = run()
    for h in hooks:
        h.remove()
    return shapes, outputs


def export(model, args, path, opset, input_names, output_names, dynamic_axes=None, meta=None, external=False):
    """torch.onnx.export like the upstream exporters, then metadata_props like upstream, checker, save."""
    with tempfile.TemporaryDirectory() as tmp:
        f = os.path.join(tmp, "model.onnx")
        torch.onnx.export(model, args, f, verbose=False, opset_version=opset, do_constant_folding=True,
                          input_names=input_names, output_names=output_names, dynamic_axes=dynamic_axes)
        model_onnx = onnx.load(f)
    onnx.checker.check_model(model_onnx)
    for k, v in (meta or {}).items():
        prop = model_onnx.metadata_props.add()
        prop.key, prop.value = k, str(v)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if external:
        data = os.path.basename(path) + ".data"
        if os.path.exists(os.path.join(os.path.dirname(path), data)):
            os.remove(os.path.join(os.path.dirname(path), data))
        onnx.save_model(model_onnx, path, save_as_external_data=True, all_tensors_to_one_file=True,
                        location=data, size_threshold=1024)
        model_onnx = onnx.load(path)
    else:
        onnx.save(model_onnx, path)
    onnx.checker.check_model(path if external else model_onnx)
    return model_onnx


def graph_index(g):
    producer = {}
    consumers = {}
    for n in g.node:
        for o in n.output:
            producer[o] = n
        for x in n.input:
            consumers.setdefault(x, []).append(n)
    return producer, consumers


def layer_of(node_name):
    m = re.match(r"^/model\.(\d+)/", node_name)
    return int(m.group(1)) if m else None


def dims(vi):
    return [d.dim_value if d.HasField("dim_value") else d.dim_param for d in vi.type.tensor_type.shape.dim]


def try_onnxruntime(path, feeds):
    try:
        import onnxruntime as ort  # noqa: F401  (normally absent for /usr/bin/python3)
    except ImportError:
        return None
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    return [list(o.shape) for o in sess.run(None, feeds)]


class Fixture:
    def __init__(self, name, family, opset, dynamic=False, external=False):
        self.name, self.family, self.opset, self.dynamic, self.external = name, family, opset, dynamic, external

    @property
    def rel(self):
        return f"yolov5-external/{self.name}.onnx" if self.external else f"{self.name}.onnx"


def make_yolo_like(fx, model, meta):
    """Export a yolov5 / ultralytics / RT-DETR-l model and return its manifest entry (verified)."""
    layers = model.model
    im = torch.zeros(1, 3, IMGSZ, IMGSZ)
    im.uniform_(generator=torch.Generator().manual_seed(0))
    runtime, out = shapes_by_hooks({i: m for i, m in enumerate(layers)}, lambda: model(im))
    out = out[0] if isinstance(out, tuple) else out
    dynamic_axes = None
    if fx.dynamic:  # yolov5 export.py --dynamic
        dynamic_axes = {"images": {0: "batch", 2: "height", 3: "width"}, "output0": {0: "batch", 1: "anchors"}}
    path = os.path.join(FIXTURES, fx.rel)
    m_onnx = export(model, im, path, fx.opset, ["images"], ["output0"], dynamic_axes, meta, fx.external)
    g = m_onnx.graph
    producer, consumers = graph_index(g)
    head = len(layers) - 1
    graph_outputs = {o.name for o in g.output}
    entries = []
    for i, m in enumerate(layers):
        t = boundary_tensor(i, m)
        if t == "output0":
            assert t in graph_outputs and layer_of(producer[t].name) == i, (fx.name, i)
        else:
            assert t in producer, f"{fx.name}: layer {i} ({m.type}) boundary {t} not produced in the graph"
            assert layer_of(producer[t].name) == i, (fx.name, i, producer[t].name)
        used = sorted({layer_of(n.name) for n in consumers.get(t, [])} - {None})
        expected = sorted({j for j, mj in enumerate(layers)
                           if (mj.f == -1 and j == i + 1) or (isinstance(mj.f, int) and mj.f != -1 and mj.f == i)
                           or (isinstance(mj.f, list) and any((j + k if k < 0 else k) == i for k in mj.f))})
        assert used == expected, f"{fx.name}: layer {i} boundary {t} consumed by {used}, model graph says {expected}"
        f = m.f if isinstance(m.f, list) else [m.f]
        entries.append({
            "index": i, "type": m.type, "from": [i + k if k < 0 else k for k in f] if i else [],
            "tensor": t, "op": producer[t].op_type, "node": producer[t].name,
            "shape": runtime[i][1:], "consumedBy": used if t != "output0" else ["OUT"],
        })
    head_inputs = []
    for j in layers[head].f:
        t = entries[j]["tensor"]
        in_head = [n.name for n in consumers[t] if layer_of(n.name) == head]
        assert in_head, (fx.name, j)
        head_inputs.append({"tensor": t, "fromLayer": j, "shape": runtime[j][1:], "consumers": in_head})
    if not fx.dynamic:  # static exports: ONNX shape inference must agree with the torch runtime shapes
        inferred = {vi.name: dims(vi) for vi in onnx.shape_inference.infer_shapes(onnx.load(path)).graph.value_info}
        for e in entries:
            if e["tensor"] in inferred and fx.family != "rtdetr":
                assert inferred[e["tensor"]][1:] == e["shape"], (fx.name, e, inferred[e["tensor"]])
    return entry_common(fx, m_onnx, path, {"images": im}, [list(out.shape)]) | {
        "headLayer": head, "layers": entries, "headInputs": head_inputs,
    }, {"images": im.numpy()}, [out.numpy()]


def entry_common(fx, m_onnx, path, feeds, out_shapes):
    g = m_onnx.graph
    ort_shapes = try_onnxruntime(path, {k: v.numpy() for k, v in feeds.items()})
    if ort_shapes is not None:
        assert ort_shapes == out_shapes, (fx.name, ort_shapes, out_shapes)
    return {
        "file": fx.rel,
        "family": fx.family,
        "opset": fx.opset,
        "dynamic": fx.dynamic,
        "externalData": (os.path.basename(path) + ".data") if fx.external else None,
        "inputs": [{"name": i.name, "declaredShape": dims(i), "runtimeShape": list(feeds[i.name].shape),
                    "dtype": onnx.TensorProto.DataType.Name(i.type.tensor_type.elem_type)} for i in g.input],
        "outputs": [{"name": o.name, "declaredShape": dims(o), "runtimeShape": s,
                     "dtype": onnx.TensorProto.DataType.Name(o.type.tensor_type.elem_type)}
                    for o, s in zip(g.output, out_shapes)],
        "metadataKeys": [p.key for p in m_onnx.metadata_props],
        "nodeCount": len(g.node),
        "identityCount": sum(n.op_type == "Identity" for n in g.node),
        "initializerCount": len(g.initializer),
        "opHistogram": dict(sorted(count_ops(g).items(), key=lambda kv: (-kv[1], kv[0]))),
    }


def count_ops(g):
    h = {}
    for n in g.node:
        h[n.op_type] = h.get(n.op_type, 0) + 1
    return h


def make_official(fx, model):
    im = torch.zeros(1, 3, IMGSZ, IMGSZ)
    im.uniform_(generator=torch.Generator().manual_seed(0))
    size = torch.tensor([[IMGSZ, IMGSZ]])
    mods = {scope: official_scope_module(model, scope) for scope, _ in OFFICIAL_SCOPES}
    runtime, outs = shapes_by_hooks(mods, lambda: model(im, size))
    path = os.path.join(FIXTURES, fx.rel)
    dynamic_axes = {"images": {0: "N"}, "orig_target_sizes": {0: "N"}}  # tools/export_onnx.py
    m_onnx = export(model, (im, size), path, fx.opset, ["images", "orig_target_sizes"], ["labels", "boxes", "scores"],
                    dynamic_axes)
    producer, consumers = graph_index(m_onnx.graph)
    boundaries = []
    for scope, t in OFFICIAL_SCOPES:
        assert t in producer, f"{fx.name}: {scope} boundary {t} not produced in the graph"
        assert producer[t].name.startswith("/" + scope + "/"), (fx.name, t, producer[t].name)
        boundaries.append({"scope": scope, "tensor": t, "op": producer[t].op_type, "node": producer[t].name,
                           "shape": runtime[scope][1:],
                           "consumers": sorted(n.name for n in consumers.get(t, []))})
    head_inputs = []
    for b in boundaries[3:]:
        in_dec = [n for n in b["consumers"] if n.startswith("/model/decoder/")]
        assert in_dec, (fx.name, b)
        head_inputs.append({"tensor": b["tensor"], "fromLayer": None, "fromScope": b["scope"], "shape": b["shape"],
                            "consumers": in_dec})
    out_shapes = [list(o.shape) for o in outs]
    return entry_common(fx, m_onnx, path, {"images": im, "orig_target_sizes": size}, out_shapes) | {
        "headLayer": None, "headScope": "model/decoder", "boundaries": boundaries, "headInputs": head_inputs,
    }, {"images": im.numpy(), "orig_target_sizes": size.numpy()}, [o.numpy() for o in outs]


def write_probe(probe_dir, fx, entry, feeds, outs):
    """A copy of the fixture whose boundary tensors are extra graph outputs, plus raw inputs and torch outputs."""
    os.makedirs(probe_dir, exist_ok=True)
    m = onnx.load(os.path.join(FIXTURES, fx.rel))
    extra = [e["tensor"] for e in entry.get("layers", entry.get("boundaries", [])) if e["tensor"] not in
             {o.name for o in m.graph.output}]
    for t in extra:
        m.graph.output.append(onnx.helper.make_tensor_value_info(t, onnx.TensorProto.FLOAT, None))
    onnx.save(m, os.path.join(probe_dir, fx.name + ".onnx"))
    spec = {"inputs": {}, "outputs": {}, "boundaries": {}}
    for k, v in feeds.items():
        fn = f"{fx.name}.in.{k}.bin"
        v.tofile(os.path.join(probe_dir, fn))
        spec["inputs"][k] = {"file": fn, "dtype": str(v.dtype), "shape": list(v.shape)}
    for o, v in zip(entry["outputs"], outs):
        fn = f"{fx.name}.out.{o['name']}.bin"
        v.tofile(os.path.join(probe_dir, fn))
        spec["outputs"][o["name"]] = {"file": fn, "dtype": str(v.dtype), "shape": list(v.shape)}
    for e in entry.get("layers", entry.get("boundaries", [])):
        if e["tensor"] in extra:
            spec["boundaries"][e["tensor"]] = e["shape"]
    with open(os.path.join(probe_dir, fx.name + ".json"), "w") as fh:
        json.dump(spec, fh, indent=1)
