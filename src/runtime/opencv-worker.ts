/**
 * The worker thread that runs a model in OpenCV.js (`@techstark/opencv-js`, OpenCV's DNN module compiled to
 * WebAssembly). It lives in its own thread because the build installs process-wide `uncaughtException` handlers
 * that abort the process: here an abort ends this thread only, and src/runtime/opencv.ts turns it into one line.
 *
 * Messages in: {id, kind: 'load', bytes, outputNames} | {id, kind: 'run', inputs: [{name, dims, data}]}.
 * Messages out: {id, ok: true, ...} or {id, ok: false, message} (OpenCV's C++ exceptions decoded to their text).
 */
import { createRequire } from 'node:module';
import { parentPort } from 'node:worker_threads';

// OpenCV.js ships no typings for its DNN module (dnn_Net, blobFromImage): its object is typed loosely.
type Cv = any;

interface LoadMessage {
  id: number;
  kind: 'load';
  bytes: Uint8Array;
  outputNames: string[];
}
interface RunMessage {
  id: number;
  kind: 'run';
  inputs: { name: string; dims: number[]; data: Float32Array }[];
}

const port = parentPort!;
let cvReady: Promise<{ cv: Cv }> | null = null;
let net: any = null;
let outputNames: string[] = [];

function loadCv(): Promise<{ cv: Cv }> {
  cvReady ??= new Promise((resolve) => {
    const cv = createRequire(import.meta.url)('@techstark/opencv-js');
    // The module object fills in once its WebAssembly is compiled (about a second). It is wrapped: it has a `then`
    // of its own, which a promise resolved with it would call for ever.
    if (cv.Mat) resolve({ cv });
    else cv.onRuntimeInitialized = () => resolve({ cv });
  });
  return cvReady;
}

/** OpenCV throws C++ exceptions as bare numbers (pointers into its heap): read their message. */
function messageOf(cv: Cv, e: unknown): string {
  if (typeof e === 'number' && typeof cv?.exceptionFromPtr === 'function') {
    try {
      return String(cv.exceptionFromPtr(e).msg);
    } catch {
      return `OpenCV exception ${e}`;
    }
  }
  return e instanceof Error ? e.message : String(e);
}

function versionOf(cv: Cv): string {
  const info: string = typeof cv.getBuildInformation === 'function' ? cv.getBuildInformation() : '';
  return /OpenCV (\d+\.\d+\.\d+)/.exec(info)?.[1] ?? 'unknown';
}

function load(cv: Cv, m: LoadMessage) {
  // readNetFromONNX reads a path of Emscripten's in-memory file system, not bytes.
  try {
    cv.FS_unlink('/model.onnx');
  } catch {
    // No earlier model.
  }
  cv.FS_createDataFile('/', 'model.onnx', m.bytes, true, false, false);
  net = cv.readNetFromONNX('/model.onnx');
  outputNames = m.outputNames;
  return { version: versionOf(cv) };
}

/** An NCHW float32 tensor as a blob: this build makes N-D Mats only through blobFromImage (HWC, 1-4 channels). */
function blobOf(cv: Cv, t: RunMessage['inputs'][number]) {
  const [, c, h, w] = t.dims as [number, number, number, number];
  const hwc = new Float32Array(c * h * w);
  for (let k = 0; k < c; k++) for (let p = 0; p < h * w; p++) hwc[p * c + k] = t.data[k * h * w + p]!;
  const image = cv.matFromArray(h, w, cv[`CV_32FC${c}`], hwc);
  try {
    return cv.blobFromImage(image, 1, new cv.Size(w, h), new cv.Scalar(0, 0, 0, 0), false, false, cv.CV_32F);
  } finally {
    image.delete();
  }
}

function run(cv: Cv, m: RunMessage) {
  const blobs = m.inputs.map((t) => blobOf(cv, t));
  try {
    m.inputs.forEach((t, i) => net.setInput(blobs[i], t.name));
    // One forward per output name: this build's forward of several names takes no JS list.
    return {
      outputs: outputNames.map((name) => {
        const mat = net.forward(name);
        try {
          const dims: number[] = Array.from(mat.matSize as ArrayLike<number>);
          const depth = mat.depth();
          const [type, data] =
            depth === cv.CV_32F
              ? ['float32', Float32Array.from(mat.data32F)]
              : depth === cv.CV_32S
                ? ['int32', Int32Array.from(mat.data32S)]
                : depth === cv.CV_64F
                  ? ['float64', Float64Array.from(mat.data64F)]
                  : [null, null];
          if (!type) throw new Error(`output '${name}' has OpenCV depth ${depth}, which onnx-attn does not read`);
          return { name, type, dims, data };
        } finally {
          mat.delete();
        }
      }),
    };
  } finally {
    for (const b of blobs) b.delete();
  }
}

port.on('message', (m: LoadMessage | RunMessage) => {
  void loadCv().then(({ cv }) => {
    try {
      const result = m.kind === 'load' ? load(cv, m) : run(cv, m);
      port.postMessage({ id: m.id, ok: true, ...result });
    } catch (e) {
      port.postMessage({ id: m.id, ok: false, message: messageOf(cv, e) });
    }
  });
});
