#!/usr/bin/python3
"""Runs ONNX models in OpenCV's DNN module (Debian's python3-opencv, 4.6), for test/opencv.test.ts.

    /usr/bin/python3 scripts/opencv_run.py < batches

It first writes {"opencv": version, "cleanups": {name: what it does}} as one line. Then each line read is a batch,
[{"id", "file", "input": {"file", "dims"}, "outputs": [names], "outDir"}] (the input raw little-endian float32), and
the answer is one line, [{"id", "rawError", "cleanups", "error", "outputs": [{"name", "file", "dims"}]}], `error`
null when the model loaded and ran. Every model runs in this one process (importing cv2 is the slow part), and the
caller can choose the next batch from the last answer. For each model:

1. it is loaded as it is (cv2.dnn.readNetFromONNX) and run on the input;
2. if that fails, the exporter's own forms that OpenCV 4.6 cannot import are rewritten into equivalent ones
   (the maths-preserving clean-ups users do before deploying with OpenCV, see CLEANUPS) and it is tried again.

Clean-ups touch only the exporter's nodes, never onnx-attn's (`/onnx_attn/...`): a module form that OpenCV refuses
must show as refused. OpenCV is a test runtime only: nothing in the CLI runs Python.
"""
import json
import os
import re
import sys
import tempfile

import cv2
import numpy as np
import onnx
from onnx import helper, numpy_helper, shape_inference

CLEANUPS = {
    'fold': "constant-folds Shape chains of a static-shaped graph (as onnx-simplifier does): OpenCV 4.6 refuses "
            "computed Split sizes and Shape-derived constants",
    'identity': "reads an initializer directly where the exporter wrote Identity(initializer) (OpenCV 4.6: "
                "'Identity' of a constant has no input blob)",
    'split': "writes Split with a sizes input (opset >= 13) as Slices: OpenCV 4.6 ignores the input and splits equally",
    'broadcast': "expands a constant operand of Add/Sub/Mul/Div to the full shape: OpenCV 4.6 asserts "
                 "blob_0.size == blob_1.size on broadcasting constants",
}

MODULE_SCOPE = '/onnx_attn/'


def attr(node, name, default=None):
    for a in node.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    return default


def evaluate(node, values):
    """numpy evaluation of the ops found in exporters' shape arithmetic; None for anything else."""
    op = node.op_type
    if op == 'Constant':
        return [numpy_helper.to_array(node.attribute[0].t)]
    if op == 'Gather':
        return [np.take(values[0], values[1], axis=attr(node, 'axis', 0))]
    if op in ('Add', 'Sub', 'Mul'):
        f = {'Add': np.add, 'Sub': np.subtract, 'Mul': np.multiply}[op]
        return [f(values[0], values[1]).astype(values[0].dtype)]
    if op == 'Div':
        a, b = values
        return [a // b if a.dtype.kind == 'i' else (a / b).astype(a.dtype)]
    if op == 'Concat':
        return [np.concatenate(values, axis=attr(node, 'axis'))]
    if op in ('Unsqueeze', 'Squeeze'):
        axes = attr(node, 'axes') if len(values) == 1 else values[1].tolist()
        r = values[0]
        if op == 'Squeeze':
            return [np.squeeze(r, axis=tuple(axes))]
        for a in sorted(axes):
            r = np.expand_dims(r, a)
        return [r]
    if op == 'Cast':
        return [values[0].astype(onnx.mapping.TENSOR_TYPE_TO_NP_TYPE[attr(node, 'to')])]
    if op == 'Slice':
        data, starts, ends = values[0], values[1], values[2]
        axes = values[3] if len(values) > 3 else np.arange(len(starts))
        steps = values[4] if len(values) > 4 else np.ones(len(starts), np.int64)
        index = [slice(None)] * data.ndim
        for s, e, a, k in zip(starts, ends, axes, steps):
            index[int(a)] = slice(int(s), int(e), int(k))
        return [data[tuple(index)]]
    if op == 'Reshape':
        shape = [d if d != 0 else values[0].shape[i] for i, d in enumerate(values[1].tolist())]
        return [values[0].reshape(shape)]
    if op == 'Range':
        return [np.arange(values[0], values[1], values[2]).astype(values[0].dtype)]
    if op == 'ConstantOfShape':
        t = attr(node, 'value')
        v = numpy_helper.to_array(t).reshape(-1)[0] if t is not None else np.float32(0)
        return [np.full(values[0].tolist(), v)]
    if op == 'Expand':
        return [values[0] * np.ones(values[1].tolist(), dtype=values[0].dtype)]
    if op == 'Transpose':
        return [np.transpose(values[0], attr(node, 'perm'))]
    if op == 'Equal':
        return [np.equal(values[0], values[1])]
    if op == 'Where':
        return [np.where(values[0], values[1], values[2])]
    return None


def static_shapes(model):
    inferred = shape_inference.infer_shapes(model)
    shapes = {}
    g = inferred.graph
    for v in list(g.value_info) + list(g.input) + list(g.output):
        dims = v.type.tensor_type.shape.dim
        if v.type.tensor_type.HasField('shape') and all(d.HasField('dim_value') for d in dims):
            shapes[v.name] = [d.dim_value for d in dims]
    return shapes


def fold(model):
    """Constant-folds the exporter's shape arithmetic (static shapes); True when a node was folded."""
    g = model.graph
    shapes = static_shapes(model)
    known = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    kept, folded = [], False
    for n in g.node:
        results = None
        if not n.name.startswith(MODULE_SCOPE):
            if n.op_type == 'Shape' and n.input[0] in shapes:
                results = [np.array(shapes[n.input[0]], np.int64)[attr(n, 'start', 0):attr(n, 'end', None)]]
            elif n.op_type != 'Shape' and all(i == '' or i in known for i in n.input):
                try:
                    results = evaluate(n, [known[i] for i in n.input if i])
                except Exception:  # noqa: BLE001 - an op the folder cannot evaluate stays a node
                    results = None
        if results is None:
            kept.append(n)
            continue
        for name, value in zip(n.output, results):
            known[name] = np.asarray(value)
            g.initializer.append(numpy_helper.from_array(np.asarray(value), name))
        folded = folded or n.op_type != 'Constant'
    del g.node[:]
    g.node.extend(kept)
    return folded


def clean(model):
    """The clean-ups of CLEANUPS, on the exporter's nodes only; returns the names of those that changed something."""
    g = model.graph
    done = {'fold'} if fold(model) else set()
    shapes = static_shapes(model)  # again: folding makes shapes known that were not
    known = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    kept, renamed = [], {}
    for n in g.node:
        ours = n.name.startswith(MODULE_SCOPE)
        if not ours and n.op_type == 'Identity' and n.input[0] in known:
            renamed[n.output[0]] = n.input[0]
            done.add('identity')
            continue
        if not ours and n.op_type == 'Split' and len(n.input) > 1 and n.input[1] in known:
            axis = attr(n, 'axis', 0)
            start = 0
            for k, (out, size) in enumerate(zip(n.output, known[n.input[1]].tolist())):
                names = []
                for j, v in enumerate((start, start + size, axis)):
                    t = numpy_helper.from_array(np.array([v], np.int64), f'{n.name}/slice{k}_{j}')
                    g.initializer.append(t)
                    names.append(t.name)
                kept.append(helper.make_node('Slice', [n.input[0]] + names, [out], name=f'{n.name}/slice{k}'))
                start += size
            done.add('split')
            continue
        if not ours and n.op_type in ('Add', 'Sub', 'Mul', 'Div') and len(n.input) == 2:
            for c, d in ((0, 1), (1, 0)):
                a = known.get(n.input[c])
                other = shapes.get(n.input[d])
                if a is not None and n.input[d] not in known and other and a.size > 1 and tuple(a.shape) != tuple(other):
                    full = np.broadcast_to(a, np.broadcast_shapes(a.shape, tuple(other))).copy()
                    t = numpy_helper.from_array(full, n.input[c] + '/expanded')
                    g.initializer.append(t)
                    n.input[c] = t.name
                    done.add('broadcast')
        kept.append(n)
    for n in kept:
        for i, name in enumerate(n.input):
            n.input[i] = renamed.get(name, name)
    del g.node[:]
    g.node.extend(kept)
    used = {i for n in g.node for i in n.input} | {o.name for o in g.output}
    live = [t for t in g.initializer if t.name in used]
    del g.initializer[:]
    g.initializer.extend(live)
    return sorted(done, key=list(CLEANUPS).index)


def reason(e):
    """OpenCV's error as one line: the node it stopped at and the assertion or message."""
    text = str(e)
    node = re.findall(r'Node \[([^\]]+)\]:\(([^)]*)\)', text)
    errors = re.findall(r'error: \(-?\d+:[^)]*\) ([^\n]*)', text)
    where = f'{node[-1][0].split("@")[0]} {node[-1][1].replace("onnx_node!", "")}: ' if node else ''
    return (where + (errors[-1] if errors else text.strip().splitlines()[-1])).strip()[:300]


def run(path, x, outputs):
    net = cv2.dnn.readNetFromONNX(path)
    net.setInput(x)
    return net.forward(outputs)


def run_model(m, work):
    x = np.fromfile(m['input']['file'], dtype='<f4').reshape(m['input']['dims'])
    r = {'id': m['id'], 'rawError': None, 'cleanups': [], 'error': None, 'outputs': []}
    ys = None
    try:
        ys = run(m['file'], x, m['outputs'])
    except cv2.error as e:
        r['rawError'] = reason(e)
    if ys is None:
        model = onnx.load(m['file'])
        r['cleanups'] = clean(model)
        cleaned = os.path.join(work, 'cleaned.onnx')
        onnx.save(model, cleaned)
        try:
            ys = run(cleaned, x, m['outputs'])
        except cv2.error as e:
            r['error'] = reason(e)
    for name, y in zip(m['outputs'], ys or []):
        out = os.path.join(m['outDir'], f"{len(os.listdir(m['outDir']))}.bin")
        np.ascontiguousarray(y, dtype='<f4').tofile(out)
        r['outputs'].append({'name': name, 'file': out, 'dims': list(y.shape)})
    return r


def main():
    """One JSON line in (a batch of models), one JSON line out (their results), until stdin ends."""
    # Removed when stdin ends: the caller has read every output file by then.
    with tempfile.TemporaryDirectory(prefix='onnx-attn-opencv-') as work:
        print(json.dumps({'opencv': cv2.__version__, 'cleanups': CLEANUPS}), flush=True)
        for line in sys.stdin:
            if line.strip():
                print(json.dumps([run_model(m, work) for m in json.loads(line)]), flush=True)


if __name__ == '__main__':
    main()
