import * as path from 'node:path';
import { clone } from '@bufbuild/protobuf';
import * as fs from 'node:fs';
import { BuildError, isOnnxAttnError, LocateError, MismatchError, ModelError, OnnxAttnError, UsageError } from './errors.js';
import type { Dim, Node, Value } from './graph/graph.js';
import { spliceModule } from './graph/splice.js';
import { analyzeModel, type AnalyzedModel } from './analysis.js';
import { checkRun, checkStructure, type RunCheck } from './check.js';
import { loadModel, type OnnxModel } from './onnx/load.js';
import { checkOutputPath, saveModel, type ExternalDataMode } from './onnx/save.js';
import { numberIn, oneOf } from './options.js';
import { locate, splitSpecs, type Site } from './locate/locate.js';
import { isWithin } from './locate/scope.js';
import type { Family, ModelStructure } from './locate/structure.js';
import { insertedModules, type InsertedModule } from './graph/inserted.js';
import { MAX_MODULE_PARAMETERS, ModuleBuilder, MODULE_FLOAT_TYPES, type TapeValue } from './modules/builder.js';
import { dtypeName } from './onnx/dtype.js';
import { findModule, resolveOptions } from './modules/index.js';
import type { AttentionModule, ModuleContext, OptionValue, ParamSpec, Weights } from './modules/types.js';
import { initWeights } from './weights/init.js';
import { resolveWeights } from './weights/match.js';
import { readTensorFile } from './weights/read.js';
import type { NamedTensor } from './weights/tensor.js';
import { ModelProtoSchema, TensorProto_DataType as DT } from './onnx/proto.js';
import { readProvenance, writeProvenance } from './provenance.js';
import { isTorchCheckpointPath } from './weights/torch-checkpoint.js';
import { pickModuleTensors, tensorSource, type TensorSource } from './weights/select.js';
import { VERSION } from './version.js';

/** Options of one `insert` (cli-contract "Insert options"). */
export interface InsertOptions {
  /** SPECs: `23`, `model.23/cv3`, `node:NAME#k`, `tensor:NAME`, `head`, `head:i`; comma lists allowed. */
  after: string | readonly string[];
  /** NAM, GAM, SimAM, SE, CBAM, ECA, CA (any case). */
  module: string;
  /** Module options, `key=value` already split (`{variant: 'paper', rate: '4'}`). */
  opts?: Readonly<Record<string, string>>;
  /** Weights when no file is given (default `torch`: the reference module's PyTorch initialisation). */
  init?: 'torch' | 'random';
  /** Seed of `--init` (default 0); point j uses seed + j, as successive PyTorch modules draw different weights. */
  seed?: number;
  /** Reference state_dict files: one per point, or one with `0.`, `1.` prefixes, or one for every point. */
  weights?: string | readonly string[];
  /** Key prefix of the module inside a checkpoint (`model.24.`), one per point or one for all; default: found. */
  weightsPrefix?: string | readonly string[];
  /** BatchNorm epsilon of the module's BNs (default 1e-3 for YOLO/ultralytics exports, 1e-5 otherwise). */
  bnEps?: number;
  /** `zero`: y = x + g·(attention(x) − x) with g = 0, the exact identity that proves the splice. */
  gate?: 'zero' | 'none';
  /** Rewire only these consumer nodes (by name) instead of every consumer outside the scope. */
  consumers?: readonly string[];
}

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
  gate: 'zero' | 'none';
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

/** `<stem>-<module>.onnx` beside the input. */
export function defaultOutputPath(input: string, module: string): string {
  const ext = path.extname(input);
  return path.join(path.dirname(input), `${path.basename(input, ext)}-${module.toLowerCase()}${ext || '.onnx'}`);
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
  const rawOpts = options.opts ?? {};
  const moduleOptions = resolveOptions(module, { ...rawOpts });
  const specs = splitSpecs(options.after);
  if (specs.length === 0) throw new UsageError('--after needs at least one insertion point (SPEC)');
  const stacked = insertedModules(graph);
  const sites = specs.flatMap((spec) => locate(s, spec)).map((site) => afterInserted(site, stacked, s));
  const seen = new Map<Value, string>();
  for (const site of sites) {
    const prev = seen.get(site.value);
    if (prev) throw new UsageError(`'${site.spec}' and '${prev}' both resolve to tensor ${site.value.name}; insert once per tensor`);
    seen.set(site.value, site.spec);
  }
  const bnEps = options.bnEps ?? defaultBnEps(s.family);
  const gate = options.gate ?? 'none';
  const weightFiles = options.weights ? splitSpecs(options.weights) : [];
  if (weightFiles.length > 0 && (options.init !== undefined || options.seed !== undefined)) {
    throw new UsageError(`--weights gives the module's weights, so --${options.init !== undefined ? 'init' : 'seed'} would be ignored; pass one or the other`);
  }
  if (weightFiles.length > 1 && weightFiles.length !== sites.length) {
    throw new UsageError(`--weights names ${weightFiles.length} files for ${sites.length} insertion points; give one per point, or one file`);
  }
  const weightPrefixes = options.weightsPrefix !== undefined ? splitSpecs(options.weightsPrefix) : [];
  if (weightPrefixes.length > 0 && weightFiles.length === 0)
    throw new UsageError('--weights-prefix names a module inside a --weights file; give --weights too');
  if (weightPrefixes.length > 1 && weightPrefixes.length !== sites.length) {
    throw new UsageError(
      `--weights-prefix names ${weightPrefixes.length} prefixes for ${sites.length} insertion points; give one per point, in point order, or one`,
    );
  }
  const sources = new Map<string, TensorSource>();
  const fileCache = new Map<string, Map<string, NamedTensor>>();
  // The module's keys and shapes: an .npz of someone else's tensors, or of oversized ones, is refused before it is inflated.
  const readFile = (f: string, params: readonly { key: string; shape: readonly number[] }[]) => {
    let t = fileCache.get(f);
    if (!t) {
      const expect = { keys: new Set(params.map((p) => p.key)), shapes: new Map(params.map((p) => [p.key, p.shape])), module: module.name };
      t = readTensorFile(f, { expect }).tensors;
      fileCache.set(f, t);
    }
    return t;
  };
  const consumersOf = consumersBySite(sites, s, options.consumers);
  let k = nextInsertionIndex(analyzed);
  return sites.map((site, j) => {
    const shape = site.shape;
    if (!shape || shape.length !== 4 || typeof shape[1] !== 'number') {
      throw new BuildError(
        `${module.name} needs a 4-D feature map [N,C,H,W] with a known channel count; ${site.point} (${site.value.name}) has shape ${shape ? `[${shape.map((d) => d ?? '?')}]` : 'unknown'}`,
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
    let weights: Weights;
    let init: Insertion['init'] = options.init ?? 'torch';
    let seed: number | null = (options.seed ?? 0) + j;
    let weightsFile: string | null = null;
    let weightsPrefix: string | undefined;
    if (weightFiles.length > 0 && params.length > 0 && (weightPrefixes.length > 0 || isTorchCheckpointPath(weightFiles[weightFiles.length === 1 ? 0 : j]!))) {
      // A whole model's state_dict (a .pt checkpoint): this point's module by its key prefix, given or found.
      weightsFile = weightFiles.length === 1 ? weightFiles[0]! : weightFiles[j]!;
      const source = sources.get(weightsFile) ?? sources.set(weightsFile, tensorSource(weightsFile)).get(weightsFile)!;
      const prefix = weightPrefixes.length === 0 ? {} : { prefix: weightPrefixes[weightPrefixes.length === 1 ? 0 : j]! };
      const shared = weightFiles.length === 1;
      const picked = pickModuleTensors(source, params, {
        ...prefix,
        module: module.name,
        point: `${site.point} (C=${ctx.channels})`,
        pointIndex: shared ? j : 0,
        pointCount: shared ? sites.length : 1,
      });
      weights = resolveWeights(params, picked.prefix ? `${weightsFile} at ${picked.prefix}` : weightsFile, picked.tensors, {
        module: module.name,
        context: `C=${ctx.channels}`,
      });
      weightsPrefix = picked.prefix;
      init = 'weights';
      seed = null;
    } else if (weightFiles.length > 0 && params.length > 0) {
      weightsFile = weightFiles.length === 1 ? weightFiles[0]! : weightFiles[j]!;
      const tensors = readFile(weightsFile, params);
      const prefixed = weightFiles.length === 1 && [...tensors.keys()].some((key) => /^\d+\./.test(key));
      weights = resolveWeights(params, weightsFile, tensors, prefixed ? { prefix: `${j}.` } : {});
      init = 'weights';
      seed = null;
    } else {
      weights = initWeights(params, init, seed);
    }
    const ops = opCountsOf(module, ctx, weights, gate);
    const trainable = params.filter((p) => p.trainable).reduce((n, p) => n + p.shape.reduce((a, b) => a * b, 1), 0);
    const moduleMacs = module.macs(ctx);
    const gateMacs = gate === 'zero' && ctx.height !== null && ctx.width !== null ? ctx.channels * ctx.height * ctx.width : 0;
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
      params: trainable + (gate === 'zero' ? 1 : 0),
      macs: moduleMacs === null ? null : moduleMacs + gateMacs,
      rewired: consumers.map((c) => c.name || c.opType),
      gate,
      init,
      seed,
      weights: weightsFile ? path.basename(weightsFile) : null,
      ...(weightsPrefix !== undefined ? { weightsPrefix } : {}),
      bnEps,
    };
    return { insertion, site, consumers, module, ctx, weights };
  });
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
  const names = (typeof given === 'string' ? [given] : [...given]).flatMap((g) => g.split(',')).map((n) => n.trim());
  if (names.length === 0 || names.some((n) => n === '')) {
    throw new UsageError("--consumers needs node names (comma-separated), or head for the detection head's own nodes");
  }
  const inHead = (node: Node) => !!s.headPath && isWithin(s.scopes.get(node)?.path ?? '\0', s.headPath);
  if (names.includes('head') && !s.headPath) {
    throw new UsageError('--consumers head needs a model whose head has a scope (model.N, model.decoder); name the consumer nodes instead');
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
    );
  }
  const bare = sites.findIndex((_, j) => picked[j]!.length === 0);
  if (bare >= 0) {
    const site = sites[bare]!;
    const all = site.value.consumers().map((c) => c.name);
    throw new LocateError(
      `--consumers: none of ${names.join(', ')} reads ${site.value.name} (point ${site.point}), so its module would feed nothing; its consumers are ${all.map((c) => `'${c}'`).join(', ') || 'none'}`,
      all,
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

function record(module: AttentionModule, ctx: ModuleContext, weights: Weights, gate: 'zero' | 'none'): { tape: ModuleBuilder; output: TapeValue } {
  const tape = new ModuleBuilder(ctx.opset, ctx.elemType);
  const x = tape.input;
  let y = module.build(tape, x, weights, ctx);
  if (gate === 'zero') {
    // y = x + g·(attention(x) − x), g = 0: exactly x until g is set to 1.
    const g = tape.floats('gate', [], [0]);
    const delta = tape.op('Sub', [y, x]);
    y = tape.op('Add', [x, tape.op('Mul', [delta, g])]);
  }
  return { tape, output: y };
}

/**
 * Op counts of a dry build. Building at plan time (not only in applyInsertions) is deliberate: weight-dependent
 * failures (NAM's Σ|γ| = 0) surface in `--dry-run` and before any insertion touches the model.
 */
function opCountsOf(module: AttentionModule, ctx: ModuleContext, weights: Weights, gate: 'zero' | 'none'): Record<string, number> {
  return record(module, ctx, weights, gate).tape.opCounts();
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

/**
 * Builds and splices every planned insertion into the analyzed model's graph, writes the wiring back to the
 * protobuf and appends provenance (every existing metadata entry is kept as it was). Returns the insertions
 * with their node names filled in.
 */
export function applyInsertions(analyzed: AnalyzedModel, plans: InsertionPlan[], extraProvenance: Record<string, unknown> = {}): Insertion[] {
  const { graph, model } = analyzed;
  const done: Insertion[] = [];
  for (const p of plans) {
    const { tape, output } = record(p.module, p.ctx, p.weights, p.insertion.gate);
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

/** An insert item that failed, by its position in the list given to `applyInsertItems`; keeps the cause's exit code. */
export class InsertItemError extends OnnxAttnError {
  constructor(
    readonly index: number,
    override readonly cause: OnnxAttnError,
  ) {
    super(cause.name, cause.exitCode, cause.message, { cause });
  }
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

export interface InsertFileOptions extends InsertOptions {
  /** Output path (default `<stem>-<module>.onnx` beside the input). */
  output?: string;
  /** Replace an existing output (default false: refused, exit 2). */
  force?: boolean;
  /** Write over the input file (default false). */
  inPlace?: boolean;
  /** `auto` (default): as the input was stored; `always`: weights to `<output>.data`; `never`: all inline. */
  externalData?: ExternalDataMode;
  /** Plan only: locate, validate and count, write nothing. */
  dryRun?: boolean;
  /** Run the original and patched models once in onnxruntime (CPU) before saving (default true). */
  check?: boolean;
  /** Sizes for dynamic inputs (probe and check runs). */
  shapes?: Record<string, number[]>;
}

/** The `insert --json` document (cli-contract "JSON output"). */
export interface InsertResult {
  input: string;
  output: string;
  dryRun: boolean;
  insertions: Insertion[];
  check: { structure: string[]; run: RunCheck | null } | null;
}

/**
 * The `insert` command as a library call: load → locate → build → splice → check → save. Nothing is written
 * unless every step passed; the output appears atomically.
 */
export async function insertIntoFile(input: string, options: InsertFileOptions): Promise<InsertResult> {
  const output = options.inPlace ? input : (options.output ?? defaultOutputPath(input, findModule(options.module).name));
  if (!options.inPlace && path.resolve(output) === path.resolve(input)) {
    throw new UsageError(`refusing to overwrite the input ${input}; choose another -o, or pass --in-place`);
  }
  if (!options.dryRun) checkOutputPath(output, { force: options.force ?? false, inPlace: options.inPlace ?? false });
  const model = await loadModel(input);
  // A model read from a pipe cannot be read a second time for the check run: its original is kept as a copy.
  const original = isRegularFile(input) ? null : { ...model, proto: clone(ModelProtoSchema, model.proto) };
  // --shape sizes the probe and the check run; the modules see the model's own (possibly dynamic) dims.
  const analyzed = await analyzeModel(model, options.shapes ? { probeShapes: options.shapes } : {});
  const plans = planInsertions(analyzed, options);
  // A dry run splices too, in memory only, so it reports the very node and initializer names a real run writes.
  if (options.dryRun) return { input, output, dryRun: true, insertions: applyInsertions(analyzed, plans), check: null };

  const insertions = applyInsertions(analyzed, plans);
  // Each module is checked against the type it was built for (the analysis already typed the whole graph).
  const structure = checkStructure(
    model,
    insertions.map((ins, i) => ({ input: ins.moduleInput!, output: ins.moduleOutput!, inputType: analyzed.structure.types.get(plans[i]!.site.value) ?? null })),
  );
  if (structure.length > 0)
    throw new ModelError(`the patched model is not valid (${structure[0]}); nothing was written. Please report this with --debug output`);
  let run: RunCheck | null = null;
  if (options.check !== false) {
    // The original as its file: onnxruntime reads it, without a second load and encoding here. External data is
    // read by our loader (it may be a pipe or lie outside rules onnxruntime does not check), as before.
    run = await checkRun(original ?? (model.hadExternalData ? await loadModel(input) : input), model, options.shapes ? { shapes: options.shapes } : {});
    if (run.problems.length > 0) throw new ModelError(`the patched model does not run like the original: ${run.problems[0]}; nothing was written`);
    const gated = insertions.every((i) => i.gate === 'zero');
    if (gated && !run.identical) {
      throw new MismatchError(`--gate zero must reproduce the original outputs exactly, but they differ by up to ${run.maxAbsDiff}; nothing was written`);
    }
  }
  saveModel(model, output, {
    ...(options.externalData ? { externalData: options.externalData } : {}),
    force: options.force ?? false,
    inPlace: options.inPlace ?? false,
  });
  return { input, output, dryRun: false, insertions, check: { structure, run } };
}

function isRegularFile(file: string): boolean {
  try {
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}
