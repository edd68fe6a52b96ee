import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { test } from 'node:test';
import { create } from '@bufbuild/protobuf';
import { fixture } from '../../test/helpers.js';
import { loadModelSync } from '../onnx/load.js';
import {
  AttributeProtoSchema,
  AttributeProto_AttributeType as AT,
  GraphProtoSchema,
  ModelProtoSchema,
  NodeProtoSchema,
  OperatorSetIdProtoSchema,
  ValueInfoProtoSchema,
} from '../onnx/proto.js';
import type { AttributeProto, TensorProto } from '../onnx/proto.js';
import { float32Tensor, int64Tensor, tensorInfo } from '../onnx/tensor.js';
import { Graph, type Dim } from './graph.js';
import { inferShapes, type InferOptions } from './shapes.js';

// ------------------------------------------------------------------------------------------- fixtures

interface Tensor {
  tensor: string;
  shape: number[];
}
interface ManifestFile {
  file: string;
  dynamic: boolean;
  inputs: { name: string; declaredShape: (number | string)[]; runtimeShape: number[] }[];
  outputs: { name: string; runtimeShape: number[] }[];
  layers?: Tensor[];
  boundaries?: Tensor[];
  headInputs: Tensor[];
}

const manifest = JSON.parse(fs.readFileSync(fixture('MANIFEST.json'), 'utf8')) as { files: ManifestFile[] };

/** Every tensor the manifest measured: layer outputs, scope boundaries (official RT-DETR), head inputs. */
const measured = (f: ManifestFile): Tensor[] => [...(f.layers ?? []), ...(f.boundaries ?? []), ...f.headInputs];
const fullyKnown = (s: Dim[] | null | undefined): s is number[] => !!s && s.every((d) => typeof d === 'number');

for (const f of manifest.files) {
  test(`${f.file}: with the runtime input shapes, every measured tensor and output is known and right`, () => {
    const graph = Graph.fromModel(loadModelSync(fixture(f.file)));
    const inputShapes = Object.fromEntries(f.inputs.map((i) => [i.name, i.runtimeShape]));
    const types = inferShapes(graph, { inputShapes });
    assert.ok(measured(f).length > 0);
    const unknown: string[] = [];
    for (const t of measured(f)) {
      const shape = types.get(graph.value(t.tensor)!)?.shape;
      if (!fullyKnown(shape)) unknown.push(`${t.tensor} ${JSON.stringify(shape)}`);
      else assert.deepEqual(shape, [1, ...t.shape], t.tensor);
    }
    // Static inference reaches every boundary, RT-DETR-l's computed Pad included: nothing is left to the probe.
    assert.deepEqual(unknown, [], 'tensors static inference could not reach');
    for (const o of f.outputs) assert.deepEqual(types.get(graph.value(o.name)!)?.shape, o.runtimeShape, `output ${o.name}`);
  });

  test(`${f.file}: with the declared inputs, sizes are right and symbols are kept, never guessed`, () => {
    const graph = Graph.fromModel(loadModelSync(fixture(f.file)));
    const types = inferShapes(graph);
    const declared = f.inputs[0]!.declaredShape;
    for (const t of measured(f)) {
      const shape = types.get(graph.value(t.tensor)!)?.shape;
      if (f.dynamic) {
        // height/width are symbolic: spatial sizes after strided convolutions cannot be known statically.
        assert.equal(shape?.length, t.shape.length + 1, t.tensor);
        assert.equal(shape?.[0], declared[0], t.tensor);
        if (t.shape.length === 3) assert.deepEqual(shape, [declared[0], t.shape[0], null, null], t.tensor);
      } else {
        // Official RT-DETR declares batch 'N'; the symbol is carried through to every tensor.
        assert.deepEqual(shape, [declared[0], ...t.shape], t.tensor);
      }
    }
    if (!f.dynamic) {
      for (const o of f.outputs) {
        assert.deepEqual(types.get(graph.value(o.name)!)?.shape, [declared[0], ...o.runtimeShape.slice(1)], `output ${o.name}`);
      }
    }
  });
}

test('external-data initializers are read for constant propagation like inline ones', () => {
  const a = Graph.fromModel(loadModelSync(fixture('yolov5-external/yolov5-op12.onnx')));
  const b = Graph.fromModel(loadModelSync(fixture('yolov5-op12.onnx')));
  const ta = inferShapes(a);
  const tb = inferShapes(b);
  for (const [v, t] of tb) assert.deepEqual(ta.get(a.value(v.name)!), t, v.name);
});

// ------------------------------------------------------------------------------------------- tiny graphs

type DimSpec = number | string | null;
interface NodeSpec {
  op: string;
  inputs: string[];
  outputs: string[];
  attrs?: AttributeProto[];
}

const int = (name: string, i: number) => create(AttributeProtoSchema, { name, type: AT.INT, i: BigInt(i) });
const ints = (name: string, xs: number[]) => create(AttributeProtoSchema, { name, type: AT.INTS, ints: xs.map(BigInt) });
const str = (name: string, s: string) => create(AttributeProtoSchema, { name, type: AT.STRING, s: new TextEncoder().encode(s) });
const flt = (name: string, f: number) => create(AttributeProtoSchema, { name, type: AT.FLOAT, f });
const tns = (name: string, t: TensorProto) => create(AttributeProtoSchema, { name, type: AT.TENSOR, t });

const valueInfo = (name: string, elemType: number, dims: DimSpec[] | null) => tensorInfo(name, dims, elemType);

/** A one-graph model: float inputs by default, initializers, nodes in order; the last node's outputs are the graph's. */
function tiny(
  opset: number,
  spec: {
    inputs: Record<string, DimSpec[] | [number, DimSpec[]]>;
    inits?: TensorProto[];
    nodes: NodeSpec[];
    valueInfo?: Record<string, DimSpec[] | null>;
  },
): Graph {
  const input = Object.entries(spec.inputs).map(([name, s]) =>
    s.length === 2 && Array.isArray(s[1]) ? valueInfo(name, s[0] as number, s[1]) : valueInfo(name, 1, s as DimSpec[]),
  );
  const last = spec.nodes[spec.nodes.length - 1]!;
  const proto = create(ModelProtoSchema, {
    irVersion: 8n,
    opsetImport: [create(OperatorSetIdProtoSchema, { domain: '', version: BigInt(opset) })],
    graph: create(GraphProtoSchema, {
      name: 'tiny',
      input,
      initializer: spec.inits ?? [],
      node: spec.nodes.map((n, i) => create(NodeProtoSchema, { opType: n.op, name: `n${i}`, input: n.inputs, output: n.outputs, attribute: n.attrs ?? [] })),
      output: last.outputs.filter(Boolean).map((name) => create(ValueInfoProtoSchema, { name })),
      valueInfo: Object.entries(spec.valueInfo ?? {}).map(([name, dims]) => valueInfo(name, 1, dims)),
    }),
  });
  return Graph.fromModel({ proto, path: null, externalData: new Map(), hadExternalData: false });
}

/** Shapes of the named values after inference. */
function shapes(g: Graph, names: string[], options?: InferOptions): (Dim[] | null | undefined)[] {
  const types = inferShapes(g, options);
  return names.map((n) => types.get(g.value(n)!)?.shape);
}
const shapeOf = (g: Graph, name: string, options?: InferOptions) => shapes(g, [name], options)[0];
const zeros = (name: string, dims: number[]) => float32Tensor(name, dims, new Float32Array(dims.reduce((a, b) => a * b, 1)));

test('Conv and pools: pads, strides, dilations, auto_pad, ceil_mode', () => {
  const W = zeros('W', [8, 3, 3, 3]);
  const conv = (attrs: AttributeProto[], hw: DimSpec[]) =>
    shapeOf(tiny(13, { inputs: { x: [1, 3, ...hw] }, inits: [W], nodes: [{ op: 'Conv', inputs: ['x', 'W'], outputs: ['y'], attrs }] }), 'y');
  assert.deepEqual(conv([ints('pads', [1, 1, 1, 1]), ints('strides', [2, 2])], [32, 32]), [1, 8, 16, 16]);
  assert.deepEqual(conv([ints('pads', [0, 1, 0, 1]), ints('strides', [1, 2])], [10, 11]), [1, 8, 8, 6]);
  assert.deepEqual(conv([ints('dilations', [2, 2])], [10, 10]), [1, 8, 6, 6]);
  assert.deepEqual(conv([str('auto_pad', 'SAME_UPPER'), ints('strides', [2, 2])], [33, 32]), [1, 8, 17, 16]);
  assert.deepEqual(conv([str('auto_pad', 'SAME_LOWER')], ['h', 7]), [1, 8, 'h', 7]);
  assert.deepEqual(conv([str('auto_pad', 'VALID'), ints('strides', [2, 2])], [10, 9]), [1, 8, 4, 4]);
  // A symbolic size through a strided convolution is unknown, not guessed.
  assert.deepEqual(conv([ints('pads', [1, 1, 1, 1]), ints('strides', [2, 2])], ['h', 'w']), [1, 8, null, null]);

  const pool = (op: string, attrs: AttributeProto[], hw: number[]) =>
    shapeOf(tiny(13, { inputs: { x: [1, 4, ...hw] }, nodes: [{ op, inputs: ['x'], outputs: ['y'], attrs }] }), 'y');
  const k2s2 = [ints('kernel_shape', [2, 2]), ints('strides', [2, 2])];
  assert.deepEqual(pool('MaxPool', k2s2, [5, 5]), [1, 4, 2, 2]);
  assert.deepEqual(pool('MaxPool', [...k2s2, int('ceil_mode', 1)], [5, 5]), [1, 4, 3, 3]);
  // ceil_mode never starts a window in the right padding (onnxruntime and PyTorch agree).
  assert.deepEqual(pool('MaxPool', [...k2s2, int('ceil_mode', 1), ints('pads', [0, 0, 1, 1])], [4, 4]), [1, 4, 2, 2]);
  assert.deepEqual(pool('AveragePool', [ints('kernel_shape', [3, 3]), ints('pads', [1, 1, 1, 1])], [7, 6]), [1, 4, 7, 6]);
  assert.deepEqual(pool('MaxPool', [ints('kernel_shape', [5, 5]), ints('pads', [2, 2, 2, 2])], [16, 16]), [1, 4, 16, 16]);
  assert.deepEqual(pool('GlobalAveragePool', [], [7, 6]), [1, 4, 1, 1]);

  const WT = zeros('WT', [4, 2, 4, 4]);
  const deconv = tiny(13, {
    inputs: { x: [1, 4, 8, 8] },
    inits: [WT],
    nodes: [{ op: 'ConvTranspose', inputs: ['x', 'WT'], outputs: ['y'], attrs: [ints('strides', [2, 2]), ints('pads', [1, 1, 1, 1]), int('group', 2)] }],
  });
  assert.deepEqual(shapeOf(deconv, 'y'), [1, 4, 16, 16]);
});

test('Reshape with 0 and -1 through a Shape → Gather → Unsqueeze → Concat chain keeps the symbolic batch', () => {
  const g = tiny(13, {
    inputs: { x: ['batch', 12, 4, 4] },
    inits: [int64Tensor('i0', [], [0]), int64Tensor('ax', [1], [0]), int64Tensor('rest', [3], [3, -1, 0])],
    nodes: [
      { op: 'Shape', inputs: ['x'], outputs: ['s'] },
      { op: 'Gather', inputs: ['s', 'i0'], outputs: ['b'], attrs: [int('axis', 0)] },
      { op: 'Unsqueeze', inputs: ['b', 'ax'], outputs: ['b1'] },
      { op: 'Concat', inputs: ['b1', 'rest'], outputs: ['target'], attrs: [int('axis', 0)] },
      { op: 'Reshape', inputs: ['x', 'target'], outputs: ['y'] },
    ],
  });
  assert.deepEqual(shapes(g, ['s', 'b', 'b1', 'target', 'y']), [[4], [], [1], [4], ['batch', 3, 16, 4]]);
  assert.deepEqual(shapeOf(g, 'y', { inputShapes: { x: [2, 12, 4, 4] } }), [2, 3, 16, 4]);
  // Opset 12: Unsqueeze takes axes as an attribute.
  const old = tiny(12, {
    inputs: { x: [2, 6, 'n'] },
    inits: [int64Tensor('i2', [], [2]), int64Tensor('head', [2], [-1, 3])],
    nodes: [
      { op: 'Shape', inputs: ['x'], outputs: ['s'] },
      { op: 'Gather', inputs: ['s', 'i2'], outputs: ['n'] },
      { op: 'Unsqueeze', inputs: ['n'], outputs: ['n1'], attrs: [ints('axes', [0])] },
      { op: 'Concat', inputs: ['head', 'n1'], outputs: ['target'], attrs: [int('axis', 0)] },
      { op: 'Reshape', inputs: ['x', 'target'], outputs: ['y'] },
    ],
  });
  assert.deepEqual(shapeOf(old, 'y'), [4, 3, 'n']);
});

test('Expand through the exporter Where(Equal(shape, -1)) pattern, with ConstantOfShape, Mul and Range', () => {
  const g = tiny(12, {
    inputs: { x: [1, 3, 1, 1] },
    inits: [int64Tensor('target', [4], [2, -1, 5, 5]), int64Tensor('minus1', [], [-1]), int64Tensor('lim', [], [7])],
    nodes: [
      { op: 'Shape', inputs: ['target'], outputs: ['len'] },
      { op: 'ConstantOfShape', inputs: ['len'], outputs: ['ones'], attrs: [tns('value', int64Tensor('v', [1], [1]))] },
      { op: 'Mul', inputs: ['ones', 'minus1'], outputs: ['neg'] },
      { op: 'Equal', inputs: ['target', 'neg'], outputs: ['eq'] },
      { op: 'Where', inputs: ['eq', 'ones', 'target'], outputs: ['shape'] },
      { op: 'Range', inputs: ['minus1', 'lim', 'minus1'], outputs: ['empty'] },
      { op: 'Expand', inputs: ['x', 'shape'], outputs: ['y'] },
    ],
  });
  assert.deepEqual(shapes(g, ['ones', 'eq', 'shape', 'empty', 'y']), [[4], [4], [4], [0], [2, 3, 5, 5]]);
});

test('Resize with scales and with sizes (opset 10, 13 and a computed sizes tensor)', () => {
  const scales = float32Tensor('scales', [4], [1, 1, 2, 0.5]);
  const byScales = tiny(13, { inputs: { x: [1, 8, 10, 11] }, inits: [scales], nodes: [{ op: 'Resize', inputs: ['x', '', 'scales'], outputs: ['y'] }] });
  assert.deepEqual(shapeOf(byScales, 'y'), [1, 8, 20, 5]);
  const v10 = tiny(10, { inputs: { x: ['n', 8, 10, 11] }, inits: [scales], nodes: [{ op: 'Resize', inputs: ['x', 'scales'], outputs: ['y'] }] });
  assert.deepEqual(shapeOf(v10, 'y'), ['n', 8, 20, 5]);
  const bySizes = tiny(13, {
    inputs: { x: [1, 8, 10, 10] },
    inits: [int64Tensor('sizes', [4], [1, 8, 7, 9]), float32Tensor('noscales', [0], [])],
    nodes: [{ op: 'Resize', inputs: ['x', '', 'noscales', 'sizes'], outputs: ['y'] }],
  });
  assert.deepEqual(shapeOf(bySizes, 'y'), [1, 8, 7, 9]);
  // Sizes = x's batch and channels plus a constant (what torch exports for interpolate(size=...)).
  const computed = tiny(13, {
    inputs: { x: ['b', 8, 10, 10] },
    inits: [int64Tensor('s0', [1], [0]), int64Tensor('s2', [1], [2]), int64Tensor('hw', [2], [32, 24])],
    nodes: [
      { op: 'Shape', inputs: ['x'], outputs: ['s'] },
      { op: 'Slice', inputs: ['s', 's0', 's2'], outputs: ['bc'] },
      { op: 'Concat', inputs: ['bc', 'hw'], outputs: ['sizes'], attrs: [int('axis', 0)] },
      { op: 'Resize', inputs: ['x', '', '', 'sizes'], outputs: ['y'], attrs: [str('mode', 'nearest')] },
    ],
  });
  assert.deepEqual(shapeOf(computed, 'y'), ['b', 8, 32, 24]);
});

test('ReduceSum takes axes from an attribute up to opset 12 and from an input from 13', () => {
  const reduce = (opset: number, op: string, attrs: AttributeProto[], inputs: string[] = ['x']) =>
    shapeOf(tiny(opset, { inputs: { x: [2, 3, 4] }, inits: [int64Tensor('axes', [1], [1])], nodes: [{ op, inputs, outputs: ['y'], attrs }] }), 'y');
  assert.deepEqual(reduce(12, 'ReduceSum', [ints('axes', [1]), int('keepdims', 0)]), [2, 4]);
  assert.deepEqual(reduce(13, 'ReduceSum', [int('keepdims', 0)], ['x', 'axes']), [2, 4]);
  // From 13 an axes attribute is not part of the op: all axes are reduced.
  assert.deepEqual(reduce(13, 'ReduceSum', [ints('axes', [1])]), [1, 1, 1]);
  assert.deepEqual(reduce(13, 'ReduceSum', [int('noop_with_empty_axes', 1)]), [2, 3, 4]);
  assert.deepEqual(reduce(12, 'ReduceSum', []), [1, 1, 1]);
  // Other reductions moved axes to an input at 18.
  assert.deepEqual(reduce(17, 'ReduceMean', [ints('axes', [-1])]), [2, 3, 1]);
  assert.deepEqual(reduce(18, 'ReduceMean', [], ['x', 'axes']), [2, 1, 4]);
  assert.deepEqual(reduce(17, 'ReduceMax', [ints('axes', [0]), int('keepdims', 0)]), [3, 4]);
});

test('Split: split attribute (12), split input (13), num_outputs with a smaller last chunk (18), equal split', () => {
  const split = (opset: number, attrs: AttributeProto[], inputs: string[], n: number, dim = 8) => {
    const outputs = Array.from({ length: n }, (_, i) => `y${i}`);
    const g = tiny(opset, {
      inputs: { x: [1, dim, 4] },
      inits: [int64Tensor('sizes', [2], [2, 6])],
      nodes: [{ op: 'Split', inputs, outputs, attrs: [int('axis', 1), ...attrs] }],
    });
    return shapes(g, outputs);
  };
  assert.deepEqual(split(12, [ints('split', [2, 6])], ['x'], 2), [
    [1, 2, 4],
    [1, 6, 4],
  ]);
  assert.deepEqual(split(13, [], ['x', 'sizes'], 2), [
    [1, 2, 4],
    [1, 6, 4],
  ]);
  assert.deepEqual(split(13, [], ['x'], 2), [
    [1, 4, 4],
    [1, 4, 4],
  ]);
  assert.deepEqual(split(18, [int('num_outputs', 3)], ['x'], 3, 10), [
    [1, 4, 4],
    [1, 4, 4],
    [1, 2, 4],
  ]);
  // Before 18, an uneven equal split is invalid: unknown, not guessed.
  assert.deepEqual(split(13, [], ['x'], 3, 10), [
    [1, null, 4],
    [1, null, 4],
    [1, null, 4],
  ]);
});

test('broadcasting: numpy rules with 1s, symbols and unknown dims', () => {
  const add = (a: DimSpec[], b: DimSpec[], op = 'Add') => shapeOf(tiny(13, { inputs: { a, b }, nodes: [{ op, inputs: ['a', 'b'], outputs: ['y'] }] }), 'y');
  assert.deepEqual(add(['batch', 3, 1, 5], [4, 1]), ['batch', 3, 4, 5]);
  assert.deepEqual(add(['batch', 1], ['batch', 7], 'Mul'), ['batch', 7]);
  assert.deepEqual(add(['n', 3], [1, 3]), ['n', 3]);
  assert.deepEqual(add([null, 3], [5, 1]), [5, 3]);
  assert.deepEqual(add(['a', 2], ['b', 2]), [null, 2]);
  assert.deepEqual(add([null, 2], [1, 2]), [null, 2]);
  assert.deepEqual(add([2, 3], [3], 'Less'), [2, 3]);
  const where = tiny(13, {
    inputs: { c: [9, ['batch', 1, 4]], x: [1, 3, 1], y: [] },
    nodes: [{ op: 'Where', inputs: ['c', 'x', 'y'], outputs: ['z'] }],
  });
  const t = inferShapes(where).get(where.value('z')!);
  assert.deepEqual(t, { elemType: 1, shape: ['batch', 3, 4] });
  const mm = tiny(13, { inputs: { a: ['b', 1, 5, 6], b: [4, 6, 7] }, nodes: [{ op: 'MatMul', inputs: ['a', 'b'], outputs: ['y'] }] });
  assert.deepEqual(shapeOf(mm, 'y'), ['b', 4, 5, 7]);
});

test('declared value_info fills gaps, inferred sizes refine it, inputShapes override declared inputs', () => {
  const g = tiny(13, {
    inputs: { x: ['batch', 4, 'h', 'w'], p: [7, [8]] },
    nodes: [
      { op: 'MysteryOp', inputs: ['x'], outputs: ['m'] },
      { op: 'Relu', inputs: ['x'], outputs: ['r'] },
      // Pads computed from data: statically unknown, the caller probes.
      { op: 'Pad', inputs: ['r', 'p'], outputs: ['y'] },
    ],
    valueInfo: { m: [2, null, 3], r: [null, null, 16, null] },
  });
  assert.deepEqual(shapes(g, ['m', 'r', 'y']), [
    [2, null, 3],
    ['batch', 4, 16, 'w'],
    [null, null, null, null],
  ]);
  assert.deepEqual(shapes(g, ['x', 'r'], { inputShapes: { x: [1, 4, 16, 20] } }), [
    [1, 4, 16, 20],
    [1, 4, 16, 20],
  ]);
  const types = inferShapes(g);
  assert.equal(types.get(g.value('p')!)?.elemType, 7);
});

test('constant folding of shape arithmetic: Cast, Div, Sub, Squeeze, ReduceProd, Slice with negative steps', () => {
  const g = tiny(13, {
    inputs: { x: [2, 6, 8, 10] },
    inits: [int64Tensor('two', [], [2]), int64Tensor('st', [1], [-1]), int64Tensor('en', [1], [-100]), int64Tensor('ax0', [1], [0])],
    nodes: [
      { op: 'Shape', inputs: ['x'], outputs: ['s'] },
      { op: 'Cast', inputs: ['s'], outputs: ['sf'], attrs: [int('to', 1)] },
      { op: 'Cast', inputs: ['sf'], outputs: ['si'], attrs: [int('to', 7)] },
      { op: 'Div', inputs: ['si', 'two'], outputs: ['half'] },
      { op: 'Slice', inputs: ['half', 'st', 'en', 'ax0', 'st'], outputs: ['rev'] },
      { op: 'ReduceProd', inputs: ['rev'], outputs: ['prod'], attrs: [int('keepdims', 1)] },
      { op: 'Sub', inputs: ['prod', 'two'], outputs: ['n'] },
      { op: 'ConstantOfShape', inputs: ['rev'], outputs: ['z'] },
      { op: 'ConstantOfShape', inputs: ['n'], outputs: ['z2'] },
      { op: 'Concat', inputs: ['st', 'prod'], outputs: ['target'], attrs: [int('axis', 0)] },
      { op: 'Reshape', inputs: ['x', 'target'], outputs: ['flat'] },
    ],
  });
  // half = [1, 3, 4, 5], reversed [5, 4, 3, 1], product [60], minus 2 [58]; target [-1, 60] over 960 elements.
  assert.deepEqual(shapes(g, ['rev', 'prod', 'z', 'z2', 'flat']), [[4], [1], [5, 4, 3, 1], [58], [16, 60]]);
});

test('garbage graphs (unknown ops, wrong attribute types, huge and negative dims) never throw', () => {
  const bad = create(AttributeProtoSchema, { name: 'strides', type: AT.FLOAT, f: 2 });
  const g = tiny(13, {
    inputs: { x: [2 ** 40, 3, 2 ** 40, -1], i: [7, [3]] },
    inits: [
      zeros('W', [4, 3, 3, 3]),
      int64Tensor('huge', [3], [1e9, 1e9, 1e9]),
      int64Tensor('neg', [2], [-7, -9]),
      int64Tensor('big', [], [1e12]),
      int64Tensor('zero', [], [0]),
      int64Tensor('far', [2], [5, 99]),
      int64Tensor('r40', [40], new Array<number>(40).fill(1)),
    ],
    nodes: [
      { op: 'NoSuchOp', inputs: ['x'], outputs: ['a'] },
      { op: 'Conv', inputs: ['x', 'W'], outputs: ['b'], attrs: [bad, str('pads', 'oops'), ints('kernel_shape', [-3, 0])] },
      { op: 'Transpose', inputs: ['x'], outputs: ['c'], attrs: [ints('perm', [0, 0, 9])] },
      { op: 'ConstantOfShape', inputs: ['huge'], outputs: ['d'], attrs: [tns('value', float32Tensor('v', [1], [1]))] },
      { op: 'Range', inputs: ['zero', 'big', 'zero'], outputs: ['e'] },
      { op: 'Range', inputs: ['zero', 'big', 'i'], outputs: ['e2'] },
      { op: 'Reshape', inputs: ['x', 'neg'], outputs: ['f'] },
      { op: 'Expand', inputs: ['x', 'r40'], outputs: ['g'] },
      { op: 'Slice', inputs: ['x', 'zero', 'far', 'zero', 'zero'], outputs: ['h'] },
      { op: 'Gather', inputs: ['far', 'far'], outputs: ['k'] },
      { op: 'Split', inputs: ['x'], outputs: ['s1', '', 's3'], attrs: [flt('axis', 1)] },
      { op: 'Concat', inputs: ['x', 'huge'], outputs: ['l'], attrs: [int('axis', 7)] },
      { op: 'Unsqueeze', inputs: ['x', 'r40'], outputs: ['u'] },
      { op: 'Squeeze', inputs: ['x', 'neg'], outputs: ['q'] },
      { op: 'MaxPool', inputs: ['x'], outputs: ['p'], attrs: [ints('kernel_shape', [2, 2]), ints('strides', [0, 0])] },
      { op: 'Pad', inputs: ['x', 'huge'], outputs: ['pad'] },
      { op: 'Resize', inputs: ['x', '', 'huge'], outputs: ['rs'] },
      { op: 'TopK', inputs: ['x', 'big'], outputs: ['tv', 'ti'] },
      { op: 'Constant', inputs: [], outputs: ['cst'], attrs: [str('value', 'not a tensor')] },
      { op: 'constructor', inputs: ['x'], outputs: ['proto'] },
      { op: 'Add', inputs: ['d', 'e'], outputs: ['sum'] },
    ],
  });
  const started = Date.now();
  let types = inferShapes(g);
  types = inferShapes(g, { inputShapes: { x: [-5, Number.NaN, 1e300, 3], nope: [1] } });
  assert.ok(Date.now() - started < 2000, 'bounded time: nothing huge is materialised');
  for (const [v, t] of types) {
    if (!t.shape) continue;
    assert.ok(t.shape.length <= 32, `${v.name}: rank ${t.shape.length}`);
    for (const d of t.shape) assert.ok(d === null || typeof d === 'string' || (Number.isSafeInteger(d) && d >= 0), `${v.name}: dim ${d}`);
  }
  assert.deepEqual(types.get(g.value('d')!)?.shape, [1e9, 1e9, 1e9]);
  assert.deepEqual(types.get(g.value('e')!)?.shape, [null]);
  // A graph with a cycle (rejected by Graph.topologicalOrder) still types its acyclic part.
  const cyc = tiny(13, { inputs: { x: [2] }, nodes: [{ op: 'Relu', inputs: ['x'], outputs: ['y'] }] });
  cyc.nodes[0]!.inputs[0] = cyc.nodes[0]!.outputs[0]!;
  cyc.nodes[0]!.outputs[0]!.uses.push({ node: cyc.nodes[0]!, index: 0 });
  assert.doesNotThrow(() => inferShapes(cyc));
  // A model whose opset import is missing.
  const noOpset = tiny(13, { inputs: { x: [2, 3] }, inits: [int64Tensor('ax', [1], [0])], nodes: [{ op: 'Unsqueeze', inputs: ['x', 'ax'], outputs: ['y'] }] });
  noOpset.model.proto.opsetImport = [];
  assert.deepEqual(shapeOf(noOpset, 'y'), [1, 2, 3]);
});

test('Max and Min of known values fold (a clamp of a computed size), elementwise over broadcast inputs', () => {
  const g = tiny(13, {
    inputs: { x: [2, 6, 8, 10] },
    inits: [int64Tensor('lo', [1], [3]), int64Tensor('hi', [2], [7, 100]), int64Tensor('ax', [1], [2])],
    nodes: [
      { op: 'Shape', inputs: ['x'], outputs: ['s'] },
      { op: 'Gather', inputs: ['s', 'ax'], outputs: ['h'] },
      { op: 'Max', inputs: ['h', 'lo', 'hi'], outputs: ['big'] },
      { op: 'Min', inputs: ['h', 'lo', 'hi'], outputs: ['small'] },
      { op: 'ConstantOfShape', inputs: ['big'], outputs: ['zb'] },
      { op: 'ConstantOfShape', inputs: ['small'], outputs: ['zs'] },
    ],
  });
  // h = [8]; max(8, 3, [7, 100]) = [8, 100]; min = [3, 3].
  assert.deepEqual(shapes(g, ['big', 'small', 'zb', 'zs']), [[2], [2], [8, 100], [3, 3]]);
});
