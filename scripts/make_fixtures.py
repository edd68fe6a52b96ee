#!/usr/bin/python3
"""Generate the miniature detector ONNX fixtures under fixtures/ and fixtures/MANIFEST.json.

Run from the repository root with Debian's python (torch 1.13, onnx 1.12):

    /usr/bin/python3 scripts/make_fixtures.py [--probe DIR]

Each family is a miniature of the upstream model whose *module tree* mirrors upstream, so that the TorchScript
exporter (torch.onnx.export, do_constant_folding=True, eval mode) gives the same scope-based node and tensor names
as a real export (see shared/docs/export-conventions.md). Widths and input sizes are small; weights are random
(seeded), never trained, so torch 1.13 de-duplicates equal initializers into `Identity_<k>` nodes as in the real
random-init exports. Nothing is renamed by hand except what the upstream exporters name themselves.

--probe DIR additionally writes, per fixture, a copy whose boundary tensors are extra graph outputs, the input
tensors as raw little-endian files and the torch reference outputs (for an onnxruntime check outside this script).
"""

import argparse
import copy
import json
import math
import os
import re
import sys
import tempfile
import warnings
from collections import OrderedDict

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F

warnings.filterwarnings("ignore")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "fixtures")

COCO_NAMES = [
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
    "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow",
    "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee",
    "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard",
    "tennis racket", "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple",
    "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch",
    "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone",
    "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors", "teddy bear",
    "hair drier", "toothbrush",
]
NAMES = dict(enumerate(COCO_NAMES))  # yolov5 v7.0 attempt_load and ultralytics both keep names as a dict
NC = 80
IMGSZ = 128  # every family: P3/P4/P5 = 16x16, 8x8, 4x4

# FIXTURE-ONLY size knob: the ultralytics Detect hidden widths c2/c3 (upstream max(16, ch0//4, 64) and
# max(ch0, min(nc, 100)) = 64 and 80) would make the head alone ~1.8 MB; names and structure do not depend on them.
DETECT_HIDDEN = 16


def seed_all(seed):
    torch.manual_seed(seed)
    np.random.seed(seed)


@torch.no_grad()
def calibrate_bn(model, run, seed):
    """FIXTURE-ONLY: BatchNorm running_var set to the second moment of its input on one seeded, image-like batch.
    With PyTorch's default init (var 1) every conv shrinks its input, so activations fell ~10x per layer and deep
    layers carried ~1e-9: an inserted module could not change the outputs at all. running_mean stays 0, so the
    fused biases stay exactly 0 and torch still de-duplicates them into Identity nodes as in the real random-init
    exports (export-conventions 1.6). Each BN sees its input after the earlier BNs were set (forward order)."""
    hooks = []

    def pre(m, inp):
        x = inp[0]
        dims = [0] + list(range(2, x.dim()))
        m.running_var.copy_((x * x).mean(dims).clamp_min(1e-12))

    for m in model.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)) and m.running_mean is not None:
            hooks.append(m.register_forward_pre_hook(pre))
    was_training = model.training
    model.eval()
    g = torch.Generator().manual_seed(seed)
    im = torch.rand(2, 3, IMGSZ, IMGSZ, generator=g)
    run(model, im)
    for h in hooks:
        h.remove()
    model.train(was_training)


def autopad(k, p=None, d=1):
    """Pad to 'same' shape outputs (yolov5 models/common.py, ultralytics nn/modules/conv.py)."""
    if d > 1:
        k = d * (k - 1) + 1 if isinstance(k, int) else [d * (x - 1) + 1 for x in k]
    if p is None:
        p = k // 2 if isinstance(k, int) else [x // 2 for x in k]
    return p


def make_divisible(x, divisor):
    return math.ceil(x / divisor) * divisor


def fuse_conv_and_bn(conv, bn):
    """Fuse Conv2d() and BatchNorm2d() layers (yolov5 utils/torch_utils.py, ultralytics utils/torch_utils.py)."""
    fusedconv = (
        nn.Conv2d(conv.in_channels, conv.out_channels, kernel_size=conv.kernel_size, stride=conv.stride,
                  padding=conv.padding, dilation=conv.dilation, groups=conv.groups, bias=True)
        .requires_grad_(False)
        .to(conv.weight.device)
    )
    w_conv = conv.weight.clone().view(conv.out_channels, -1)
    w_bn = torch.diag(bn.weight.div(torch.sqrt(bn.eps + bn.running_var)))
    fusedconv.weight.copy_(torch.mm(w_bn, w_conv).view(fusedconv.weight.shape))
    b_conv = torch.zeros(conv.weight.size(0), device=conv.weight.device) if conv.bias is None else conv.bias
    b_bn = bn.bias - bn.weight.mul(bn.running_mean).div(torch.sqrt(bn.running_var + bn.eps))
    fusedconv.bias.copy_(torch.mm(w_bn, b_conv.reshape(-1, 1)).reshape(-1) + b_bn)
    return fusedconv


def initialize_weights(model):
    """yolov5 / ultralytics initialize_weights: BN eps 1e-3, momentum 0.03 on exact nn.BatchNorm2d."""
    for m in model.modules():
        t = type(m)
        if t is nn.Conv2d:
            pass
        elif t is nn.BatchNorm2d:
            m.eps = 1e-3
            m.momentum = 0.03
        elif t in {nn.Hardswish, nn.LeakyReLU, nn.ReLU, nn.ReLU6, nn.SiLU}:
            m.inplace = True


def forward_once(layers, x):
    """yolov5 DetectionModel._forward_once / ultralytics BaseModel._predict_once: the y list with m.f 'from'."""
    y = []
    for m in layers:
        if m.f != -1:
            x = y[m.f] if isinstance(m.f, int) else [x if j == -1 else y[j] for j in m.f]
        x = m(x)
        y.append(x)  # upstream keeps only m.i in self.save; keeping all is equivalent
    return x


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


# ======================================================================================================
# ultralytics 8.3.x (nn/modules/conv.py, block.py, head.py, transformer.py, utils.py; nn/tasks.py)
# ======================================================================================================
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


class DWConv(Conv):
    def __init__(self, c1, c2, k=1, s=1, d=1, act=True):
        super().__init__(c1, c2, k, s, g=math.gcd(c1, c2), d=d, act=act)


class LightConv(nn.Module):
    def __init__(self, c1, c2, k=1, act=nn.ReLU()):
        super().__init__()
        self.conv1 = Conv(c1, c2, 1, act=False)
        self.conv2 = DWConv(c2, c2, k, act=act)

    def forward(self, x):
        return self.conv2(self.conv1(x))


class RepConv(nn.Module):
    default_act = nn.SiLU()

    def __init__(self, c1, c2, k=3, s=1, p=1, g=1, d=1, act=True, bn=False, deploy=False):
        super().__init__()
        assert k == 3 and p == 1
        self.g = g
        self.c1 = c1
        self.c2 = c2
        self.act = self.default_act if act is True else act if isinstance(act, nn.Module) else nn.Identity()
        self.bn = nn.BatchNorm2d(num_features=c1) if bn and c2 == c1 and s == 1 else None
        self.conv1 = Conv(c1, c2, k, s, p=p, g=g, act=False)
        self.conv2 = Conv(c1, c2, 1, s, p=(p - k // 2), g=g, act=False)

    def forward_fuse(self, x):
        return self.act(self.conv(x))

    def forward(self, x):
        id_out = 0 if self.bn is None else self.bn(x)
        return self.act(self.conv1(x) + self.conv2(x) + id_out)

    def get_equivalent_kernel_bias(self):
        kernel3x3, bias3x3 = self._fuse_bn_tensor(self.conv1)
        kernel1x1, bias1x1 = self._fuse_bn_tensor(self.conv2)
        kernelid, biasid = self._fuse_bn_tensor(self.bn)
        return kernel3x3 + self._pad_1x1_to_3x3_tensor(kernel1x1) + kernelid, bias3x3 + bias1x1 + biasid

    @staticmethod
    def _pad_1x1_to_3x3_tensor(kernel1x1):
        return 0 if kernel1x1 is None else F.pad(kernel1x1, [1, 1, 1, 1])

    def _fuse_bn_tensor(self, branch):
        if branch is None:
            return 0, 0
        kernel = branch.conv.weight
        running_mean, running_var = branch.bn.running_mean, branch.bn.running_var
        gamma, beta, eps = branch.bn.weight, branch.bn.bias, branch.bn.eps
        std = (running_var + eps).sqrt()
        t = (gamma / std).reshape(-1, 1, 1, 1)
        return kernel * t, beta - running_mean * gamma / std

    def fuse_convs(self):
        if hasattr(self, "conv"):
            return
        kernel, bias = self.get_equivalent_kernel_bias()
        self.conv = nn.Conv2d(
            in_channels=self.conv1.conv.in_channels, out_channels=self.conv1.conv.out_channels,
            kernel_size=self.conv1.conv.kernel_size, stride=self.conv1.conv.stride, padding=self.conv1.conv.padding,
            dilation=self.conv1.conv.dilation, groups=self.conv1.conv.groups, bias=True,
        ).requires_grad_(False)
        self.conv.weight.data = kernel
        self.conv.bias.data = bias
        for para in self.parameters():
            para.detach_()
        self.__delattr__("conv1")
        self.__delattr__("conv2")
        if hasattr(self, "bn"):
            self.__delattr__("bn")


class Concat(nn.Module):
    def __init__(self, dimension=1):
        super().__init__()
        self.d = dimension

    def forward(self, x):
        return torch.cat(x, self.d)


class DFL(nn.Module):
    def __init__(self, c1=16):
        super().__init__()
        self.conv = nn.Conv2d(c1, 1, 1, bias=False).requires_grad_(False)
        x = torch.arange(c1, dtype=torch.float)
        self.conv.weight.data[:] = nn.Parameter(x.view(1, c1, 1, 1))
        self.c1 = c1

    def forward(self, x):
        b, _, a = x.shape
        return self.conv(x.view(b, 4, self.c1, a).transpose(2, 1).softmax(1)).view(b, 4, a)


class HGStem(nn.Module):
    def __init__(self, c1, cm, c2):
        super().__init__()
        self.stem1 = Conv(c1, cm, 3, 2, act=nn.ReLU())
        self.stem2a = Conv(cm, cm // 2, 2, 1, 0, act=nn.ReLU())
        self.stem2b = Conv(cm // 2, cm, 2, 1, 0, act=nn.ReLU())
        self.stem3 = Conv(cm * 2, cm, 3, 2, act=nn.ReLU())
        self.stem4 = Conv(cm, c2, 1, 1, act=nn.ReLU())
        self.pool = nn.MaxPool2d(kernel_size=2, stride=1, padding=0, ceil_mode=True)

    def forward(self, x):
        x = self.stem1(x)
        x = F.pad(x, [0, 1, 0, 1])
        x2 = self.stem2a(x)
        x2 = F.pad(x2, [0, 1, 0, 1])
        x2 = self.stem2b(x2)
        x1 = self.pool(x)
        x = torch.cat([x1, x2], dim=1)
        x = self.stem3(x)
        x = self.stem4(x)
        return x


class HGBlock(nn.Module):
    def __init__(self, c1, cm, c2, k=3, n=6, lightconv=False, shortcut=False, act=nn.ReLU()):
        super().__init__()
        block = LightConv if lightconv else Conv
        self.m = nn.ModuleList(block(c1 if i == 0 else cm, cm, k=k, act=act) for i in range(n))
        self.sc = Conv(c1 + n * cm, c2 // 2, 1, 1, act=act)  # squeeze conv
        self.ec = Conv(c2 // 2, c2, 1, 1, act=act)  # excitation conv
        self.add = shortcut and c1 == c2

    def forward(self, x):
        y = [x]
        y.extend(m(y[-1]) for m in self.m)
        y = self.ec(self.sc(torch.cat(y, 1)))
        return y + x if self.add else y


class SPPF(nn.Module):
    def __init__(self, c1, c2, k=5):
        super().__init__()
        c_ = c1 // 2
        self.cv1 = Conv(c1, c_, 1, 1)
        self.cv2 = Conv(c_ * 4, c2, 1, 1)
        self.m = nn.MaxPool2d(kernel_size=k, stride=1, padding=k // 2)

    def forward(self, x):
        y = [self.cv1(x)]
        y.extend(self.m(y[-1]) for _ in range(3))
        return self.cv2(torch.cat(y, 1))


class Bottleneck(nn.Module):
    def __init__(self, c1, c2, shortcut=True, g=1, k=(3, 3), e=0.5):
        super().__init__()
        c_ = int(c2 * e)
        self.cv1 = Conv(c1, c_, k[0], 1)
        self.cv2 = Conv(c_, c2, k[1], 1, g=g)
        self.add = shortcut and c1 == c2

    def forward(self, x):
        return x + self.cv2(self.cv1(x)) if self.add else self.cv2(self.cv1(x))


class C2f(nn.Module):
    def __init__(self, c1, c2, n=1, shortcut=False, g=1, e=0.5):
        super().__init__()
        self.c = int(c2 * e)
        self.cv1 = Conv(c1, 2 * self.c, 1, 1)
        self.cv2 = Conv((2 + n) * self.c, c2, 1)
        self.m = nn.ModuleList(Bottleneck(self.c, self.c, shortcut, g, k=((3, 3), (3, 3)), e=1.0) for _ in range(n))

    def forward(self, x):
        y = list(self.cv1(x).chunk(2, 1))
        y.extend(m(y[-1]) for m in self.m)
        return self.cv2(torch.cat(y, 1))

    def forward_split(self, x):  # what the ultralytics Exporter installs for ONNX
        y = self.cv1(x).split((self.c, self.c), 1)
        y = [y[0], y[1]]
        y.extend(m(y[-1]) for m in self.m)
        return self.cv2(torch.cat(y, 1))


class C3(nn.Module):
    def __init__(self, c1, c2, n=1, shortcut=True, g=1, e=0.5):
        super().__init__()
        c_ = int(c2 * e)
        self.cv1 = Conv(c1, c_, 1, 1)
        self.cv2 = Conv(c1, c_, 1, 1)
        self.cv3 = Conv(2 * c_, c2, 1)
        self.m = nn.Sequential(*(Bottleneck(c_, c_, shortcut, g, k=((1, 1), (3, 3)), e=1.0) for _ in range(n)))

    def forward(self, x):
        return self.cv3(torch.cat((self.m(self.cv1(x)), self.cv2(x)), 1))


class C3k(C3):
    def __init__(self, c1, c2, n=1, shortcut=True, g=1, e=0.5, k=3):
        super().__init__(c1, c2, n, shortcut, g, e)
        c_ = int(c2 * e)
        self.m = nn.Sequential(*(Bottleneck(c_, c_, shortcut, g, k=(k, k), e=1.0) for _ in range(n)))


class C3k2(C2f):
    def __init__(self, c1, c2, n=1, c3k=False, e=0.5, g=1, shortcut=True):
        super().__init__(c1, c2, n, shortcut, g, e)
        self.m = nn.ModuleList(
            C3k(self.c, self.c, 2, shortcut, g) if c3k else Bottleneck(self.c, self.c, shortcut, g) for _ in range(n)
        )


class RepC3(nn.Module):
    def __init__(self, c1, c2, n=3, e=1.0):
        super().__init__()
        c_ = int(c2 * e)
        self.cv1 = Conv(c1, c_, 1, 1)
        self.cv2 = Conv(c1, c_, 1, 1)
        self.m = nn.Sequential(*[RepConv(c_, c_) for _ in range(n)])
        self.cv3 = Conv(c_, c2, 1, 1) if c_ != c2 else nn.Identity()

    def forward(self, x):
        return self.cv3(self.m(self.cv1(x)) + self.cv2(x))


class Attention(nn.Module):
    def __init__(self, dim, num_heads=8, attn_ratio=0.5):
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.key_dim = int(self.head_dim * attn_ratio)
        self.scale = self.key_dim**-0.5
        nh_kd = self.key_dim * num_heads
        h = dim + nh_kd * 2
        self.qkv = Conv(dim, h, 1, act=False)
        self.proj = Conv(dim, dim, 1, act=False)
        self.pe = Conv(dim, dim, 3, 1, g=dim, act=False)

    def forward(self, x):
        B, C, H, W = x.shape
        N = H * W
        qkv = self.qkv(x)
        q, k, v = qkv.view(B, self.num_heads, self.key_dim * 2 + self.head_dim, N).split(
            [self.key_dim, self.key_dim, self.head_dim], dim=2
        )
        attn = (q.transpose(-2, -1) @ k) * self.scale
        attn = attn.softmax(dim=-1)
        x = (v @ attn.transpose(-2, -1)).view(B, C, H, W) + self.pe(v.reshape(B, C, H, W))
        x = self.proj(x)
        return x


class PSABlock(nn.Module):
    def __init__(self, c, attn_ratio=0.5, num_heads=4, shortcut=True):
        super().__init__()
        self.attn = Attention(c, attn_ratio=attn_ratio, num_heads=num_heads)
        self.ffn = nn.Sequential(Conv(c, c * 2, 1), Conv(c * 2, c, 1, act=False))
        self.add = shortcut

    def forward(self, x):
        x = x + self.attn(x) if self.add else self.attn(x)
        x = x + self.ffn(x) if self.add else self.ffn(x)
        return x


class C2PSA(nn.Module):
    def __init__(self, c1, c2, n=1, e=0.5):
        super().__init__()
        assert c1 == c2
        self.c = int(c1 * e)
        self.cv1 = Conv(c1, 2 * self.c, 1, 1)
        self.cv2 = Conv(2 * self.c, c1, 1)
        # upstream: num_heads=self.c // 64 (2 in yolo11n); the miniature has c=32, so one head
        self.m = nn.Sequential(*(PSABlock(self.c, attn_ratio=0.5, num_heads=max(1, self.c // 64)) for _ in range(n)))

    def forward(self, x):
        a, b = self.cv1(x).split((self.c, self.c), dim=1)
        b = self.m(b)
        return self.cv2(torch.cat((a, b), 1))


def make_anchors(feats, strides, grid_cell_offset=0.5):
    """ultralytics utils/tal.py."""
    anchor_points, stride_tensor = [], []
    dtype, device = feats[0].dtype, feats[0].device
    for i, stride in enumerate(strides):
        h, w = feats[i].shape[2:]
        sx = torch.arange(end=w, device=device, dtype=dtype) + grid_cell_offset
        sy = torch.arange(end=h, device=device, dtype=dtype) + grid_cell_offset
        sy, sx = torch.meshgrid(sy, sx, indexing="ij")
        anchor_points.append(torch.stack((sx, sy), -1).view(-1, 2))
        stride_tensor.append(torch.full((h * w, 1), stride, dtype=dtype, device=device))
    return torch.cat(anchor_points), torch.cat(stride_tensor)


def dist2bbox(distance, anchor_points, xywh=True, dim=-1):
    """ultralytics utils/tal.py."""
    lt, rb = distance.chunk(2, dim)
    x1y1 = anchor_points - lt
    x2y2 = anchor_points + rb
    if xywh:
        c_xy = (x1y1 + x2y2) / 2
        wh = x2y2 - x1y1
        return torch.cat((c_xy, wh), dim)
    return torch.cat((x1y1, x2y2), dim)


class Detect(nn.Module):
    dynamic = False
    export = False
    format = None
    end2end = False
    max_det = 300
    shape = None
    anchors = torch.empty(0)
    strides = torch.empty(0)
    legacy = False

    def __init__(self, nc=80, ch=()):
        super().__init__()
        self.nc = nc
        self.nl = len(ch)
        self.reg_max = 16
        self.no = nc + self.reg_max * 4
        self.stride = torch.zeros(self.nl)
        c2, c3 = max((16, ch[0] // 4, self.reg_max * 4)), max(ch[0], min(self.nc, 100))
        c2, c3 = min(c2, DETECT_HIDDEN), min(c3, DETECT_HIDDEN)  # FIXTURE: smaller hidden widths (file size)
        self.cv2 = nn.ModuleList(
            nn.Sequential(Conv(x, c2, 3), Conv(c2, c2, 3), nn.Conv2d(c2, 4 * self.reg_max, 1)) for x in ch
        )
        self.cv3 = (
            nn.ModuleList(nn.Sequential(Conv(x, c3, 3), Conv(c3, c3, 3), nn.Conv2d(c3, self.nc, 1)) for x in ch)
            if self.legacy
            else nn.ModuleList(
                nn.Sequential(
                    nn.Sequential(DWConv(x, x, 3), Conv(x, c3, 1)),
                    nn.Sequential(DWConv(c3, c3, 3), Conv(c3, c3, 1)),
                    nn.Conv2d(c3, self.nc, 1),
                )
                for x in ch
            )
        )
        self.dfl = DFL(self.reg_max) if self.reg_max > 1 else nn.Identity()

    def forward(self, x):
        for i in range(self.nl):
            x[i] = torch.cat((self.cv2[i](x[i]), self.cv3[i](x[i])), 1)
        if self.training:
            return x
        y = self._inference(x)
        return y if self.export else (y, x)

    def _inference(self, x):
        shape = x[0].shape  # BCHW
        x_cat = torch.cat([xi.view(shape[0], self.no, -1) for xi in x], 2)
        if self.dynamic or self.shape != shape:
            self.anchors, self.strides = (x.transpose(0, 1) for x in make_anchors(x, self.stride, 0.5))
            self.shape = shape
        box, cls = x_cat.split((self.reg_max * 4, self.nc), 1)
        dbox = self.decode_bboxes(self.dfl(box), self.anchors.unsqueeze(0)) * self.strides
        return torch.cat((dbox, cls.sigmoid()), 1)

    def bias_init(self):
        m = self
        for a, b, s in zip(m.cv2, m.cv3, m.stride):
            a[-1].bias.data[:] = 1.0  # box
            b[-1].bias.data[: m.nc] = math.log(5 / m.nc / (640 / s) ** 2)  # cls

    def decode_bboxes(self, bboxes, anchors, xywh=True):
        return dist2bbox(bboxes, anchors, xywh=xywh and (not self.end2end), dim=1)


class MLP(nn.Module):
    def __init__(self, input_dim, hidden_dim, output_dim, num_layers, act=nn.ReLU, sigmoid=False):
        super().__init__()
        self.num_layers = num_layers
        h = [hidden_dim] * (num_layers - 1)
        self.layers = nn.ModuleList(nn.Linear(n, k) for n, k in zip([input_dim] + h, h + [output_dim]))
        self.sigmoid = sigmoid
        self.act = act()

    def forward(self, x):
        for i, layer in enumerate(self.layers):
            x = getattr(self, "act", nn.ReLU())(layer(x)) if i < self.num_layers - 1 else layer(x)
        return x.sigmoid() if getattr(self, "sigmoid", False) else x


class TransformerEncoderLayer(nn.Module):
    def __init__(self, c1, cm=2048, num_heads=8, dropout=0.0, act=nn.GELU(), normalize_before=False):
        super().__init__()
        self.ma = nn.MultiheadAttention(c1, num_heads, dropout=dropout, batch_first=True)
        self.fc1 = nn.Linear(c1, cm)
        self.fc2 = nn.Linear(cm, c1)
        self.norm1 = nn.LayerNorm(c1)
        self.norm2 = nn.LayerNorm(c1)
        self.dropout = nn.Dropout(dropout)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)
        self.act = act
        self.normalize_before = normalize_before

    @staticmethod
    def with_pos_embed(tensor, pos=None):
        return tensor if pos is None else tensor + pos

    def forward_post(self, src, src_mask=None, src_key_padding_mask=None, pos=None):
        q = k = self.with_pos_embed(src, pos)
        src2 = self.ma(q, k, value=src, attn_mask=src_mask, key_padding_mask=src_key_padding_mask)[0]
        src = src + self.dropout1(src2)
        src = self.norm1(src)
        src2 = self.fc2(self.dropout(self.act(self.fc1(src))))
        src = src + self.dropout2(src2)
        return self.norm2(src)

    def forward(self, src, src_mask=None, src_key_padding_mask=None, pos=None):
        return self.forward_post(src, src_mask, src_key_padding_mask, pos)


class AIFI(TransformerEncoderLayer):
    def __init__(self, c1, cm=2048, num_heads=8, dropout=0, act=nn.GELU(), normalize_before=False):
        super().__init__(c1, cm, num_heads, dropout, act, normalize_before)

    def forward(self, x):
        c, h, w = x.shape[1:]
        pos_embed = self.build_2d_sincos_position_embedding(w, h, c)
        x = super().forward(x.flatten(2).permute(0, 2, 1), pos=pos_embed.to(device=x.device, dtype=x.dtype))
        return x.permute(0, 2, 1).view([-1, c, h, w]).contiguous()

    @staticmethod
    def build_2d_sincos_position_embedding(w, h, embed_dim=256, temperature=10000.0):
        assert embed_dim % 4 == 0
        grid_w = torch.arange(w, dtype=torch.float32)
        grid_h = torch.arange(h, dtype=torch.float32)
        grid_w, grid_h = torch.meshgrid(grid_w, grid_h, indexing="ij")
        pos_dim = embed_dim // 4
        omega = torch.arange(pos_dim, dtype=torch.float32) / pos_dim
        omega = 1.0 / (temperature**omega)
        out_w = grid_w.flatten()[..., None] @ omega[None]
        out_h = grid_h.flatten()[..., None] @ omega[None]
        return torch.cat([torch.sin(out_w), torch.cos(out_w), torch.sin(out_h), torch.cos(out_h)], 1)[None]


def multi_scale_deformable_attn_pytorch(value, value_spatial_shapes, sampling_locations, attention_weights):
    """ultralytics nn/modules/utils.py."""
    bs, _, num_heads, embed_dims = value.shape
    _, num_queries, num_heads, num_levels, num_points, _ = sampling_locations.shape
    value_list = value.split([H_ * W_ for H_, W_ in value_spatial_shapes], dim=1)
    sampling_grids = 2 * sampling_locations - 1
    sampling_value_list = []
    for level, (H_, W_) in enumerate(value_spatial_shapes):
        value_l_ = value_list[level].flatten(2).transpose(1, 2).reshape(bs * num_heads, embed_dims, H_, W_)
        sampling_grid_l_ = sampling_grids[:, :, :, level].transpose(1, 2).flatten(0, 1)
        sampling_value_l_ = F.grid_sample(
            value_l_, sampling_grid_l_, mode="bilinear", padding_mode="zeros", align_corners=False
        )
        sampling_value_list.append(sampling_value_l_)
    attention_weights = attention_weights.transpose(1, 2).reshape(
        bs * num_heads, 1, num_queries, num_levels * num_points
    )
    output = (
        (torch.stack(sampling_value_list, dim=-2).flatten(-2) * attention_weights)
        .sum(-1)
        .view(bs, num_heads * embed_dims, num_queries)
    )
    return output.transpose(1, 2).contiguous()


class MSDeformAttn(nn.Module):
    def __init__(self, d_model=256, n_levels=4, n_heads=8, n_points=4):
        super().__init__()
        self.im2col_step = 64
        self.d_model = d_model
        self.n_levels = n_levels
        self.n_heads = n_heads
        self.n_points = n_points
        self.sampling_offsets = nn.Linear(d_model, n_heads * n_levels * n_points * 2)
        self.attention_weights = nn.Linear(d_model, n_heads * n_levels * n_points)
        self.value_proj = nn.Linear(d_model, d_model)
        self.output_proj = nn.Linear(d_model, d_model)
        self._reset_parameters()

    def _reset_parameters(self):
        nn.init.constant_(self.sampling_offsets.weight.data, 0.0)
        thetas = torch.arange(self.n_heads, dtype=torch.float32) * (2.0 * math.pi / self.n_heads)
        grid_init = torch.stack([thetas.cos(), thetas.sin()], -1)
        grid_init = (
            (grid_init / grid_init.abs().max(-1, keepdim=True)[0])
            .view(self.n_heads, 1, 1, 2)
            .repeat(1, self.n_levels, self.n_points, 1)
        )
        for i in range(self.n_points):
            grid_init[:, :, i, :] *= i + 1
        with torch.no_grad():
            self.sampling_offsets.bias = nn.Parameter(grid_init.view(-1))
        nn.init.constant_(self.attention_weights.weight.data, 0.0)
        nn.init.constant_(self.attention_weights.bias.data, 0.0)
        nn.init.xavier_uniform_(self.value_proj.weight.data)
        nn.init.constant_(self.value_proj.bias.data, 0.0)
        nn.init.xavier_uniform_(self.output_proj.weight.data)
        nn.init.constant_(self.output_proj.bias.data, 0.0)

    def forward(self, query, refer_bbox, value, value_shapes, value_mask=None):
        bs, len_q = query.shape[:2]
        len_v = value.shape[1]
        value = self.value_proj(value)
        if value_mask is not None:
            value = value.masked_fill(value_mask[..., None], float(0))
        value = value.view(bs, len_v, self.n_heads, self.d_model // self.n_heads)
        sampling_offsets = self.sampling_offsets(query).view(bs, len_q, self.n_heads, self.n_levels, self.n_points, 2)
        attention_weights = self.attention_weights(query).view(bs, len_q, self.n_heads, self.n_levels * self.n_points)
        attention_weights = F.softmax(attention_weights, -1).view(bs, len_q, self.n_heads, self.n_levels, self.n_points)
        num_points = refer_bbox.shape[-1]
        assert num_points == 4
        add = sampling_offsets / self.n_points * refer_bbox[:, :, None, :, None, 2:] * 0.5
        sampling_locations = refer_bbox[:, :, None, :, None, :2] + add
        output = multi_scale_deformable_attn_pytorch(value, value_shapes, sampling_locations, attention_weights)
        return self.output_proj(output)


class DeformableTransformerDecoderLayer(nn.Module):
    def __init__(self, d_model=256, n_heads=8, d_ffn=1024, dropout=0.0, act=nn.ReLU(), n_levels=4, n_points=4):
        super().__init__()
        self.self_attn = nn.MultiheadAttention(d_model, n_heads, dropout=dropout)
        self.dropout1 = nn.Dropout(dropout)
        self.norm1 = nn.LayerNorm(d_model)
        self.cross_attn = MSDeformAttn(d_model, n_levels, n_heads, n_points)
        self.dropout2 = nn.Dropout(dropout)
        self.norm2 = nn.LayerNorm(d_model)
        self.linear1 = nn.Linear(d_model, d_ffn)
        self.act = act
        self.dropout3 = nn.Dropout(dropout)
        self.linear2 = nn.Linear(d_ffn, d_model)
        self.dropout4 = nn.Dropout(dropout)
        self.norm3 = nn.LayerNorm(d_model)

    @staticmethod
    def with_pos_embed(tensor, pos):
        return tensor if pos is None else tensor + pos

    def forward_ffn(self, tgt):
        tgt2 = self.linear2(self.dropout3(self.act(self.linear1(tgt))))
        tgt = tgt + self.dropout4(tgt2)
        return self.norm3(tgt)

    def forward(self, embed, refer_bbox, feats, shapes, padding_mask=None, attn_mask=None, query_pos=None):
        q = k = self.with_pos_embed(embed, query_pos)
        tgt = self.self_attn(q.transpose(0, 1), k.transpose(0, 1), embed.transpose(0, 1), attn_mask=attn_mask)[
            0
        ].transpose(0, 1)
        embed = embed + self.dropout1(tgt)
        embed = self.norm1(embed)
        tgt = self.cross_attn(
            self.with_pos_embed(embed, query_pos), refer_bbox.unsqueeze(2), feats, shapes, padding_mask
        )
        embed = embed + self.dropout2(tgt)
        embed = self.norm2(embed)
        return self.forward_ffn(embed)


def inverse_sigmoid(x, eps=1e-5):
    x = x.clamp(min=0, max=1)
    x1 = x.clamp(min=eps)
    x2 = (1 - x).clamp(min=eps)
    return torch.log(x1 / x2)


class DeformableTransformerDecoder(nn.Module):
    def __init__(self, hidden_dim, decoder_layer, num_layers, eval_idx=-1):
        super().__init__()
        self.layers = nn.ModuleList([copy.deepcopy(decoder_layer) for _ in range(num_layers)])
        self.num_layers = num_layers
        self.hidden_dim = hidden_dim
        self.eval_idx = eval_idx if eval_idx >= 0 else num_layers + eval_idx

    def forward(self, embed, refer_bbox, feats, shapes, bbox_head, score_head, pos_mlp, attn_mask=None,
                padding_mask=None):
        output = embed
        dec_bboxes = []
        dec_cls = []
        refer_bbox = refer_bbox.sigmoid()
        for i, layer in enumerate(self.layers):
            output = layer(output, refer_bbox, feats, shapes, padding_mask, attn_mask, pos_mlp(refer_bbox))
            bbox = bbox_head[i](output)
            refined_bbox = torch.sigmoid(bbox + inverse_sigmoid(refer_bbox))
            if i == self.eval_idx:  # eval / export path
                dec_cls.append(score_head[i](output))
                dec_bboxes.append(refined_bbox)
                break
            refer_bbox = refined_bbox
        return torch.stack(dec_bboxes), torch.stack(dec_cls)


class RTDETRDecoder(nn.Module):
    export = False

    def __init__(self, nc=80, ch=(512, 1024, 2048), hd=256, nq=300, ndp=4, nh=8, ndl=6, d_ffn=1024, dropout=0.0,
                 act=nn.ReLU(), eval_idx=-1, nd=100, label_noise_ratio=0.5, box_noise_scale=1.0,
                 learnt_init_query=False):
        super().__init__()
        self.hidden_dim = hd
        self.nhead = nh
        self.nl = len(ch)
        self.nc = nc
        self.num_queries = nq
        self.num_decoder_layers = ndl
        self.input_proj = nn.ModuleList(nn.Sequential(nn.Conv2d(x, hd, 1, bias=False), nn.BatchNorm2d(hd)) for x in ch)
        decoder_layer = DeformableTransformerDecoderLayer(hd, nh, d_ffn, dropout, act, self.nl, ndp)
        self.decoder = DeformableTransformerDecoder(hd, decoder_layer, ndl, eval_idx)
        self.denoising_class_embed = nn.Embedding(nc, hd)
        self.num_denoising = nd
        self.label_noise_ratio = label_noise_ratio
        self.box_noise_scale = box_noise_scale
        self.learnt_init_query = learnt_init_query
        if learnt_init_query:
            self.tgt_embed = nn.Embedding(nq, hd)
        self.query_pos_head = MLP(4, 2 * hd, hd, num_layers=2)
        self.enc_output = nn.Sequential(nn.Linear(hd, hd), nn.LayerNorm(hd))
        self.enc_score_head = nn.Linear(hd, nc)
        self.enc_bbox_head = MLP(hd, hd, 4, num_layers=3)
        self.dec_score_head = nn.ModuleList([nn.Linear(hd, nc) for _ in range(ndl)])
        self.dec_bbox_head = nn.ModuleList([MLP(hd, hd, 4, num_layers=3) for _ in range(ndl)])
        self._reset_parameters()

    def forward(self, x, batch=None):
        feats, shapes = self._get_encoder_input(x)
        dn_embed, dn_bbox, attn_mask = None, None, None  # get_cdn_group(...) outside training
        embed, refer_bbox, enc_bboxes, enc_scores = self._get_decoder_input(feats, shapes, dn_embed, dn_bbox)
        dec_bboxes, dec_scores = self.decoder(
            embed, refer_bbox, feats, shapes, self.dec_bbox_head, self.dec_score_head, self.query_pos_head,
            attn_mask=attn_mask,
        )
        x = dec_bboxes, dec_scores, enc_bboxes, enc_scores, None
        y = torch.cat((dec_bboxes.squeeze(0), dec_scores.squeeze(0).sigmoid()), -1)
        return y if self.export else (y, x)

    def _generate_anchors(self, shapes, grid_size=0.05, dtype=torch.float32, device="cpu", eps=1e-2):
        anchors = []
        for i, (h, w) in enumerate(shapes):
            sy = torch.arange(end=h, dtype=dtype, device=device)
            sx = torch.arange(end=w, dtype=dtype, device=device)
            grid_y, grid_x = torch.meshgrid(sy, sx, indexing="ij")
            grid_xy = torch.stack([grid_x, grid_y], -1)
            valid_WH = torch.tensor([w, h], dtype=dtype, device=device)
            grid_xy = (grid_xy.unsqueeze(0) + 0.5) / valid_WH
            wh = torch.ones_like(grid_xy, dtype=dtype, device=device) * grid_size * (2.0**i)
            anchors.append(torch.cat([grid_xy, wh], -1).view(-1, h * w, 4))
        anchors = torch.cat(anchors, 1)
        valid_mask = ((anchors > eps) & (anchors < 1 - eps)).all(-1, keepdim=True)
        anchors = torch.log(anchors / (1 - anchors))
        anchors = anchors.masked_fill(~valid_mask, float("inf"))
        return anchors, valid_mask

    def _get_encoder_input(self, x):
        x = [self.input_proj[i](feat) for i, feat in enumerate(x)]
        feats = []
        shapes = []
        for feat in x:
            h, w = feat.shape[2:]
            feats.append(feat.flatten(2).permute(0, 2, 1))
            shapes.append([h, w])
        feats = torch.cat(feats, 1)
        return feats, shapes

    def _get_decoder_input(self, feats, shapes, dn_embed=None, dn_bbox=None):
        bs = feats.shape[0]
        anchors, valid_mask = self._generate_anchors(shapes, dtype=feats.dtype, device=feats.device)
        features = self.enc_output(valid_mask * feats)
        enc_outputs_scores = self.enc_score_head(features)
        topk_ind = torch.topk(enc_outputs_scores.max(-1).values, self.num_queries, dim=1).indices.view(-1)
        batch_ind = torch.arange(end=bs, dtype=topk_ind.dtype).unsqueeze(-1).repeat(1, self.num_queries).view(-1)
        top_k_features = features[batch_ind, topk_ind].view(bs, self.num_queries, -1)
        top_k_anchors = anchors[:, topk_ind].view(bs, self.num_queries, -1)
        refer_bbox = self.enc_bbox_head(top_k_features) + top_k_anchors
        enc_bboxes = refer_bbox.sigmoid()
        enc_scores = enc_outputs_scores[batch_ind, topk_ind].view(bs, self.num_queries, -1)
        embeddings = self.tgt_embed.weight.unsqueeze(0).repeat(bs, 1, 1) if self.learnt_init_query else top_k_features
        return embeddings, refer_bbox, enc_bboxes, enc_scores

    def _reset_parameters(self):
        bias_cls = float(-np.log((1 - 0.01) / 0.01)) / 80 * self.nc  # bias_init_with_prob(0.01)
        nn.init.constant_(self.enc_score_head.bias, bias_cls)
        nn.init.constant_(self.enc_bbox_head.layers[-1].weight, 0.0)
        nn.init.constant_(self.enc_bbox_head.layers[-1].bias, 0.0)
        for cls_, reg_ in zip(self.dec_score_head, self.dec_bbox_head):
            nn.init.constant_(cls_.bias, bias_cls)
            nn.init.constant_(reg_.layers[-1].weight, 0.0)
            nn.init.constant_(reg_.layers[-1].bias, 0.0)
        bound = 1 / math.sqrt(self.enc_output[0].weight.shape[0])  # linear_init(self.enc_output[0])
        nn.init.uniform_(self.enc_output[0].weight, -bound, bound)
        nn.init.uniform_(self.enc_output[0].bias, -bound, bound)
        nn.init.xavier_uniform_(self.enc_output[0].weight)
        if self.learnt_init_query:
            nn.init.xavier_uniform_(self.tgt_embed.weight)
        nn.init.xavier_uniform_(self.query_pos_head.layers[0].weight)
        nn.init.xavier_uniform_(self.query_pos_head.layers[1].weight)
        for layer in self.input_proj:
            nn.init.xavier_uniform_(layer[0].weight)


ULTRA_MODULES = {
    c.__name__: c
    for c in (Conv, DWConv, Concat, HGStem, HGBlock, SPPF, C2f, C3k2, C2PSA, RepC3, AIFI, Detect, RTDETRDecoder)
}


def ultralytics_parse_model(d, ch, head_kwargs=None):
    """ultralytics nn/tasks.py parse_model (the branches these yamls use). head_kwargs: miniature decoder sizes."""
    nc, (depth, width, max_channels) = d["nc"], d["scale"]
    legacy = True
    layers, save, c2 = [], [], ch[-1]
    for i, (f, n, m, args) in enumerate(d["backbone"] + d["head"]):
        m = ULTRA_MODULES[m] if m in ULTRA_MODULES else getattr(nn, m.split(".")[-1])
        args = [nc if a == "nc" else a for a in args]
        n = max(round(n * depth), 1) if n > 1 else n
        if m in {Conv, DWConv, SPPF, C2f, C3k2, C2PSA, RepC3}:
            c1, c2 = ch[f], args[0]
            c2 = make_divisible(min(c2, max_channels) * width, 8)
            args = [c1, c2, *args[1:]]
            if m in {C2f, C3k2, C2PSA, RepC3}:
                args.insert(2, n)
                n = 1
            if m is C3k2:
                legacy = False
        elif m is AIFI:
            args = [ch[f], *args]
        elif m in {HGStem, HGBlock}:
            c1, cm, c2 = ch[f], args[0], args[1]
            args = [c1, cm, c2, *args[2:]]
            if m is HGBlock:
                args.insert(4, n)
                n = 1
        elif m is Concat:
            c2 = sum(ch[x] for x in f)
        elif m in {Detect, RTDETRDecoder}:
            args.append([ch[x] for x in f])
            if m is Detect:
                m.legacy = legacy
        else:
            c2 = ch[f]
        kwargs = head_kwargs if m is RTDETRDecoder and head_kwargs else {}
        m_ = nn.Sequential(*(m(*args) for _ in range(n))) if n > 1 else m(*args, **kwargs)
        m_.i, m_.f, m_.type = i, f, m.__name__
        save.extend(x % i for x in ([f] if isinstance(f, int) else f) if x != -1)
        layers.append(m_)
        if i == 0:
            ch = []
        ch.append(c2)
    return nn.Sequential(*layers), sorted(save)


class DetectionModel(nn.Module):
    """ultralytics nn/tasks.py DetectionModel (and RTDETRDetectionModel: same forward for inference)."""

    def __init__(self, cfg, ch=3, head_kwargs=None):
        super().__init__()
        self.yaml = cfg
        self.model, self.save = ultralytics_parse_model(copy.deepcopy(cfg), [ch], head_kwargs)
        self.names = dict(NAMES)
        self.task = "detect"
        m = self.model[-1]
        if isinstance(m, Detect):
            s = 256
            m.inplace = True
            m.stride = torch.tensor([s / x.shape[-2] for x in self.forward(torch.zeros(1, ch, s, s))])
            self.stride = m.stride
            m.bias_init()
        else:
            self.stride = torch.Tensor([32])  # default stride for i.e. RTDETR
        initialize_weights(self)

    def forward(self, x):
        return forward_once(self.model, x)

    def fuse(self):
        for m in self.model.modules():
            if isinstance(m, (Conv, DWConv)) and hasattr(m, "bn"):
                m.conv = fuse_conv_and_bn(m.conv, m.bn)
                delattr(m, "bn")
                m.forward = m.forward_fuse
            if isinstance(m, RepConv):
                m.fuse_convs()
                m.forward = m.forward_fuse
        return self


def build_ultralytics(cfg, seed, pretty_name, head_kwargs=None):
    """ultralytics engine/exporter.py: deepcopy, eval, fuse, Detect/RTDETRDecoder export flags,
    C2f.forward = forward_split, two dry runs; then the metadata the Exporter writes."""
    seed_all(seed)
    model = DetectionModel(cfg, head_kwargs=head_kwargs)
    calibrate_bn(model, lambda m, im: m(im), seed)
    model = copy.deepcopy(model)
    for p in model.parameters():
        p.requires_grad = False
    model.eval()
    model.float()
    model = model.fuse()
    for m in model.modules():
        if isinstance(m, (Detect, RTDETRDecoder)):
            m.dynamic = False
            m.export = True
            m.format = "onnx"
            m.max_det = 300
        elif isinstance(m, C2f):
            m.forward = m.forward_split
    im = torch.zeros(1, 3, IMGSZ, IMGSZ)
    for _ in range(2):
        model(im)
    meta = {
        "description": f"Ultralytics {pretty_name} model ",  # untrained: no 'trained on <data>'
        "author": "Ultralytics",
        "date": "2024-11-20T12:00:00.000000",  # fixed for determinism (upstream: datetime.now())
        "version": "8.3.33",
        "license": "AGPL-3.0 License (https://ultralytics.com/license)",
        "docs": "https://docs.ultralytics.com",
        "stride": int(max(model.stride)),
        "task": model.task,
        "batch": 1,
        "imgsz": [IMGSZ, IMGSZ],
        "names": model.names,
    }
    return model, meta


YOLOV8_YAML = {  # ultralytics/cfg/models/v8/yolov8.yaml, scale n with a miniature width
    "nc": NC,
    "scale": [0.33, 0.03125, 1024],  # yolov8n: [0.33, 0.25, 1024] (channels here: 8..32)
    "backbone": [
        [-1, 1, "Conv", [64, 3, 2]],  # 0-P1/2
        [-1, 1, "Conv", [128, 3, 2]],  # 1-P2/4
        [-1, 3, "C2f", [128, True]],
        [-1, 1, "Conv", [256, 3, 2]],  # 3-P3/8
        [-1, 6, "C2f", [256, True]],
        [-1, 1, "Conv", [512, 3, 2]],  # 5-P4/16
        [-1, 6, "C2f", [512, True]],
        [-1, 1, "Conv", [1024, 3, 2]],  # 7-P5/32
        [-1, 3, "C2f", [1024, True]],
        [-1, 1, "SPPF", [1024, 5]],  # 9
    ],
    "head": [
        [-1, 1, "nn.Upsample", [None, 2, "nearest"]],
        [[-1, 6], 1, "Concat", [1]],
        [-1, 3, "C2f", [512]],  # 12
        [-1, 1, "nn.Upsample", [None, 2, "nearest"]],
        [[-1, 4], 1, "Concat", [1]],
        [-1, 3, "C2f", [256]],  # 15 (P3/8-small)
        [-1, 1, "Conv", [256, 3, 2]],
        [[-1, 12], 1, "Concat", [1]],
        [-1, 3, "C2f", [512]],  # 18 (P4/16-medium)
        [-1, 1, "Conv", [512, 3, 2]],
        [[-1, 9], 1, "Concat", [1]],
        [-1, 3, "C2f", [1024]],  # 21 (P5/32-large)
        [[15, 18, 21], 1, "Detect", ["nc"]],  # 22 Detect(P3, P4, P5)
    ],
}

YOLO11_YAML = {  # ultralytics/cfg/models/11/yolo11.yaml, scale n with a miniature width
    "nc": NC,
    "scale": [0.50, 0.03125, 1024],  # yolo11n: [0.50, 0.25, 1024] (channels here: 8..32)
    "backbone": [
        [-1, 1, "Conv", [64, 3, 2]],  # 0-P1/2
        [-1, 1, "Conv", [128, 3, 2]],  # 1-P2/4
        [-1, 2, "C3k2", [256, False, 0.25]],
        [-1, 1, "Conv", [256, 3, 2]],  # 3-P3/8
        [-1, 2, "C3k2", [512, False, 0.25]],
        [-1, 1, "Conv", [512, 3, 2]],  # 5-P4/16
        [-1, 2, "C3k2", [512, True]],
        [-1, 1, "Conv", [1024, 3, 2]],  # 7-P5/32
        [-1, 2, "C3k2", [1024, True]],
        [-1, 1, "SPPF", [1024, 5]],  # 9
        [-1, 2, "C2PSA", [1024]],  # 10
    ],
    "head": [
        [-1, 1, "nn.Upsample", [None, 2, "nearest"]],
        [[-1, 6], 1, "Concat", [1]],
        [-1, 2, "C3k2", [512, False]],  # 13
        [-1, 1, "nn.Upsample", [None, 2, "nearest"]],
        [[-1, 4], 1, "Concat", [1]],
        [-1, 2, "C3k2", [256, False]],  # 16 (P3/8-small)
        [-1, 1, "Conv", [256, 3, 2]],
        [[-1, 13], 1, "Concat", [1]],
        [-1, 2, "C3k2", [512, False]],  # 19 (P4/16-medium)
        [-1, 1, "Conv", [512, 3, 2]],
        [[-1, 10], 1, "Concat", [1]],
        [-1, 2, "C3k2", [1024, True]],  # 22 (P5/32-large)
        [[16, 19, 22], 1, "Detect", ["nc"]],  # 23 Detect(P3, P4, P5)
    ],
}

RTDETR_L_YAML = {  # ultralytics/cfg/models/rt-detr/rtdetr-l.yaml at miniature widths (upstream in comments)
    "nc": NC,
    "scale": [1.00, 1.00, 1024],
    "backbone": [
        [-1, 1, "HGStem", [8, 16]],  # 0-P2/4 (upstream [32, 48])
        [-1, 6, "HGBlock", [8, 16, 3]],  # stage 1 (upstream [48, 128, 3])
        [-1, 1, "DWConv", [16, 3, 2, 1, False]],  # 2-P3/8 (upstream 128)
        [-1, 6, "HGBlock", [8, 32, 3]],  # stage 2 (upstream [96, 512, 3])
        [-1, 1, "DWConv", [32, 3, 2, 1, False]],  # 4-P4/16 (upstream 512)
        [-1, 6, "HGBlock", [16, 64, 5, True, False]],  # cm, c2, k, light, shortcut (upstream 192, 1024)
        [-1, 6, "HGBlock", [16, 64, 5, True, True]],
        [-1, 6, "HGBlock", [16, 64, 5, True, True]],  # stage 3
        [-1, 1, "DWConv", [64, 3, 2, 1, False]],  # 8-P5/32 (upstream 1024)
        [-1, 6, "HGBlock", [16, 96, 5, True, False]],  # stage 4 (upstream [384, 2048, 5, True, False])
    ],
    "head": [  # hidden width 16 (upstream 256)
        [-1, 1, "Conv", [16, 1, 1, None, 1, 1, False]],  # 10 input_proj.2
        [-1, 1, "AIFI", [64, 8]],  # 11 (upstream [1024, 8])
        [-1, 1, "Conv", [16, 1, 1]],  # 12, Y5, lateral_convs.0
        [-1, 1, "nn.Upsample", [None, 2, "nearest"]],
        [7, 1, "Conv", [16, 1, 1, None, 1, 1, False]],  # 14 input_proj.1
        [[-2, -1], 1, "Concat", [1]],
        [-1, 3, "RepC3", [16]],  # 16, fpn_blocks.0
        [-1, 1, "Conv", [16, 1, 1]],  # 17, Y4, lateral_convs.1
        [-1, 1, "nn.Upsample", [None, 2, "nearest"]],
        [3, 1, "Conv", [16, 1, 1, None, 1, 1, False]],  # 19 input_proj.0
        [[-2, -1], 1, "Concat", [1]],  # cat backbone P4
        [-1, 3, "RepC3", [16]],  # X3 (21), fpn_blocks.1
        [-1, 1, "Conv", [16, 3, 2]],  # 22, downsample_convs.0
        [[-1, 17], 1, "Concat", [1]],  # cat Y4
        [-1, 3, "RepC3", [16]],  # F4 (24), pan_blocks.0
        [-1, 1, "Conv", [16, 3, 2]],  # 25, downsample_convs.1
        [[-1, 12], 1, "Concat", [1]],  # cat Y5
        [-1, 3, "RepC3", [16]],  # F5 (27), pan_blocks.1
        [[21, 24, 27], 1, "RTDETRDecoder", ["nc"]],  # 28 Detection(P3, P4, P5)
    ],
}
RTDETR_L_DECODER = dict(hd=16, nq=30, ndl=2, d_ffn=32)  # upstream defaults: hd=256, nq=300, ndl=6, d_ffn=1024


def build_yolov8():
    return build_ultralytics(YOLOV8_YAML, 8, "YOLOv8n")


def build_yolo11():
    return build_ultralytics(YOLO11_YAML, 11, "YOLO11n")


def build_rtdetr_l():
    return build_ultralytics(RTDETR_L_YAML, 28, "rtdetr-l", head_kwargs=RTDETR_L_DECODER)


# ======================================================================================================
# Official RT-DETR, lyuwenyu/RT-DETR rtdetr_pytorch (src/nn/backbone/presnet.py, src/zoo/rtdetr/*.py,
# tools/export_onnx.py), r18vd config
# ======================================================================================================
def get_activation(act, inpace=True):
    act = act.lower()
    m = {"silu": nn.SiLU, "relu": nn.ReLU, "gelu": nn.GELU}[act]()
    if hasattr(m, "inplace"):
        m.inplace = inpace
    return m


class official:  # namespace: rtdetr_pytorch's own module classes (upstream names)
    class ConvNormLayer(nn.Module):
        def __init__(self, ch_in, ch_out, kernel_size, stride, padding=None, bias=False, act=None):
            super().__init__()
            self.conv = nn.Conv2d(ch_in, ch_out, kernel_size, stride,
                                  padding=(kernel_size - 1) // 2 if padding is None else padding, bias=bias)
            self.norm = nn.BatchNorm2d(ch_out)
            self.act = nn.Identity() if act is None else get_activation(act)

        def forward(self, x):
            return self.act(self.norm(self.conv(x)))

    class BasicBlock(nn.Module):
        expansion = 1

        def __init__(self, ch_in, ch_out, stride, shortcut, act="relu", variant="b"):
            super().__init__()
            self.shortcut = shortcut
            if not shortcut:
                if variant == "d" and stride == 2:
                    self.short = nn.Sequential(OrderedDict([
                        ("pool", nn.AvgPool2d(2, 2, 0, ceil_mode=True)),
                        ("conv", official.ConvNormLayer(ch_in, ch_out, 1, 1)),
                    ]))
                else:
                    self.short = official.ConvNormLayer(ch_in, ch_out, 1, stride)
            self.branch2a = official.ConvNormLayer(ch_in, ch_out, 3, stride, act=act)
            self.branch2b = official.ConvNormLayer(ch_out, ch_out, 3, 1, act=None)
            self.act = nn.Identity() if act is None else get_activation(act)

        def forward(self, x):
            out = self.branch2a(x)
            out = self.branch2b(out)
            short = x if self.shortcut else self.short(x)
            out = out + short
            out = self.act(out)
            return out

    class Blocks(nn.Module):
        def __init__(self, block, ch_in, ch_out, count, stage_num, act="relu", variant="b"):
            super().__init__()
            self.blocks = nn.ModuleList()
            for i in range(count):
                self.blocks.append(block(ch_in, ch_out, stride=2 if i == 0 and stage_num != 2 else 1,
                                         shortcut=False if i == 0 else True, variant=variant, act=act))
                if i == 0:
                    ch_in = ch_out * block.expansion

        def forward(self, x):
            out = x
            for block in self.blocks:
                out = block(out)
            return out

    class PResNet(nn.Module):
        def __init__(self, depth=18, variant="d", num_stages=4, return_idx=(1, 2, 3), act="relu",
                     ch_in=8, ch_out_list=(8, 12, 16, 24)):  # upstream: ch_in 64, [64, 128, 256, 512]
            super().__init__()
            block_nums = {18: [2, 2, 2, 2]}[depth]
            conv_def = [
                [3, ch_in // 2, 3, 2, "conv1_1"],
                [ch_in // 2, ch_in // 2, 3, 1, "conv1_2"],
                [ch_in // 2, ch_in, 3, 1, "conv1_3"],
            ]
            self.conv1 = nn.Sequential(OrderedDict([
                (_name, official.ConvNormLayer(c_in, c_out, k, s, act=act)) for c_in, c_out, k, s, _name in conv_def
            ]))
            block = official.BasicBlock
            _out_channels = [block.expansion * v for v in ch_out_list]
            self.res_layers = nn.ModuleList()
            for i in range(num_stages):
                stage_num = i + 2
                self.res_layers.append(
                    official.Blocks(block, ch_in, ch_out_list[i], block_nums[i], stage_num, act=act, variant=variant)
                )
                ch_in = _out_channels[i]
            self.return_idx = list(return_idx)
            self.out_channels = [_out_channels[_i] for _i in return_idx]

        def forward(self, x):
            conv1 = self.conv1(x)
            x = F.max_pool2d(conv1, kernel_size=3, stride=2, padding=1)
            outs = []
            for idx, stage in enumerate(self.res_layers):
                x = stage(x)
                if idx in self.return_idx:
                    outs.append(x)
            return outs

    class RepVggBlock(nn.Module):
        def __init__(self, ch_in, ch_out, act="relu"):
            super().__init__()
            self.ch_in = ch_in
            self.ch_out = ch_out
            self.conv1 = official.ConvNormLayer(ch_in, ch_out, 3, 1, padding=1, act=None)
            self.conv2 = official.ConvNormLayer(ch_in, ch_out, 1, 1, padding=0, act=None)
            self.act = nn.Identity() if act is None else get_activation(act)

        def forward(self, x):
            if hasattr(self, "conv"):
                y = self.conv(x)
            else:
                y = self.conv1(x) + self.conv2(x)
            return self.act(y)

        def convert_to_deploy(self):
            if not hasattr(self, "conv"):
                self.conv = nn.Conv2d(self.ch_in, self.ch_out, 3, 1, padding=1)
            kernel, bias = self.get_equivalent_kernel_bias()
            self.conv.weight.data = kernel
            self.conv.bias.data = bias

        def get_equivalent_kernel_bias(self):
            kernel3x3, bias3x3 = self._fuse_bn_tensor(self.conv1)
            kernel1x1, bias1x1 = self._fuse_bn_tensor(self.conv2)
            return kernel3x3 + F.pad(kernel1x1, [1, 1, 1, 1]), bias3x3 + bias1x1

        @staticmethod
        def _fuse_bn_tensor(branch):
            kernel = branch.conv.weight
            running_mean, running_var = branch.norm.running_mean, branch.norm.running_var
            gamma, beta, eps = branch.norm.weight, branch.norm.bias, branch.norm.eps
            std = (running_var + eps).sqrt()
            t = (gamma / std).reshape(-1, 1, 1, 1)
            return kernel * t, beta - running_mean * gamma / std

    class CSPRepLayer(nn.Module):
        def __init__(self, in_channels, out_channels, num_blocks=3, expansion=1.0, bias=None, act="silu"):
            super().__init__()
            hidden_channels = int(out_channels * expansion)
            self.conv1 = official.ConvNormLayer(in_channels, hidden_channels, 1, 1, bias=bias, act=act)
            self.conv2 = official.ConvNormLayer(in_channels, hidden_channels, 1, 1, bias=bias, act=act)
            self.bottlenecks = nn.Sequential(
                *[official.RepVggBlock(hidden_channels, hidden_channels, act=act) for _ in range(num_blocks)]
            )
            if hidden_channels != out_channels:
                self.conv3 = official.ConvNormLayer(hidden_channels, out_channels, 1, 1, bias=bias, act=act)
            else:
                self.conv3 = nn.Identity()

        def forward(self, x):
            x_1 = self.conv1(x)
            x_1 = self.bottlenecks(x_1)
            x_2 = self.conv2(x)
            return self.conv3(x_1 + x_2)

    class TransformerEncoderLayer(nn.Module):
        def __init__(self, d_model, nhead, dim_feedforward=2048, dropout=0.1, activation="relu",
                     normalize_before=False):
            super().__init__()
            self.normalize_before = normalize_before
            self.self_attn = nn.MultiheadAttention(d_model, nhead, dropout, batch_first=True)
            self.linear1 = nn.Linear(d_model, dim_feedforward)
            self.dropout = nn.Dropout(dropout)
            self.linear2 = nn.Linear(dim_feedforward, d_model)
            self.norm1 = nn.LayerNorm(d_model)
            self.norm2 = nn.LayerNorm(d_model)
            self.dropout1 = nn.Dropout(dropout)
            self.dropout2 = nn.Dropout(dropout)
            self.activation = get_activation(activation)

        @staticmethod
        def with_pos_embed(tensor, pos_embed):
            return tensor if pos_embed is None else tensor + pos_embed

        def forward(self, src, src_mask=None, pos_embed=None):
            residual = src
            if self.normalize_before:
                src = self.norm1(src)
            q = k = self.with_pos_embed(src, pos_embed)
            src, _ = self.self_attn(q, k, value=src, attn_mask=src_mask)
            src = residual + self.dropout1(src)
            if not self.normalize_before:
                src = self.norm1(src)
            residual = src
            if self.normalize_before:
                src = self.norm2(src)
            src = self.linear2(self.dropout(self.activation(self.linear1(src))))
            src = residual + self.dropout2(src)
            if not self.normalize_before:
                src = self.norm2(src)
            return src

    class TransformerEncoder(nn.Module):
        def __init__(self, encoder_layer, num_layers, norm=None):
            super().__init__()
            self.layers = nn.ModuleList([copy.deepcopy(encoder_layer) for _ in range(num_layers)])
            self.num_layers = num_layers
            self.norm = norm

        def forward(self, src, src_mask=None, pos_embed=None):
            output = src
            for layer in self.layers:
                output = layer(output, src_mask=src_mask, pos_embed=pos_embed)
            if self.norm is not None:
                output = self.norm(output)
            return output

    class HybridEncoder(nn.Module):
        def __init__(self, in_channels=(512, 1024, 2048), feat_strides=(8, 16, 32), hidden_dim=256, nhead=8,
                     dim_feedforward=1024, dropout=0.0, enc_act="gelu", use_encoder_idx=(2,), num_encoder_layers=1,
                     pe_temperature=10000, expansion=1.0, depth_mult=1.0, act="silu", eval_spatial_size=None):
            super().__init__()
            self.in_channels = list(in_channels)
            self.feat_strides = list(feat_strides)
            self.hidden_dim = hidden_dim
            self.use_encoder_idx = list(use_encoder_idx)
            self.num_encoder_layers = num_encoder_layers
            self.pe_temperature = pe_temperature
            self.eval_spatial_size = eval_spatial_size
            self.out_channels = [hidden_dim for _ in range(len(in_channels))]
            self.out_strides = feat_strides
            self.input_proj = nn.ModuleList()
            for in_channel in in_channels:
                self.input_proj.append(
                    nn.Sequential(nn.Conv2d(in_channel, hidden_dim, kernel_size=1, bias=False),
                                  nn.BatchNorm2d(hidden_dim))
                )
            encoder_layer = official.TransformerEncoderLayer(
                hidden_dim, nhead=nhead, dim_feedforward=dim_feedforward, dropout=dropout, activation=enc_act
            )
            self.encoder = nn.ModuleList([
                official.TransformerEncoder(copy.deepcopy(encoder_layer), num_encoder_layers)
                for _ in range(len(use_encoder_idx))
            ])
            self.lateral_convs = nn.ModuleList()
            self.fpn_blocks = nn.ModuleList()
            for _ in range(len(in_channels) - 1, 0, -1):
                self.lateral_convs.append(official.ConvNormLayer(hidden_dim, hidden_dim, 1, 1, act=act))
                self.fpn_blocks.append(
                    official.CSPRepLayer(hidden_dim * 2, hidden_dim, round(3 * depth_mult), act=act,
                                         expansion=expansion)
                )
            self.downsample_convs = nn.ModuleList()
            self.pan_blocks = nn.ModuleList()
            for _ in range(len(in_channels) - 1):
                self.downsample_convs.append(official.ConvNormLayer(hidden_dim, hidden_dim, 3, 2, act=act))
                self.pan_blocks.append(
                    official.CSPRepLayer(hidden_dim * 2, hidden_dim, round(3 * depth_mult), act=act,
                                         expansion=expansion)
                )
            self._reset_parameters()

        def _reset_parameters(self):
            if self.eval_spatial_size:
                for idx in self.use_encoder_idx:
                    stride = self.feat_strides[idx]
                    pos_embed = self.build_2d_sincos_position_embedding(
                        self.eval_spatial_size[1] // stride, self.eval_spatial_size[0] // stride,
                        self.hidden_dim, self.pe_temperature)
                    setattr(self, f"pos_embed{idx}", pos_embed)

        @staticmethod
        def build_2d_sincos_position_embedding(w, h, embed_dim=256, temperature=10000.0):
            grid_w = torch.arange(int(w), dtype=torch.float32)
            grid_h = torch.arange(int(h), dtype=torch.float32)
            grid_w, grid_h = torch.meshgrid(grid_w, grid_h, indexing="ij")
            assert embed_dim % 4 == 0
            pos_dim = embed_dim // 4
            omega = torch.arange(pos_dim, dtype=torch.float32) / pos_dim
            omega = 1.0 / (temperature**omega)
            out_w = grid_w.flatten()[..., None] @ omega[None]
            out_h = grid_h.flatten()[..., None] @ omega[None]
            return torch.concat([out_w.sin(), out_w.cos(), out_h.sin(), out_h.cos()], dim=1)[None, :, :]

        def forward(self, feats):
            assert len(feats) == len(self.in_channels)
            proj_feats = [self.input_proj[i](feat) for i, feat in enumerate(feats)]
            if self.num_encoder_layers > 0:
                for i, enc_ind in enumerate(self.use_encoder_idx):
                    h, w = proj_feats[enc_ind].shape[2:]
                    src_flatten = proj_feats[enc_ind].flatten(2).permute(0, 2, 1)
                    if self.training or self.eval_spatial_size is None:
                        pos_embed = self.build_2d_sincos_position_embedding(
                            w, h, self.hidden_dim, self.pe_temperature).to(src_flatten.device)
                    else:
                        pos_embed = getattr(self, f"pos_embed{enc_ind}", None).to(src_flatten.device)
                    memory = self.encoder[i](src_flatten, pos_embed=pos_embed)
                    proj_feats[enc_ind] = memory.permute(0, 2, 1).reshape(-1, self.hidden_dim, h, w).contiguous()
            inner_outs = [proj_feats[-1]]
            for idx in range(len(self.in_channels) - 1, 0, -1):
                feat_high = inner_outs[0]
                feat_low = proj_feats[idx - 1]
                feat_high = self.lateral_convs[len(self.in_channels) - 1 - idx](feat_high)
                inner_outs[0] = feat_high
                upsample_feat = F.interpolate(feat_high, scale_factor=2.0, mode="nearest")
                inner_out = self.fpn_blocks[len(self.in_channels) - 1 - idx](
                    torch.concat([upsample_feat, feat_low], dim=1))
                inner_outs.insert(0, inner_out)
            outs = [inner_outs[0]]
            for idx in range(len(self.in_channels) - 1):
                feat_low = outs[-1]
                feat_high = inner_outs[idx + 1]
                downsample_feat = self.downsample_convs[idx](feat_low)
                out = self.pan_blocks[idx](torch.concat([downsample_feat, feat_high], dim=1))
                outs.append(out)
            return outs

    class MLP(nn.Module):
        def __init__(self, input_dim, hidden_dim, output_dim, num_layers, act="relu"):
            super().__init__()
            self.num_layers = num_layers
            h = [hidden_dim] * (num_layers - 1)
            self.layers = nn.ModuleList(nn.Linear(n, k) for n, k in zip([input_dim] + h, h + [output_dim]))
            self.act = nn.Identity() if act is None else get_activation(act)

        def forward(self, x):
            for i, layer in enumerate(self.layers):
                x = self.act(layer(x)) if i < self.num_layers - 1 else layer(x)
            return x

    class MSDeformableAttention(nn.Module):
        def __init__(self, embed_dim=256, num_heads=8, num_levels=4, num_points=4):
            super().__init__()
            self.embed_dim = embed_dim
            self.num_heads = num_heads
            self.num_levels = num_levels
            self.num_points = num_points
            self.total_points = num_heads * num_levels * num_points
            self.head_dim = embed_dim // num_heads
            self.sampling_offsets = nn.Linear(embed_dim, self.total_points * 2)
            self.attention_weights = nn.Linear(embed_dim, self.total_points)
            self.value_proj = nn.Linear(embed_dim, embed_dim)
            self.output_proj = nn.Linear(embed_dim, embed_dim)
            self.ms_deformable_attn_core = official.deformable_attention_core_func
            self._reset_parameters()

        def _reset_parameters(self):
            nn.init.constant_(self.sampling_offsets.weight, 0)
            thetas = torch.arange(self.num_heads, dtype=torch.float32) * (2.0 * math.pi / self.num_heads)
            grid_init = torch.stack([thetas.cos(), thetas.sin()], -1)
            grid_init = grid_init / grid_init.abs().max(-1, keepdim=True).values
            grid_init = grid_init.reshape(self.num_heads, 1, 1, 2).tile([1, self.num_levels, self.num_points, 1])
            scaling = torch.arange(1, self.num_points + 1, dtype=torch.float32).reshape(1, 1, -1, 1)
            grid_init *= scaling
            self.sampling_offsets.bias.data[...] = grid_init.flatten()
            nn.init.constant_(self.attention_weights.weight, 0)
            nn.init.constant_(self.attention_weights.bias, 0)
            nn.init.xavier_uniform_(self.value_proj.weight)
            nn.init.constant_(self.value_proj.bias, 0)
            nn.init.xavier_uniform_(self.output_proj.weight)
            nn.init.constant_(self.output_proj.bias, 0)

        def forward(self, query, reference_points, value, value_spatial_shapes, value_mask=None):
            bs, Len_q = query.shape[:2]
            Len_v = value.shape[1]
            value = self.value_proj(value)
            value = value.reshape(bs, Len_v, self.num_heads, self.head_dim)
            sampling_offsets = self.sampling_offsets(query).reshape(
                bs, Len_q, self.num_heads, self.num_levels, self.num_points, 2)
            attention_weights = self.attention_weights(query).reshape(
                bs, Len_q, self.num_heads, self.num_levels * self.num_points)
            attention_weights = F.softmax(attention_weights, dim=-1).reshape(
                bs, Len_q, self.num_heads, self.num_levels, self.num_points)
            assert reference_points.shape[-1] == 4
            sampling_locations = (reference_points[:, :, None, :, None, :2] + sampling_offsets / self.num_points
                                  * reference_points[:, :, None, :, None, 2:] * 0.5)
            output = self.ms_deformable_attn_core(value, value_spatial_shapes, sampling_locations, attention_weights)
            output = self.output_proj(output)
            return output

    @staticmethod
    def deformable_attention_core_func(value, value_spatial_shapes, sampling_locations, attention_weights):
        bs, _, n_head, c = value.shape
        _, Len_q, _, n_levels, n_points, _ = sampling_locations.shape
        split_shape = [h * w for h, w in value_spatial_shapes]
        value_list = value.split(split_shape, dim=1)
        sampling_grids = 2 * sampling_locations - 1
        sampling_value_list = []
        for level, (h, w) in enumerate(value_spatial_shapes):
            value_l_ = value_list[level].flatten(2).permute(0, 2, 1).reshape(bs * n_head, c, h, w)
            sampling_grid_l_ = sampling_grids[:, :, :, level].permute(0, 2, 1, 3, 4).flatten(0, 1)
            sampling_value_l_ = F.grid_sample(value_l_, sampling_grid_l_, mode="bilinear", padding_mode="zeros",
                                              align_corners=False)
            sampling_value_list.append(sampling_value_l_)
        attention_weights = attention_weights.permute(0, 2, 1, 3, 4).reshape(bs * n_head, 1, Len_q,
                                                                             n_levels * n_points)
        output = (torch.stack(sampling_value_list, dim=-2).flatten(-2) * attention_weights).sum(-1).reshape(
            bs, n_head * c, Len_q)
        return output.permute(0, 2, 1)

    class TransformerDecoderLayer(nn.Module):
        def __init__(self, d_model=256, n_head=8, dim_feedforward=1024, dropout=0.0, activation="relu", n_levels=4,
                     n_points=4):
            super().__init__()
            self.self_attn = nn.MultiheadAttention(d_model, n_head, dropout=dropout, batch_first=True)
            self.dropout1 = nn.Dropout(dropout)
            self.norm1 = nn.LayerNorm(d_model)
            self.cross_attn = official.MSDeformableAttention(d_model, n_head, n_levels, n_points)
            self.dropout2 = nn.Dropout(dropout)
            self.norm2 = nn.LayerNorm(d_model)
            self.linear1 = nn.Linear(d_model, dim_feedforward)
            self.activation = getattr(F, activation)
            self.dropout3 = nn.Dropout(dropout)
            self.linear2 = nn.Linear(dim_feedforward, d_model)
            self.dropout4 = nn.Dropout(dropout)
            self.norm3 = nn.LayerNorm(d_model)

        @staticmethod
        def with_pos_embed(tensor, pos):
            return tensor if pos is None else tensor + pos

        def forward_ffn(self, tgt):
            return self.linear2(self.dropout3(self.activation(self.linear1(tgt))))

        def forward(self, tgt, reference_points, memory, memory_spatial_shapes, memory_level_start_index,
                    attn_mask=None, memory_mask=None, query_pos_embed=None):
            q = k = self.with_pos_embed(tgt, query_pos_embed)
            tgt2, _ = self.self_attn(q, k, value=tgt, attn_mask=attn_mask)
            tgt = tgt + self.dropout1(tgt2)
            tgt = self.norm1(tgt)
            tgt2 = self.cross_attn(self.with_pos_embed(tgt, query_pos_embed), reference_points, memory,
                                   memory_spatial_shapes, memory_mask)
            tgt = tgt + self.dropout2(tgt2)
            tgt = self.norm2(tgt)
            tgt2 = self.forward_ffn(tgt)
            tgt = tgt + self.dropout4(tgt2)
            tgt = self.norm3(tgt)
            return tgt

    class TransformerDecoder(nn.Module):
        def __init__(self, hidden_dim, decoder_layer, num_layers, eval_idx=-1):
            super().__init__()
            self.layers = nn.ModuleList([copy.deepcopy(decoder_layer) for _ in range(num_layers)])
            self.hidden_dim = hidden_dim
            self.num_layers = num_layers
            self.eval_idx = eval_idx if eval_idx >= 0 else num_layers + eval_idx

        def forward(self, tgt, ref_points_unact, memory, memory_spatial_shapes, memory_level_start_index, bbox_head,
                    score_head, query_pos_head, attn_mask=None, memory_mask=None):
            output = tgt
            dec_out_bboxes = []
            dec_out_logits = []
            ref_points_detach = F.sigmoid(ref_points_unact)
            for i, layer in enumerate(self.layers):
                ref_points_input = ref_points_detach.unsqueeze(2)
                query_pos_embed = query_pos_head(ref_points_detach)
                output = layer(output, ref_points_input, memory, memory_spatial_shapes, memory_level_start_index,
                               attn_mask, memory_mask, query_pos_embed)
                inter_ref_bbox = F.sigmoid(bbox_head[i](output) + official.inverse_sigmoid(ref_points_detach))
                if i == self.eval_idx:  # eval / export path
                    dec_out_logits.append(score_head[i](output))
                    dec_out_bboxes.append(inter_ref_bbox)
                    break
                ref_points_detach = inter_ref_bbox
            return torch.stack(dec_out_bboxes), torch.stack(dec_out_logits)

    class RTDETRTransformer(nn.Module):
        def __init__(self, num_classes=80, hidden_dim=256, num_queries=300, feat_channels=(512, 1024, 2048),
                     feat_strides=(8, 16, 32), num_levels=3, num_decoder_points=4, nhead=8, num_decoder_layers=6,
                     dim_feedforward=1024, dropout=0.0, activation="relu", num_denoising=100,
                     learnt_init_query=False, eval_spatial_size=None, eval_idx=-1, eps=1e-2):
            super().__init__()
            self.hidden_dim = hidden_dim
            self.nhead = nhead
            self.feat_strides = list(feat_strides)
            self.num_levels = num_levels
            self.num_classes = num_classes
            self.num_queries = num_queries
            self.eps = eps
            self.num_decoder_layers = num_decoder_layers
            self.eval_spatial_size = eval_spatial_size
            self.input_proj = nn.ModuleList()
            for in_channels in feat_channels:
                self.input_proj.append(nn.Sequential(OrderedDict([
                    ("conv", nn.Conv2d(in_channels, self.hidden_dim, 1, bias=False)),
                    ("norm", nn.BatchNorm2d(self.hidden_dim)),
                ])))
            decoder_layer = official.TransformerDecoderLayer(hidden_dim, nhead, dim_feedforward, dropout, activation,
                                                             num_levels, num_decoder_points)
            self.decoder = official.TransformerDecoder(hidden_dim, decoder_layer, num_decoder_layers, eval_idx)
            self.denoising_class_embed = nn.Embedding(num_classes + 1, hidden_dim, padding_idx=num_classes)
            self.learnt_init_query = learnt_init_query
            self.query_pos_head = official.MLP(4, 2 * hidden_dim, hidden_dim, num_layers=2)
            self.enc_output = nn.Sequential(nn.Linear(hidden_dim, hidden_dim), nn.LayerNorm(hidden_dim))
            self.enc_score_head = nn.Linear(hidden_dim, num_classes)
            self.enc_bbox_head = official.MLP(hidden_dim, hidden_dim, 4, num_layers=3)
            self.dec_score_head = nn.ModuleList([nn.Linear(hidden_dim, num_classes) for _ in range(num_decoder_layers)])
            self.dec_bbox_head = nn.ModuleList(
                [official.MLP(hidden_dim, hidden_dim, 4, num_layers=3) for _ in range(num_decoder_layers)])
            if self.eval_spatial_size:
                self.anchors, self.valid_mask = self._generate_anchors()
            self._reset_parameters()

        def _reset_parameters(self):
            bias = float(-math.log((1 - 0.01) / 0.01))  # bias_init_with_prob(0.01)
            nn.init.constant_(self.enc_score_head.bias, bias)
            nn.init.constant_(self.enc_bbox_head.layers[-1].weight, 0)
            nn.init.constant_(self.enc_bbox_head.layers[-1].bias, 0)
            for cls_, reg_ in zip(self.dec_score_head, self.dec_bbox_head):
                nn.init.constant_(cls_.bias, bias)
                nn.init.constant_(reg_.layers[-1].weight, 0)
                nn.init.constant_(reg_.layers[-1].bias, 0)
            nn.init.xavier_uniform_(self.enc_output[0].weight)
            nn.init.xavier_uniform_(self.query_pos_head.layers[0].weight)
            nn.init.xavier_uniform_(self.query_pos_head.layers[1].weight)

        def _get_encoder_input(self, feats):
            proj_feats = [self.input_proj[i](feat) for i, feat in enumerate(feats)]
            feat_flatten = []
            spatial_shapes = []
            level_start_index = [0]
            for i, feat in enumerate(proj_feats):
                _, _, h, w = feat.shape
                feat_flatten.append(feat.flatten(2).permute(0, 2, 1))
                spatial_shapes.append([h, w])
                level_start_index.append(h * w + level_start_index[-1])
            feat_flatten = torch.concat(feat_flatten, 1)
            level_start_index.pop()
            return feat_flatten, spatial_shapes, level_start_index

        def _generate_anchors(self, spatial_shapes=None, grid_size=0.05, dtype=torch.float32, device="cpu"):
            if spatial_shapes is None:
                spatial_shapes = [[int(self.eval_spatial_size[0] / s), int(self.eval_spatial_size[1] / s)]
                                  for s in self.feat_strides]
            anchors = []
            for lvl, (h, w) in enumerate(spatial_shapes):
                grid_y, grid_x = torch.meshgrid(torch.arange(end=h, dtype=dtype), torch.arange(end=w, dtype=dtype),
                                                indexing="ij")
                grid_xy = torch.stack([grid_x, grid_y], -1)
                valid_WH = torch.tensor([w, h]).to(dtype)
                grid_xy = (grid_xy.unsqueeze(0) + 0.5) / valid_WH
                wh = torch.ones_like(grid_xy) * grid_size * (2.0**lvl)
                anchors.append(torch.concat([grid_xy, wh], -1).reshape(-1, h * w, 4))
            anchors = torch.concat(anchors, 1).to(device)
            valid_mask = ((anchors > self.eps) * (anchors < 1 - self.eps)).all(-1, keepdim=True)
            anchors = torch.log(anchors / (1 - anchors))
            anchors = torch.where(valid_mask, anchors, torch.inf)
            return anchors, valid_mask

        def _get_decoder_input(self, memory, spatial_shapes):
            bs, _, _ = memory.shape
            if self.training or self.eval_spatial_size is None:
                anchors, valid_mask = self._generate_anchors(spatial_shapes, device=memory.device)
            else:
                anchors, valid_mask = self.anchors.to(memory.device), self.valid_mask.to(memory.device)
            memory = valid_mask.to(memory.dtype) * memory
            output_memory = self.enc_output(memory)
            enc_outputs_class = self.enc_score_head(output_memory)
            enc_outputs_coord_unact = self.enc_bbox_head(output_memory) + anchors
            _, topk_ind = torch.topk(enc_outputs_class.max(-1).values, self.num_queries, dim=1)
            reference_points_unact = enc_outputs_coord_unact.gather(
                dim=1, index=topk_ind.unsqueeze(-1).repeat(1, 1, enc_outputs_coord_unact.shape[-1]))
            enc_topk_bboxes = F.sigmoid(reference_points_unact)
            enc_topk_logits = enc_outputs_class.gather(
                dim=1, index=topk_ind.unsqueeze(-1).repeat(1, 1, enc_outputs_class.shape[-1]))
            target = output_memory.gather(dim=1, index=topk_ind.unsqueeze(-1).repeat(1, 1, output_memory.shape[-1]))
            target = target.detach()
            return target, reference_points_unact.detach(), enc_topk_bboxes, enc_topk_logits

        def forward(self, feats, targets=None):
            memory, spatial_shapes, level_start_index = self._get_encoder_input(feats)
            target, init_ref_points_unact, enc_topk_bboxes, enc_topk_logits = self._get_decoder_input(
                memory, spatial_shapes)
            out_bboxes, out_logits = self.decoder(
                target, init_ref_points_unact, memory, spatial_shapes, level_start_index, self.dec_bbox_head,
                self.dec_score_head, self.query_pos_head, attn_mask=None)
            return {"pred_logits": out_logits[-1], "pred_boxes": out_bboxes[-1]}

    class RTDETR(nn.Module):
        def __init__(self, backbone, encoder, decoder):
            super().__init__()
            self.backbone = backbone
            self.decoder = decoder
            self.encoder = encoder

        def forward(self, x, targets=None):
            x = self.backbone(x)
            x = self.encoder(x)
            x = self.decoder(x, targets)
            return x

        def deploy(self):
            self.eval()
            for m in self.modules():
                if hasattr(m, "convert_to_deploy"):
                    m.convert_to_deploy()
            return self

    @staticmethod
    def inverse_sigmoid(x, eps=1e-5):
        x = x.clip(min=0.0, max=1.0)
        return torch.log(x.clip(min=eps) / (1 - x).clip(min=eps))

    @staticmethod
    def box_cxcywh_to_xyxy(boxes):
        """torchvision.ops.box_convert(boxes, in_fmt='cxcywh', out_fmt='xyxy')."""
        cx, cy, w, h = boxes.unbind(-1)
        x1 = cx - 0.5 * w
        y1 = cy - 0.5 * h
        x2 = cx + 0.5 * w
        y2 = cy + 0.5 * h
        return torch.stack((x1, y1, x2, y2), dim=-1)

    class RTDETRPostProcessor(nn.Module):
        def __init__(self, num_classes=80, use_focal_loss=True, num_top_queries=300):
            super().__init__()
            self.use_focal_loss = use_focal_loss
            self.num_top_queries = num_top_queries
            self.num_classes = num_classes
            self.deploy_mode = False

        def forward(self, outputs, orig_target_sizes):
            logits, boxes = outputs["pred_logits"], outputs["pred_boxes"]
            bbox_pred = official.box_cxcywh_to_xyxy(boxes)
            bbox_pred *= orig_target_sizes.repeat(1, 2).unsqueeze(1)
            scores = F.sigmoid(logits)
            scores, index = torch.topk(scores.flatten(1), self.num_top_queries, axis=-1)
            labels = index % self.num_classes
            index = index // self.num_classes
            boxes = bbox_pred.gather(dim=1, index=index.unsqueeze(-1).repeat(1, 1, bbox_pred.shape[-1]))
            assert self.deploy_mode
            return labels, boxes, scores

        def deploy(self):
            self.eval()
            self.deploy_mode = True
            return self

    class Model(nn.Module):
        """tools/export_onnx.py wrapper: attributes `model` and `postprocessor`."""

        def __init__(self, model, postprocessor):
            super().__init__()
            self.model = model.deploy()
            self.postprocessor = postprocessor.deploy()

        def forward(self, images, orig_target_sizes):
            outputs = self.model(images)
            return self.postprocessor(outputs, orig_target_sizes)


def build_rtdetr_official():
    """r18vd config (rtdetr_r18vd_6x_coco.yml over rtdetr_r50vd.yml) at miniature widths."""
    seed_all(18)
    hidden, nq = 16, 30  # upstream 256, 300
    backbone = official.PResNet(depth=18, variant="d", return_idx=(1, 2, 3))
    encoder = official.HybridEncoder(
        in_channels=backbone.out_channels, feat_strides=(8, 16, 32), hidden_dim=hidden, nhead=8,
        dim_feedforward=32, dropout=0.0, enc_act="gelu", use_encoder_idx=(2,), num_encoder_layers=1,
        expansion=0.5, depth_mult=1.0, act="silu", eval_spatial_size=[IMGSZ, IMGSZ],
    )
    decoder = official.RTDETRTransformer(
        num_classes=NC, hidden_dim=hidden, num_queries=nq, feat_channels=(hidden,) * 3, feat_strides=(8, 16, 32),
        num_levels=3, num_decoder_points=4, nhead=8, num_decoder_layers=3, dim_feedforward=32,
        eval_spatial_size=[IMGSZ, IMGSZ], eval_idx=-1,
    )
    rtdetr = official.RTDETR(backbone, encoder, decoder)
    calibrate_bn(rtdetr, lambda m, im: m(im), 18)
    post = official.RTDETRPostProcessor(num_classes=NC, use_focal_loss=True, num_top_queries=nq)
    return official.Model(rtdetr, post).eval()


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
