"""Checks cocoeval.py against pycocotools' COCOeval, by hand (pycocotools is not a Debian package; CI never runs this):

    /usr/bin/python3 -m venv --system-site-packages /tmp/cocoenv && /tmp/cocoenv/bin/pip install pycocotools
    /tmp/cocoenv/bin/python scripts/trained/check_cocoeval.py [MODEL_FAMILY ...]

Compares mAP@0.5, mAP@0.5:0.95 and every class's AP on (a) seeded random cases with near-miss, duplicate,
wrong-class, crowd and empty-image detections and (b) each named family's ONNX detections on the validation set.
"""

import contextlib
import io
import json
import os
import sys

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cocoeval  # noqa: E402


def reference(gt_json, dets, cat_ids):
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = json.loads(json.dumps(gt_json))
        gt.createIndex()
        dt = gt.loadRes(json.loads(json.dumps(dets))) if dets else COCO()
        ev = COCOeval(gt, dt, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    p = ev.eval["precision"][:, :, :, 0, 2]  # [T, R, K] at area 'all', maxDets 100
    per = {}
    for k, c in enumerate(ev.params.catIds):
        v = p[:, :, k]
        per[c] = (float(np.mean(v[0][v[0] > -1])) if (v[0] > -1).any() else None,
                  float(np.mean(v[v > -1])) if (v > -1).any() else None)
    return float(ev.stats[1]), float(ev.stats[0]), per


def compare(name, gt_json, dets):
    cat_ids = [c["id"] for c in gt_json["categories"]]
    ref50, ref5095, ref_per = reference(gt_json, dets, cat_ids)
    mine = cocoeval.evaluate(gt_json["annotations"], dets, cat_ids, [im["id"] for im in gt_json["images"]])
    diffs = [abs(ref50 - mine["mAP50"]), abs(ref5095 - mine["mAP5095"])]
    for c, (a50, a) in ref_per.items():
        m = mine["perClass"][c]
        if a50 is None:
            assert m["AP50"] is None, (name, c)
            continue
        diffs += [abs(a50 - m["AP50"]), abs(a - m["AP5095"])]
    worst = max(diffs)
    print(f"{name:28s} pycocotools mAP50 {ref50:.6f} mAP50-95 {ref5095:.6f}   ours {mine['mAP50']:.6f} "
          f"{mine['mAP5095']:.6f}   max |diff| {worst:.1e}")
    assert worst < 1e-9, name
    return worst


def random_case(seed):
    rng = np.random.default_rng(seed)
    cats = [{"id": c, "name": f"c{c}"} for c in (0, 1, 2)]
    images, anns, dets = [], [], []
    for i in range(1, 31):
        images.append({"id": i, "width": 160, "height": 120, "file_name": f"{i}.jpg"})
        for _ in range(int(rng.integers(0, 5))):
            x, y = rng.uniform(0, 120), rng.uniform(0, 90)
            w, h = rng.uniform(4, 40), rng.uniform(4, 30)
            c = int(rng.integers(0, 3))
            crowd = int(rng.uniform() < 0.05)
            anns.append({"id": len(anns) + 1, "image_id": i, "category_id": c, "bbox": [x, y, w, h],
                         "area": w * h, "iscrowd": crowd})
            for _ in range(int(rng.integers(0, 3))):  # near misses and duplicates
                j = rng.normal(0, rng.choice([0.5, 3, 8]), 4)
                cc = c if rng.uniform() < 0.8 else int(rng.integers(0, 3))
                dets.append({"image_id": i, "category_id": cc, "score": float(rng.uniform()),
                             "bbox": [x + j[0], y + j[1], max(w + j[2], 1), max(h + j[3], 1)]})
        for _ in range(int(rng.integers(0, 3))):  # background false positives
            dets.append({"image_id": i, "category_id": int(rng.integers(0, 3)), "score": float(rng.uniform()),
                         "bbox": [rng.uniform(0, 120), rng.uniform(0, 90), rng.uniform(4, 40), rng.uniform(4, 30)]})
    return {"images": images, "annotations": anns, "categories": cats}, dets


def main():
    worst = 0.0
    for seed in range(20):
        gt, dets = random_case(seed)
        worst = max(worst, compare(f"random case {seed}", gt, dets))
    families = sys.argv[1:]
    if families:
        import make_trained  # noqa: E402 (needs torch; only for the model cases)
        coco, images = make_trained.load_valset()
        for fam in families:
            path = os.path.join(make_trained.OUT, make_trained.models.FILES[fam] + ".onnx")
            dets = make_trained.detections_for(fam, make_trained.onnx_outputs(path, images), images)
            worst = max(worst, compare(f"{fam} on val", coco, dets))
    print(f"agreement: max |ours - pycocotools| = {worst:.1e}")


if __name__ == "__main__":
    main()
