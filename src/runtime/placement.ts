import { effects } from '../effects.js';

/**
 * Where each node ran, read from onnxruntime's profile (Chrome trace JSON: one `cat: "Node"` event per kernel
 * run, with `args.provider` and `args.op_name`; the event name is `<node name>_kernel_time`).
 */

export interface ProviderShare {
  ep: string;
  nodes: number;
  nodesPct: number;
  timeUs: number;
  timePct: number;
}

export interface Placement {
  /** Per provider, by node count and by kernel time. */
  providers: ProviderShare[];
  /** Node name → the provider it ran on (a node seen on several keeps the last). */
  nodes: Record<string, string>;
  /** Inserted nodes (`/onnx_attn/...`) and where they ran. */
  inserted: { node: string; ep: string }[];
  /** Inserted nodes that ran on another provider than `expected`. */
  offProvider: { node: string; ep: string }[];
  expected: string;
}

interface TraceEvent {
  cat?: string;
  name?: string;
  dur?: number;
  args?: { provider?: string; op_name?: string };
}

/** ORT's provider names, in our spelling. */
export function shortEp(provider: string): string {
  const map: Record<string, string> = {
    CPUExecutionProvider: 'cpu',
    CUDAExecutionProvider: 'cuda',
    TensorrtExecutionProvider: 'tensorrt',
    WebGpuExecutionProvider: 'webgpu',
  };
  return map[provider] ?? provider;
}

export function parseProfile(events: readonly TraceEvent[], expected: string, insertedPrefix = '/onnx_attn/'): Placement {
  const nodes = new Map<string, string>();
  const time = new Map<string, number>();
  for (const e of events) {
    if (e.cat !== 'Node' || !e.name?.endsWith('_kernel_time') || !e.args?.provider) continue;
    const node = e.name.slice(0, -'_kernel_time'.length);
    const ep = shortEp(e.args.provider);
    nodes.set(node, ep);
    time.set(ep, (time.get(ep) ?? 0) + (e.dur ?? 0));
  }
  const counts = new Map<string, number>();
  for (const ep of nodes.values()) counts.set(ep, (counts.get(ep) ?? 0) + 1);
  const totalNodes = nodes.size || 1;
  const totalTime = [...time.values()].reduce((a, b) => a + b, 0) || 1;
  const providers = [...new Set([...counts.keys(), ...time.keys()])]
    .map((ep) => ({
      ep,
      nodes: counts.get(ep) ?? 0,
      nodesPct: round((100 * (counts.get(ep) ?? 0)) / totalNodes),
      timeUs: time.get(ep) ?? 0,
      timePct: round((100 * (time.get(ep) ?? 0)) / totalTime),
    }))
    .sort((a, b) => b.nodes - a.nodes);
  const inserted = [...nodes].filter(([n]) => n.startsWith(insertedPrefix)).map(([node, ep]) => ({ node, ep }));
  return {
    providers,
    nodes: Object.fromEntries(nodes),
    inserted,
    offProvider: inserted.filter((i) => i.ep !== expected),
    expected,
  };
}

export function readProfile(file: string, expected: string): Placement {
  const parsed = JSON.parse(effects.fs.readFileSync(file, 'utf8')) as TraceEvent[] | { traceEvents?: TraceEvent[] };
  return parseProfile(Array.isArray(parsed) ? parsed : (parsed.traceEvents ?? []), expected);
}

const round = (x: number) => Math.round(x * 100) / 100;
