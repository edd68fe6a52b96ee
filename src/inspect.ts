import { analyzeModel, type AnalyzeOptions, type AnalyzedModel } from './analysis.js';
import type { Dim, Value } from './graph/graph.js';
import { locate, splitSpecs } from './locate/locate.js';
import type { Family } from './locate/structure.js';
import { dtypeName } from './onnx/dtype.js';
import { loadModel } from './onnx/load.js';

export interface TensorSummary {
  name: string;
  dtype: string;
  shape: Dim[] | null;
}

export interface LayerSummary {
  scope: string;
  index: number | null;
  type: string;
  from: string[];
  boundary: string[];
  /** Shape of the first boundary tensor (the only one, for every YOLO layer). */
  shape: Dim[] | null;
  shapes: (Dim[] | null)[];
  /** Scopes of the layers that read the boundary (`model.5`); `output` for a graph output; a node outside every layer by its scope or name. */
  consumers: string[];
  nodeCount: number;
  isHead: boolean;
}

export interface HeadSummary {
  tensor: string;
  fromScope: string;
  fromIndex: number | null;
  shape: Dim[] | null;
}

/** The `inspect --json` document (cli-contract "JSON output"). */
export interface InspectResult {
  path: string | null;
  family: Family;
  irVersion: number;
  producer: string;
  opsets: Record<string, number>;
  inputs: TensorSummary[];
  outputs: TensorSummary[];
  nodeCount: number;
  initializerCount: number;
  externalData: boolean;
  metadataKeys: string[];
  layers: LayerSummary[];
  headScope: string | null;
  head: HeadSummary[];
  /** `static` when every boundary shape came from the file and inference; `probe` when onnxruntime filled gaps. */
  shapeSource: 'static' | 'probe';
  /** Present with `--at SPEC`: what each insertion point resolves to. */
  sites?: SiteSummary[];
  /** A cycle, or nodes out of topological order: the model is shown, but nothing can be inserted. Null when none. */
  orderProblem: string | null;
}

export interface SiteSummary {
  spec: string;
  point: string;
  tensor: string;
  shape: Dim[] | null;
  layer: string | null;
  consumers: string[];
  isGraphOutput: boolean;
}

export interface InspectOptions extends AnalyzeOptions {
  /** Insertion points (SPECs) to resolve, as `insert --after` would. */
  at?: string[];
}

export async function inspect(file: string, options: InspectOptions = {}): Promise<InspectResult> {
  const analyzed = await analyzeModel(await loadModel(file), options);
  const result = summarize(analyzed);
  if (options.at) {
    const s = analyzed.structure;
    result.sites = splitSpecs(options.at).flatMap((spec) =>
      locate(s, spec).map((site) => ({
        spec: site.spec,
        point: site.point,
        tensor: site.value.name,
        shape: site.shape,
        layer: site.layer?.scope ?? null,
        consumers: site.consumers.map((c) => c.name || c.opType),
        isGraphOutput: site.isGraphOutput,
      })),
    );
  }
  return result;
}

export function summarize({ model, graph, structure: s, shapeSource }: AnalyzedModel): InspectResult {
  const summary = (v: Value): TensorSummary => ({
    name: v.name,
    dtype: dtypeName(s.types.get(v)?.elemType ?? v.declared?.elemType ?? 0),
    shape: s.shapeOf(v),
  });
  const opsets: Record<string, number> = {};
  for (const o of model.proto.opsetImport) opsets[o.domain === '' ? 'ai.onnx' : o.domain] = Number(o.version);
  const layers = s.layers.map((l): LayerSummary => {
    const consumers = new Set<string>();
    for (const v of l.boundary) {
      if (v.isGraphOutput) consumers.add('output');
      for (const c of v.consumers()) {
        const cl = s.layerOf(c);
        if (cl && cl !== l) consumers.add(cl.scope);
        else if (!cl) consumers.add(s.scopes.get(c)?.segments.join('/') || c.name);
      }
    }
    const shapes = l.boundary.map((v) => s.shapeOf(v));
    return {
      scope: l.scope,
      index: l.index,
      type: l.type,
      from: l.from,
      boundary: l.boundary.map((v) => v.name),
      shape: shapes[0] ?? null,
      shapes,
      consumers: [...consumers],
      nodeCount: l.nodes.length,
      isHead: l.isHead,
    };
  });
  return {
    path: model.path,
    family: s.family,
    irVersion: Number(model.proto.irVersion),
    producer: [model.proto.producerName, model.proto.producerVersion].filter(Boolean).join(' '),
    opsets,
    inputs: graph.inputs.filter((v) => !v.initializer).map(summary),
    outputs: graph.outputs.map(summary),
    nodeCount: graph.nodes.length,
    initializerCount: model.proto.graph?.initializer.length ?? 0,
    externalData: model.hadExternalData,
    metadataKeys: model.proto.metadataProps.map((p) => p.key),
    layers,
    headScope: s.headPath ? (s.layers.find((l) => l.path === s.headPath)?.scope ?? s.headPath) : null,
    head: s.head.map((h) => ({ tensor: h.value.name, fromScope: h.fromScope, fromIndex: h.fromIndex, shape: s.shapeOf(h.value) })),
    shapeSource,
    orderProblem: s.orderProblem,
  };
}
