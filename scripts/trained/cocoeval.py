"""COCO-style bbox evaluation, written after pycocotools' COCOeval (evaluateImg + accumulate, iouType 'bbox',
areaRng 'all', maxDets 100), for the scripts only; checked against pycocotools 2.0.11 by hand (README).

- IoU thresholds 0.50:0.05:0.95; per (image, class): detections sorted by score (stable) and cut to maxDets;
  ground truths with iscrowd are sorted last and may be matched by several detections without counting
  (pycocotools' ignore rules); a detection takes the best-IoU unmatched gt at each threshold (non-ignored first).
- Per class: all images' kept detections sorted by score (mergesort, like numpy in COCOeval), cumulative TP/FP,
  precision made monotone from the right, sampled at 101 recall points with searchsorted(side='left').
- AP per class averages the 101 points over valid ones; mAP averages classes that have ground truth.
"""

import numpy as np

IOU_THRS = np.linspace(0.5, 0.95, 10)
REC_THRS = np.linspace(0.0, 1.00, 101)


def _iou_xywh(d, g, crowd):
    """pycocotools maskUtils.iou for boxes: IoU, or intersection over the detection's area for crowd gts."""
    if len(d) == 0 or len(g) == 0:
        return np.zeros((len(d), len(g)))
    dx1, dy1 = d[:, 0:1], d[:, 1:2]
    dx2, dy2 = dx1 + d[:, 2:3], dy1 + d[:, 3:4]
    gx1, gy1 = g[:, 0][None], g[:, 1][None]
    gx2, gy2 = gx1 + g[:, 2][None], gy1 + g[:, 3][None]
    iw = np.clip(np.minimum(dx2, gx2) - np.maximum(dx1, gx1), 0, None)
    ih = np.clip(np.minimum(dy2, gy2) - np.maximum(dy1, gy1), 0, None)
    inter = iw * ih
    da = (d[:, 2] * d[:, 3])[:, None]
    ga = (g[:, 2] * g[:, 3])[None]
    union = np.where(np.asarray(crowd, bool)[None], da, da + ga - inter)
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0)


def evaluate(gts, dets, cat_ids, img_ids, max_dets=100):
    """gts: list of dicts {image_id, category_id, bbox [x,y,w,h], area, iscrowd};
    dets: list of dicts {image_id, category_id, bbox, score}; img_ids: the data set's images (detections on other
    images are not counted, as in COCOeval). Returns dict with mAP50, mAP5095, mAR100, per-class AP."""
    img_ids = sorted(img_ids)
    T, R, K = len(IOU_THRS), len(REC_THRS), len(cat_ids)
    precision = -np.ones((T, R, K))
    recall = -np.ones((T, K))
    by = {}
    for g in gts:
        by.setdefault((g["image_id"], g["category_id"]), ([], []))[0].append(g)
    for d in dets:
        by.setdefault((d["image_id"], d["category_id"]), ([], []))[1].append(d)
    for k, cat in enumerate(cat_ids):
        scores, matched, ignored, npig = [], [], [], 0
        for img in img_ids:
            g, d = by.get((img, cat), ([], []))
            if not g and not d:
                continue
            g_ignore = np.array([bool(x.get("iscrowd", 0)) or bool(x.get("ignore", 0)) for x in g], bool)
            gi = np.argsort(g_ignore, kind="mergesort")
            g = [g[i] for i in gi]
            g_ignore = g_ignore[gi]
            crowd = [int(x.get("iscrowd", 0)) for x in g]
            di = np.argsort([-x["score"] for x in d], kind="mergesort")[:max_dets]
            d = [d[i] for i in di]
            ious = _iou_xywh(np.array([x["bbox"] for x in d], float).reshape(-1, 4),
                             np.array([x["bbox"] for x in g], float).reshape(-1, 4), crowd)
            gtm = np.zeros((T, len(g)))
            dtm = np.zeros((T, len(d)))
            dt_ig = np.zeros((T, len(d)), bool)
            for t, thr in enumerate(IOU_THRS):
                for di_, _ in enumerate(d):
                    iou = min(thr, 1 - 1e-10)
                    m = -1
                    for gi_ in range(len(g)):
                        if gtm[t, gi_] > 0 and not crowd[gi_]:
                            continue
                        if m > -1 and not g_ignore[m] and g_ignore[gi_]:
                            break
                        if ious[di_, gi_] < iou:
                            continue
                        iou = ious[di_, gi_]
                        m = gi_
                    if m == -1:
                        continue
                    dt_ig[t, di_] = g_ignore[m]
                    dtm[t, di_] = 1
                    gtm[t, m] = 1
            npig += int((~g_ignore).sum())
            scores.append(np.array([x["score"] for x in d], float))
            matched.append(dtm)
            ignored.append(dt_ig)
        if npig == 0:
            continue
        s = np.concatenate(scores) if scores else np.zeros(0)
        order = np.argsort(-s, kind="mergesort")
        dtm = np.concatenate(matched, 1)[:, order] if matched else np.zeros((T, 0))
        dt_ig = np.concatenate(ignored, 1)[:, order] if ignored else np.zeros((T, 0), bool)
        tps = np.logical_and(dtm, ~dt_ig)
        fps = np.logical_and(np.logical_not(dtm), ~dt_ig)
        tp_sum = np.cumsum(tps, axis=1).astype(float)
        fp_sum = np.cumsum(fps, axis=1).astype(float)
        for t in range(T):
            tp, fp = tp_sum[t], fp_sum[t]
            nd = len(tp)
            rc = tp / npig
            pr = tp / (fp + tp + np.spacing(1))
            recall[t, k] = rc[-1] if nd else 0
            q = np.zeros(R)
            pr = pr.tolist()
            for i in range(nd - 1, 0, -1):
                if pr[i] > pr[i - 1]:
                    pr[i - 1] = pr[i]
            inds = np.searchsorted(rc, REC_THRS, side="left")
            for ri, pi in enumerate(inds):
                if pi < nd:
                    q[ri] = pr[pi]
            precision[t, :, k] = q
    per_class = {}
    for k, cat in enumerate(cat_ids):
        p = precision[:, :, k]
        per_class[cat] = {
            "AP50": float(np.mean(p[0][p[0] > -1])) if (p[0] > -1).any() else None,
            "AP5095": float(np.mean(p[p > -1])) if (p > -1).any() else None,
        }

    def mean(p):
        v = p[p > -1]
        return float(np.mean(v)) if v.size else -1.0

    return {"mAP50": mean(precision[0]), "mAP5095": mean(precision), "mAR100": mean(recall),
            "perClass": per_class, "precision": precision}


def nms(boxes, scores, classes, iou_thr, max_det):
    """Class-aware greedy NMS like torchvision's batched_nms (boxes xyxy)."""
    order = np.argsort(-scores, kind="stable")
    keep = []
    areas = (boxes[:, 2] - boxes[:, 0]).clip(0) * (boxes[:, 3] - boxes[:, 1]).clip(0)
    suppressed = np.zeros(len(order), bool)
    for oi, i in enumerate(order):
        if suppressed[oi]:
            continue
        keep.append(i)
        if len(keep) >= max_det:
            break
        rest = order[oi + 1:]
        xx1 = np.maximum(boxes[i, 0], boxes[rest, 0])
        yy1 = np.maximum(boxes[i, 1], boxes[rest, 1])
        xx2 = np.minimum(boxes[i, 2], boxes[rest, 2])
        yy2 = np.minimum(boxes[i, 3], boxes[rest, 3])
        inter = (xx2 - xx1).clip(0) * (yy2 - yy1).clip(0)
        iou = inter / np.maximum(areas[i] + areas[rest] - inter, 1e-12)
        suppressed[oi + 1:] |= (iou > iou_thr) & (classes[rest] == classes[i])
    return np.array(keep, np.int64)


def decode(family, out, conf=0.001, iou=0.7, max_det=300, imgsz=128, multi_label=False):
    """One image's raw output (no batch dim) -> (xyxy boxes in input pixels, scores, classes), as
    src/runtime/detections.ts reads each layout: yolov5 [A, 5+nc] obj x cls, yolov8 [4+nc, A], rtdetr [Q, 4+nc]
    normalised (no NMS). Thresholds are ultralytics val's (conf 0.001, NMS IoU 0.7). multi_label: every class
    above conf is a candidate (ultralytics/YOLOv5 val; YOLOv5 also needs objectness above conf); RT-DETR keeps
    its best class either way, as ultralytics' RT-DETR postprocess does."""
    if family == "yolov8":
        out = out.T
    if family == "yolov5":
        obj = out[:, 4]
        cls_scores = out[:, 5:] * obj[:, None]
        box = out[:, :4]
    else:
        cls_scores = out[:, 4:]
        box = out[:, :4] * (imgsz if family == "rtdetr" else 1)
    if multi_label and family != "rtdetr":
        ok = cls_scores > conf
        if family == "yolov5":
            ok &= (out[:, 4] > conf)[:, None]
        rows, cls = np.nonzero(ok)
        box, score = box[rows], cls_scores[rows, cls]
    else:
        cls = cls_scores.argmax(1)
        score = cls_scores[np.arange(len(cls)), cls]
        keep = score > conf
        box, score, cls = box[keep], score[keep], cls[keep]
    xyxy = np.concatenate((box[:, :2] - box[:, 2:] / 2, box[:, :2] + box[:, 2:] / 2), 1)
    if family == "rtdetr":
        order = np.argsort(-score, kind="stable")[:max_det]
    else:
        order = nms(xyxy, score, cls, iou, max_det)
    return xyxy[order], score[order], cls[order]
