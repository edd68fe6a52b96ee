import { LocateError, ModelError } from '../errors.js';
import type { Dim, Node, Value } from '../graph/graph.js';
import { isWithin, specToPaths } from './scope.js';
import type { Layer, ModelStructure } from './structure.js';
import { editDistance } from '../nearest.js';

/** One resolved insertion point: the tensor the module goes after, and the nodes that will read its output. */
export interface Site {
  /** The SPEC as the user wrote it (one element of a comma list). */
  spec: string;
  /** What it resolved through: a layer scope, `head:1`, `node:...`, `tensor:...`. */
  point: string;
  value: Value;
  shape: Dim[] | null;
  /** Consumers to rewire to the module's output (all readers outside the scope, or of the tensor). */
  consumers: Node[];
  /** The tensor is a graph output: it keeps its name and will carry attention(x). */
  isGraphOutput: boolean;
  /** The layer the tensor leaves, when known. */
  layer: Layer | null;
}

/** Splits `--after 17,20,head` (and repeated flags) into single SPECs. */
export function splitSpecs(specs: string | readonly string[]): string[] {
  const list = typeof specs === 'string' ? [specs] : specs;
  return list
    .flatMap((s) => s.split(','))
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

/**
 * Resolves one SPEC (cli-contract "Insertion points") to its sites. A SPEC that names nothing, or a module with
 * several boundary tensors and no `#k`, is a LocateError that lists what the user can write instead.
 */
export function locate(s: ModelStructure, spec: string): Site[] {
  // Boundaries, consumers and splices assume a DAG in file order; on anything else they mean nothing.
  if (s.orderProblem) throw new ModelError(`${s.graph.model.path ?? 'the model'}: cannot place '${spec}': ${s.orderProblem}`);
  const [base, pick] = splitPick(spec);
  if (base === 'head' || /^head:\d+$/.test(base)) {
    if (pick !== null)
      throw new LocateError(
        `'${spec}': '#k' picks one of a scope's boundary tensors; the head's inputs are head:0..head:${s.head.length - 1}`,
        s.head.map((_, k) => `head:${k}`),
      );
    return locateHead(s, spec, base);
  }
  if (base.startsWith('node:')) return [locateNode(s, spec, base.slice(5), pick)];
  if (base.startsWith('tensor:')) {
    if (pick !== null) throw new LocateError(`'${spec}': '#k' picks a node output; use node:NAME#k or tensor:NAME`);
    return [locateTensor(s, spec, base.slice(7))];
  }
  if (/^\d+$/.test(base)) {
    const layer = s.layers.find((l) => l.index === Number(base));
    if (!layer) {
      const indexes = s.layers.map((l) => l.index).filter((i): i is number => i !== null);
      throw new LocateError(
        indexes.length > 0
          ? `layer ${base} not found: this ${s.family} model has layers ${indexes[0]}..${indexes[indexes.length - 1]}`
          : `layer ${base} not found: this model has no numbered layers (model.N scopes); use a scope path, node:, tensor: or head`,
        indexes.map(String),
      );
    }
    return [siteForScope(s, spec, layer.path, layer.scope, pick)];
  }
  const within = (p: string) =>
    s.graph.nodes.filter((n) => {
      const sc = s.scopes.get(n);
      return sc ? isWithin(sc.path, p) : false;
    });
  const paths = specToPaths(base);
  const path = paths.find((p) => within(p).length > 0) ?? paths[0]!;
  const inScope = within(path);
  if (inScope.length === 0) {
    const near = nearest(path, [...new Set(s.layers.map((l) => l.scope))]);
    throw new LocateError(
      `'${spec}' matches no layer, scope, node or tensor${near.length ? `; did you mean ${near.map((x) => `'${x}'`).join(', ')}?` : ''} (see 'onnx-attn inspect')`,
      near,
    );
  }
  return [siteForScope(s, spec, path, base.replace(/^\/+/, ''), pick)];
}

function splitPick(spec: string): [string, number | null] {
  const m = /^(.*)#(\d+)$/.exec(spec.trim());
  return m ? [m[1]!, Number(m[2])] : [spec.trim(), null];
}

function siteForScope(s: ModelStructure, spec: string, path: string, label: string, pick: number | null): Site {
  const layer = s.layers.find((l) => l.path === path) ?? null;
  const nodes = layer?.nodes ?? s.graph.nodes.filter((n) => isWithin(s.scopes.get(n)?.path ?? '\0', path));
  const inside = new Set(nodes);
  const boundary =
    layer?.boundary ?? nodes.flatMap((n) => n.outputs.filter((v) => s.isData(v) && (v.isGraphOutput || v.consumers().some((c) => !inside.has(c)))));
  if (boundary.length === 0) {
    throw new LocateError(`'${spec}': scope ${label} has no data tensor leaving it (only constants or nothing); pick another point`);
  }
  const describe = (v: Value, k: number) => `${label}#${k}: ${v.name} ${formatShape(s.shapeOf(v))}`;
  if (pick !== null) {
    const v = boundary[pick];
    if (!v) {
      throw new LocateError(
        `'${spec}': scope ${label} has ${boundary.length} boundary tensor(s); pick one of ${boundary.map(describe).join('; ')}`,
        boundary.map((_, k) => `${label}#${k}`),
      );
    }
    return makeSite(s, spec, `${label}#${pick}`, v, (c) => !inside.has(c), layer);
  }
  if (boundary.length > 1) {
    throw new LocateError(
      `'${spec}' is ambiguous: scope ${label} has ${boundary.length} boundary tensors; pick one with ${boundary.map(describe).join('; ')}`,
      boundary.map((_, k) => `${label}#${k}`),
    );
  }
  return makeSite(s, spec, label, boundary[0]!, (c) => !inside.has(c), layer);
}

function locateHead(s: ModelStructure, spec: string, base: string): Site[] {
  if (s.head.length === 0) {
    throw new LocateError(`'${spec}': no detection head found in this ${s.family} model; use a layer index, scope, node: or tensor:`);
  }
  const sites = s.head.map((h, i) => {
    const layer = h.value.producer ? s.layerOf(h.value.producer) : null;
    // `head` behaves like the layer indexes it resolves to: every consumer of the tensor is rewired.
    return makeSite(s, spec, `head:${i}`, h.value, () => true, layer);
  });
  if (base === 'head') return sites;
  const i = Number(base.slice(5));
  const site = sites[i];
  if (!site) {
    throw new LocateError(
      `'${spec}': the head has ${sites.length} inputs (head:0..head:${sites.length - 1}, finest level first)`,
      sites.map((_, k) => `head:${k}`),
    );
  }
  return [site];
}

function locateNode(s: ModelStructure, spec: string, name: string, pick: number | null): Site {
  const node = s.graph.nodes.find((n) => n.name === name);
  const hash = name.lastIndexOf('#');
  const owner = !node && hash > 0 ? s.graph.nodes.find((n) => n.name === name.slice(0, hash)) : undefined;
  if (owner) {
    throw new LocateError(`'${spec}': '${name.slice(hash)}' is not an output index of node '${owner.name}'; use #0..#${owner.outputs.length - 1}`);
  }
  if (!node) {
    const near = nearest(
      name,
      s.graph.nodes.map((n) => n.name),
    );
    throw new LocateError(`node '${name}' not found${near.length ? `; did you mean ${near.map((x) => `'${x}'`).join(', ')}?` : ''}`, near);
  }
  const k = pick ?? 0;
  const v = node.outputs[k];
  if (!v) throw new LocateError(`node '${name}' has ${node.outputs.length} output(s); use node:${name}#0..#${node.outputs.length - 1}`);
  if (!s.isData(v)) throw new LocateError(`'${spec}' is a constant (it derives only from initializers and Constant nodes), not data; pick a data tensor`);
  return makeSite(s, spec, `node:${name}#${k}`, v, () => true, s.layerOf(node));
}

function locateTensor(s: ModelStructure, spec: string, name: string): Site {
  const v = s.graph.value(name);
  if (!v || (!v.producer && !v.isGraphInput && !v.initializer)) {
    const near = nearest(name, [...s.graph.values.keys()]);
    throw new LocateError(`tensor '${name}' not found${near.length ? `; did you mean ${near.map((x) => `'${x}'`).join(', ')}?` : ''}`, near);
  }
  if (!s.isData(v)) throw new LocateError(`'${spec}' is a constant (it derives only from initializers and Constant nodes), not data; pick a data tensor`);
  return makeSite(s, spec, `tensor:${name}`, v, () => true, v.producer ? s.layerOf(v.producer) : null);
}

function makeSite(s: ModelStructure, spec: string, point: string, value: Value, rewire: (n: Node) => boolean, layer: Layer | null): Site {
  return {
    spec,
    point,
    value,
    shape: s.shapeOf(value),
    consumers: value.consumers().filter(rewire),
    isGraphOutput: value.isGraphOutput,
    layer,
  };
}

export function formatShape(shape: Dim[] | null): string {
  if (!shape) return '[?]';
  return `[${shape.map((d) => (d === null ? '?' : String(d))).join(',')}]`;
}

/** Up to three names closest to `query` (substring matches first, then edit distance). */
export function nearest(query: string, names: readonly string[]): string[] {
  const q = query.toLowerCase();
  const scored = names
    .filter((n) => n)
    .map((n) => {
      const l = n.toLowerCase();
      const score = l.includes(q) || q.includes(l) ? Math.abs(l.length - q.length) / 100 : Math.abs(l.length - q.length) > 8 ? 99 : editDistance(q, l);
      return { n, score };
    })
    .filter((x) => x.score <= Math.max(3, q.length / 3))
    .sort((a, b) => a.score - b.score);
  return [...new Set(scored.map((x) => x.n))].slice(0, 3);
}
