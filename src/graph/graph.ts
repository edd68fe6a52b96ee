import { create } from '@bufbuild/protobuf';
import { ModelError } from '../errors.js';
import type { OnnxModel } from '../onnx/load.js';
import { AttributeProto_AttributeType as AT, NodeProtoSchema } from '../onnx/proto.js';
import { TensorProtoSchema } from '../onnx/proto.js';
import { findCycle, orderProblem, topologicalOrder } from './order.js';
import { typeOf, type Dim, type TensorType } from './types.js';
import type { AttributeProto, GraphProto, NodeProto, SparseTensorProto, TensorProto } from '../onnx/proto.js';

export { typeOf, type Dim, type TensorType };

export interface Usage {
  node: Node;
  /** Which input slot of `node` reads the value. */
  index: number;
}

/**
 * A tensor of the graph. Links go both ways: `producer` and `uses` are kept in step by Graph's edit methods,
 * so rewiring is one call and nobody looks tensors up by name after indexing (names are labels).
 */
export class Value {
  name: string;
  producer: Node | null = null;
  /** Output slot of `producer`. */
  producerIndex = -1;
  /** @internal Mutated only by Graph. */
  readonly uses: Usage[] = [];
  /**
   * The initializer. For a sparse initializer this is a stand-in with its name, dims and dtype but no values (see
   * `sparse`): the locator and shape inference need only that, and the file keeps the sparse form untouched.
   */
  initializer: TensorProto | null = null;
  /** Set for a `sparse_initializer`: its values are not in `initializer`. */
  sparse: SparseTensorProto | null = null;
  isGraphInput = false;
  isGraphOutput = false;
  /** Type declared in the file (graph inputs/outputs, value_info, initializer dims). */
  declared: TensorType | null = null;

  constructor(name: string) {
    this.name = name;
  }

  /** The nodes reading this value (a snapshot: safe to rewire while looping). */
  consumers(): Node[] {
    return [...new Set(this.uses.map((u) => u.node))];
  }
}

/** A node of the graph, wrapping its NodeProto so attributes and unknown fields survive untouched. */
export class Node {
  readonly proto: NodeProto;
  /** @internal Change through Graph.replaceInput. */
  readonly inputs: (Value | null)[] = [];
  readonly outputs: Value[] = [];

  constructor(proto: NodeProto) {
    this.proto = proto;
  }

  get name(): string {
    return this.proto.name;
  }
  get opType(): string {
    return this.proto.opType;
  }
  get domain(): string {
    return this.proto.domain;
  }

  attr(name: string): AttributeProto | undefined {
    return this.proto.attribute.find((a) => a.name === name);
  }
  attrInt(name: string, fallback: number): number {
    const a = this.attr(name);
    return a && a.type === AT.INT ? Number(a.i) : fallback;
  }
  attrInts(name: string): number[] | null {
    const a = this.attr(name);
    return a && a.type === AT.INTS ? a.ints.map(Number) : null;
  }
  attrFloat(name: string, fallback: number): number {
    const a = this.attr(name);
    return a && a.type === AT.FLOAT ? a.f : fallback;
  }
  attrString(name: string): string | null {
    const a = this.attr(name);
    return a && a.type === AT.STRING ? new TextDecoder().decode(a.s) : null;
  }
  attrTensor(name: string): TensorProto | null {
    const a = this.attr(name);
    return a && a.type === AT.TENSOR && a.t ? a.t : null;
  }
}

export interface NewNode {
  opType: string;
  /** Used as given; must be unique (take it from Graph.uniqueName). */
  name: string;
  inputs: (Value | null)[];
  /** Names of the new output values; must be unique. */
  outputs: string[];
  attributes?: AttributeProto[];
  domain?: string;
}

/**
 * An index over one GraphProto: values with producer and uses, nodes in file order, one name authority.
 * The protobuf objects are kept, and `commit()` writes the edited wiring back, so an unedited graph
 * re-encodes byte for byte.
 */
export class Graph {
  readonly model: OnnxModel;
  readonly proto: GraphProto;
  readonly nodes: Node[] = [];
  readonly values = new Map<string, Value>();
  readonly inputs: Value[] = [];
  readonly outputs: Value[] = [];
  private readonly names = new Set<string>();
  private readonly counters = new Map<string, number>();

  private constructor(model: OnnxModel, proto: GraphProto) {
    this.model = model;
    this.proto = proto;
  }

  /**
   * Indexes the main graph. Throws ModelError for a graph that breaks single assignment or reads a tensor
   * nothing defines (what a truncated or hand-damaged file looks like).
   */
  static fromModel(model: OnnxModel): Graph {
    const proto = model.proto.graph;
    if (!proto) throw new ModelError('the model has no graph');
    const g = new Graph(model, proto);
    // The file is named: a bad model is the input's fault, said before anything is built from it.
    const where = model.path ?? 'the model';
    const invalid = (what: string) => new ModelError(`${where}: ${what}; the model breaks ONNX's rules (names must be unique); fix or re-export it`);
    for (const t of proto.initializer) {
      const v = g.valueFor(t.name);
      if (v.initializer) throw invalid(`initializer '${t.name}' is defined twice`);
      v.initializer = t;
      v.declared = { elemType: t.dataType, shape: t.dims.map(Number) };
    }
    // Sparse initializers are initializers too (ONNX: one name space with the dense ones).
    for (const sp of proto.sparseInitializer) {
      const name = sp.values?.name ?? '';
      const v = g.valueFor(name);
      if (v.initializer) throw invalid(`initializer '${name}' is defined twice (sparse_initializer and initializer)`);
      const elemType = sp.values?.dataType ?? 0;
      v.initializer = create(TensorProtoSchema, { name, dims: sp.dims, dataType: elemType });
      v.sparse = sp;
      v.declared = { elemType, shape: sp.dims.map(Number) };
    }
    for (const vi of proto.input) {
      const v = g.valueFor(vi.name);
      if (v.isGraphInput) throw invalid(`graph input '${vi.name}' is declared twice`);
      v.isGraphInput = true;
      v.declared = typeOf(vi) ?? v.declared;
      g.inputs.push(v);
    }
    for (const vi of proto.valueInfo) {
      const v = g.valueFor(vi.name);
      v.declared = typeOf(vi) ?? v.declared;
    }
    const nodeNames = new Set<string>();
    for (const np of proto.node) {
      const node = new Node(np);
      // Node names may be empty (ONNX makes them optional), but two nodes may not share one.
      if (np.name && nodeNames.has(np.name)) throw invalid(`two nodes are named '${np.name}'`);
      nodeNames.add(np.name);
      if (np.name) g.names.add(np.name);
      for (const [i, name] of np.output.entries()) {
        const v = g.valueFor(name);
        if (name === '') continue;
        if (v.producer || v.initializer || v.isGraphInput) {
          throw new ModelError(
            `${where}: tensor '${name}' is assigned twice (by node '${np.name || np.opType}' and ${v.producer ? `node '${v.producer.name || v.producer.opType}'` : v.initializer ? 'an initializer' : 'a graph input'}); the model breaks ONNX's single-assignment rule; fix or re-export it`,
          );
        }
        v.producer = node;
        v.producerIndex = i;
        node.outputs.push(v);
      }
      g.nodes.push(node);
    }
    for (const node of g.nodes) {
      for (const [i, name] of node.proto.input.entries()) {
        if (name === '') {
          node.inputs.push(null);
          continue;
        }
        const v = g.values.get(name);
        if (!v || (!v.producer && !v.initializer && !v.isGraphInput)) {
          throw new ModelError(
            `${where}: node '${node.name || node.opType}' reads tensor '${name}', which no node, input or initializer defines; the file is truncated or damaged`,
          );
        }
        node.inputs.push(v);
        v.uses.push({ node, index: i });
      }
    }
    for (const vi of proto.output) {
      const v = g.values.get(vi.name);
      if (!v || (!v.producer && !v.initializer && !v.isGraphInput)) {
        throw new ModelError(`${where}: graph output '${vi.name}' is not produced by any node; the file is truncated or damaged`);
      }
      v.isGraphOutput = true;
      v.declared = typeOf(vi) ?? v.declared;
      g.outputs.push(v);
    }
    return g;
  }

  /**
   * What keeps the nodes from being a DAG in file order, in one linear pass, or null: a cycle (named by the nodes
   * on it) or a node that reads a tensor produced by a later node (ONNX requires topologically sorted nodes).
   */
  /** Why the nodes are not a valid ONNX order (a cycle, or a node before the producer of its input), or null. */
  orderProblem(): string | null {
    return orderProblem(this.nodes);
  }

  /** The nodes of one cycle, in data-flow order, or null. */
  findCycle(): Node[] | null {
    return findCycle(this.nodes);
  }

  private valueFor(name: string): Value {
    let v = this.values.get(name);
    if (!v) {
      v = new Value(name);
      this.values.set(name, v);
      this.names.add(name);
    }
    return v;
  }

  value(name: string): Value | undefined {
    return this.values.get(name);
  }

  /** The version of an operator set the model imports (default domain: ai.onnx), or 0. */
  opset(domain = ''): number {
    const entry = this.model.proto.opsetImport.find((o) => (o.domain === 'ai.onnx' ? '' : o.domain) === domain);
    return entry ? Number(entry.version) : 0;
  }

  /** True when `name` is taken by any node, tensor or initializer. */
  hasName(name: string): boolean {
    return this.names.has(name);
  }

  /** `base`, or `base_1`, `base_2`, ... : the first name no node, tensor or initializer uses; it is reserved. */
  uniqueName(base: string): string {
    let name = base;
    let k = this.counters.get(base) ?? 0;
    while (this.names.has(name)) name = `${base}_${++k}`;
    this.counters.set(base, k);
    this.names.add(name);
    return name;
  }

  /** Points input `index` of `node` at `value`, updating both use lists. */
  replaceInput(node: Node, index: number, value: Value | null): void {
    const old = node.inputs[index];
    if (old === undefined) throw new RangeError(`node '${node.name}' has no input ${index}`);
    if (old) {
      const at = old.uses.findIndex((u) => u.node === node && u.index === index);
      if (at >= 0) old.uses.splice(at, 1);
    }
    node.inputs[index] = value;
    if (value) value.uses.push({ node, index });
  }

  /** Adds an initializer value; its name must be unique (take it from uniqueName). */
  addInitializer(tensor: TensorProto): Value {
    if (this.values.has(tensor.name)) throw new Error(`name '${tensor.name}' is already used in the graph`);
    const v = this.valueFor(tensor.name);
    v.initializer = tensor;
    v.declared = { elemType: tensor.dataType, shape: tensor.dims.map(Number) };
    this.proto.initializer.push(tensor);
    return v;
  }

  /** Adds a node with fresh output values: right after `after`, first when `after` is null, last when omitted. */
  addNode(spec: NewNode, after?: Node | null): Node {
    for (const name of [spec.name, ...spec.outputs]) {
      if (this.values.has(name) || (name === spec.name && this.nodes.some((n) => n.name === name))) {
        throw new Error(`name '${name}' is already used in the graph`);
      }
    }
    const proto = create(NodeProtoSchema, {
      opType: spec.opType,
      name: spec.name,
      input: [],
      output: spec.outputs,
      attribute: spec.attributes ?? [],
      ...(spec.domain ? { domain: spec.domain } : {}),
    });
    const node = new Node(proto);
    this.names.add(spec.name);
    for (const [i, name] of spec.outputs.entries()) {
      const v = this.valueFor(name);
      v.producer = node;
      v.producerIndex = i;
      node.outputs.push(v);
    }
    for (const [i, v] of spec.inputs.entries()) {
      node.inputs.push(v);
      if (v) v.uses.push({ node, index: i });
    }
    const at = after === null ? 0 : after ? this.nodes.indexOf(after) + 1 : this.nodes.length;
    this.nodes.splice(at, 0, node);
    return node;
  }

  /**
   * Renames a value everywhere it is written (producer output, consumer inputs, value_info, graph I/O).
   * `keepGraphOutputName` leaves the graph's output declaration as it is, for a caller that hands that name to
   * another value.
   */
  renameValue(value: Value, name: string, options: { keepGraphOutputName?: boolean } = {}): void {
    if (this.values.has(name)) throw new Error(`name '${name}' is already used in the graph`);
    const declarations = [...this.proto.input, ...(options.keepGraphOutputName ? [] : this.proto.output), ...this.proto.valueInfo];
    for (const vi of declarations) {
      if (vi.name === value.name) vi.name = name;
    }
    if (value.initializer) value.initializer.name = name;
    this.values.delete(value.name);
    value.name = name;
    this.values.set(name, value);
    this.names.add(name);
  }

  /** Nodes in an order where every producer comes before its consumers, stable to file order (graph/order.ts). */
  topologicalOrder(): Node[] {
    return topologicalOrder(this.nodes);
  }

  /** Writes the wiring back into the GraphProto: node order, inputs and outputs by their current names. */
  commit(): void {
    const nodeProtos = this.nodes.map((n) => {
      const inputs = n.inputs.map((v) => v?.name ?? '');
      const outputs = n.outputs.map((v) => v.name);
      if (!sameStrings(n.proto.input, inputs)) n.proto.input = inputs;
      if (!sameStrings(n.proto.output, outputs)) n.proto.output = outputs;
      return n.proto;
    });
    if (!sameItems(this.proto.node, nodeProtos)) this.proto.node = nodeProtos;
  }
}

function sameStrings(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
function sameItems<T>(a: readonly T[], b: readonly T[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
