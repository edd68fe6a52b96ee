"""Reference PyTorch implementations of the attention modules onnx-attn inserts.

Each class reproduces the maths and the state_dict keys of the public reference code named in
shared/docs/attention-modules.md, so that a state_dict saved from the reference (or from these classes) loads
into onnx-attn with `--weights`. They exist only to make the golden files in fixtures/goldens and the
torch-exported forms in fixtures/torch-form (scripts/make_goldens.py); users and CI never need them.

Run with Debian's /usr/bin/python3 (torch 1.13, onnx 1.12).

Notes on fidelity:
- NAM `Channel_Att` is Christian-lyc/NAM HEAD (`MODELS/attention.py`); `Spatial_Att` is the per-pixel
  BatchNorm1d(H*W) of the initial commit d135ad4, applied after the channel part (`spatial=pixel`).
- GAM `grouped` is iscyy/yoloair `GAMAttention(c1, c2, group=True, rate)` (variant A, channel_shuffle(., 4));
  `plain` is the CSDN `GAM_Attention` (variant B, no channel sigmoid); `paper` adds the channel sigmoid
  (variant C / the paper's figure). Conv bias=True before each BN, `int(c1 / rate)` as upstream.
- SimAM is ZjjConan/SimAM `simam_module`.
- SE is moskomule/senet.pytorch `SELayer` (Linear, bias=False).
- CBAM `official` is Jongchan/attention-module `MODELS/cbam.py`; `ultralytics` is ultralytics `nn/modules/conv.py`.
- ECA is BangguWu/ECANet `eca_layer`, with the paper's adaptive k (`eca_kernel`).
- CA is houqb/CoordAttention `CoordAtt` with h_swish.
- `set_bn_eps` mimics YOLO's `initialize_weights`: every module whose type is exactly nn.BatchNorm2d gets the
  given eps (BatchNorm1d is not touched, as in YOLO).
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

# ---------------------------------------------------------------------------------------------------------------
# NAM


class Channel_Att(nn.Module):  # noqa: N801 (reference name)
    def __init__(self, channels, t=16):
        super().__init__()
        self.channels = channels
        self.bn2 = nn.BatchNorm2d(self.channels, affine=True)

    def forward(self, x):
        residual = x
        x = self.bn2(x)
        weight_bn = self.bn2.weight.data.abs() / torch.sum(self.bn2.weight.data.abs())
        x = x.permute(0, 2, 3, 1).contiguous()
        x = torch.mul(weight_bn, x)
        x = x.permute(0, 3, 1, 2).contiguous()
        x = torch.sigmoid(x) * residual
        return x


class Spatial_Att(nn.Module):  # noqa: N801 (reference name, initial commit d135ad4)
    """Per-pixel-position BatchNorm1d(H*W) over x viewed as [N, HW, C]; needs a fixed H, W."""

    def __init__(self, height, width=None):
        super().__init__()
        self.height = height
        self.width = height if width is None else width
        self.bn = nn.BatchNorm1d(self.height * self.width, affine=True)

    def forward(self, x):
        residual = x
        n, c, h, w = x.shape
        x = x.reshape(n, c, h * w).transpose(1, 2)  # [N, HW, C]: pixels are the BN "channels"
        x = self.bn(x)
        x = x.transpose(1, 2)  # [N, C, HW]
        weight_bn = self.bn.weight.data.abs() / torch.sum(self.bn.weight.data.abs())
        x = torch.mul(weight_bn, x)
        x = x.reshape(n, c, h, w)
        return torch.sigmoid(x) * residual


class NAM(nn.Module):
    """yoloair `NAMAttention` (channel only) or, with spatial='pixel', the initial-commit `Att` (channel, then pixel)."""

    def __init__(self, channels, spatial='channel', height=None, width=None):
        super().__init__()
        self.Channel_Att = Channel_Att(channels)
        self.spatial = spatial
        if spatial == 'pixel':
            self.Spatial_Att = Spatial_Att(height, width)

    def forward(self, x):
        x = self.Channel_Att(x)
        if self.spatial == 'pixel':
            x = self.Spatial_Att(x)
        return x


# ---------------------------------------------------------------------------------------------------------------
# GAM


def channel_shuffle(x, groups=2):
    b, c, h, w = x.size()
    out = x.view(b, groups, c // groups, h, w).permute(0, 2, 1, 3, 4).contiguous()
    out = out.view(b, c, h, w)
    return out


class GAM(nn.Module):
    """variant: 'paper' (channel sigmoid), 'plain' (CSDN variant B), 'grouped' (yoloair variant A)."""

    def __init__(self, c1, c2=None, rate=4, variant='paper'):
        super().__init__()
        c2 = c1 if c2 is None else c2
        self.variant = variant
        group = variant == 'grouped'
        self.channel_attention = nn.Sequential(
            nn.Linear(c1, int(c1 / rate)),
            nn.ReLU(inplace=True),
            nn.Linear(int(c1 / rate), c1),
        )
        self.spatial_attention = nn.Sequential(
            nn.Conv2d(c1, c1 // rate, kernel_size=7, padding=3, groups=rate)
            if group
            else nn.Conv2d(c1, int(c1 / rate), kernel_size=7, padding=3),
            nn.BatchNorm2d(int(c1 / rate)),
            nn.ReLU(inplace=True),
            nn.Conv2d(c1 // rate, c2, kernel_size=7, padding=3, groups=rate)
            if group
            else nn.Conv2d(int(c1 / rate), c2, kernel_size=7, padding=3),
            nn.BatchNorm2d(c2),
        )

    def forward(self, x):
        b, c, h, w = x.shape
        x_permute = x.permute(0, 2, 3, 1).view(b, -1, c)
        x_att_permute = self.channel_attention(x_permute).view(b, h, w, c)
        x_channel_att = x_att_permute.permute(0, 3, 1, 2)
        if self.variant == 'paper':
            x_channel_att = x_channel_att.sigmoid()
        x = x * x_channel_att
        x_spatial_att = self.spatial_attention(x).sigmoid()
        if self.variant == 'grouped':
            x_spatial_att = channel_shuffle(x_spatial_att, 4)  # hard-coded 4 upstream, not `rate`
        out = x * x_spatial_att
        return out


# ---------------------------------------------------------------------------------------------------------------
# SimAM


class SimAM(nn.Module):
    def __init__(self, channels=None, e_lambda=1e-4):
        super().__init__()
        self.activaton = nn.Sigmoid()  # sic, upstream spelling
        self.e_lambda = e_lambda

    def forward(self, x):
        b, c, h, w = x.size()
        n = w * h - 1
        x_minus_mu_square = (x - x.mean(dim=[2, 3], keepdim=True)).pow(2)
        y = x_minus_mu_square / (4 * (x_minus_mu_square.sum(dim=[2, 3], keepdim=True) / n + self.e_lambda)) + 0.5
        return x * self.activaton(y)


# ---------------------------------------------------------------------------------------------------------------
# SE


class SE(nn.Module):
    def __init__(self, channel, reduction=16):
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Sequential(
            nn.Linear(channel, channel // reduction, bias=False),
            nn.ReLU(inplace=True),
            nn.Linear(channel // reduction, channel, bias=False),
            nn.Sigmoid(),
        )

    def forward(self, x):
        b, c, _, _ = x.size()
        y = self.avg_pool(x).view(b, c)
        y = self.fc(y).view(b, c, 1, 1)
        return x * y.expand_as(x)


# ---------------------------------------------------------------------------------------------------------------
# CBAM, official (Jongchan/attention-module MODELS/cbam.py)


class BasicConv(nn.Module):
    def __init__(self, in_planes, out_planes, kernel_size, stride=1, padding=0, dilation=1, groups=1, relu=True,
                 bn=True, bias=False):
        super().__init__()
        self.out_channels = out_planes
        self.conv = nn.Conv2d(in_planes, out_planes, kernel_size=kernel_size, stride=stride, padding=padding,
                              dilation=dilation, groups=groups, bias=bias)
        self.bn = nn.BatchNorm2d(out_planes, eps=1e-5, momentum=0.01, affine=True) if bn else None
        self.relu = nn.ReLU() if relu else None

    def forward(self, x):
        x = self.conv(x)
        if self.bn is not None:
            x = self.bn(x)
        if self.relu is not None:
            x = self.relu(x)
        return x


class Flatten(nn.Module):
    def forward(self, x):
        return x.view(x.size(0), -1)


class ChannelGate(nn.Module):
    def __init__(self, gate_channels, reduction_ratio=16, pool_types=('avg', 'max')):
        super().__init__()
        self.gate_channels = gate_channels
        self.mlp = nn.Sequential(
            Flatten(),
            nn.Linear(gate_channels, gate_channels // reduction_ratio),
            nn.ReLU(),
            nn.Linear(gate_channels // reduction_ratio, gate_channels),
        )
        self.pool_types = pool_types

    def forward(self, x):
        channel_att_sum = None
        for pool_type in self.pool_types:
            if pool_type == 'avg':
                avg_pool = F.avg_pool2d(x, (x.size(2), x.size(3)), stride=(x.size(2), x.size(3)))
                channel_att_raw = self.mlp(avg_pool)
            elif pool_type == 'max':
                max_pool = F.max_pool2d(x, (x.size(2), x.size(3)), stride=(x.size(2), x.size(3)))
                channel_att_raw = self.mlp(max_pool)
            else:
                raise ValueError(pool_type)
            channel_att_sum = channel_att_raw if channel_att_sum is None else channel_att_sum + channel_att_raw
        scale = torch.sigmoid(channel_att_sum).unsqueeze(2).unsqueeze(3).expand_as(x)
        return x * scale


class ChannelPool(nn.Module):
    def forward(self, x):
        return torch.cat((torch.max(x, 1)[0].unsqueeze(1), torch.mean(x, 1).unsqueeze(1)), dim=1)


class SpatialGate(nn.Module):
    def __init__(self):
        super().__init__()
        kernel_size = 7
        self.compress = ChannelPool()
        self.spatial = BasicConv(2, 1, kernel_size, stride=1, padding=(kernel_size - 1) // 2, relu=False)

    def forward(self, x):
        x_compress = self.compress(x)
        x_out = self.spatial(x_compress)
        scale = torch.sigmoid(x_out)
        return x * scale


class CBAMOfficial(nn.Module):
    def __init__(self, gate_channels, reduction_ratio=16, pool_types=('avg', 'max'), no_spatial=False):
        super().__init__()
        self.ChannelGate = ChannelGate(gate_channels, reduction_ratio, pool_types)
        self.no_spatial = no_spatial
        if not no_spatial:
            self.SpatialGate = SpatialGate()

    def forward(self, x):
        x_out = self.ChannelGate(x)
        if not self.no_spatial:
            x_out = self.SpatialGate(x_out)
        return x_out


# ---------------------------------------------------------------------------------------------------------------
# CBAM, ultralytics (nn/modules/conv.py)


class ChannelAttention(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Conv2d(channels, channels, 1, 1, 0, bias=True)
        self.act = nn.Sigmoid()

    def forward(self, x):
        return x * self.act(self.fc(self.pool(x)))


class SpatialAttention(nn.Module):
    def __init__(self, kernel_size=7):
        super().__init__()
        assert kernel_size in {3, 7}, 'kernel size must be 3 or 7'
        padding = 3 if kernel_size == 7 else 1
        self.cv1 = nn.Conv2d(2, 1, kernel_size, padding=padding, bias=False)
        self.act = nn.Sigmoid()

    def forward(self, x):
        return x * self.act(self.cv1(torch.cat([torch.mean(x, 1, keepdim=True), torch.max(x, 1, keepdim=True)[0]], 1)))


class CBAMUltralytics(nn.Module):
    def __init__(self, c1, kernel_size=7):
        super().__init__()
        self.channel_attention = ChannelAttention(c1)
        self.spatial_attention = SpatialAttention(kernel_size)

    def forward(self, x):
        return self.spatial_attention(self.channel_attention(x))


# ---------------------------------------------------------------------------------------------------------------
# ECA


def eca_kernel(channels, gamma=2, b=1):
    """The paper's adaptive k: nearest odd of |(log2 C + b) / gamma| (64 -> 3, 128..1024 -> 5, 2048 -> 7)."""
    t = int(abs((math.log(channels, 2) + b) / gamma))
    return t if t % 2 else t + 1


class ECA(nn.Module):
    def __init__(self, channel, k_size=3):
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.conv = nn.Conv1d(1, 1, kernel_size=k_size, padding=(k_size - 1) // 2, bias=False)
        self.sigmoid = nn.Sigmoid()

    def forward(self, x):
        y = self.avg_pool(x)
        y = self.conv(y.squeeze(-1).transpose(-1, -2)).transpose(-1, -2).unsqueeze(-1)
        y = self.sigmoid(y)
        return x * y.expand_as(x)


# ---------------------------------------------------------------------------------------------------------------
# Coordinate Attention (houqb/CoordAttention coordatt.py)


class h_sigmoid(nn.Module):  # noqa: N801
    def __init__(self, inplace=True):
        super().__init__()
        self.relu = nn.ReLU6(inplace=inplace)

    def forward(self, x):
        return self.relu(x + 3) / 6


class h_swish(nn.Module):  # noqa: N801
    def __init__(self, inplace=True):
        super().__init__()
        self.sigmoid = h_sigmoid(inplace=inplace)

    def forward(self, x):
        return x * self.sigmoid(x)


class CoordAtt(nn.Module):
    def __init__(self, inp, oup=None, reduction=32):
        super().__init__()
        oup = inp if oup is None else oup
        self.pool_h = nn.AdaptiveAvgPool2d((None, 1))
        self.pool_w = nn.AdaptiveAvgPool2d((1, None))
        mip = max(8, inp // reduction)
        self.conv1 = nn.Conv2d(inp, mip, kernel_size=1, stride=1, padding=0)
        self.bn1 = nn.BatchNorm2d(mip)
        self.act = h_swish()
        self.conv_h = nn.Conv2d(mip, oup, kernel_size=1, stride=1, padding=0)
        self.conv_w = nn.Conv2d(mip, oup, kernel_size=1, stride=1, padding=0)

    def forward(self, x):
        identity = x
        n, c, h, w = x.size()
        x_h = self.pool_h(x)
        x_w = self.pool_w(x).permute(0, 1, 3, 2)
        y = torch.cat([x_h, x_w], dim=2)
        y = self.conv1(y)
        y = self.bn1(y)
        y = self.act(y)
        x_h, x_w = torch.split(y, [h, w], dim=2)
        x_w = x_w.permute(0, 1, 3, 2)
        a_h = self.conv_h(x_h).sigmoid()
        a_w = self.conv_w(x_w).sigmoid()
        out = identity * a_w * a_h
        return out


# ---------------------------------------------------------------------------------------------------------------


def set_bn_eps(model: nn.Module, eps: float) -> nn.Module:
    """YOLO's initialize_weights: eps on every module whose type is exactly nn.BatchNorm2d (not BatchNorm1d)."""
    for m in model.modules():
        if type(m) is nn.BatchNorm2d:
            m.eps = eps
    return model


def build(module: str, channels: int, options: dict, height: int | None = None, width: int | None = None) -> nn.Module:
    """A reference module from the CLI's module name and `--opt` values (strings, as on the command line)."""
    name = module.lower()
    if name == 'nam':
        return NAM(channels, options.get('spatial', 'channel'), height, width)
    if name == 'gam':
        return GAM(channels, rate=int(options.get('rate', '4')), variant=options.get('variant', 'paper'))
    if name == 'simam':
        return SimAM(e_lambda=float(options.get('lambda', '1e-4')))
    if name == 'se':
        return SE(channels, int(options.get('reduction', '16')))
    if name == 'cbam':
        if options.get('variant', 'official') == 'ultralytics':
            return CBAMUltralytics(channels, int(options.get('kernel', '7')))
        return CBAMOfficial(channels, int(options.get('reduction', '16')))
    if name == 'eca':
        k = options.get('k', 'auto')
        return ECA(channels, eca_kernel(channels) if k == 'auto' else int(k))
    if name == 'ca':
        return CoordAtt(channels, channels, int(options.get('reduction', '32')))
    raise ValueError(f'unknown module {module}')
