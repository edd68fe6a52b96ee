"""Golden files for the attention-module builders, from the PyTorch references in reference_modules.py.

    /usr/bin/python3 scripts/make_goldens.py              # writes fixtures/goldens/*.safetensors and fixtures/torch-form/*.onnx
    /usr/bin/python3 scripts/make_goldens.py --out DIR    # elsewhere (e.g. to check determinism)

Each golden case `fixtures/goldens/<module>-<variant>-<tag>.safetensors` holds
  - `input`  [2,C,H,W] float32, x ~ N(0,1),
  - `output` [2,C,H,W] float32, the reference module's eval output computed in float64 from the float32 input and
             float32 weights (so the file is self-consistent), then rounded to float32,
  - every state_dict entry under its reference key (float32; `num_batches_tracked` as an int64 scalar, shape []),
and `__metadata__` = {module, variant, options (JSON of the CLI `--opt` values, as strings), bn_eps (the eps of every
nn.BatchNorm2d, as YOLO's initialize_weights sets it), note}. Weights are randomized, and so are the BN running
statistics and affine parameters (mean ~ N(0,0.5), var ~ U(0.5,2), gamma ~ U(0.5,1.5) -- with random signs for NAM,
whose weight normalisation uses |gamma| -- and beta ~ N(0,0.3)), so that BN folding is really exercised.

`fixtures/torch-form/<module>-<variant>.onnx` is the same reference module exported alone by torch.onnx.export
(x[1,64,20,20] -> y, opset 17, static shapes, do_constant_folding=True), for latency comparisons with the minimal
forms onnx-attn builds; `fixtures/torch-form/head/<module>-<variant>-c<C>-<H>x<W>.onnx` are the same at the three
head levels of fixtures/yolov5-op12.onnx (and its opset, 12), which the bench splices into that model beside
onnx-attn's own forms.

Everything is seeded per case (CRC32 of the case name), and the safetensors writer is deterministic, so two runs give
byte-identical files.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import struct
import sys
import zlib

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference_modules as ref  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CANONICAL = {'nam': 'NAM', 'gam': 'GAM', 'simam': 'SimAM', 'se': 'SE', 'cbam': 'CBAM', 'eca': 'ECA', 'ca': 'CA'}

# (file stem, module, variant, options, C, H, W, bn_eps, note)
CASES = [
    ('nam-channel-c16-8x8', 'nam', 'channel', {'spatial': 'channel'}, 16, 8, 8, 1e-3,
     'NAM Channel_Att (official HEAD), signed gamma so |gamma| matters'),
    ('nam-channel-c24-5x7', 'nam', 'channel', {'spatial': 'channel'}, 24, 5, 7, 1e-5,
     'NAM Channel_Att, non-square map, plain PyTorch eps 1e-5'),
    ('nam-pixel-c16-8x8', 'nam', 'pixel', {'spatial': 'pixel'}, 16, 8, 8, 1e-3,
     'NAM Channel_Att then the initial-commit Spatial_Att: BatchNorm1d(H*W) per pixel (its eps stays 1e-5)'),
    ('gam-paper-c16r4-8x8', 'gam', 'paper', {'variant': 'paper', 'rate': '4'}, 16, 8, 8, 1e-3,
     'GAM with the channel sigmoid (paper / variant C)'),
    ('gam-plain-c16r4-6x5', 'gam', 'plain', {'variant': 'plain', 'rate': '4'}, 16, 6, 5, 1e-3,
     'GAM without the channel sigmoid (CSDN variant B), non-square map'),
    ('gam-grouped-c32r4-8x8', 'gam', 'grouped', {'variant': 'grouped', 'rate': '4'}, 32, 8, 8, 1e-3,
     'GAM yoloair variant A: groups=rate convs, channel_shuffle(., 4), no channel sigmoid'),
    ('simam-default-l1e-4-8x8', 'simam', 'default', {'lambda': '1e-4'}, 16, 8, 8, 1e-3, 'SimAM, code default lambda'),
    ('simam-default-l1e-4-3x5', 'simam', 'default', {'lambda': '1e-4'}, 16, 3, 5, 1e-3,
     'SimAM, code default lambda, n = HW-1 = 14'),
    ('simam-default-l0.1-8x8', 'simam', 'default', {'lambda': '0.1'}, 16, 8, 8, 1e-3, 'SimAM, README ImageNet lambda'),
    ('simam-default-l0.1-3x5', 'simam', 'default', {'lambda': '0.1'}, 16, 3, 5, 1e-3, 'SimAM, README ImageNet lambda, 3x5'),
    ('se-default-c32r16-8x8', 'se', 'default', {'reduction': '16'}, 32, 8, 8, 1e-3, 'SE (senet.pytorch SELayer, Linear bias=False)'),
    ('se-default-c64r16-6x6', 'se', 'default', {'reduction': '16'}, 64, 6, 6, 1e-3, 'SE, C=64'),
    ('cbam-official-c32r16-8x8', 'cbam', 'official', {'variant': 'official', 'reduction': '16'}, 32, 8, 8, 1e-3,
     'CBAM Jongchan: avg+max MLP, [max, mean] 7x7 conv + BN (YOLO eps on that BatchNorm2d)'),
    ('cbam-official-c32r16-6x5', 'cbam', 'official', {'variant': 'official', 'reduction': '16'}, 32, 6, 5, 1e-5,
     'CBAM Jongchan, non-square map, its own BN eps 1e-5'),
    ('cbam-ultralytics-c16k7-8x8', 'cbam', 'ultralytics', {'variant': 'ultralytics', 'kernel': '7'}, 16, 8, 8, 1e-3,
     'CBAM ultralytics: GAP conv1x1 gate, [mean, max] 7x7 conv, no BN'),
    ('cbam-ultralytics-c16k3-6x5', 'cbam', 'ultralytics', {'variant': 'ultralytics', 'kernel': '3'}, 16, 6, 5, 1e-3,
     'CBAM ultralytics with kernel_size=3'),
    ('eca-default-c64kauto-5x5', 'eca', 'default', {'k': 'auto'}, 64, 5, 5, 1e-3, 'ECA, adaptive k = 3 at C=64'),
    ('eca-default-c128kauto-4x4', 'eca', 'default', {'k': 'auto'}, 128, 4, 4, 1e-3, 'ECA, adaptive k = 5 at C=128'),
    ('ca-default-c32r32-8x8', 'ca', 'default', {'reduction': '32'}, 32, 8, 8, 1e-3, 'CoordAtt, mip = max(8, 32//32) = 8'),
    ('ca-default-c64r32-6x4', 'ca', 'default', {'reduction': '32'}, 64, 6, 4, 1e-5, 'CoordAtt, non-square 6x4, eps 1e-5'),
]

# (file stem, module, options) exported alone at C=64, 20x20, opset 17, static.
TORCH_FORMS = [
    ('nam-channel', 'nam', {'spatial': 'channel'}),
    ('nam-pixel', 'nam', {'spatial': 'pixel'}),
    ('gam-paper', 'gam', {'variant': 'paper', 'rate': '4'}),
    ('gam-grouped', 'gam', {'variant': 'grouped', 'rate': '4'}),
    ('simam-default', 'simam', {'lambda': '1e-4'}),
    ('se-default', 'se', {'reduction': '16'}),
    ('cbam-official', 'cbam', {'variant': 'official', 'reduction': '16'}),
    ('cbam-ultralytics', 'cbam', {'variant': 'ultralytics', 'kernel': '7'}),
    ('eca-default', 'eca', {'k': 'auto'}),
    ('ca-default', 'ca', {'reduction': '32'}),
]

# The same modules at the YOLOv5-style fixture's head levels (P3, P4, P5 of fixtures/yolov5-op12.onnx), so the latency
# bench can splice the exporter's form and onnx-attn's minimal form into the same points of the same model. Options
# that fit 8 channels: reduction 4 for SE and CBAM, rate 2 for grouped GAM (C % r^2 = 0).
HEAD_LEVELS = [(8, 16, 16), (16, 8, 8), (32, 4, 4)]
HEAD_FORMS = [
    ('nam-channel', 'nam', {'spatial': 'channel'}),
    ('gam-paper', 'gam', {'variant': 'paper', 'rate': '4'}),
    ('gam-grouped', 'gam', {'variant': 'grouped', 'rate': '2'}),
    ('simam-default', 'simam', {'lambda': '1e-4'}),
    ('se-default', 'se', {'reduction': '4'}),
    ('cbam-official', 'cbam', {'variant': 'official', 'reduction': '4'}),
    ('cbam-ultralytics', 'cbam', {'variant': 'ultralytics', 'kernel': '7'}),
    ('eca-default', 'eca', {'k': 'auto'}),
    ('ca-default', 'ca', {'reduction': '32'}),
]

BATCH = 2
F32 = torch.float32


def seed_of(name: str) -> int:
    return zlib.crc32(name.encode('utf-8'))


def fan_in(p: torch.Tensor) -> int:
    return int(p[0].numel()) if p.dim() > 1 else 1


@torch.no_grad()
def randomize(model: nn.Module, g: torch.Generator, signed_gamma: bool) -> None:
    """Random weights and BN statistics, each rounded to float32 (the values the file stores)."""

    def uniform(shape, lo, hi):
        return torch.rand(shape, generator=g, dtype=torch.float64) * (hi - lo) + lo

    def normal(shape, std):
        return torch.randn(shape, generator=g, dtype=torch.float64) * std

    for name, m in model.named_modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            n = m.num_features
            gamma = uniform(n, 0.5, 1.5)
            if signed_gamma:
                gamma = gamma * torch.where(torch.rand(n, generator=g, dtype=torch.float64) < 0.5, -1.0, 1.0)
            m.weight.copy_(gamma)
            m.bias.copy_(normal(n, 0.3))
            m.running_mean.copy_(normal(n, 0.5))
            m.running_var.copy_(uniform(n, 0.5, 2.0))
            m.num_batches_tracked.fill_(1000 + seed_of(name) % 9000)
        elif isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Linear)):
            bound = 1.0 / (fan_in(m.weight) ** 0.5)
            m.weight.copy_(uniform(m.weight.shape, -1.5 * bound, 1.5 * bound))
            if m.bias is not None:
                m.bias.copy_(uniform(m.bias.shape, -bound, bound) + normal(m.bias.shape, 0.1))
    for p in list(model.parameters()) + list(model.buffers()):
        if p.is_floating_point():
            p.copy_(p.to(F32).to(p.dtype))


def safetensors_bytes(tensors: list[tuple[str, torch.Tensor]], metadata: dict[str, str]) -> bytes:
    """The safetensors format, written by hand: u64 LE header length, JSON header (space-padded to 8 bytes), data."""
    dtypes = {torch.float32: 'F32', torch.float64: 'F64', torch.float16: 'F16', torch.int64: 'I64', torch.int32: 'I32'}
    header: dict = {'__metadata__': metadata}
    chunks = []
    offset = 0
    for name, t in tensors:
        t = t.detach().contiguous().cpu()
        raw = t.numpy().astype(t.numpy().dtype.newbyteorder('<'), copy=False).tobytes()
        header[name] = {'dtype': dtypes[t.dtype], 'shape': list(t.shape), 'data_offsets': [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(',', ':'), ensure_ascii=True).encode('utf-8')
    text += b' ' * (-len(text) % 8)
    return struct.pack('<Q', len(text)) + text + b''.join(chunks)


def make_golden(case, out_dir: str) -> tuple[str, int, float]:
    stem, module, variant, options, c, h, w, bn_eps, note = case
    g = torch.Generator().manual_seed(seed_of(stem))
    model = ref.build(module, c, options, h, w)
    ref.set_bn_eps(model, bn_eps)
    randomize(model, g, signed_gamma=(module == 'nam'))
    model.eval()
    x = torch.randn((BATCH, c, h, w), generator=g, dtype=torch.float64).to(F32)
    with torch.no_grad():
        y = model.double()(x.double()).to(F32)
    tensors = [('input', x), ('output', y)]
    for key, v in model.state_dict().items():
        tensors.append((key, v.to(torch.int64).reshape(()) if key.endswith('num_batches_tracked') else v.to(F32)))
    metadata = {
        'module': CANONICAL[module],
        'variant': variant,
        'options': json.dumps(options, separators=(',', ':'), sort_keys=True),
        'bn_eps': repr(bn_eps),
        'note': note,
    }
    if module == 'nam' and options.get('spatial') == 'pixel':
        metadata['bn1d_eps'] = repr(model.Spatial_Att.bn.eps)
    data = safetensors_bytes(tensors, metadata)
    path = os.path.join(out_dir, f'{stem}.safetensors')
    with open(path, 'wb') as f:
        f.write(data)
    return path, len(data), float(y.abs().max())


def make_torch_form(stem: str, module: str, options: dict, out_dir: str, chw=(64, 20, 20), opset=17) -> tuple[str, int] | tuple[None, str]:
    c, h, w = chw
    g = torch.Generator().manual_seed(seed_of('torch-form/' + stem))
    model = ref.build(module, c, options, h, w)
    ref.set_bn_eps(model, 1e-3)
    randomize(model, g, signed_gamma=(module == 'nam'))
    model.eval()
    x = torch.randn((1, c, h, w), generator=g, dtype=torch.float64).to(F32)
    buf = io.BytesIO()
    try:
        torch.onnx.export(model, (x,), buf, opset_version=opset, input_names=['x'], output_names=['y'],
                          do_constant_folding=True)
    except Exception as e:  # noqa: BLE001 (report and go on)
        return None, f'{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ""}'
    path = os.path.join(out_dir, f'{stem}.onnx')
    data = buf.getvalue()
    with open(path, 'wb') as f:
        f.write(data)
    return path, len(data)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--out', default=os.path.join(ROOT, 'fixtures'), help='folder for goldens/ and torch-form/')
    ap.add_argument('--no-torch-form', action='store_true', help='write only the goldens')
    args = ap.parse_args()
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)

    gold_dir = os.path.join(args.out, 'goldens')
    os.makedirs(gold_dir, exist_ok=True)
    total = 0
    for case in CASES:
        path, size, ymax = make_golden(case, gold_dir)
        total += size
        digest = hashlib.sha256(open(path, 'rb').read()).hexdigest()[:16]
        print(f'{os.path.relpath(path, args.out):48s} {size:8d} B  max|y| {ymax:8.4f}  sha256 {digest}')
    print(f'goldens: {len(CASES)} files, {total} bytes')
    assert total < 1.5 * 1024 * 1024, 'goldens exceed 1.5 MB'

    if args.no_torch_form:
        return
    form_dir = os.path.join(args.out, 'torch-form')
    os.makedirs(form_dir, exist_ok=True)
    for stem, module, options in TORCH_FORMS:
        path, info = make_torch_form(stem, module, options, form_dir)
        if path is None:
            print(f'torch-form/{stem}.onnx SKIPPED: {info}')
        else:
            digest = hashlib.sha256(open(path, 'rb').read()).hexdigest()[:16]
            print(f'{os.path.relpath(path, args.out):48s} {info:8d} B  sha256 {digest}')
    head_dir = os.path.join(form_dir, 'head')
    os.makedirs(head_dir, exist_ok=True)
    for stem, module, options in HEAD_FORMS:
        for c, h, w in HEAD_LEVELS:
            name = f'{stem}-c{c}-{h}x{w}'
            path, info = make_torch_form(name, module, options, head_dir, (c, h, w), opset=12)  # the fixture's opset
            if path is None:
                print(f'torch-form/head/{name}.onnx SKIPPED: {info}')
            else:
                print(f'{os.path.relpath(path, args.out):48s} {info:8d} B')


if __name__ == '__main__':
    main()
