import * as path from 'node:path';
import type { AnalyzedModel } from '../analysis.js';
import { aboutOption, BuildError, LocateError, UsageError } from '../errors.js';
import type { Dim, Node, Value } from '../graph/graph.js';
import { insertedModules, type InsertedModule } from '../graph/inserted.js';
import { locate, splitSpecs, type Site } from '../locate/locate.js';
import { isWithin } from '../locate/scope.js';
import type { Family, ModelStructure } from '../locate/structure.js';
import { MAX_MODULE_PARAMETERS, MODULE_FLOAT_TYPES } from '../modules/builder.js';
import { findModule, resolveOptions } from '../modules/index.js';
import type { AttentionModule, ModuleContext, OptionValue, ParamSpec, Weights } from '../modules/types.js';
import { dtypeName } from '../onnx/dtype.js';
import { TensorProto_DataType as DT } from '../onnx/proto.js';
import { numberIn, oneOf } from '../options.js';
import { readProvenance } from '../provenance.js';
import { recordGatedModule, ZeroGate, type Gate } from './gate.js';
import type { InsertOptions } from './options.js';
import { pointWeightsSource } from './weights.js';

/**
 * Planning an insert: every point located (stacking behind modules already inserted there), its consumers chosen,
 * the module checked against the point (shape, element type, opset, size) and its weights made or read, all
 * before the model is touched.
 */

/** One planned or applied insertion: what `--dry-run` prints and `--json` reports. */
export interface Insertion {
  k: number;
  spec: string;
  point: string;
  tensor: string;
  shape: Dim[] | null;
  module: string;
  variant: string;
  options: Record<string, OptionValue>;
  /** New node names (empty in a dry run). */
  nodes: string[];
  initializers: string[];
  /** Op-type counts of the inserted subgraph. */
  ops: Record<string, number>;
  /** Trainable parameters of the reference module (weights and biases; not BN statistics). */
  params: number;
  /** Multiply-accumulates per image, or null when H or W is dynamic. */
  macs: number | null;
  /** Consumer nodes that now read the module's output. */
  rewired: string[];
  gate: Gate;
  init: 'torch' | 'random' | 'weights';
  seed: number | null;
  weights: string | null;
  /** The module's key prefix in a checkpoint's state_dict (`model.24.`), when the weights came from one. */
  weightsPrefix?: string;
  bnEps: number;
  /** After splicing: the tensor the module reads (renamed when the point was a graph output) and the one it writes. */
  moduleInput?: string;
  moduleOutput?: string;
}

/** A located, validated insertion with its weights, ready to build. */
export interface InsertionPlan {
  insertion: Insertion;
  site: Site;
  consumers: Node[];
  module: AttentionModule;
  ctx: ModuleContext;
  weights: Weights;
}

export function defaultBnEps(family: Family): number {
  return family === 'unknown' || family === 'rtdetr-official' ? 1e-5 : 1e-3;
}

/** Locates every point and checks everything (module constraints, weights) without touching the model. */
export function planInsertions(analyzed: AnalyzedModel, options: InsertOptions): InsertionPlan[] {
  const { structure: s, graph } = analyzed;
  if (typeof options.module !== 'string') throw new UsageError('module: give a module name (NAM, GAM, SimAM, SE, CBAM, ECA, CA)');
  oneOf('init', options.init, ['torch', 'random'] as const);
  oneOf('gate', options.gate, ['zero', 'none'] as const);
  numberIn('seed', options.seed, Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, true);
  numberIn('bnEps', options.bnEps, Number.MIN_VALUE, Number.MAX_VALUE);
  const module = findModule(options.module);
  const moduleOptions = resolveOptions(module, { ...(options.opts ?? {}) });
  const sites = locateSites(s, graph, options.after);
  const bnEps = options.bnEps ?? defaultBnEps(s.family);
  const gate = options.gate ?? 'none';
  const weightsSource = pointWeightsSource(options, module.name, sites.length);
  const consumersOf = consumersBySite(sites, s, options.consumers);
  let k = nextInsertionIndex(analyzed);
  return sites.map((site, j) => {
    const shape = site.shape;
    if (!shape || shape.length !== 4 || typeof shape[1] !== 'number') {
      throw new BuildError(
        `${module.name} needs a 4-D feature map [N,C,H,W] with a known channel count; ${site.point} (${site.value.name}) has shape ${shape ? `[${shape.map((d) => d ?? '?')}]` : 'unknown'}`,
        { option: 'after' },
      );
    }
    const ctx: ModuleContext = {
      channels: shape[1],
      height: typeof shape[2] === 'number' ? shape[2] : null,
      width: typeof shape[3] === 'number' ? shape[3] : null,
      opset: graph.opset(''),
      bnEps,
      options: moduleOptions,
      elemType: moduleElemType(site, s, module),
    };
    if (ctx.opset < 11 || ctx.opset > 21) throw new BuildError(`the model's opset is ${ctx.opset}; onnx-attn builds modules for opsets 11 to 21`);
    try {
      module.validate(ctx);
    } catch (e) {
      if (e instanceof BuildError) throw new BuildError(`${site.point} (${site.value.name}, C=${ctx.channels}): ${e.message}`);
      throw e;
    }
    const consumers = consumersOf[j]!;
    const params = module.params(ctx);
    checkModuleSize(module, params, site, ctx);
    const w = weightsSource.forPoint(j, site.point, ctx, params);
    // Building at plan time (not only when applying) is deliberate: weight-dependent failures (NAM's Σ|γ| = 0)
    // surface in `--dry-run` and before any insertion touches the model.
    const ops = recordGatedModule(module, ctx, w.weights, gate).tape.opCounts();
    const trainable = params.filter((p) => p.trainable).reduce((n, p) => n + p.shape.reduce((a, b) => a * b, 1), 0);
    const moduleMacs = module.macs(ctx);
    const gated = gate === 'zero';
    const insertion: Insertion = {
      k: k++,
      spec: site.spec,
      point: site.point,
      tensor: site.value.name,
      shape,
      module: module.name,
      variant: module.variant(ctx),
      options: { ...moduleOptions },
      nodes: [],
      initializers: [],
      ops,
      params: trainable + (gated ? ZeroGate.params : 0),
      macs: moduleMacs === null ? null : moduleMacs + (gated ? ZeroGate.macs(ctx) : 0),
      rewired: consumers.map((c) => c.name || c.opType),
      gate,
      init: w.init,
      seed: w.seed,
      weights: w.file ? path.basename(w.file) : null,
      ...(w.prefix !== undefined ? { weightsPrefix: w.prefix } : {}),
      bnEps,
    };
    return { insertion, site, consumers, module, ctx, weights: w.weights };
  });
}

/** The sites of `--after`'s SPECs, each followed past modules inserted there before; two SPECs may not share a tensor. */
function locateSites(s: ModelStructure, graph: AnalyzedModel['graph'], after: InsertOptions['after']): Site[] {
  const specs = splitSpecs(after);
  if (specs.length === 0) throw new UsageError('--after needs at least one insertion point (SPEC)', { option: 'after' });
  const stacked = insertedModules(graph);
  const sites = specs
    .flatMap((spec) => {
      try {
        return locate(s, spec);
      } catch (e) {
        if (e instanceof LocateError) throw aboutOption(e, 'after');
        throw e;
      }
    })
    .map((site) => afterInserted(site, stacked, s));
  const seen = new Map<Value, string>();
  for (const site of sites) {
    const prev = seen.get(site.value);
    if (prev) throw new UsageError(`'${site.spec}' and '${prev}' both resolve to tensor ${site.value.name}; insert once per tensor`, { option: 'after' });
    seen.set(site.value, site.spec);
  }
  return sites;
}

/**
 * In a patched model, a point whose tensor already feeds an inserted module that took all its readers means
 * "after that module": the new one stacks behind it (x → first → second → consumers), as a user re-running
 * insert on its own output expects. A module on a residual branch (--consumers) leaves other readers: no follow.
 */
function afterInserted(site: Site, inserted: InsertedModule[], s: ModelStructure): Site {
  let current = site;
  for (let guard = 0; guard < inserted.length; guard++) {
    const m = inserted.find((i) => i.input === current.value.name && i.untouched.length === 0);
    if (!m) break;
    const out = s.graph.value(m.output);
    if (!out) break;
    const inside = new Set(m.nodes.map((n) => n.name));
    current = {
      ...current,
      value: out,
      shape: s.shapeOf(out) ?? current.shape,
      consumers: out.consumers().filter((c) => !inside.has(c.name)),
      isGraphOutput: out.isGraphOutput,
    };
  }
  return current;
}

/**
 * The consumers each site rewires. Without `--consumers`: all of them outside the scope. With names: each site takes
 * the named nodes that read its tensor (so `--after head --consumers <the head's convs>` works across levels); a name
 * that reads none of the sites, or a site that none of the names reads, is an error. `head` stands for the
 * consumers inside the detection head.
 */
function consumersBySite(sites: readonly Site[], s: ModelStructure, given: string | readonly string[] | undefined): Node[][] {
  if (given === undefined) return sites.map((site) => site.consumers);
  const about = { option: 'consumers' } as const;
  const names = (typeof given === 'string' ? [given] : [...given]).flatMap((g) => g.split(',')).map((n) => n.trim());
  if (names.length === 0 || names.some((n) => n === '')) {
    throw new UsageError("--consumers needs node names (comma-separated), or head for the detection head's own nodes", about);
  }
  const inHead = (node: Node) => !!s.headPath && isWithin(s.scopes.get(node)?.path ?? '\0', s.headPath);
  if (names.includes('head') && !s.headPath) {
    throw new UsageError('--consumers head needs a model whose head has a scope (model.N, model.decoder); name the consumer nodes instead', about);
  }
  const used = new Set<string>();
  const picked = sites.map((site) => {
    const nodes = site.value.consumers().filter((c) => (names.includes('head') && inHead(c)) || names.includes(c.name));
    for (const c of nodes) used.add(names.includes(c.name) ? c.name : 'head');
    return nodes;
  });
  const unused = names.find((n) => !used.has(n));
  if (unused !== undefined) {
    const all = [...new Set(sites.flatMap((site) => site.value.consumers().map((c) => c.name)))];
    throw new LocateError(
      `--consumers: ${unused === 'head' ? 'no node of the head reads' : `node '${unused}' does not read`} ${sites.map((site) => site.value.name).join(' or ')}; ${sites.length === 1 ? 'its' : 'their'} consumers are ${all.map((c) => `'${c}'`).join(', ') || 'none'}`,
      all,
      about,
    );
  }
  const bare = sites.findIndex((_, j) => picked[j]!.length === 0);
  if (bare >= 0) {
    const site = sites[bare]!;
    const all = site.value.consumers().map((c) => c.name);
    throw new LocateError(
      `--consumers: none of ${names.join(', ')} reads ${site.value.name} (point ${site.point}), so its module would feed nothing; its consumers are ${all.map((c) => `'${c}'`).join(', ') || 'none'}`,
      all,
      about,
    );
  }
  return picked;
}

/**
 * The element type the module computes in: the point's own. A half-precision export (`yolov5 export --half`,
 * ultralytics `half=True`) is float16 throughout, weights included, with no Casts; an inserted module is built
 * the same way (float16 constants and weights), so the patched model stays one precision. Unknown is float32.
 */
function moduleElemType(site: Site, s: ModelStructure, module: AttentionModule): number {
  const elemType = s.types.get(site.value)?.elemType || site.value.declared?.elemType || DT.FLOAT;
  if (!MODULE_FLOAT_TYPES.includes(elemType)) {
    throw new BuildError(
      `${site.point} (${site.value.name}) is ${dtypeName(elemType)}; ${module.name} is built in float32, float16 or float64, the types of a feature map`,
    );
  }
  return elemType;
}

/**
 * A model's declared channel count (or H·W) is not trusted: a module's weights grow with C² (GAM, SE) and are made
 * before anything runs, so a hostile [1, 100000, H, W] would take minutes and tens of GB. Past the limit it is
 * refused before any weight is made.
 */
function checkModuleSize(module: AttentionModule, params: readonly ParamSpec[], site: Site, ctx: ModuleContext): void {
  const elements = params.reduce((n, p) => n + p.shape.reduce((a, b) => a * b, 1), 0);
  if (elements > MAX_MODULE_PARAMETERS) {
    throw new BuildError(
      `${site.point} (${site.value.name}, C=${ctx.channels}${ctx.height !== null && ctx.width !== null ? `, ${ctx.height}x${ctx.width}` : ''}): ${module.name} would have ${elements} weights, more than the ${MAX_MODULE_PARAMETERS} (2^28, MAX_MODULE_PARAMETERS) onnx-attn builds for one module; check the model's declared shape there`,
    );
  }
}

/** The first k whose node scope `/onnx_attn/<k>_` is free: inserting into a patched model never clashes. */
function nextInsertionIndex(analyzed: AnalyzedModel): number {
  let k = readProvenance(analyzed.model.proto.metadataProps).length;
  const used = new Set<number>();
  for (const n of analyzed.graph.nodes) {
    const m = /^\/onnx_attn\/(\d+)_/.exec(n.name);
    if (m) used.add(Number(m[1]));
  }
  while (used.has(k)) k++;
  return k;
}
