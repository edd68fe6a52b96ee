/**
 * `npm run build`'s second step: the CLI as one ES module (plus a chunk per lazily loaded command) in dist/bin/,
 * made by esbuild from tsc's output in dist/src/. Node's ESM loader resolves, reads, compiles and links each of the
 * ~210 modules an `insert` loads one by one; bundled, `insert --no-check` on a 28 MB model starts about 0.1 s sooner
 * (README Benchmarks). dist/src/cli/bin.js loads this bundle when it was built after dist/src/cli/main.js, and the
 * modules themselves otherwise (after a bare `tsc`), so a stale bundle never runs.
 *
 * Not minified, with source maps: `--debug` stack traces keep their names and point into src/*.ts. Native packages
 * (onnxruntime-node, sharp) and OpenCV's 10 MB build (loaded only in its worker) stay outside; the bundle imports them
 * from node_modules as before.
 * dist/bin/ is two folders below the package root, as dist/src/ is, so `packageFile` (src/package-files.ts) finds
 * package.json and schema/ from either.
 */
import { build, type Plugin } from 'esbuild';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const BUNDLE_DIR = path.join(ROOT, 'dist/bin');
/** Packages the bundle leaves to node_modules. */
export const BUNDLE_EXTERNALS = ['onnxruntime-node', 'sharp', '@techstark/opencv-js'];

/**
 * string-width (yargs' and cliui's, two versions) builds an `Intl.Segmenter` and an `\\p{RGI_Emoji}` expression when
 * it is loaded, about 30 ms of every start, although a command only measures text widths to print help. Each import
 * of it gets a stand-in that loads the real module the first time a width is asked for: a `require()` of it, which
 * esbuild turns into a lazy initialiser inside the bundle. Same function, same results, loaded on first use.
 */
const lazyStringWidth: Plugin = {
  name: 'lazy-string-width',
  setup(b) {
    b.onResolve({ filter: /^string-width$/ }, async (args) => {
      // ES module imports only: a CommonJS require() (cli-progress's string-width 4) expects the function itself.
      if (args.pluginData === 'real' || args.kind !== 'import-statement') return undefined;
      const real = await b.resolve(args.path, { kind: args.kind, resolveDir: args.resolveDir, importer: args.importer, pluginData: 'real' });
      if (real.errors.length > 0) return { errors: real.errors };
      return { path: real.path, namespace: 'lazy-string-width' };
    });
    b.onLoad({ filter: /.*/, namespace: 'lazy-string-width' }, (args) => ({
      contents: [
        'let real;',
        'export default function stringWidth(string, options) {',
        `  real ??= require(${JSON.stringify(args.path)});`,
        '  return real.default(string, options);',
        '}',
      ].join('\n'),
      loader: 'js',
      resolveDir: path.dirname(args.path),
    }));
  },
};

/**
 * yargs reads parser settings from the `yargs` key of the first package.json it finds, searching up from the folder
 * above its own node_modules (its platform shim's `mainFilename`): onnx-attn's root, unbundled. Bundled, the shim no
 * longer lies under a node_modules folder, and yargs would search up from the working directory instead: listing
 * every folder from there to the first package.json (a crowded /tmp took 8 ms of each start here) and reading the
 * user's. The shim is given the place it has unbundled, so yargs finds onnx-attn's own package.json as before. The
 * build fails if yargs changes that line, rather than bundling a shim that searches from the working directory.
 */
const yargsShimPlace: Plugin = {
  name: 'yargs-shim-place',
  setup(b) {
    b.onLoad({ filter: /[\\/]yargs[\\/]lib[\\/]platform-shims[\\/]esm\.mjs$/ }, async (args) => {
      const text = await fs.promises.readFile(args.path, 'utf8');
      const line = 'const __dirname = fileURLToPath(import.meta.url);';
      if (!text.includes(line)) throw new Error(`${args.path} no longer has "${line}": review yargsShimPlace in scripts/bundle.ts`);
      const place = "const __dirname = fileURLToPath(new URL('../../node_modules/yargs/lib/platform-shims/esm.mjs', import.meta.url));";
      return { contents: text.replace(line, place), loader: 'js' };
    });
  },
};

export async function bundleCli(): Promise<void> {
  // Chunks are named by content hash: a fresh folder, so no chunk of an earlier build lingers.
  fs.rmSync(BUNDLE_DIR, { recursive: true, force: true });
  await build({
    absWorkingDir: ROOT,
    entryPoints: {
      cli: 'dist/src/cli/main.js',
      // src/runtime/opencv.ts starts its worker from the file beside it: './opencv-worker.js'.
      'opencv-worker': 'dist/src/runtime/opencv-worker.js',
    },
    outdir: BUNDLE_DIR,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    external: BUNDLE_EXTERNALS,
    // A package's ES module build where it has one: jsonc-parser's `main` is a UMD file whose require() calls of its
    // own parts a bundler cannot follow.
    mainFields: ['module', 'main'],
    // Bundled CommonJS dependencies (ajv, cli-progress) call require() for node's own modules; an ES module has none.
    banner: { js: "import { createRequire as __onnxAttnRequire } from 'node:module'; const require = __onnxAttnRequire(import.meta.url);" },
    // Mapped through tsc's own maps back to src/*.ts; the bin turns source maps on for --debug only, so a stack
    // trace names the TypeScript file and line, and no other run reads a map.
    sourcemap: true,
    plugins: [lazyStringWidth, yargsShimPlace],
    logLevel: 'warning',
  });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) await bundleCli();
