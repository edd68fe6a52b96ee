/**
 * `node dist/scripts/bench-session.js model.onnx`: one onnxruntime CPU session create + run of the model (seeded
 * random inputs, as the insert check makes them), timed inside the process; prints the seconds. The bench's yardstick
 * for what the check run costs beyond `insert --no-check`.
 */
import { Graph } from '../src/graph/graph.js';
import { loadModel } from '../src/onnx/load.js';
import { graphInputSpecs, makeInputs } from '../src/runtime/inputs.js';
import { openSession } from '../src/runtime/session.js';

const file = process.argv[2]!;
const inputs = makeInputs(graphInputSpecs(Graph.fromModel(await loadModel(file))), { seed: 0 });
const t0 = performance.now();
const session = await openSession(file, {}, 'bench model');
await session.run(inputs);
const seconds = (performance.now() - t0) / 1000;
await session.release();
console.log(seconds.toFixed(4));
