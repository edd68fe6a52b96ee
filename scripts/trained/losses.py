"""Training losses, simplified from the upstream ones (no augmentation pipeline, no denoising queries).

- YOLOv5 v7.0 ComputeLoss: anchor-ratio target assignment to the cell and its two nearest neighbours, CIoU box
  loss, BCE objectness with IoU targets, BCE classes; the hyper-parameters of hyp.scratch-low scaled as train.py does.
- YOLOv8 (TAL-free): an anchor point is positive for a box when it lies inside it and within 2.5 strides of its
  centre (the smallest box wins; a box with no such point takes its nearest point). Class targets are the IoU of
  the predicted box (quality-aware, like TAL's normalised alignment), CIoU + DFL box losses, ultralytics' gains.
- RT-DETR: Hungarian matching (scipy) with focal class, L1 and GIoU costs, varifocal class loss with IoU targets,
  L1 and GIoU box losses, on every decoder layer and on the encoder's top-k proposals (ultralytics' weights).
"""

import math

import numpy as np
import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment

import models
from models import mf


def box_iou_pairs(b1, b2, xywh=True, ciou=False, giou=False, eps=1e-7):
    """IoU (or CIoU / GIoU) of corresponding boxes, [..., 4] each."""
    if xywh:
        (x1, y1, w1, h1), (x2, y2, w2, h2) = b1.chunk(4, -1), b2.chunk(4, -1)
        b1_x1, b1_x2, b1_y1, b1_y2 = x1 - w1 / 2, x1 + w1 / 2, y1 - h1 / 2, y1 + h1 / 2
        b2_x1, b2_x2, b2_y1, b2_y2 = x2 - w2 / 2, x2 + w2 / 2, y2 - h2 / 2, y2 + h2 / 2
    else:
        b1_x1, b1_y1, b1_x2, b1_y2 = b1.chunk(4, -1)
        b2_x1, b2_y1, b2_x2, b2_y2 = b2.chunk(4, -1)
        w1, h1 = b1_x2 - b1_x1, (b1_y2 - b1_y1).clamp(eps)
        w2, h2 = b2_x2 - b2_x1, (b2_y2 - b2_y1).clamp(eps)
    inter = (torch.min(b1_x2, b2_x2) - torch.max(b1_x1, b2_x1)).clamp(0) * (
        torch.min(b1_y2, b2_y2) - torch.max(b1_y1, b2_y1)).clamp(0)
    union = w1 * h1 + w2 * h2 - inter + eps
    iou = inter / union
    if ciou or giou:
        cw = torch.max(b1_x2, b2_x2) - torch.min(b1_x1, b2_x1)
        ch = torch.max(b1_y2, b2_y2) - torch.min(b1_y1, b2_y1)
        if ciou:
            c2 = cw ** 2 + ch ** 2 + eps
            rho2 = ((b2_x1 + b2_x2 - b1_x1 - b1_x2) ** 2 + (b2_y1 + b2_y2 - b1_y1 - b1_y2) ** 2) / 4
            v = (4 / math.pi ** 2) * (torch.atan(w2 / (h2 + eps)) - torch.atan(w1 / (h1 + eps))).pow(2)
            with torch.no_grad():
                alpha = v / (v - iou + (1 + eps))
            return (iou - (rho2 / c2 + v * alpha)).squeeze(-1)
        c_area = cw * ch + eps
        return (iou - (c_area - union) / c_area).squeeze(-1)
    return iou.squeeze(-1)


# ---------------------------------------------------------------------------------------------------------------
# YOLOv5


class V5Loss:
    def __init__(self, model, imgsz):
        det = model.model[-1]
        self.det = det
        self.nc, self.na, self.nl = det.nc, det.na, det.nl
        self.balance = [4.0, 1.0, 0.4]
        self.anchor_t = 4.0
        self.box_gain = 0.05 * 3 / self.nl
        self.cls_gain = 0.5 * self.nc / 80 * 3 / self.nl
        self.obj_gain = 1.0 * (imgsz / 640) ** 2 * 3 / self.nl

    def build_targets(self, p, targets):
        """targets: [nt, 6] (image, class, cx, cy, w, h) normalised to the input size."""
        na, nt = self.na, targets.shape[0]
        tcls, tbox, indices, anch = [], [], [], []
        gain = torch.ones(7)
        ai = torch.arange(na).float().view(na, 1).repeat(1, nt)
        targets = torch.cat((targets.repeat(na, 1, 1), ai[..., None]), 2)
        g = 0.5
        off = torch.tensor([[0, 0], [1, 0], [0, 1], [-1, 0], [0, -1]]).float() * g
        for i in range(self.nl):
            anchors, shape = self.det.anchors[i], p[i].shape
            gain[2:6] = torch.tensor(shape)[[3, 2, 3, 2]]
            t = targets * gain
            if nt:
                r = t[..., 4:6] / anchors[:, None]
                j = torch.max(r, 1 / r).max(2)[0] < self.anchor_t
                t = t[j]
                gxy = t[:, 2:4]
                gxi = gain[[2, 3]] - gxy
                j, k = ((gxy % 1 < g) & (gxy > 1)).T
                lo, m = ((gxi % 1 < g) & (gxi > 1)).T
                j = torch.stack((torch.ones_like(j), j, k, lo, m))
                t = t.repeat((5, 1, 1))[j]
                offsets = (torch.zeros_like(gxy)[None] + off[:, None])[j]
            else:
                t = targets[0]
                offsets = 0
            bc, gxy, gwh, a = t.split((2, 2, 2, 1), 1)
            a, (b, c) = a.long().view(-1), bc.long().T
            gij = (gxy - offsets).long()
            gi, gj = gij.T
            gj = gj.clamp(0, shape[2] - 1)
            gi = gi.clamp(0, shape[3] - 1)
            indices.append((b, a, gj, gi))
            tbox.append(torch.cat((gxy - torch.stack((gi, gj), 1), gwh), 1))
            anch.append(anchors[a])
            tcls.append(c)
        return tcls, tbox, indices, anch

    def __call__(self, p, targets):
        lcls, lbox, lobj = torch.zeros(1), torch.zeros(1), torch.zeros(1)
        tcls, tbox, indices, anchors = self.build_targets(p, targets)
        for i, pi in enumerate(p):
            b, a, gj, gi = indices[i]
            tobj = torch.zeros(pi.shape[:4])
            n = b.shape[0]
            if n:
                pxy, pwh, _, pcls = pi[b, a, gj, gi].split((2, 2, 1, self.nc), 1)
                pxy = pxy.sigmoid() * 2 - 0.5
                pwh = (pwh.sigmoid() * 2) ** 2 * anchors[i]
                iou = box_iou_pairs(torch.cat((pxy, pwh), 1), tbox[i], ciou=True)
                lbox += (1.0 - iou).mean()
                tobj[b, a, gj, gi] = iou.detach().clamp(0)
                t = torch.zeros_like(pcls)
                t[range(n), tcls[i]] = 1.0
                lcls += F.binary_cross_entropy_with_logits(pcls, t)
            lobj += F.binary_cross_entropy_with_logits(pi[..., 4], tobj) * self.balance[i]
        bs = p[0].shape[0]
        parts = (lbox * self.box_gain, lobj * self.obj_gain, lcls * self.cls_gain)
        return sum(parts) * bs, torch.cat(parts).detach()


# ---------------------------------------------------------------------------------------------------------------
# YOLOv8 (anchor-free, DFL)


class V8Loss:
    def __init__(self, model):
        det = model.model[-1]
        self.det = det
        self.nc, self.reg_max, self.stride = det.nc, det.reg_max, det.stride
        self.proj = torch.arange(self.reg_max, dtype=torch.float)
        self.box_gain, self.cls_gain, self.dfl_gain = 7.5, 0.5, 1.5

    @torch.no_grad()
    def assign(self, anchor_px, stride_t, gt_xyxy):
        """Index of the assigned box per anchor point (-1 = background) for one image."""
        A = anchor_px.shape[0]
        if gt_xyxy.shape[0] == 0:
            return torch.full((A,), -1, dtype=torch.long)
        x, y = anchor_px[:, 0:1], anchor_px[:, 1:2]  # [A, 1]
        x1, y1, x2, y2 = (gt_xyxy[:, k][None] for k in range(4))  # [1, G]
        inside = (x > x1) & (x < x2) & (y > y1) & (y < y2)
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        r = 2.5 * stride_t  # [A, 1]
        near = ((x - cx).abs() < r) & ((y - cy).abs() < r)
        ok = inside & near
        area = ((x2 - x1) * (y2 - y1)).expand(A, -1)
        cost = torch.where(ok, area, torch.full_like(area, float("inf")))
        best, idx = cost.min(1)
        idx[torch.isinf(best)] = -1
        for g in range(gt_xyxy.shape[0]):  # a box without a point takes its nearest free point
            if not (idx == g).any():
                d = (x[:, 0] - cx[0, g]) ** 2 + (y[:, 0] - cy[0, g]) ** 2
                d[idx >= 0] = float("inf")
                idx[d.argmin()] = g
        return idx

    def __call__(self, feats, targets):
        """feats: Detect's training outputs [B, no, h, w] per level; targets: list per image of [n, 5] (cls, cx, cy,
        w, h) in input pixels."""
        B = feats[0].shape[0]
        no = self.nc + self.reg_max * 4
        x = torch.cat([f.view(B, no, -1) for f in feats], 2)
        pred_dist, pred_cls = x.split((self.reg_max * 4, self.nc), 1)
        pred_dist, pred_cls = pred_dist.permute(0, 2, 1), pred_cls.permute(0, 2, 1)  # [B, A, 64], [B, A, nc]
        anchor_points, stride_t = mf.make_anchors(feats, self.stride, 0.5)  # grid units, [A, 1]
        A = anchor_points.shape[0]
        dist = pred_dist.view(B, A, 4, self.reg_max).softmax(3).matmul(self.proj)  # ltrb in grid units
        pred_xyxy = torch.cat((anchor_points - dist[..., :2], anchor_points + dist[..., 2:]), -1) * stride_t  # px
        target_cls = torch.zeros(B, A, self.nc)
        lbox, ldfl, n_pos = torch.zeros(()), torch.zeros(()), 0
        score_sum = 0.0
        anchor_px = anchor_points * stride_t
        for b in range(B):
            t = targets[b]
            gt = torch.cat((t[:, 1:3] - t[:, 3:5] / 2, t[:, 1:3] + t[:, 3:5] / 2), 1)
            idx = self.assign(anchor_px, stride_t, gt)
            pos = idx >= 0
            if not pos.any():
                continue
            g = gt[idx[pos]]
            iou = box_iou_pairs(pred_xyxy[b, pos], g, xywh=False, ciou=True)
            with torch.no_grad():
                q = box_iou_pairs(pred_xyxy[b, pos], g, xywh=False).clamp(0)
            target_cls[b, pos.nonzero()[:, 0], t[idx[pos], 0].long()] = q
            score_sum += float(q.sum())
            lbox = lbox + ((1.0 - iou) * q).sum()
            # DFL: distances to the box sides in grid units, split between the two nearest bins
            s = stride_t[pos]
            ap = anchor_points[pos]
            tgt = torch.cat((ap - g[:, :2] / s, g[:, 2:] / s - ap), 1).clamp(0, self.reg_max - 1 - 0.01)
            tl = tgt.long()
            wl = tl + 1 - tgt
            logits = pred_dist[b, pos].view(-1, self.reg_max)
            dfl = (F.cross_entropy(logits, tl.view(-1), reduction="none") * wl.view(-1)
                   + F.cross_entropy(logits, (tl + 1).view(-1), reduction="none") * (1 - wl).view(-1))
            ldfl = ldfl + (dfl.view(-1, 4).mean(1) * q).sum()
            n_pos += int(pos.sum())
        norm = max(score_sum, 1.0)
        lcls = F.binary_cross_entropy_with_logits(pred_cls, target_cls, reduction="sum") / norm
        parts = torch.stack((lbox / norm * self.box_gain, lcls * self.cls_gain, ldfl / norm * self.dfl_gain))
        return parts.sum() * B, parts.detach()


# ---------------------------------------------------------------------------------------------------------------
# RT-DETR


def rtdetr_train_forward(model, x):
    """The ultralytics RT-DETR training path without denoising queries: backbone and neck as in inference, then the
    decoder's layers with the same modules, keeping every layer's boxes and logits (the export keeps the last)."""
    layers = model.model
    y = []
    for m in layers[:-1]:
        if m.f != -1:
            x = y[m.f] if isinstance(m.f, int) else [x if j == -1 else y[j] for j in m.f]
        x = m(x)
        y.append(x)
    dec = layers[-1]
    feats, shapes = dec._get_encoder_input([y[j] for j in dec.f])
    embed, refer_bbox, enc_bboxes, enc_scores = dec._get_decoder_input(feats, shapes)
    refer = refer_bbox.detach().sigmoid()
    embed = embed.detach()
    boxes, logits = [], []
    for i, layer in enumerate(dec.decoder.layers):
        embed = layer(embed, refer, feats, shapes, None, None, dec.query_pos_head(refer))
        refined = torch.sigmoid(dec.dec_bbox_head[i](embed) + mf.inverse_sigmoid(refer))
        boxes.append(refined)
        logits.append(dec.dec_score_head[i](embed))
        refer = refined.detach()
    return boxes, logits, enc_bboxes, enc_scores


def _giou_matrix(a, b):
    """GIoU between every pair of xyxy boxes, [n, m]."""
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    lt = torch.max(a[:, None, :2], b[None, :, :2])
    rb = torch.min(a[:, None, 2:], b[None, :, 2:])
    wh = (rb - lt).clamp(0)
    inter = wh[..., 0] * wh[..., 1]
    union = area_a[:, None] + area_b[None] - inter
    iou = inter / union.clamp(1e-7)
    lt2 = torch.min(a[:, None, :2], b[None, :, :2])
    rb2 = torch.max(a[:, None, 2:], b[None, :, 2:])
    wh2 = (rb2 - lt2).clamp(0)
    hull = (wh2[..., 0] * wh2[..., 1]).clamp(1e-7)
    return iou - (hull - union) / hull


def _xyxy(b):
    return torch.cat((b[..., :2] - b[..., 2:] / 2, b[..., :2] + b[..., 2:] / 2), -1)


class RTDETRLoss:
    def __init__(self, nc):
        self.nc = nc
        self.cost = dict(cls=2.0, bbox=5.0, giou=2.0)
        self.gain = dict(cls=1.0, bbox=5.0, giou=2.0)
        self.alpha, self.gamma = 0.25, 2.0

    @torch.no_grad()
    def match(self, boxes, logits, gt_cls, gt_box):
        """Hungarian matching for one image: (query indices, gt indices)."""
        if gt_box.shape[0] == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        p = logits.sigmoid()[:, gt_cls]  # [Q, G]
        neg = (1 - self.alpha) * p ** self.gamma * -(1 - p + 1e-8).log()
        pos = self.alpha * (1 - p) ** self.gamma * -(p + 1e-8).log()
        c = (self.cost["cls"] * (pos - neg) + self.cost["bbox"] * torch.cdist(boxes, gt_box, p=1)
             - self.cost["giou"] * _giou_matrix(_xyxy(boxes), _xyxy(gt_box)))
        qi, gi = linear_sum_assignment(c.numpy())
        return qi, gi

    def one(self, boxes, logits, targets):
        """Loss over a batch for one set of predictions: boxes [B, Q, 4] (normalised cxcywh), logits [B, Q, nc]."""
        B, Q, _ = boxes.shape
        gt_score = torch.zeros(B, Q, self.nc)
        l1, lg, n = torch.zeros(()), torch.zeros(()), 0
        for b in range(B):
            t = targets[b]
            qi, gi = self.match(boxes[b].detach(), logits[b].detach(), t[:, 0].long(), t[:, 1:])
            if len(qi) == 0:
                continue
            pb, gb = boxes[b, qi], t[gi, 1:]
            l1 = l1 + (pb - gb).abs().sum()
            giou = torch.diagonal(_giou_matrix(_xyxy(pb), _xyxy(gb)))
            lg = lg + (1 - giou).sum()
            with torch.no_grad():
                iou = box_iou_pairs(pb, gb).clamp(0)
            gt_score[b, qi, t[gi, 0].long()] = iou
            n += len(qi)
        n = max(n, 1)
        label = (gt_score > 0).float()
        p = logits.sigmoid()
        weight = self.alpha * p.detach().pow(self.gamma) * (1 - label) + gt_score
        lcls = (F.binary_cross_entropy_with_logits(logits, gt_score, reduction="none") * weight).mean(1).sum()
        lcls = lcls * Q / n  # ultralytics: loss_cls /= num_gts / nq
        return torch.stack((lcls * self.gain["cls"], l1 / n * self.gain["bbox"], lg / n * self.gain["giou"]))

    def __call__(self, out, targets):
        """out: rtdetr_train_forward's result; targets: list per image of [n, 5] (cls, cx, cy, w, h) normalised."""
        boxes, logits, enc_boxes, enc_logits = out
        parts = sum(self.one(bx, lg, targets) for bx, lg in zip(boxes, logits))
        parts = parts + self.one(enc_boxes, enc_logits, targets)
        return parts.sum(), parts.detach()


__all__ = ["V5Loss", "V8Loss", "RTDETRLoss", "rtdetr_train_forward", "models"]
