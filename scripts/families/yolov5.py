"""YOLOv5 v7.0 at miniature widths: its own module classes (namespace `yolov5`, upstream names) and build_yolov5,
which prepares the model as yolov5's export.py does."""

import copy
import math

import torch
import torch.nn as nn

from .common import (
    IMGSZ, NAMES, NC, autopad, calibrate_bn, forward_once, fuse_conv_and_bn, initialize_weights, make_divisible,
    seed_all,
)


# ======================================================================================================
# YOLOv5 v7.0 (models/common.py, models/yolo.py)
# ======================================================================================================
class yolov5:  # namespace: yolov5's own module classes (upstream names)
    class Conv(nn.Module):
        default_act = nn.SiLU()

        def __init__(self, c1, c2, k=1, s=1, p=None, g=1, d=1, act=True):
            super().__init__()
            self.conv = nn.Conv2d(c1, c2, k, s, autopad(k, p, d), groups=g, dilation=d, bias=False)
            self.bn = nn.BatchNorm2d(c2)
            self.act = self.default_act if act is True else act if isinstance(act, nn.Module) else nn.Identity()

        def forward(self, x):
            return self.act(self.bn(self.conv(x)))

        def forward_fuse(self, x):
            return self.act(self.conv(x))

    class Bottleneck(nn.Module):
        def __init__(self, c1, c2, shortcut=True, g=1, e=0.5):
            super().__init__()
            c_ = int(c2 * e)
            self.cv1 = yolov5.Conv(c1, c_, 1, 1)
            self.cv2 = yolov5.Conv(c_, c2, 3, 1, g=g)
            self.add = shortcut and c1 == c2

        def forward(self, x):
            return x + self.cv2(self.cv1(x)) if self.add else self.cv2(self.cv1(x))

    class C3(nn.Module):
        def __init__(self, c1, c2, n=1, shortcut=True, g=1, e=0.5):
            super().__init__()
            c_ = int(c2 * e)
            self.cv1 = yolov5.Conv(c1, c_, 1, 1)
            self.cv2 = yolov5.Conv(c1, c_, 1, 1)
            self.cv3 = yolov5.Conv(2 * c_, c2, 1)
            self.m = nn.Sequential(*(yolov5.Bottleneck(c_, c_, shortcut, g, e=1.0) for _ in range(n)))

        def forward(self, x):
            return self.cv3(torch.cat((self.m(self.cv1(x)), self.cv2(x)), 1))

    class SPPF(nn.Module):
        def __init__(self, c1, c2, k=5):
            super().__init__()
            c_ = c1 // 2
            self.cv1 = yolov5.Conv(c1, c_, 1, 1)
            self.cv2 = yolov5.Conv(c_ * 4, c2, 1, 1)
            self.m = nn.MaxPool2d(kernel_size=k, stride=1, padding=k // 2)

        def forward(self, x):
            x = self.cv1(x)
            y1 = self.m(x)
            y2 = self.m(y1)
            return self.cv2(torch.cat((x, y1, y2, self.m(y2)), 1))

    class Concat(nn.Module):
        def __init__(self, dimension=1):
            super().__init__()
            self.d = dimension

        def forward(self, x):
            return torch.cat(x, self.d)

    class Detect(nn.Module):
        stride = None
        dynamic = False
        export = False

        def __init__(self, nc=80, anchors=(), ch=(), inplace=True):
            super().__init__()
            self.nc = nc
            self.no = nc + 5
            self.nl = len(anchors)
            self.na = len(anchors[0]) // 2
            self.grid = [torch.empty(0) for _ in range(self.nl)]
            self.anchor_grid = [torch.empty(0) for _ in range(self.nl)]
            self.register_buffer("anchors", torch.tensor(anchors).float().view(self.nl, -1, 2))
            self.m = nn.ModuleList(nn.Conv2d(x, self.no * self.na, 1) for x in ch)
            self.inplace = inplace

        def forward(self, x):
            z = []
            for i in range(self.nl):
                x[i] = self.m[i](x[i])
                bs, _, ny, nx = x[i].shape
                x[i] = x[i].view(bs, self.na, self.no, ny, nx).permute(0, 1, 3, 4, 2).contiguous()
                if not self.training:
                    if self.dynamic or self.grid[i].shape[2:4] != x[i].shape[2:4]:
                        self.grid[i], self.anchor_grid[i] = self._make_grid(nx, ny, i)
                    xy, wh, conf = x[i].sigmoid().split((2, 2, self.nc + 1), 4)
                    xy = (xy * 2 + self.grid[i]) * self.stride[i]
                    wh = (wh * 2) ** 2 * self.anchor_grid[i]
                    y = torch.cat((xy, wh, conf), 4)
                    z.append(y.view(bs, self.na * nx * ny, self.no))
            return x if self.training else (torch.cat(z, 1),) if self.export else (torch.cat(z, 1), x)

        def _make_grid(self, nx=20, ny=20, i=0):
            d = self.anchors[i].device
            t = self.anchors[i].dtype
            shape = 1, self.na, ny, nx, 2
            y, x = torch.arange(ny, device=d, dtype=t), torch.arange(nx, device=d, dtype=t)
            yv, xv = torch.meshgrid(y, x, indexing="ij")
            grid = torch.stack((xv, yv), 2).expand(shape) - 0.5
            anchor_grid = (self.anchors[i] * self.stride[i]).view((1, self.na, 1, 1, 2)).expand(shape)
            return grid, anchor_grid

    class DetectionModel(nn.Module):
        def __init__(self, cfg, ch=3):
            super().__init__()
            self.yaml = cfg
            self.model, self.save = yolov5.parse_model(copy.deepcopy(cfg), [ch])
            self.names = dict(NAMES)
            self.inplace = True
            m = self.model[-1]
            s = 256
            m.inplace = self.inplace
            # stride probe in train mode, like upstream (also updates BN running stats once)
            m.stride = torch.tensor([s / x.shape[-2] for x in self.forward(torch.zeros(1, ch, s, s))])
            m.anchors /= m.stride.view(-1, 1, 1)
            self.stride = m.stride
            self._initialize_biases()
            initialize_weights(self)

        def forward(self, x):
            return forward_once(self.model, x)

        def _initialize_biases(self):
            m = self.model[-1]
            for mi, s in zip(m.m, m.stride):
                b = mi.bias.view(m.na, -1)
                b.data[:, 4] += math.log(8 / (640 / s) ** 2)
                b.data[:, 5:5 + m.nc] += math.log(0.6 / (m.nc - 0.99999))
                mi.bias = torch.nn.Parameter(b.view(-1), requires_grad=True)

        def fuse(self):
            for m in self.model.modules():
                if isinstance(m, yolov5.Conv) and hasattr(m, "bn"):
                    m.conv = fuse_conv_and_bn(m.conv, m.bn)
                    delattr(m, "bn")
                    m.forward = m.forward_fuse
            return self

    @staticmethod
    def parse_model(d, ch):
        anchors, nc, gd, gw = d["anchors"], d["nc"], d["depth_multiple"], d["width_multiple"]
        na = (len(anchors[0]) // 2) if isinstance(anchors, list) else anchors
        no = na * (nc + 5)
        layers, save, c2 = [], [], ch[-1]
        for i, (f, n, m, args) in enumerate(d["backbone"] + d["head"]):
            m = getattr(yolov5, m) if hasattr(yolov5, m) else getattr(nn, m.split(".")[-1])
            n = max(round(n * gd), 1) if n > 1 else n
            if m in {yolov5.Conv, yolov5.C3, yolov5.SPPF}:
                c1, c2 = ch[f], args[0]
                if c2 != no:
                    c2 = make_divisible(c2 * gw, 8)
                args = [c1, c2, *args[1:]]
                if m is yolov5.C3:
                    args.insert(2, n)
                    n = 1
            elif m is yolov5.Concat:
                c2 = sum(ch[x] for x in f)
            elif m is yolov5.Detect:
                args.append([ch[x] for x in f])
            else:
                c2 = ch[f]
            m_ = nn.Sequential(*(m(*args) for _ in range(n))) if n > 1 else m(*args)
            m_.i, m_.f, m_.type = i, f, m.__name__
            save.extend(x % i for x in ([f] if isinstance(f, int) else f) if x != -1)
            layers.append(m_)
            if i == 0:
                ch = []
            ch.append(c2)
        return nn.Sequential(*layers), sorted(save)


YOLOV5S_YAML = {  # models/yolov5s.yaml (v7.0) with a miniature width_multiple
    "nc": NC,
    "depth_multiple": 0.33,
    "width_multiple": 0.03125,  # yolov5s: 0.50 (channels here: 8..32)
    "anchors": [[10, 13, 16, 30, 33, 23], [30, 61, 62, 45, 59, 119], [116, 90, 156, 198, 373, 326]],
    "backbone": [
        [-1, 1, "Conv", [64, 6, 2, 2]],  # 0-P1/2
        [-1, 1, "Conv", [128, 3, 2]],  # 1-P2/4
        [-1, 3, "C3", [128]],
        [-1, 1, "Conv", [256, 3, 2]],  # 3-P3/8
        [-1, 6, "C3", [256]],
        [-1, 1, "Conv", [512, 3, 2]],  # 5-P4/16
        [-1, 9, "C3", [512]],
        [-1, 1, "Conv", [1024, 3, 2]],  # 7-P5/32
        [-1, 3, "C3", [1024]],
        [-1, 1, "SPPF", [1024, 5]],  # 9
    ],
    "head": [
        [-1, 1, "Conv", [512, 1, 1]],
        [-1, 1, "nn.Upsample", [None, 2, "nearest"]],
        [[-1, 6], 1, "Concat", [1]],
        [-1, 3, "C3", [512, False]],  # 13
        [-1, 1, "Conv", [256, 1, 1]],
        [-1, 1, "nn.Upsample", [None, 2, "nearest"]],
        [[-1, 4], 1, "Concat", [1]],
        [-1, 3, "C3", [256, False]],  # 17 (P3/8-small)
        [-1, 1, "Conv", [256, 3, 2]],
        [[-1, 14], 1, "Concat", [1]],
        [-1, 3, "C3", [512, False]],  # 20 (P4/16-medium)
        [-1, 1, "Conv", [512, 3, 2]],
        [[-1, 10], 1, "Concat", [1]],
        [-1, 3, "C3", [1024, False]],  # 23 (P5/32-large)
        [[17, 20, 23], 1, "Detect", ["nc", "anchors"]],  # 24 Detect(P3, P4, P5)
    ],
}


def build_yolov5(dynamic=False):
    """yolov5 export.py run(): attempt_load(fuse=True), eval, Detect inplace/dynamic/export, two dry runs."""
    seed_all(5)
    cfg = copy.deepcopy(YOLOV5S_YAML)
    cfg["head"][-1][3] = [cfg["nc"], cfg["anchors"]]
    model = yolov5.DetectionModel(cfg).float()
    calibrate_bn(model, lambda m, im: m(im), 5)
    model = model.fuse().eval()
    for m in model.modules():
        if isinstance(m, yolov5.Detect):
            m.inplace = False
            m.dynamic = dynamic
            m.export = True
    im = torch.zeros(1, 3, IMGSZ, IMGSZ)
    for _ in range(2):
        model(im)
    meta = {"stride": int(max(model.stride)), "names": model.names}
    return model, meta
