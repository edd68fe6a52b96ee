"""What every fixture family shares: paths, COCO names, the input size, seeding, BatchNorm calibration, and the
helpers yolov5 and ultralytics both define (autopad, make_divisible, fuse_conv_and_bn, initialize_weights,
forward_once)."""

import math
import os
import warnings

import numpy as np
import torch
import torch.nn as nn

warnings.filterwarnings("ignore")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # scripts/families/..
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
