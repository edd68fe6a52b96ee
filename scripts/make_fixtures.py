#!/usr/bin/python3
"""Generate the miniature detector ONNX fixtures under fixtures/ and fixtures/MANIFEST.json.

Run from the repository root with Debian's python (torch 1.13, onnx 1.12):

    /usr/bin/python3 scripts/make_fixtures.py [--probe DIR]

Each family is a miniature of the upstream model whose *module tree* mirrors upstream, so that the TorchScript
exporter (torch.onnx.export, do_constant_folding=True, eval mode) gives the same scope-based node and tensor names
as a real export (see shared/docs/export-conventions.md). Widths and input sizes are small; weights are random
(seeded), never trained, so torch 1.13 de-duplicates equal initializers into `Identity_<k>` nodes as in the real
random-init exports. Nothing is renamed by hand except what the upstream exporters name themselves.

The families live in scripts/families/ (common.py, yolov5.py, ultralytics.py, rtdetr_official.py, export.py); this
file is the command line and the list of fixtures.

--probe DIR additionally writes, per fixture, a copy whose boundary tensors are extra graph outputs, the input
tensors as raw little-endian files and the torch reference outputs (for an onnxruntime check outside this script).
"""

import argparse
import json
import os
import sys

import onnx
import torch

# Every name the single-file script had, so `import make_fixtures as mf` (scripts/trained) keeps working.
from families.common import *  # noqa: F401,F403
from families.yolov5 import *  # noqa: F401,F403
from families import ultralytics  # noqa: F401  (mf.ultralytics.DETECT_HIDDEN is the knob its Detect reads)
from families.ultralytics import *  # noqa: F401,F403
from families.rtdetr_official import *  # noqa: F401,F403
from families.export import *  # noqa: F401,F403
from families.common import FIXTURES, IMGSZ
from families.export import Fixture, make_official, make_yolo_like, write_probe
from families.rtdetr_official import build_rtdetr_official
from families.ultralytics import build_rtdetr_l, build_yolo11, build_yolov8
from families.yolov5 import build_yolov5


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--probe", help="also write onnxruntime probe models / golden outputs to this folder")
    a = ap.parse_args()
    torch.set_num_threads(1)
    os.makedirs(FIXTURES, exist_ok=True)
    manifest = {
        "generator": "scripts/make_fixtures.py (torch %s, onnx %s)" % (torch.__version__.split("a")[0], onnx.__version__),
        "conventions": "shared/docs/export-conventions.md",
        "imgsz": IMGSZ,
        "notes": [
            "shape fields are runtime shapes without the batch dimension: (C,H,W) for feature maps; "
            "the head layer's shape is its output without batch.",
            "layers[i].tensor is the boundary (output) tensor of module i; consumedBy are module indices of "
            "consumer nodes (OUT = graph output). headInputs are in P3,P4,P5 order.",
        ],
        "files": [],
    }
    jobs = []
    v5, v5_meta = build_yolov5()
    jobs += [(Fixture("yolov5-op12", "yolov5", 12), v5, v5_meta), (Fixture("yolov5-op17", "yolov5", 17), v5, v5_meta),
             (Fixture("yolov5-op12", "yolov5", 12, external=True), v5, v5_meta)]
    v5d, v5d_meta = build_yolov5(dynamic=True)
    jobs.append((Fixture("yolov5-dynamic-op12", "yolov5", 12, dynamic=True), v5d, v5d_meta))
    v8, v8_meta = build_yolov8()
    jobs += [(Fixture(f"yolov8-op{o}", "yolov8", o), v8, v8_meta) for o in (12, 17)]
    y11, y11_meta = build_yolo11()
    jobs += [(Fixture(f"yolo11-op{o}", "yolo11", o), y11, y11_meta) for o in (12, 17)]
    rl, rl_meta = build_rtdetr_l()
    jobs += [(Fixture(f"rtdetr-l-op{o}", "rtdetr", o), rl, rl_meta) for o in (16, 17)]
    off = build_rtdetr_official()
    jobs += [(Fixture(f"rtdetr-official-op{o}", "rtdetr-official", o), off, None) for o in (16, 17)]

    for fx, model, meta in jobs:
        if fx.family == "rtdetr-official":
            entry, feeds, outs = make_official(fx, model)
        else:
            entry, feeds, outs = make_yolo_like(fx, model, meta)
        manifest["files"].append(entry)
        size = os.path.getsize(os.path.join(FIXTURES, fx.rel))
        print(f"{fx.rel:40s} {size:8d} B  nodes {entry['nodeCount']:5d}  Identity {entry['identityCount']:4d}  "
              f"head inputs {[(h['tensor'], h['shape']) for h in entry['headInputs']]}")
        if a.probe:
            write_probe(os.path.join(a.probe, "external" if fx.external else "."), fx, entry, feeds, outs)
    with open(os.path.join(FIXTURES, "MANIFEST.json"), "w") as fh:
        json.dump(manifest, fh, indent=1)
        fh.write("\n")


if __name__ == "__main__":
    sys.exit(main())
