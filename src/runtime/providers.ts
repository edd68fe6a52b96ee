import { spawnSync } from 'node:child_process';
import { effects } from '../effects.js';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { create, toBinary } from '@bufbuild/protobuf';
import { EpUnavailableError, UsageError } from '../errors.js';
import { GraphProtoSchema, ModelProtoSchema, NodeProtoSchema, OperatorSetIdProtoSchema } from '../onnx/proto.js';
import { tensorInfo } from '../onnx/tensor.js';

/** Execution providers onnx-attn knows, as onnxruntime-node names them. */
export const EP_NAMES = ['cpu', 'cuda', 'tensorrt', 'webgpu'] as const;
export type EpName = (typeof EP_NAMES)[number];

export function parseEp(name: string): EpName {
  const ep = name.toLowerCase() as EpName;
  if (!EP_NAMES.includes(ep)) throw new UsageError(`--ep '${name}': expected one of ${EP_NAMES.join(', ')}`);
  return ep;
}

export interface ProviderProbe {
  ep: EpName;
  loadable: boolean;
  /** Why it could not load (first line of onnxruntime's error), or null. */
  reason: string | null;
}

const require = createRequire(import.meta.url);

/** The folder onnxruntime-node loads its native libraries from. */
export function ortBinaryDir(): string {
  const pkg = path.dirname(require.resolve('onnxruntime-node/package.json'));
  return path.join(pkg, 'bin', 'napi-v6', process.platform, process.arch);
}

export function ortVersion(): string {
  const pkg = path.dirname(require.resolve('onnxruntime-node/package.json'));
  return (JSON.parse(effects.fs.readFileSync(path.join(pkg, 'package.json'), 'utf8')) as { version: string }).version;
}

/** A one-node model (Relu) to try a provider on. */
function tinyModel(): Uint8Array {
  return toBinary(
    ModelProtoSchema,
    create(ModelProtoSchema, {
      irVersion: 8n,
      opsetImport: [create(OperatorSetIdProtoSchema, { domain: '', version: 13n })],
      graph: create(GraphProtoSchema, {
        name: 'probe',
        node: [create(NodeProtoSchema, { opType: 'Relu', name: 'relu', input: ['x'], output: ['y'] })],
        input: [tensorInfo('x', [4])],
        output: [tensorInfo('y', [4])],
      }),
    }),
  );
}

/**
 * Tries each provider in a child process: onnxruntime prints native errors and Dawn prints Vulkan warnings
 * straight to stderr, and a broken CUDA install can abort the process; none of that reaches the user's terminal.
 */
export function probeProviders(eps: readonly EpName[], deviceId = 0): ProviderProbe[] {
  const script = `
    const ort = await import(process.env.ORT_ENTRY);
    const bytes = Buffer.from(process.env.PROBE_MODEL, 'base64');
    const out = {};
    for (const ep of JSON.parse(process.env.PROBE_EPS)) {
      try {
        const s = await ort.InferenceSession.create(bytes, { executionProviders: [ep === 'cpu' || ep === 'webgpu' ? ep : { name: ep, deviceId: ${deviceId} }], logSeverityLevel: 4 });
        await s.run({ x: new ort.Tensor('float32', new Float32Array([-1, 0, 1, 2]), [4]) });
        out[ep] = null;
      } catch (e) { out[ep] = String(e && e.message || e).split('\\n')[0]; }
    }
    process.stdout.write(JSON.stringify(out));`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    env: {
      ...process.env,
      ORT_ENTRY: pathToImport(require.resolve('onnxruntime-node')),
      PROBE_MODEL: Buffer.from(tinyModel()).toString('base64'),
      PROBE_EPS: JSON.stringify(eps),
    },
    encoding: 'utf8',
    timeout: 120_000,
  });
  let results: Record<string, string | null> = {};
  try {
    results = JSON.parse(r.stdout) as Record<string, string | null>;
  } catch {
    const why = r.signal ? `the probe process was killed by ${r.signal}` : `the probe process exited with ${r.status}`;
    return eps.map((ep) => ({ ep, loadable: ep === 'cpu', reason: ep === 'cpu' ? null : why }));
  }
  return eps.map((ep) => ({ ep, loadable: results[ep] === null, reason: results[ep] ? shortReason(results[ep]) : null }));
}

/** onnxruntime's messages often start with a source path and a C++ signature; keep the sentence a user can act on. */
function shortReason(message: string): string {
  const at = message.lastIndexOf('. ');
  return at > 0 && message.length - at > 20 && message.startsWith('/') ? message.slice(at + 2) : message;
}

function pathToImport(p: string): string {
  return new URL(`file://${p}`).href;
}

/** What to do when a provider does not load: the fix the user needs, in one line. */
export function fixFor(ep: EpName): string {
  switch (ep) {
    case 'cuda':
      return (
        "onnxruntime-node's CUDA provider is not installed: run `npm install onnxruntime-node --onnxruntime-node-install=cuda12` " +
        '(under npm 11 first `npm install-scripts approve onnxruntime-node`), and make the CUDA 12 and cuDNN 9 runtime libraries loadable (LD_LIBRARY_PATH); `onnx-attn doctor` checks each step'
      );
    case 'tensorrt':
      return 'the TensorRT provider comes with the CUDA download (`--onnxruntime-node-install=cuda12`) and needs TensorRT 10 (libnvinfer) on LD_LIBRARY_PATH; `onnx-attn doctor` checks each step';
    case 'webgpu':
      return 'WebGPU needs a GPU adapter (Vulkan on Linux: libvulkan.so.1 and a driver); none was found';
    default:
      return 'the CPU provider is bundled with onnxruntime-node; reinstall it with `npm ci`';
  }
}

export interface ProviderChoice {
  requested: EpName[];
  /** Providers the session will use, in order (cpu last when falling back). */
  used: EpName[];
  /** Why a requested provider was replaced by the CPU, or null. */
  fallbackReason: string | null;
}

/**
 * Picks the providers for a session. A requested provider that cannot load is EpUnavailableError (exit 3) with
 * the reason and the fix, unless `fallback` is `cpu`: then the CPU runs and the reason is recorded.
 */
export function chooseProviders(requested: readonly EpName[], fallback: 'cpu' | 'none', deviceId = 0): ProviderChoice {
  const wanted: EpName[] = requested.length > 0 ? [...requested] : ['cpu'];
  const gpu = wanted.filter((e) => e !== 'cpu');
  if (gpu.length === 0) return { requested: wanted, used: ['cpu'], fallbackReason: null };
  const probes = probeProviders(gpu, deviceId);
  const failed = probes.filter((p) => !p.loadable);
  if (failed.length === 0) return { requested: wanted, used: wanted, fallbackReason: null };
  const reason = failed.map((f) => `${f.ep} unavailable: ${f.reason}`).join('; ');
  const usable = wanted.filter((e) => e === 'cpu' || !failed.some((f) => f.ep === e));
  if (fallback === 'cpu') {
    return { requested: wanted, used: usable.includes('cpu') ? usable : [...usable, 'cpu'], fallbackReason: reason };
  }
  const first = failed[0]!;
  throw new EpUnavailableError(
    `execution provider '${first.ep}' is unavailable (${first.reason}). Fix: ${fixFor(first.ep)}. Or pass --fallback cpu to run on the CPU and record it`,
  );
}
