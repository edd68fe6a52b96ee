#!/usr/bin/python3
"""Trained miniature detectors for onnx-attn's accuracy checks (fixtures/trained/), run by hand, never in CI.

Run from the repository root with Debian's python (torch 1.13, onnx 1.12, OpenCV, scipy):

    /usr/bin/python3 scripts/trained/make_trained.py valset              # fixtures/trained/val (images, labels, COCO json)
    nice -n 10 /usr/bin/python3 scripts/trained/make_trained.py train yolov5 --iters 3000
    /usr/bin/python3 scripts/trained/make_trained.py export yolov5       # .pt state_dict -> .onnx (no training)
    /usr/bin/python3 scripts/trained/make_trained.py eval yolov5         # mAP of the .onnx in onnxruntime-node

train writes fixtures/trained/<family>-mini.pt (state_dict, float16) and exports it; export re-creates the ONNX from
the committed state_dict alone (byte-for-byte); eval runs the ONNX file through onnxruntime-node
(scripts/trained/run_onnx.mjs, the runtime the CLI uses), decodes it as src/runtime/detections.ts does, computes
COCO-style mAP on the validation set (cocoeval.py) and records it in fixtures/trained/trained.json.
"""

import argparse
import copy
import json
import math
import os
import subprocess
import sys
import tempfile
import time

import cv2
import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import cocoeval  # noqa: E402
import losses  # noqa: E402
import models  # noqa: E402
import synthetic  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(HERE))
OUT = os.path.join(ROOT, "fixtures", "trained")
VAL = os.path.join(OUT, "val")
VAL_SEED, VAL_COUNT = 2026, 50
TRAIN_SEED = 7
IMGSZ = models.IMGSZ


# ---------------------------------------------------------------------------------------------------------------
# validation set


def write_valset():
    img_dir, lbl_dir = os.path.join(VAL, "images"), os.path.join(VAL, "labels")
    os.makedirs(img_dir, exist_ok=True)
    os.makedirs(lbl_dir, exist_ok=True)
    coco = {
        "info": {"description": "onnx-attn synthetic shapes, validation (scripts/trained/make_trained.py valset)"},
        "images": [], "annotations": [],
        "categories": [{"id": k, "name": v, "supercategory": "shape"} for k, v in synthetic.NAMES.items()],
    }
    ann_id = 1
    for i in range(VAL_COUNT):
        img, objects = synthetic.make_image(VAL_SEED, i)
        h, w = img.shape[:2]
        name = f"val_{i:03d}"
        cv2.imwrite(os.path.join(img_dir, name + ".jpg"), img, [cv2.IMWRITE_JPEG_QUALITY, 90])
        lines = []
        coco["images"].append({"id": i + 1, "file_name": f"images/{name}.jpg", "width": w, "height": h})
        for c, x1, y1, x2, y2 in objects:
            # pixel boxes rounded to 0.01 px; the YOLO line is written from the same rounded box
            bx, by, bw, bh = (round(v, 2) for v in (x1, y1, x2 - x1, y2 - y1))
            lines.append(f"{c} {(bx + bw / 2) / w:.6f} {(by + bh / 2) / h:.6f} {bw / w:.6f} {bh / h:.6f}")
            coco["annotations"].append({"id": ann_id, "image_id": i + 1, "category_id": c, "bbox": [bx, by, bw, bh],
                                        "area": round(bw * bh, 4), "iscrowd": 0})
            ann_id += 1
        with open(os.path.join(lbl_dir, name + ".txt"), "w") as fh:
            fh.write("\n".join(lines) + "\n")
    with open(os.path.join(VAL, "instances.json"), "w") as fh:
        json.dump(coco, fh, indent=1)
        fh.write("\n")
    print(f"{VAL_COUNT} images, {ann_id - 1} objects -> {VAL}")


def load_valset():
    with open(os.path.join(VAL, "instances.json")) as fh:
        coco = json.load(fh)
    images = []
    for im in coco["images"]:
        img = cv2.imread(os.path.join(VAL, im["file_name"]), cv2.IMREAD_COLOR)
        lb, (r, px, py) = synthetic.letterbox(img, IMGSZ)
        images.append((im["id"], synthetic.to_tensor_array(lb), (r, px, py), (im["width"], im["height"])))
    return coco, images


# ---------------------------------------------------------------------------------------------------------------
# evaluation


def detections_for(family, outputs, images, conf=0.001, iou=0.7, multi_label=False):
    """Raw outputs per image -> COCO detections in original-image pixels (letterbox undone, clipped)."""
    dets = []
    for out, (img_id, _, (r, px, py), (w, h)) in zip(outputs, images):
        boxes, scores, classes = cocoeval.decode(family, out, conf, iou, 300, IMGSZ, multi_label)
        boxes = (boxes - np.array([px, py, px, py])) / r
        boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, w)
        boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, h)
        for b, s, c in zip(boxes, scores, classes):
            dets.append({"image_id": img_id, "category_id": int(c), "score": float(s),
                         "bbox": [float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])]})
    return dets


def score(family, outputs, coco, images, iou=0.7, multi_label=False):
    dets = detections_for(family, outputs, images, 0.001, iou, multi_label)
    res = cocoeval.evaluate(coco["annotations"], dets, [c["id"] for c in coco["categories"]],
                            [im["id"] for im in coco["images"]])
    return res, dets


@torch.no_grad()
def torch_outputs(family, model, images):
    """The export-ready model's output per image, run in PyTorch."""
    m, _ = models.export_ready(family, model)
    x = torch.from_numpy(np.stack([im[1] for im in images]))
    outs = []
    for i in range(0, len(x), 10):
        o = m(x[i:i + 10])
        outs.append(o[0] if isinstance(o, tuple) else o)  # yolov5's export forward returns a 1-tuple
    return [o.numpy() for o in torch.cat(outs)]


def onnx_outputs(path, images):
    """Run the ONNX file in onnxruntime-node (run_onnx.mjs), one image at a time; returns each image's output0."""
    with tempfile.TemporaryDirectory() as tmp:
        x = np.stack([im[1] for im in images]).astype(np.float32)
        x.tofile(os.path.join(tmp, "in.bin"))
        res = subprocess.run(["node", os.path.join(HERE, "run_onnx.mjs"), path, os.path.join(tmp, "in.bin"),
                              str(len(images)), str(IMGSZ), os.path.join(tmp, "out.bin")],
                             capture_output=True, text=True, cwd=ROOT)
        if res.returncode != 0:
            raise RuntimeError(res.stderr)
        dims = json.loads(res.stdout)["dims"]
        out = np.fromfile(os.path.join(tmp, "out.bin"), np.float32).reshape(len(images), *dims[1:])
    return list(out)


def onnx_outputs_sharp(path, coco):
    """The CLI's own preprocessing: run_onnx.mjs letterboxes each original image with sharp as src/runtime/sources.ts
    does. Returns the outputs and, per image, the letterbox (gain x, gain y, left, top) to map boxes back."""
    files = [os.path.join(VAL, im["file_name"]) for im in coco["images"]]
    with tempfile.TemporaryDirectory() as tmp:
        out_bin = os.path.join(tmp, "out.bin")
        res = subprocess.run(["node", os.path.join(HERE, "run_onnx.mjs"), path, "--images", *files, "--size",
                              str(IMGSZ), "--out", out_bin], capture_output=True, text=True, cwd=ROOT)
        if res.returncode != 0:
            raise RuntimeError(res.stderr)
        info = json.loads(res.stdout)
        out = np.fromfile(out_bin, np.float32).reshape(len(files), *info["dims"][1:])
    boxes = [(iw / im["width"], ih / im["height"], left, top)
             for (iw, ih, left, top), im in zip(info["letterbox"], coco["images"])]
    return list(out), boxes


def score_sharp(family, path, coco, multi_label=False, outputs=None):
    outs, lbs = outputs or onnx_outputs_sharp(path, coco)
    dets = []
    for out, (gx, gy, left, top), im in zip(outs, lbs, coco["images"]):
        boxes, scores, classes = cocoeval.decode(family, out, 0.001, 0.7, 300, IMGSZ, multi_label)
        boxes = (boxes - np.array([left, top, left, top])) / np.array([gx, gy, gx, gy])
        boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, im["width"])
        boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, im["height"])
        for b, sc, c in zip(boxes, scores, classes):
            dets.append({"image_id": im["id"], "category_id": int(c), "score": float(sc),
                         "bbox": [float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])]})
    return cocoeval.evaluate(coco["annotations"], dets, [c["id"] for c in coco["categories"]],
                             [im["id"] for im in coco["images"]])


# ---------------------------------------------------------------------------------------------------------------
# training


class EMA:
    """yolov5/ultralytics ModelEMA: exponential moving average of weights and buffers, ramped decay."""

    def __init__(self, model, decay=0.999, tau=500):
        self.ema = copy.deepcopy(model).eval()
        self.updates, self.decay, self.tau = 0, decay, tau
        for p in self.ema.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, model):
        self.updates += 1
        d = self.decay * (1 - math.exp(-self.updates / self.tau))
        msd = model.state_dict()
        for k, v in self.ema.state_dict().items():
            if v.dtype.is_floating_point:
                v *= d
                v += (1 - d) * msd[k].detach()


def make_pool(n, seed):
    """n letterboxed training images (uint8, to keep memory low) and their pixel targets."""
    xs, ts = np.zeros((n, 3, IMGSZ, IMGSZ), np.uint8), []
    for i in range(n):
        x, t = synthetic.training_sample(seed, i, IMGSZ)
        xs[i] = np.round(x * 255).astype(np.uint8)
        ts.append(t)
    return xs, ts


def train(family, iters, batch, lr, pool_size, seed, eval_every, max_minutes=None):
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    np.random.seed(seed)
    model = models.build(family, seed)
    t0 = time.time()
    xs, ts = make_pool(pool_size, TRAIN_SEED)
    print(f"pool of {pool_size} images in {time.time() - t0:.0f} s", flush=True)
    coco, images = load_valset()
    if family == "yolov5":
        crit = losses.V5Loss(model, IMGSZ)
    elif family == "yolov8":
        crit = losses.V8Loss(model)
    else:
        crit = losses.RTDETRLoss(model.model[-1].nc)
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (decay if p.ndim > 1 and "bn" not in name and "norm" not in name else no_decay).append(p)
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 5e-4}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=lr, betas=(0.9, 0.999))
    ema = EMA(model)
    rng = np.random.default_rng(seed)
    start = time.time()
    it, warmup = 0, 200
    while it < iters:  # a fixed number of iterations (not a time budget), so a rerun gives the same weights
        elapsed = time.time() - start
        if max_minutes and elapsed > max_minutes * 60:  # a safety stop: the run is then cut short (recorded)
            print(f"stopped at iteration {it} of {iters}: --max-minutes {max_minutes}", flush=True)
            break
        frac = it / iters
        for g in opt.param_groups:  # linear warm-up, then cosine to 5% at the end
            g["lr"] = lr * min(1.0, (it + 1) / warmup) * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * frac)))
        idx = rng.integers(0, pool_size, batch)
        x = torch.from_numpy(xs[idx].astype(np.float32) / 255)
        flip = rng.uniform(size=batch) < 0.5  # horizontal flip on top of the pool's own
        x[flip] = x[flip].flip(-1)
        tgt = []
        for j, i in enumerate(idx):
            t = torch.from_numpy(ts[i].copy())
            if flip[j]:
                t[:, 1] = IMGSZ - t[:, 1]
            tgt.append(t)
        model.train()
        if family == "yolov5":
            flat = torch.cat([torch.cat((torch.full((len(t), 1), float(j)), t[:, :1], t[:, 1:] / IMGSZ), 1)
                              for j, t in enumerate(tgt)])
            loss, parts = crit(model(x), flat)
        elif family == "yolov8":
            loss, parts = crit(model(x), tgt)
        else:
            norm = [torch.cat((t[:, :1], t[:, 1:] / IMGSZ), 1) for t in tgt]
            loss, parts = crit(losses.rtdetr_train_forward(model, x), norm)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        opt.step()
        ema.update(model)
        it += 1
        if it % 50 == 0:
            print(f"it {it:5d}  {elapsed:6.0f}s  lr {opt.param_groups[0]['lr']:.2e}  loss {float(loss):.3f}  "
                  f"parts {[round(float(p), 3) for p in parts]}", flush=True)
        if eval_every and it % eval_every == 0:
            res, _ = score(family, torch_outputs(family, ema.ema, images), coco, images)
            print(f"  EMA val (torch): mAP50 {res['mAP50']:.3f}  mAP50-95 {res['mAP5095']:.3f}", flush=True)
    final = ema.ema
    models.round_weights(final)
    res, _ = score(family, torch_outputs(family, final, images), coco, images)
    print(f"done: {it} iterations, {time.time() - start:.0f} s; EMA val (torch): mAP50 {res['mAP50']:.4f}  "
          f"mAP50-95 {res['mAP5095']:.4f}", flush=True)
    os.makedirs(OUT, exist_ok=True)
    pt = os.path.join(OUT, models.FILES[family] + ".pt")
    models.save_weights(final, pt)
    info = {"iterations": it, "plannedIterations": iters, "batch": batch, "seconds": round(time.time() - start), "lr": lr,
            "pool": pool_size, "seed": seed, "torchMap50": res["mAP50"], "torchMap5095": res["mAP5095"]}
    with open(os.path.join(OUT, models.FILES[family] + ".train.json"), "w") as fh:
        json.dump(info, fh, indent=1)
        fh.write("\n")
    export(family)


def export(family):
    model = models.load_weights(family, os.path.join(OUT, models.FILES[family] + ".pt"))
    path = os.path.join(OUT, models.FILES[family] + ".onnx")
    models.export_onnx(family, model, path)
    print(f"{path}: {os.path.getsize(path)} bytes")


def evaluate_onnx(family):
    path = os.path.join(OUT, models.FILES[family] + ".onnx")
    coco, images = load_valset()
    outs = onnx_outputs(path, images)
    res, dets = score(family, outs, coco, images)
    model = models.load_weights(family, os.path.join(OUT, models.FILES[family] + ".pt"))
    touts = torch_outputs(family, model, images)
    if family == "rtdetr":  # the decoder's top-k may order near-equal queries differently: compare as sets of rows
        max_abs = max(float(np.abs(a[:, None] - b[None]).max(2).min(1).max()) for a, b in zip(outs, touts))
    else:
        max_abs = max(float(np.abs(a - b).max()) for a, b in zip(outs, touts))
    tres, _ = score(family, touts, coco, images)
    names = {c["id"]: c["name"] for c in coco["categories"]}
    val_iou = 0.6 if family == "yolov5" else 0.7  # yolov5 val.py's iou_thres; ultralytics val's iou
    vres, _ = score(family, outs, coco, images, val_iou, multi_label=True)
    print(f"{family}: as ultralytics/YOLOv5 val (multi-label, NMS IoU {val_iou}): mAP50 {vres['mAP50']:.9f} "
          f"mAP50-95 {vres['mAP5095']:.9f}")
    sharp_outputs = onnx_outputs_sharp(path, coco)
    sres = score_sharp(family, path, coco, outputs=sharp_outputs)
    mres = score_sharp(family, path, coco, multi_label=True, outputs=sharp_outputs)
    print(f"{family}: with the CLI's sharp letterbox: mAP50 {sres['mAP50']:.4f} mAP50-95 {sres['mAP5095']:.4f}; "
          f"multi-label {mres['mAP50']:.6f} {mres['mAP5095']:.6f}")
    print(f"{family}: onnxruntime mAP50 {res['mAP50']:.4f} mAP50-95 {res['mAP5095']:.4f} (torch {tres['mAP50']:.4f} "
          f"{tres['mAP5095']:.4f}; max |onnx - torch| {max_abs:.2e})")
    for k, v in res["perClass"].items():
        print(f"  {names[k]:9s} AP50 {v['AP50']:.4f}  AP50-95 {v['AP5095']:.4f}")
    with open(os.path.join(OUT, models.FILES[family] + ".train.json")) as fh:
        train_info = json.load(fh)
    manifest_path = os.path.join(OUT, "trained.json")
    manifest = {"files": []}
    if os.path.exists(manifest_path):
        with open(manifest_path) as fh:
            manifest = json.load(fh)
    m = __import__("onnx").load(path)
    entry = {
        "file": os.path.basename(path),
        "weights": models.FILES[family] + ".pt",
        "family": family,
        "opset": models.OPSET[family],
        "classes": names,
        "imgsz": [IMGSZ, IMGSZ],
        "output": {"name": m.graph.output[0].name, "shape": [1, *outs[0].shape]},
        "metadataKeys": [p.key for p in m.metadata_props],
        "bytes": os.path.getsize(path),
        "dataset": "val/instances.json (also val/images + val/labels, YOLO txt)",
        "mAP50": round(res["mAP50"], 4),
        "mAP5095": round(res["mAP5095"], 4),
        "mAR100": round(res["mAR100"], 4),
        "perClass": {names[k]: {"AP50": round(v["AP50"], 4), "AP5095": round(v["AP5095"], 4)}
                     for k, v in res["perClass"].items()},
        "measured": ("ONNX file run in onnxruntime-node (scripts/trained/run_onnx.mjs, CPU), letterboxed to "
                     f"{IMGSZ}x{IMGSZ} with OpenCV INTER_LINEAR and grey 114, decoded as src/runtime/detections.ts "
                     "(single best class per box; conf > 0.001, class-aware NMS IoU 0.7, max 300; RT-DETR no NMS), "
                     "boxes mapped back to the original image, COCO bbox evaluation (scripts/trained/cocoeval.py: "
                     "IoU 0.50:0.05:0.95, 101-point precision, maxDets 100)"),
        "valSettings": {
            "conf": 0.001, "iou": val_iou, "multiLabel": True,
            "mAP50": round(vres["mAP50"], 9), "mAP5095": round(vres["mAP5095"], 9),
            "perClass": {names[k]: {"AP50": round(v["AP50"], 9), "AP5095": round(v["AP5095"], 9)}
                         for k, v in vres["perClass"].items()},
            "measured": ("the same ONNX outputs decoded as ultralytics / YOLOv5 val do: every class above conf is a "
                         "candidate (RT-DETR: best class, no NMS), NMS IoU 0.6 for YOLOv5 (val.py) and 0.7 for "
                         "ultralytics; these are the settings `--dataset` defaults to"),
        },
        "sharpLetterbox": {
            "mAP50": round(sres["mAP50"], 4), "mAP5095": round(sres["mAP5095"], 4),
            "perClass": {names[k]: {"AP50": round(v["AP50"], 4), "AP5095": round(v["AP5095"], 4)}
                         for k, v in sres["perClass"].items()},
            "measured": ("the same, but each image letterboxed by sharp exactly as the CLI's --inputs DIR does "
                         "(fit contain, grey 114; boxes mapped back with the per-axis gain and the floor padding)"),
            "multiLabel": {"mAP50": round(mres["mAP50"], 6), "mAP5095": round(mres["mAP5095"], 6),
                           "measured": "the same with every class above conf a candidate box (ultralytics val)"},
        },
        "torchMaxAbsDiff": float(f"{max_abs:.3g}"),
        "training": train_info,
    }
    manifest["files"] = [f for f in manifest["files"] if f["file"] != entry["file"]] + [entry]
    manifest["files"].sort(key=lambda f: list(models.FILES.values()).index(f["file"].rsplit(".", 1)[0]))
    with open(manifest_path, "w") as fh:
        json.dump(manifest, fh, indent=1)
        fh.write("\n")


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("valset")
    t = sub.add_parser("train")
    t.add_argument("family", choices=list(models.FILES))
    t.add_argument("--iters", type=int, default=3000)
    t.add_argument("--batch", type=int, default=16)
    t.add_argument("--lr", type=float, default=2e-3)
    t.add_argument("--pool", type=int, default=4000)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--eval-every", type=int, default=500)
    t.add_argument("--max-minutes", type=float, default=None, help="stop early after this long (then not reproducible)")
    for name in ("export", "eval"):
        s = sub.add_parser(name)
        s.add_argument("family", choices=list(models.FILES))
    a = ap.parse_args()
    torch.set_num_threads(1)
    if a.cmd == "valset":
        write_valset()
    elif a.cmd == "train":
        train(a.family, a.iters, a.batch, a.lr, a.pool, a.seed, a.eval_every, a.max_minutes)
    elif a.cmd == "export":
        export(a.family)
    else:
        evaluate_onnx(a.family)


if __name__ == "__main__":
    sys.exit(main())
