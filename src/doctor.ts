import { spawnSync } from 'node:child_process';
import { effects } from './effects.js';
import * as path from 'node:path';
import { EP_NAMES, fixFor, ortBinaryDir, ortVersion, probeProviders, type EpName } from './runtime/providers.js';
import { loadOrt } from './runtime/ort.js';

export interface LibraryCheck {
  file: string;
  present: boolean;
  /** Shared libraries it needs that the dynamic loader cannot find (from ldd). */
  missing: string[];
}

export interface ProviderReport {
  name: EpName;
  /** Listed by onnxruntime-node's listSupportedBackends(). */
  listed: boolean;
  /** Shipped inside the npm package (cpu, webgpu) rather than downloaded by its install script (cuda, tensorrt). */
  bundled: boolean;
  libraries: LibraryCheck[];
  loadable: boolean;
  reason: string | null;
  fix: string | null;
}

export interface DoctorReport {
  onnxruntimeNode: string;
  platform: string;
  node: string;
  binaryDir: string;
  providers: ProviderReport[];
  /** What we can tell about onnxruntime-node's install script (which fetches the CUDA providers). */
  installScript: { skippedBy: string | null; note: string };
  problems: { what: string; fix: string }[];
}

const PROVIDER_LIBS: Partial<Record<EpName, string[]>> = {
  cuda: ['libonnxruntime_providers_shared.so', 'libonnxruntime_providers_cuda.so'],
  tensorrt: ['libonnxruntime_providers_shared.so', 'libonnxruntime_providers_tensorrt.so'],
};

function checkLibrary(dir: string, file: string): LibraryCheck {
  const full = path.join(dir, file);
  if (!effects.fs.existsSync(full)) return { file, present: false, missing: [] };
  const r = spawnSync('ldd', [full], { encoding: 'utf8' });
  const missing = (r.stdout ?? '')
    .split('\n')
    .filter((l) => l.includes('not found'))
    .map((l) => l.trim().split(/\s+/)[0]!);
  return { file, present: true, missing };
}

/** Where the CUDA download was turned off, if anywhere we can see. */
function installSkippedBy(): string | null {
  const env = process.env.ONNXRUNTIME_NODE_INSTALL ?? process.env.npm_config_onnxruntime_node_install;
  if (env === 'skip') return 'ONNXRUNTIME_NODE_INSTALL=skip (environment)';
  for (const rc of [path.join(process.cwd(), '.npmrc')]) {
    if (effects.fs.existsSync(rc) && /^\s*onnxruntime-node-install\s*=\s*skip\s*$/m.test(effects.fs.readFileSync(rc, 'utf8')))
      return `onnxruntime-node-install=skip in ${rc}`;
  }
  return null;
}

/** onnxruntime-node's version, which providers are listed, bundled and loadable, and how to fix what is not. */
export async function doctor(): Promise<DoctorReport> {
  const ort = await loadOrt();
  const listed = ort.listSupportedBackends();
  const dir = ortBinaryDir();
  const probes = probeProviders(EP_NAMES);
  const skippedBy = installSkippedBy();
  const providers = EP_NAMES.map((name): ProviderReport => {
    const entry = listed.find((b) => b.name === name);
    const probe = probes.find((p) => p.ep === name)!;
    const libraries = (PROVIDER_LIBS[name] ?? []).map((f) => checkLibrary(dir, f));
    return {
      name,
      listed: Boolean(entry),
      bundled: entry?.bundled ?? false,
      libraries,
      loadable: probe.loadable,
      reason: probe.reason,
      fix: probe.loadable ? null : fixFor(name),
    };
  });
  const problems: DoctorReport['problems'] = [];
  for (const p of providers) {
    if (p.loadable) continue;
    const absent = p.libraries.filter((l) => !l.present).map((l) => l.file);
    const missing = p.libraries.flatMap((l) => l.missing);
    if (absent.length > 0) {
      problems.push({
        what: `${p.name}: ${absent.join(', ')} not installed in ${dir}${skippedBy ? ` (the download was skipped: ${skippedBy})` : ''}`,
        fix: fixFor(p.name),
      });
    } else if (missing.length > 0) {
      problems.push({
        what: `${p.name}: the provider library needs ${missing.join(', ')}, which the loader cannot find`,
        fix: 'install the CUDA 12 / cuDNN 9 (and for TensorRT, TensorRT 10) runtime libraries and add their folder to LD_LIBRARY_PATH',
      });
    } else {
      problems.push({ what: `${p.name}: ${p.reason}`, fix: fixFor(p.name) });
    }
  }
  return {
    onnxruntimeNode: ortVersion(),
    platform: `${process.platform}-${process.arch}`,
    node: process.version,
    binaryDir: dir,
    providers,
    installScript: {
      skippedBy,
      note: 'onnxruntime-node downloads its CUDA/TensorRT providers in a postinstall script; npm 11 warns and later npm versions block dependency install scripts unless approved (`npm install-scripts approve onnxruntime-node`)',
    },
    problems,
  };
}
