"""Small PyTorch checkpoints in the layouts `--weights best.pt` reads, for the tests (fixtures/checkpoints).

    /usr/bin/python3 scripts/make_checkpoints.py            # writes fixtures/checkpoints/*.pt, *.pth
    /usr/bin/python3 scripts/make_checkpoints.py --out DIR  # elsewhere

Each checkpoint holds an attention module where a user who trained it would have put it, with randomised weights and
BN statistics (so folding is exercised), under the keys the upstream trainer writes:

  yolov5-nam.pt          YOLOv5 train.py layout: {'epoch', 'best_fitness' (a numpy array), 'model': Model pickled
                         whole and .half(), 'ema': None, 'updates', 'optimizer': None, 'opt': dict, 'git', 'date'};
                         NAMAttention (yoloair) as layer 24 (C=32, after layer 23 of fixtures/yolov5-op12.onnx), a
                         second NAM with 16 channels at layer 10 (a decoy the channel count rules out), Detect at 25.
                         The classes live in fake `models.common` / `models.yolo` modules: the pickle names them, and
                         onnx-attn must read it without them.
  ultralytics-cbam.pt    ultralytics layout: {'date', 'version', 'license', 'docs', 'epoch', 'best_fitness': None,
                         'model': DetectionModel .half(), 'ema': None, 'updates', 'optimizer': None, 'train_args',
                         'train_metrics', 'train_results'}; ultralytics CBAM (C=32) as layer 22 (after layer 21 of
                         fixtures/yolov8-op12.onnx).
  yolov5-head-nam-fp32.pt  YOLOv5 layout in fp32 ('ema' holds the model, 'model' a stale copy): NAM after each
                         head level 17, 20, 23 (C = 8, 16, 32) as layers 18, 22, 26, Detect at 27.
  rtdetr-nam.pth         official RT-DETR: {'model': state_dict} (fp32), NAM (C=16) at the end of
                         backbone.res_layers.2 (`backbone.res_layers.2.blocks.1.nam.`).
  rtdetr-ema-eca.pth     official RT-DETR: {'ema': {'module': state_dict, 'updates'}, 'last_epoch'} (fp32), ECA
                         (C=16, k=3, the same shape three times) after encoder fpn_blocks.1, pan_blocks.0 and
                         pan_blocks.1: only the point order tells them apart.
  nam-bare.pth           a bare state_dict of NAM(32), fp32, keys `Channel_Att.bn2.*`.
  gam-views.pt           GAM(16, paper) state_dict whose tensors are views of ONE shared storage: storage offsets,
                         a transposed (non-contiguous) Linear weight, a strided BN vector.
  yolov5-nam-p5.pt       yolov5-nam.pt saved with pickle protocol 5 (frames, memoize, STACK_GLOBAL, numpy's
                         _frombuffer), as trainers that pass pickle_protocol write.
  ultralytics-cbam-legacy.pt  ultralytics-cbam.pt in the legacy format, protocol 4: a model pickled whole there names
                         its classes through ('module', cls, file, source) persistent ids.
  nam-legacy.pt          the legacy non-zip format (_use_new_zipfile_serialization=False), {'model': {prefix: ...}},
                         fp16, NAM(32) at `model.24.`.

Everything is seeded and the zip fixtures are deterministic for a given torch version (the zip writer stores no
times); the legacy file's storage keys are object ids, so its bytes differ from run to run (its values do not).
"""

from __future__ import annotations

import argparse
import os
import sys
import types
from collections import OrderedDict

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference_modules as ref  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def fake_module(name: str) -> types.ModuleType:
    """A module in sys.modules that pickle can name classes from (as if models/common.py were installed)."""
    parts = name.split('.')
    for i in range(1, len(parts) + 1):
        sub = '.'.join(parts[:i])
        if sub not in sys.modules:
            sys.modules[sub] = types.ModuleType(sub)
    return sys.modules[name]


def home(module_name: str, *classes):
    mod = fake_module(module_name)
    for cls in classes:
        cls.__module__ = module_name
        setattr(mod, cls.__name__, cls)


# --- yolov5-style classes (models.common, models.yolo) -------------------------------------------------------------


class Conv(nn.Module):
    def __init__(self, c1, c2, k=1):
        super().__init__()
        self.conv = nn.Conv2d(c1, c2, k, 1, k // 2, bias=False)
        self.bn = nn.BatchNorm2d(c2)
        self.act = nn.SiLU()

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))


class Channel_Att(ref.Channel_Att):  # noqa: N801
    pass


class NAMAttention(nn.Module):
    """yoloair NAMAttention(channels, out_channels=None, no_spatial=True): Channel_Att only."""

    def __init__(self, channels, out_channels=None, no_spatial=True):
        super().__init__()
        self.Channel_Att = Channel_Att(channels)

    def forward(self, x):
        return self.Channel_Att(x)


class Detect(nn.Module):
    def __init__(self, nc, ch):
        super().__init__()
        self.nc = nc
        self.no = nc + 5
        self.stride = torch.tensor([8.0, 16.0, 32.0])
        self.register_buffer('anchors', torch.tensor([[10, 13, 16, 30, 33, 23], [30, 61, 62, 45, 59, 119],
                                                      [116, 90, 156, 198, 373, 326]], dtype=torch.float32).view(3, 3, 2))
        self.m = nn.ModuleList(nn.Conv2d(c, self.no * 3, 1) for c in ch)


class Model(nn.Module):
    def __init__(self, layers, names):
        super().__init__()
        self.model = nn.Sequential(*layers)
        self.names = names
        self.yaml = {'nc': len(names), 'depth_multiple': 0.33, 'width_multiple': 0.25}
        self.stride = torch.tensor([8.0, 16.0, 32.0])


home('models.common', Conv, Channel_Att, NAMAttention)
home('models.yolo', Detect, Model)


# --- ultralytics-style classes (ultralytics.nn.*) ------------------------------------------------------------------


class UConv(nn.Module):
    def __init__(self, c1, c2, k=1):
        super().__init__()
        self.conv = nn.Conv2d(c1, c2, k, 1, k // 2, bias=False)
        self.bn = nn.BatchNorm2d(c2)
        self.act = nn.SiLU()


UConv.__name__ = UConv.__qualname__ = 'Conv'


class ChannelAttention(ref.ChannelAttention):
    pass


class SpatialAttention(ref.SpatialAttention):
    pass


class CBAM(nn.Module):
    """ultralytics nn/modules/conv.py CBAM(c1, kernel_size=7)."""

    def __init__(self, c1, kernel_size=7):
        super().__init__()
        self.channel_attention = ChannelAttention(c1)
        self.spatial_attention = SpatialAttention(kernel_size)

    def forward(self, x):
        return self.spatial_attention(self.channel_attention(x))


class UDetect(nn.Module):
    def __init__(self, nc, ch):
        super().__init__()
        self.nc = nc
        self.cv2 = nn.ModuleList(nn.Conv2d(c, 64, 1) for c in ch)
        self.cv3 = nn.ModuleList(nn.Conv2d(c, nc, 1) for c in ch)


UDetect.__name__ = UDetect.__qualname__ = 'Detect'


class DetectionModel(nn.Module):
    def __init__(self, layers):
        super().__init__()
        self.model = nn.Sequential(*layers)
        self.names = {0: 'person', 1: 'bicycle'}
        self.args = {'task': 'detect', 'imgsz': 128}


home('ultralytics.nn.modules.conv', UConv, ChannelAttention, SpatialAttention, CBAM)
home('ultralytics.nn.modules.head', UDetect)
home('ultralytics.nn.tasks', DetectionModel)


# --- weights ---------------------------------------------------------------------------------------------------------


def randomize(module: nn.Module, gen: torch.Generator) -> nn.Module:
    """Every parameter ~ N(0, 0.5); BN gamma with random signs, var in (0.5, 2), mean ~ N(0, 0.5)."""
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
                n = m.num_features
                sign = torch.where(torch.rand(n, generator=gen) < 0.5, -1.0, 1.0)
                m.weight.copy_(sign * (0.5 + torch.rand(n, generator=gen)))
                m.bias.copy_(0.3 * torch.randn(n, generator=gen))
                m.running_mean.copy_(0.5 * torch.randn(n, generator=gen))
                m.running_var.copy_(0.5 + 1.5 * torch.rand(n, generator=gen))
                m.num_batches_tracked.fill_(123)
            elif isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Linear)):
                m.weight.copy_(0.5 * torch.randn(m.weight.shape, generator=gen))
                if m.bias is not None:
                    m.bias.copy_(0.3 * torch.randn(m.bias.shape, generator=gen))
    return module


def filler(n: int) -> list:
    """Plain convs standing in for the layers around the attention module (tiny: 4 channels, 1x1)."""
    return [Conv(4, 4) for _ in range(n)]


def yolov5_nam() -> dict:
    layers = filler(24)
    layers[10] = NAMAttention(16)  # a decoy: NAM keys, but 16 channels where the point has 32
    layers.append(NAMAttention(32))  # layer 24
    layers.append(Detect(80, [8, 16, 32]))  # layer 25
    model = ref.set_bn_eps(randomize(Model(layers, ['person'] * 80), torch.Generator().manual_seed(524)), 1e-3)
    # best_fitness: yolov5's fitness() returns an ndarray of shape (1,), pickled through numpy's _reconstruct.
    return {'epoch': -1, 'best_fitness': np.array([0.4321]), 'model': model.half(), 'ema': None, 'updates': None,
            'optimizer': None, 'opt': {'weights': 'yolov5s.pt', 'cfg': 'models/yolov5s-nam.yaml', 'epochs': 3,
                                       'hyp': {'lr0': 0.01, 'momentum': 0.937}},
            'git': {'remote': 'https://github.com/ultralytics/yolov5', 'branch': 'master', 'commit': '0000000'},
            'date': '2024-01-01T00:00:00'}


def yolov5_head_nam() -> dict:
    layers = filler(27)
    layers[18] = NAMAttention(8)
    layers[22] = NAMAttention(16)
    layers[26] = NAMAttention(32)
    layers.append(Detect(80, [8, 16, 32]))  # layer 27
    model = ref.set_bn_eps(randomize(Model(layers, ['person'] * 80), torch.Generator().manual_seed(5318)), 1e-3)
    stale = ref.set_bn_eps(randomize(Model(layers, ['person'] * 80), torch.Generator().manual_seed(1)), 1e-3)
    import copy
    return {'epoch': 2, 'best_fitness': np.float64(0.1), 'model': copy.deepcopy(stale), 'ema': model,
            'updates': 300, 'optimizer': None, 'opt': {'epochs': 3}, 'date': '2024-01-01T00:00:00'}


def ultralytics_cbam() -> dict:
    layers = [UConv(4, 4) for _ in range(22)]
    layers.append(CBAM(32, 7))  # layer 22
    layers.append(UDetect(2, [8, 16, 32]))  # layer 23
    model = ref.set_bn_eps(randomize(DetectionModel(layers), torch.Generator().manual_seed(822)), 1e-3)
    return {'date': '2024-01-01T00:00:00', 'version': '8.3.0', 'license': 'AGPL-3.0 License (https://ultralytics.com/license)',
            'docs': 'https://docs.ultralytics.com', 'epoch': -1, 'best_fitness': None, 'model': model.half(), 'ema': None,
            'updates': None, 'optimizer': None,
            'train_args': {'task': 'detect', 'mode': 'train', 'model': 'yolov8n-cbam.yaml', 'epochs': 3, 'imgsz': 128,
                           'half': False, 'lr0': 0.01},
            'train_metrics': {'metrics/mAP50(B)': 0.5, 'fitness': 0.45}, 'train_results': {'epoch': [1, 2, 3]}}


class RtdetrBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, 1, 1, bias=False)
        self.bn = nn.BatchNorm2d(c)


def rtdetr_nam() -> dict:
    # The modules and their names mirror official RT-DETR r18vd; a NAM ends res_layers.2's last block.
    root = nn.Module()
    root.backbone = nn.Module()
    root.backbone.res_layers = nn.ModuleList()
    for i, c in enumerate([8, 12, 16, 24]):
        layer = nn.Module()
        layer.blocks = nn.ModuleList([RtdetrBlock(c), RtdetrBlock(c)])
        if i == 2:
            layer.blocks[1].nam = ref.NAM(16)
        if i == 3:
            layer.blocks[1].nam = ref.NAM(24)  # a decoy with 24 channels
        root.backbone.res_layers.append(layer)
    randomize(root, torch.Generator().manual_seed(16))  # official RT-DETR keeps PyTorch's BN eps 1e-5
    return {'model': root.state_dict()}


def rtdetr_ema_eca() -> dict:
    root = nn.Module()
    root.encoder = nn.Module()
    root.encoder.fpn_blocks = nn.ModuleList([RtdetrBlock(16), RtdetrBlock(16)])
    root.encoder.pan_blocks = nn.ModuleList([RtdetrBlock(16), RtdetrBlock(16)])
    root.encoder.fpn_blocks[1].attn = ref.ECA(16, ref.eca_kernel(16))
    root.encoder.pan_blocks[0].attn = ref.ECA(16, ref.eca_kernel(16))
    root.encoder.pan_blocks[1].attn = ref.ECA(16, ref.eca_kernel(16))
    randomize(root, torch.Generator().manual_seed(1616))
    return {'ema': {'module': root.state_dict(), 'updates': 1000}, 'last_epoch': 71}


def nam_bare() -> dict:
    return ref.set_bn_eps(randomize(ref.NAM(32), torch.Generator().manual_seed(32)), 1e-3).state_dict()


def gam_views() -> dict:
    """GAM(16, paper)'s state_dict rewritten as views of one storage (offsets, a transpose, a stride)."""
    sd = randomize(ref.GAM(16, rate=4, variant='paper'), torch.Generator().manual_seed(1604)).state_dict()
    total = sum(v.numel() for v in sd.values() if v.dtype == torch.float32) * 2 + 64
    shared = torch.zeros(total, dtype=torch.float32)
    out, pos = OrderedDict(), 7  # start at an odd offset
    for key, v in sd.items():
        if v.dtype != torch.float32:
            out[key] = v
            continue
        n = v.numel()
        if key == 'channel_attention.0.weight':
            # stored transposed: the key's tensor is a non-contiguous view (strides (1, rows))
            rows, cols = v.shape
            block = shared[pos:pos + n].view(cols, rows)
            block.copy_(v.t())
            out[key] = block.t()
        elif key.endswith('running_var'):
            block = shared[pos:pos + 2 * n]  # every other element
            block[::2].copy_(v)
            out[key] = block[::2]
            n *= 2
        else:
            block = shared[pos:pos + n].view(v.shape)
            block.copy_(v)
            out[key] = block
        pos += n + 3
    assert all(v.dtype != torch.float32 or v.storage().data_ptr() == shared.storage().data_ptr() for v in out.values())
    return out


def nam_legacy() -> dict:
    nam = ref.set_bn_eps(randomize(ref.NAM(32), torch.Generator().manual_seed(3232)), 1e-3).half()
    return {'model': OrderedDict((f'model.24.{k}', v) for k, v in nam.state_dict().items()), 'epoch': 5}


CHECKPOINTS = [
    # (file, contents, zip format, pickle protocol: torch.save's default 2, or what a trainer passes)
    ('yolov5-nam.pt', yolov5_nam, True),
    ('yolov5-nam-p5.pt', yolov5_nam, True, 5),
    ('ultralytics-cbam-legacy.pt', ultralytics_cbam, False, 4),
    ('yolov5-head-nam-fp32.pt', yolov5_head_nam, True),
    ('ultralytics-cbam.pt', ultralytics_cbam, True),
    ('rtdetr-nam.pth', rtdetr_nam, True),
    ('rtdetr-ema-eca.pth', rtdetr_ema_eca, True),
    ('nam-bare.pth', nam_bare, True),
    ('gam-views.pt', gam_views, True),
    ('nam-legacy.pt', nam_legacy, False),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--out', default=os.path.join(ROOT, 'fixtures', 'checkpoints'))
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    for name, make, zipped, *protocol in CHECKPOINTS:
        path = os.path.join(args.out, name)
        torch.save(make(), path, _use_new_zipfile_serialization=zipped, pickle_protocol=protocol[0] if protocol else 2)
        print(f'{path}: {os.path.getsize(path)} bytes')


if __name__ == '__main__':
    main()
