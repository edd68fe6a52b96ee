/**
 * The PyTorch source `onnx-attn torch` prints for each module: the reference code's maths and state_dict keys
 * (scripts/reference_modules.py, from the upstream code named in attention-modules.md), with the module's option
 * defaults filled in. Text only: what the ONNX side builds is in src/modules/.
 */
import type { OptionValue } from '../modules/types.js';

export const PRELUDE = `import math

import torch
import torch.nn as nn
import torch.nn.functional as F
`;

export const BN_NOTE = `# YOLOv5 and ultralytics set eps=1e-3 on every nn.BatchNorm2d when they build a model (initialize_weights), and
# onnx-attn assumes the same for their exports; elsewhere PyTorch's 1e-5 holds (onnx-attn insert --bn-eps X otherwise).`;

/** Python source of each module, with `@NAME@`-style defaults filled from the options. */
export function moduleSource(name: string, o: Record<string, OptionValue>): string {
  const py = (v: OptionValue) => (typeof v === 'number' ? String(v) : `'${v}'`);
  switch (name) {
    case 'NAM':
      return `# NAM (arXiv 2111.12419): Christian-lyc/NAM MODELS/attention.py Channel_Att (HEAD), as yoloair NAMAttention wraps it;
# spatial='pixel' adds Spatial_Att of the initial commit d135ad4 (BatchNorm1d over H*W pixels: a fixed H, W).
class Channel_Att(nn.Module):  # noqa: N801 (reference name: state_dict keys Channel_Att.bn2.*)
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
        return torch.sigmoid(x) * residual


class Spatial_Att(nn.Module):  # noqa: N801
    def __init__(self, height, width=None):
        super().__init__()
        self.height = height
        self.width = height if width is None else width
        self.bn = nn.BatchNorm1d(self.height * self.width, affine=True)

    def forward(self, x):
        residual = x
        n, c, h, w = x.shape
        x = self.bn(x.reshape(n, c, h * w).transpose(1, 2)).transpose(1, 2)
        weight_bn = self.bn.weight.data.abs() / torch.sum(self.bn.weight.data.abs())
        x = torch.mul(weight_bn, x).reshape(n, c, h, w)
        return torch.sigmoid(x) * residual


class NAM(nn.Module):
    def __init__(self, c1, spatial=${py(o['spatial']!)}, height=None, width=None):
        super().__init__()
        self.Channel_Att = Channel_Att(c1)
        self.spatial = spatial
        if spatial == 'pixel':
            self.Spatial_Att = Spatial_Att(height, width)

    def forward(self, x):
        x = self.Channel_Att(x)
        if self.spatial == 'pixel':
            x = self.Spatial_Att(x)
        return x
`;
    case 'GAM':
      return `# GAM (arXiv 2112.05561). variant: 'paper' (channel sigmoid, as the paper's figure), 'plain' (the CSDN
# GAM_Attention: no channel sigmoid), 'grouped' (yoloair GAMAttention: groups=rate convs, channel_shuffle(., 4)).
def channel_shuffle(x, groups=2):
    b, c, h, w = x.size()
    return x.view(b, groups, c // groups, h, w).permute(0, 2, 1, 3, 4).contiguous().view(b, c, h, w)


class GAM(nn.Module):
    def __init__(self, c1, c2=None, rate=${py(o['rate']!)}, variant=${py(o['variant']!)}):
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
            nn.Conv2d(c1, c1 // rate, kernel_size=7, padding=3, groups=rate) if group
            else nn.Conv2d(c1, int(c1 / rate), kernel_size=7, padding=3),
            nn.BatchNorm2d(int(c1 / rate)),
            nn.ReLU(inplace=True),
            nn.Conv2d(c1 // rate, c2, kernel_size=7, padding=3, groups=rate) if group
            else nn.Conv2d(int(c1 / rate), c2, kernel_size=7, padding=3),
            nn.BatchNorm2d(c2),
        )

    def forward(self, x):
        b, c, h, w = x.shape
        x_att = self.channel_attention(x.permute(0, 2, 3, 1).view(b, -1, c)).view(b, h, w, c).permute(0, 3, 1, 2)
        if self.variant == 'paper':
            x_att = x_att.sigmoid()
        x = x * x_att
        s = self.spatial_attention(x).sigmoid()
        if self.variant == 'grouped':
            s = channel_shuffle(s, 4)  # 4, not rate, as yoloair
        return x * s
`;
    case 'SimAM':
      return `# SimAM (ICML 2021): ZjjConan/SimAM simam_module. No parameters; e_lambda is a constant (keyword only here:
# a channel count passed positionally to upstream copies silently becomes lambda).
class SimAM(nn.Module):
    def __init__(self, c1=None, *, e_lambda=${py(o['lambda']!)}):
        super().__init__()
        self.activaton = nn.Sigmoid()  # sic, upstream spelling
        self.e_lambda = e_lambda

    def forward(self, x):
        b, c, h, w = x.size()
        n = w * h - 1
        d = (x - x.mean(dim=[2, 3], keepdim=True)).pow(2)
        y = d / (4 * (d.sum(dim=[2, 3], keepdim=True) / n + self.e_lambda)) + 0.5
        return x * self.activaton(y)
`;
    case 'SE':
      return `# SE (arXiv 1709.01507): moskomule/senet.pytorch SELayer (Linear, bias=False).
class SE(nn.Module):
    def __init__(self, c1, reduction=${py(o['reduction']!)}):
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Sequential(
            nn.Linear(c1, c1 // reduction, bias=False),
            nn.ReLU(inplace=True),
            nn.Linear(c1 // reduction, c1, bias=False),
            nn.Sigmoid(),
        )

    def forward(self, x):
        b, c, _, _ = x.size()
        y = self.fc(self.avg_pool(x).view(b, c)).view(b, c, 1, 1)
        return x * y.expand_as(x)
`;
    case 'CBAM':
      if (o['variant'] === 'ultralytics') {
        return `# CBAM, ultralytics nn/modules/conv.py: channel gate GAP -> 1x1 conv -> sigmoid; spatial gate [mean, max] -> kxk conv.
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
        self.cv1 = nn.Conv2d(2, 1, kernel_size, padding=3 if kernel_size == 7 else 1, bias=False)
        self.act = nn.Sigmoid()

    def forward(self, x):
        return x * self.act(self.cv1(torch.cat([torch.mean(x, 1, keepdim=True), torch.max(x, 1, keepdim=True)[0]], 1)))


class CBAM(nn.Module):
    def __init__(self, c1, kernel_size=${py(o['kernel']!)}):
        super().__init__()
        self.channel_attention = ChannelAttention(c1)
        self.spatial_attention = SpatialAttention(kernel_size)

    def forward(self, x):
        return self.spatial_attention(self.channel_attention(x))
`;
      }
      return `# CBAM (arXiv 1807.06521), official: Jongchan/attention-module MODELS/cbam.py (spatial kernel 7).
class BasicConv(nn.Module):
    def __init__(self, in_planes, out_planes, kernel_size, stride=1, padding=0, relu=True, bn=True, bias=False):
        super().__init__()
        self.conv = nn.Conv2d(in_planes, out_planes, kernel_size=kernel_size, stride=stride, padding=padding, bias=bias)
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
    def __init__(self, gate_channels, reduction_ratio=16):
        super().__init__()
        self.mlp = nn.Sequential(
            Flatten(),
            nn.Linear(gate_channels, gate_channels // reduction_ratio),
            nn.ReLU(),
            nn.Linear(gate_channels // reduction_ratio, gate_channels),
        )

    def forward(self, x):
        k = (x.size(2), x.size(3))
        att = self.mlp(F.avg_pool2d(x, k, stride=k)) + self.mlp(F.max_pool2d(x, k, stride=k))
        return x * torch.sigmoid(att).unsqueeze(2).unsqueeze(3).expand_as(x)


class SpatialGate(nn.Module):
    def __init__(self):
        super().__init__()
        self.spatial = BasicConv(2, 1, 7, stride=1, padding=3, relu=False)

    def forward(self, x):
        pooled = torch.cat((torch.max(x, 1)[0].unsqueeze(1), torch.mean(x, 1).unsqueeze(1)), dim=1)
        return x * torch.sigmoid(self.spatial(pooled))


class CBAM(nn.Module):
    def __init__(self, c1, reduction_ratio=${py(o['reduction']!)}):
        super().__init__()
        self.ChannelGate = ChannelGate(c1, reduction_ratio)
        self.SpatialGate = SpatialGate()

    def forward(self, x):
        return self.SpatialGate(self.ChannelGate(x))
`;
    case 'ECA':
      return `# ECA (arXiv 1910.03151): BangguWu/ECANet eca_layer; k='auto' is the paper's adaptive kernel size.
def eca_kernel(channels, gamma=2, b=1):
    t = int(abs((math.log(channels, 2) + b) / gamma))
    return t if t % 2 else t + 1


class ECA(nn.Module):
    def __init__(self, c1, k=${py(o['k']!)}):
        super().__init__()
        k_size = eca_kernel(c1) if k == 'auto' else int(k)
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.conv = nn.Conv1d(1, 1, kernel_size=k_size, padding=(k_size - 1) // 2, bias=False)
        self.sigmoid = nn.Sigmoid()

    def forward(self, x):
        y = self.avg_pool(x)
        y = self.conv(y.squeeze(-1).transpose(-1, -2)).transpose(-1, -2).unsqueeze(-1)
        return x * self.sigmoid(y).expand_as(x)
`;
    case 'CA':
      return `# Coordinate Attention (arXiv 2103.02907): houqb/CoordAttention CoordAtt with h_swish.
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


class CA(nn.Module):
    def __init__(self, c1, c2=None, reduction=${py(o['reduction']!)}):
        super().__init__()
        c2 = c1 if c2 is None else c2
        self.pool_h = nn.AdaptiveAvgPool2d((None, 1))
        self.pool_w = nn.AdaptiveAvgPool2d((1, None))
        mip = max(8, c1 // reduction)
        self.conv1 = nn.Conv2d(c1, mip, kernel_size=1, stride=1, padding=0)
        self.bn1 = nn.BatchNorm2d(mip)
        self.act = h_swish()
        self.conv_h = nn.Conv2d(mip, c2, kernel_size=1, stride=1, padding=0)
        self.conv_w = nn.Conv2d(mip, c2, kernel_size=1, stride=1, padding=0)

    def forward(self, x):
        identity = x
        n, c, h, w = x.size()
        x_h = self.pool_h(x)
        x_w = self.pool_w(x).permute(0, 1, 3, 2)
        y = self.act(self.bn1(self.conv1(torch.cat([x_h, x_w], dim=2))))
        x_h, x_w = torch.split(y, [h, w], dim=2)
        a_h = self.conv_h(x_h).sigmoid()
        a_w = self.conv_w(x_w.permute(0, 1, 3, 2)).sigmoid()
        return identity * a_w * a_h
`;
    default:
      throw new Error(`no PyTorch source for ${name}`);
  }
}
