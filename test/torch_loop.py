"""The PyTorch side of test/torch-loop.test.ts (Debian's /usr/bin/python3 with torch 1.13).

    torch_loop.py prepare OUT CODEDIR   # OUT/expected.json: every fixture checkpoint's state_dict as torch.load sees it;
                                        # OUT/loop-*.pt: each printed module (CODEDIR/*.py), randomised, trained-model style
    torch_loop.py check CASES.json      # each case's module, built from the printed code and loaded from its checkpoint
                                        # (strict), run in float64 on the ONNX module input x; prints max |y_onnx - y_torch|
"""

import glob
import json
import os
import sys
from collections import OrderedDict

import torch
import torch.nn as nn

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, 'scripts'))
import make_checkpoints  # noqa: E402,F401  (registers models.common, ultralytics.nn.* so whole models unpickle)

# Where each fixture keeps its state_dict, as the trainers' own loaders take it.
GETTERS = {
    'yolov5-nam.pt': lambda c: (c.get('ema') or c['model']).state_dict(),
    'yolov5-head-nam-fp32.pt': lambda c: (c.get('ema') or c['model']).state_dict(),
    'ultralytics-cbam.pt': lambda c: (c.get('ema') or c['model']).state_dict(),
    'rtdetr-nam.pth': lambda c: c['model'],
    'rtdetr-ema-eca.pth': lambda c: c['ema']['module'],
    'nam-bare.pth': lambda c: c,
    'gam-views.pt': lambda c: c,
    'nam-legacy.pt': lambda c: c['model'],
    'yolov5-nam-p5.pt': lambda c: (c.get('ema') or c['model']).state_dict(),
    'ultralytics-cbam-legacy.pt': lambda c: (c.get('ema') or c['model']).state_dict(),
}


def state_dict(path):
    name = os.path.basename(path)
    ckpt = torch.load(path, map_location='cpu')
    if name.startswith('loop-'):
        return ckpt['model'].state_dict()
    return GETTERS[name](ckpt)


def load_code(path):
    """Runs printed code; its classes are put in __main__, where pickle looks for a model saved whole from here."""
    namespace = {'__name__': '__main__'}
    exec(compile(open(path).read(), path, 'exec'), namespace)
    for name, value in namespace.items():
        if isinstance(value, type) and issubclass(value, nn.Module):
            setattr(sys.modules['__main__'], name, value)
    return namespace


def randomize(module, gen):
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
                n = m.num_features
                sign = torch.where(torch.rand(n, generator=gen) < 0.5, -1.0, 1.0)
                m.weight.copy_(sign * (0.5 + torch.rand(n, generator=gen)))
                m.bias.copy_(0.3 * torch.randn(n, generator=gen))
                m.running_mean.copy_(0.5 * torch.randn(n, generator=gen))
                m.running_var.copy_(0.5 + 1.5 * torch.rand(n, generator=gen))
            elif isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Linear)):
                m.weight.copy_(0.5 * torch.randn(m.weight.shape, generator=gen))
                if m.bias is not None:
                    m.bias.copy_(0.3 * torch.randn(m.bias.shape, generator=gen))


def prepare(out, codedir):
    expected = {}
    for path in sorted(glob.glob(os.path.join(ROOT, 'fixtures', 'checkpoints', '*'))):
        sd = state_dict(path)
        expected[os.path.basename(path)] = [
            [k, list(v.shape), str(v.dtype), v.flatten().tolist()] for k, v in sd.items()]
    json.dump(expected, open(os.path.join(out, 'expected.json'), 'w'))
    # The full loop: each printed module as a trainer would hold it (layer 24 of a model), saved whole, like yolov5.
    for i, code in enumerate(sorted(glob.glob(os.path.join(codedir, '*.py')))):
        spec = json.load(open(code[:-3] + '.json'))
        ns = load_code(code)
        module = ns[spec['className']](*spec['args'])
        randomize(module, torch.Generator().manual_seed(100 + i))
        root = nn.Module()
        root.model = nn.Sequential(*[nn.Identity() for _ in range(24)], module)
        torch.save({'epoch': -1, 'model': root, 'ema': None}, os.path.join(out, f"loop-{os.path.basename(code)[:-3]}.pt"))


def check(cases_path):
    cases = json.load(open(cases_path))
    results = []
    for case in cases:
        ns = load_code(case['code'])
        module = ns[case['className']](*case['args'])
        sd = state_dict(case['checkpoint'])
        prefix = case['prefix']
        sub = OrderedDict((k[len(prefix):], v) for k, v in sd.items() if k.startswith(prefix))
        module.load_state_dict(sub, strict=True)
        for m in module.modules():
            if type(m) is nn.BatchNorm2d:
                m.eps = case['bnEps']
        module = module.double().eval()
        x = torch.tensor(case['x']['data'], dtype=torch.float64).reshape(case['x']['shape'])
        with torch.no_grad():
            y = module(x)
        y_onnx = torch.tensor(case['y']['data'], dtype=torch.float64).reshape(case['y']['shape'])
        results.append({'name': case['name'], 'maxAbs': (y - y_onnx).abs().max().item(), 'scale': y.abs().max().item(),
                        'shape': list(y.shape)})
    print(json.dumps(results))


if __name__ == '__main__':
    if sys.argv[1] == 'prepare':
        prepare(sys.argv[2], sys.argv[3])
    else:
        check(sys.argv[2])
