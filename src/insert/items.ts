import { analyzeModel, type AnalyzedModel } from '../analysis.js';
import { InsertItemError, isOnnxAttnError } from '../errors.js';
import { spliceModule } from '../graph/splice.js';
import type { OnnxModel } from '../onnx/load.js';
import { readProvenance, writeProvenance } from '../provenance.js';
import { VERSION } from '../version.js';
import { recordGatedModule } from './gate.js';
import type { InsertOptions } from './options.js';
import { planInsertions, type Insertion, type InsertionPlan } from './plan.js';

/**
 * Applying planned insertions to a model in memory: each module recorded (gated when asked) and spliced, the
 * wiring committed, provenance appended; and several insert items in a row (apply's plans), each planned on the
 * model the previous ones left.
 */

/**
 * Builds and splices every planned insertion into the analyzed model's graph, writes the wiring back to the
 * protobuf and appends provenance (every existing metadata entry is kept as it was). Returns the insertions
 * with their node names filled in.
 */
export function applyInsertions(analyzed: AnalyzedModel, plans: InsertionPlan[], extraProvenance: Record<string, unknown> = {}): Insertion[] {
  const { graph, model } = analyzed;
  const done: Insertion[] = [];
  for (const p of plans) {
    const { tape, output } = recordGatedModule(p.module, p.ctx, p.weights, p.insertion.gate);
    const result = spliceModule(graph, { value: p.site.value, consumers: p.consumers }, tape, output, { k: p.insertion.k, module: p.module.name });
    const rewired = result.rewired.map((c) => c.name || c.opType);
    if (p.site.isGraphOutput) rewired.push(`(graph output ${result.output.name})`);
    done.push({
      ...p.insertion,
      nodes: result.nodes.map((n) => n.name),
      initializers: result.initializers,
      rewired,
      moduleInput: p.site.value.name,
      moduleOutput: result.output.name,
    });
  }
  graph.commit();
  const props = model.proto.metadataProps;
  const existing = readProvenance(props);
  const added = done.map((d) => ({
    tool: 'onnx-attn',
    version: VERSION,
    k: d.k,
    module: d.module,
    variant: d.variant,
    options: d.options,
    point: d.point,
    spec: d.spec,
    tensor: d.tensor,
    shape: d.shape,
    init: d.init,
    seed: d.seed,
    weights: d.weights,
    ...(d.weightsPrefix !== undefined ? { weightsPrefix: d.weightsPrefix } : {}),
    gate: d.gate,
    bnEps: d.bnEps,
    params: d.params,
    macs: d.macs,
    ...extraProvenance,
  }));
  writeProvenance(props, [...existing, ...added]);
  return done;
}

export interface InsertItemsOptions {
  /** Sizes for dynamic inputs: they size the shape probe only; the modules see the model's own dims. */
  shapes?: Record<string, number[]>;
  /** Added to every provenance object (`apply`: the plan's sha256 and the entry's name). */
  extraProvenance?: Record<string, unknown>;
}

/**
 * Applies several insert items in order to one loaded model, in memory: each item is planned on the model as the
 * previous ones left it (re-analyzed, so its SPECs see the modules already inserted), then built and spliced.
 * The caller checks and saves once. A failing item throws InsertItemError with its index.
 */
export async function applyInsertItems(model: OnnxModel, items: readonly InsertOptions[], options: InsertItemsOptions = {}): Promise<Insertion[]> {
  const done: Insertion[] = [];
  for (const [index, item] of items.entries()) {
    try {
      const analyzed = await analyzeModel(model, options.shapes ? { probeShapes: options.shapes } : {});
      done.push(...applyInsertions(analyzed, planInsertions(analyzed, item), options.extraProvenance));
    } catch (e) {
      if (isOnnxAttnError(e)) throw new InsertItemError(index, e);
      throw e;
    }
  }
  return done;
}
