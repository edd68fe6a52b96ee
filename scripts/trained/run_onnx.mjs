// Runs an ONNX detector in onnxruntime-node (the runtime the onnx-attn CLI uses), one image at a time, for
// make_trained.py's mAP measurement. From the repository root:
//   node scripts/trained/run_onnx.mjs MODEL.onnx IN.bin N SIZE OUT.bin
//     IN.bin holds N x 3 x SIZE x SIZE float32 (little-endian), preprocessed by the caller.
//   node scripts/trained/run_onnx.mjs MODEL.onnx --images FILE... --size SIZE --out OUT.bin
//     letterboxes each image with sharp exactly as the CLI's `--inputs DIR` does (src/runtime/sources.ts: fit
//     'contain', grey 114, RGB, /255) and also reports, per image, the resized size and the padding.
// OUT.bin gets each image's first output, concatenated. Prints {"dims": [...], "letterbox": [[w, h, left, top]...]}.
import { readFileSync, writeFileSync } from 'node:fs';
import ort from 'onnxruntime-node';
import sharp from 'sharp';

const args = process.argv.slice(2);
const model = args[0];
const session = await ort.InferenceSession.create(model, { executionProviders: ['cpu'], intraOpNumThreads: 1 });
const chunks = [];
const letterbox = [];
let dims = null;

async function run(data, s) {
  const x = new ort.Tensor('float32', data, [1, 3, s, s]);
  const out = await session.run({ [session.inputNames[0]]: x });
  const t = out[session.outputNames[0]];
  dims = t.dims;
  chunks.push(Buffer.from(new Float32Array(t.data).buffer));
}

let output;
if (args[1] === '--images') {
  const sizeAt = args.indexOf('--size');
  const outAt = args.indexOf('--out');
  const files = args.slice(2, Math.min(sizeAt, outAt));
  const s = Number(args[sizeAt + 1]);
  output = args[outAt + 1];
  for (const file of files) {
    const raw = await sharp(file)
      .removeAlpha()
      .resize(s, s, { fit: 'contain', background: { r: 114, g: 114, b: 114 } })
      .toColourspace('srgb')
      .raw()
      .toBuffer();
    const inner = await sharp(file).resize(s, s, { fit: 'inside' }).raw().toBuffer({ resolveWithObject: true });
    // sharp centres the resized image: the left/top padding is the floor of half the spare pixels
    letterbox.push([inner.info.width, inner.info.height, Math.floor((s - inner.info.width) / 2), Math.floor((s - inner.info.height) / 2)]);
    const data = new Float32Array(3 * s * s);
    for (let i = 0; i < s * s; i++) for (let c = 0; c < 3; c++) data[c * s * s + i] = raw[i * 3 + c] / 255;
    await run(data, s);
  }
} else {
  const [, input, n, size, out] = args;
  output = out;
  const s = Number(size);
  const buf = readFileSync(input);
  const all = new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
  const per = 3 * s * s;
  for (let i = 0; i < Number(n); i++) await run(all.slice(i * per, (i + 1) * per), s);
}
writeFileSync(output, Buffer.concat(chunks));
process.stdout.write(JSON.stringify({ dims, letterbox }) + '\n');
