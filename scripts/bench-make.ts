/** `node dist/scripts/bench-make.js NAME OUT.onnx`: writes one of the bench models (scripts/bench-models.ts). */
import { BENCH_MODELS, nodeRichModel } from './bench-models.js';
import { saveModel } from '../src/onnx/save.js';

const [name, out] = process.argv.slice(2);
const spec = BENCH_MODELS[name as keyof typeof BENCH_MODELS];
if (!spec || !out) {
  console.error(`usage: bench-make.js ${Object.keys(BENCH_MODELS).join('|')} OUT.onnx`);
  process.exit(2);
}
saveModel(nodeRichModel(spec), out, { force: true });
