import type { Node } from '../graph/graph.js';

/**
 * Module scopes as the exporter recorded them.
 *
 * TorchScript exports name nodes `/<scope>/<Op>[_n]` (export-conventions 1.1): `/model.2/m/m.0/cv1/conv/Conv` has
 * the segments `model.2`, `m`, `m.0`, `cv1`, `conv`. The dynamo exporter names nodes `node_Conv_12` and keeps
 * the module path in the node's metadata (`pkg.torch.onnx.name_scopes`, a Python list of cumulative dotted paths).
 * Both become one comparable form, the dotted module path (`model.2.m.0.cv1.conv`), where a container and its
 * indexed child (`m`, `m.0`) fold into the child, exactly as PyTorch's `named_modules()` spells it.
 */
export interface Scope {
  /** Segments as written, for display: `['model.2', 'm', 'm.0', 'cv1', 'conv']`. */
  segments: string[];
  /** Dotted module path for matching: `model.2.m.0.cv1.conv`. */
  path: string;
}

export const NAME_SCOPES_KEY = 'pkg.torch.onnx.name_scopes';

/** The scope of a node, or null when the exporter recorded none (unscoped `Identity_3`, `Constant_81`). */
export function nodeScope(node: Node): Scope | null {
  const meta = node.proto.metadataProps.find((p) => p.key === NAME_SCOPES_KEY);
  if (meta) return scopeFromNameScopes(meta.value);
  const name = node.name;
  if (!name.startsWith('/')) return null;
  const parts = name.split('/').slice(1, -1);
  return makeScope(parts);
}

/** Parses `['', 'model', 'model.23', 'model.23.cv3', 'mul_4']` (the last entry is the node itself). */
export function scopeFromNameScopes(value: string): Scope | null {
  const entries = [...value.matchAll(/'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)"/g)].map((m) => m[1] ?? m[2] ?? '');
  const paths = entries.slice(0, -1).filter((p) => p !== '');
  const last = paths[paths.length - 1];
  if (last === undefined) return makeScope([]);
  return makeScope(dottedToSegments(last));
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

export function makeScope(segments: string[]): Scope {
  return { segments, path: toPath(segments) };
}

function toPath(segments: readonly string[]): string {
  const folded: string[] = [];
  for (const seg of segments) {
    const last = folded[folded.length - 1];
    if (last !== undefined && seg.startsWith(`${last}.`)) folded[folded.length - 1] = seg;
    else folded.push(seg);
  }
  return folded.join('.');
}

/** A user's scope spec (`model.23/cv3`, `/model/encoder/pan_blocks.1`, `model.23.cv3`) as a dotted path. */
export function specToPath(spec: string): string {
  const trimmed = spec.replace(/^\/+|\/+$/g, '');
  return trimmed.includes('/') ? toPath(trimmed.split('/')) : trimmed;
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
  if (sample) {
    for (let k = 1; k <= sample.segments.length; k++) {
      if (toPath(sample.segments.slice(0, k)) === prefix) return sample.segments.slice(0, k).join('/');
    }
  }
  return prefix;
}
