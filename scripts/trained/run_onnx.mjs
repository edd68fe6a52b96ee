// Runs an ONNX detector in onnxruntime-node (the runtime the onnx-attn CLI uses) on N preprocessed images, one at a
// time, for make_trained.py's mAP measurement. Usage (from the repository root):
//   node scripts/trained/run_onnx.mjs MODEL.onnx IN.bin N SIZE OUT.bin
// IN.bin holds N x 3 x SIZE x SIZE float32 (little-endian); OUT.bin gets each image's first output, concatenated.
// Prints {"dims": [...]} (one image's output dims) on stdout.
import { readFileSync, writeFileSync } from 'node:fs';
import ort from 'onnxruntime-node';

const [model, input, n, size, output] = process.argv.slice(2);
const count = Number(n);
const s = Number(size);
const session = await ort.InferenceSession.create(model, { executionProviders: ['cpu'], intraOpNumThreads: 1 });
const buf = readFileSync(input);
const all = new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
const per = 3 * s * s;
const chunks = [];
let dims = null;
for (let i = 0; i < count; i++) {
  const x = new ort.Tensor('float32', all.slice(i * per, (i + 1) * per), [1, 3, s, s]);
  const out = await session.run({ [session.inputNames[0]]: x });
  const t = out[session.outputNames[0]];
  dims = t.dims;
  chunks.push(Buffer.from(new Float32Array(t.data).buffer));
}
writeFileSync(output, Buffer.concat(chunks));
process.stdout.write(JSON.stringify({ dims }) + '\n');
