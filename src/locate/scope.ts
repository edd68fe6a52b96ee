import type { Node } from '../graph/graph.js';

/**
 * Module scopes as the exporter recorded them.
 *
 * TorchScript exports name nodes `/<scope>/<Op>[_n]` (export-conventions 1.1): `/model.2/m/m.0/cv1/conv/Conv` has
 * the segments `model.2`, `m`, `m.0`, `cv1`, `conv`. The dynamo exporter names nodes `node_Conv_12` and keeps
 * the module path in the node's metadata (`pkg.torch.onnx.name_scopes`, a Python list of cumulative dotted paths).
 * Both become one comparable form, the dotted module path (`model.2.m.0.cv1.conv`), exactly as PyTorch's
 * `named_modules()` spells it. In TorchScript names, a called container and its indexed child (`m`, `m.0`: an
 * nn.Sequential) fold into the child; but a module that holds a list of the same name (official RT-DETR's
 * HybridEncoder `encoder` and its ModuleList `encoder.0`: `model.encoder.encoder.0`) does not fold, and the two are
 * told apart by what a container never has: nodes of its own.
 */
export interface Scope {
  /** Segments as written, for display: `['model.2', 'm', 'm.0', 'cv1', 'conv']`. */
  segments: string[];
  /** Dotted module path for matching: `model.2.m.0.cv1.conv`. */
  path: string;
  /** The dotted path of each leading run of segments (`prefixes[k]` is that of `segments[0..k]`). */
  prefixes: string[];
}

export const NAME_SCOPES_KEY = 'pkg.torch.onnx.name_scopes';

/**
 * The scope of every node, or null where the exporter recorded none (unscoped `Identity_3`, `Constant_81`). Done
 * for all nodes at once: whether `X/X.k` folds depends on whether scope X has nodes of its own anywhere.
 */
export function nodeScopes(nodes: readonly Node[]): Map<Node, Scope | null> {
  const raw = new Map<Node, { segments: string[]; dotted: boolean } | null>();
  for (const node of nodes) {
    const meta = node.proto.metadataProps.find((p) => p.key === NAME_SCOPES_KEY);
    if (meta) raw.set(node, { segments: segmentsFromNameScopes(meta.value), dotted: true });
    else if (node.name.startsWith('/')) raw.set(node, { segments: node.name.split('/').slice(1, -1), dotted: false });
    else raw.set(node, null);
  }
  // A module called more than once gets a call count on its scope (`m`, `m_1`, `m_2`; export-conventions 1.2):
  // one module, so one scope, wherever `m` itself is a scope beside it (`conv1_1` with no `conv1` beside it is a name).
  const prefixes = new Set<string>();
  for (const r of raw.values()) if (r && !r.dotted) r.segments.forEach((_, k) => prefixes.add(r.segments.slice(0, k + 1).join('/')));
  for (const r of raw.values()) {
    if (!r || r.dotted) continue;
    r.segments = r.segments.map((seg, k) => {
      const m = /^(.+)_\d+$/.exec(seg);
      return m && prefixes.has([...r.segments.slice(0, k), m[1]!].join('/')) ? m[1]! : seg;
    });
  }
  const owners = new Set<string>();
  for (const r of raw.values()) if (r && !r.dotted) owners.add(r.segments.join('/'));
  const out = new Map<Node, Scope | null>();
  // Dynamo's name scopes are true module paths already: nothing to fold.
  for (const [node, r] of raw) out.set(node, r ? makeScope(r.segments, r.dotted ? null : owners) : null);
  return out;
}

/** Parses `['', 'model', 'model.23', 'model.23.cv3', 'mul_4']` (the last entry is the node itself) to segments. */
function segmentsFromNameScopes(value: string): string[] {
  const entries = [...value.matchAll(/'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)"/g)].map((m) => m[1] ?? m[2] ?? '');
  const paths = entries.slice(0, -1).filter((p) => p !== '');
  const last = paths[paths.length - 1];
  return last === undefined ? [] : dottedToSegments(last);
}

/** `model.23.cv3.act` → `['model.23', 'cv3', 'act']`: numeric parts stay with the name before them. */
function dottedToSegments(path: string): string[] {
  const out: string[] = [];
  for (const part of path.split('.')) {
    if (/^\d+$/.test(part) && out.length > 0) out[out.length - 1] += `.${part}`;
    else out.push(part);
  }
  return out;
}

/**
 * A scope from its segments. `owners`: the segment runs (`model/encoder`) that have nodes of their own; `X.k` after
 * such an `X` does not fold. `null`: fold nothing (the segments are a true module path). Omitted: fold every
 * `X/X.k`, the TorchScript rule for a path with no graph to ask (a user's spec).
 */
function makeScope(segments: string[], owners?: ReadonlySet<string> | null): Scope {
  const prefixes: string[] = [];
  const folded: string[] = [];
  segments.forEach((seg, k) => {
    const last = folded[folded.length - 1];
    const container = owners === undefined || (owners !== null && !owners.has(segments.slice(0, k).join('/')));
    if (last !== undefined && container && seg.startsWith(`${last}.`)) folded[folded.length - 1] = seg;
    else folded.push(seg);
    prefixes.push(folded.join('.'));
  });
  return { segments, path: prefixes[prefixes.length - 1] ?? '', prefixes };
}

/** A user's scope spec (`model.23/cv3`, `/model/encoder/pan_blocks.1`, `model.23.cv3`) as a dotted path. */
export function specToPaths(spec: string): string[] {
  const trimmed = spec.replace(/^\/+|\/+$/g, '');
  if (!trimmed.includes('/')) return [trimmed];
  // Folded (`model.2/m/m.0` → `model.2.m.0`) first, then as written (`model/encoder/encoder.0`).
  const segments = trimmed.split('/');
  return [...new Set([makeScope(segments).path, makeScope(segments, null).path])];
}

/** True when `path` is `prefix` or lies inside it (component-wise: `model.2` does not contain `model.23`). */
export function isWithin(path: string, prefix: string): boolean {
  return prefix === '' || path === prefix || path.startsWith(`${prefix}.`);
}

/** `model.23` → 23 for yolov5/ultralytics layer scopes. */
export function layerIndexOf(path: string): number | null {
  const m = /^model\.(\d+)(?:\.|$)/.exec(path);
  return m ? Number(m[1]) : null;
}

/** Display form of a dotted prefix, taken from a node scope's own segments where possible. */
export function labelFor(prefix: string, sample: Scope | null): string {
  const k = sample ? sample.prefixes.indexOf(prefix) : -1;
  // Dynamo's segments keep indexes with their name (`input_proj.0.0`), so a prefix may end inside one.
  return k >= 0 ? sample!.segments.slice(0, k + 1).join('/') : dottedToSegments(prefix).join('/');
}
