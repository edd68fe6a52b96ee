/**
 * The least any Node tool can do for the node-rich bench's targets, with none of onnx-attn's code, so that the bench
 * shows where a target sits against what is physically there:
 *
 * - `node dist/scripts/bench-floors.js save IN OUT`: read the file whole, write its bytes under a temporary name
 *   beside OUT, fsync, rename into place. What a durable, atomic save of an unchanged model costs in this process,
 *   with no decoding, analysis or encoding; `insert --no-check` does all of this and more.
 * - `node dist/scripts/bench-floors.js session MODEL`: onnxruntime-node loaded and one CPU session created and run
 *   (zero inputs of the model's own sizes, 1 where a size is symbolic), with the session options of the check run.
 *   Its peak RSS (measured by the bench's RSS hook) is the least memory a check run that opens one session needs.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadOrt } from '../src/runtime/ort.js';
import { ortSessionOptions } from '../src/runtime/session.js';

const [mode, file, out] = process.argv.slice(2);

if (mode === 'save' && file && out) {
  const bytes = fs.readFileSync(file);
  const staged = path.join(path.dirname(out), `.${path.basename(out)}.floor-${process.pid}`);
  const fd = fs.openSync(staged, 'wx');
  for (let at = 0; at < bytes.length;) at += fs.writeSync(fd, bytes, at, bytes.length - at);
  fs.fsyncSync(fd);
  fs.closeSync(fd);
  fs.renameSync(staged, out);
} else if (mode === 'session' && file) {
  const ort = await loadOrt();
  ort.env.logLevel = 'fatal';
  // The check run's session options, from the function that makes them.
  const session = await ort.InferenceSession.create(file, ortSessionOptions());
  const feeds: Record<string, InstanceType<typeof ort.Tensor>> = {};
  for (const input of session.inputMetadata) {
    if (!input.isTensor || input.type !== 'float32') throw new Error(`${file}: input ${input.name} is not a float32 tensor`);
    const dims = input.shape.map((d) => (typeof d === 'number' && d > 0 ? d : 1));
    feeds[input.name] = new ort.Tensor('float32', new Float32Array(dims.reduce((a, b) => a * b, 1)), dims);
  }
  await session.run(feeds);
  await session.release();
} else {
  console.error('usage: bench-floors.js save IN OUT | session MODEL');
  process.exitCode = 2;
}
