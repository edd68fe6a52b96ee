import type { Stats } from 'node:fs';
import { effects } from '../effects.js';
import * as path from 'node:path';
import { DataFileError, UsageError } from '../errors.js';
import { MAX_INPUTS_JSON_BYTES, MAX_NESTING_DEPTH, mib, placeOf, tooDeep } from '../limits.js';
import { TensorProto_DataType as DT } from '../onnx/proto.js';
import { makeInputs, type InputSpec, type InputTensor } from './inputs.js';

/**
 * `--inputs random|zeros|FILE.json|DIR`: the input sets a run feeds. Random and zeros give one set; a JSON
 * file gives one set; a folder of images gives one set per batch of images, letterboxed as ultralytics and
 * YOLOv5 do (aspect kept, grey 114 padding, RGB, CHW, /255).
 */
export async function inputSets(source: string, specs: InputSpec[], seed = 0): Promise<InputTensor[][]> {
  if (source === 'random' || source === 'zeros') return [makeInputs(specs, { mode: source, seed })];
  let stat: Stats;
  try {
    stat = effects.fs.statSync(source);
  } catch {
    throw new UsageError(`--inputs ${source}: no such file or folder; use random, zeros, a .json file or a folder of images`);
  }
  if (stat.isDirectory()) return imageSets(source, specs, seed);
  // A FIFO or a device would block the read or never end.
  if (!stat.isFile()) throw new UsageError(`--inputs ${source}: not a regular file or folder; give a .json file or a folder of images`);
  if (source.toLowerCase().endsWith('.json')) return [jsonInputs(source, specs)];
  throw new UsageError(`--inputs ${source}: expected random, zeros, a .json file or a folder of .jpg/.png images`);
}

const TYPES: Record<number, InputTensor['type']> = {
  [DT.FLOAT]: 'float32',
  [DT.DOUBLE]: 'float64',
  [DT.INT64]: 'int64',
  [DT.INT32]: 'int32',
  [DT.BOOL]: 'bool',
  [DT.UINT8]: 'uint8',
};

/** `images[0][2]`: where a value sits in the file, for messages. */
const at = (where: string, index: readonly number[]) => `${where}${index.map((i) => `[${i}]`).join('')}`;

/**
 * `index` is the path to `v`, one stack shared by the whole walk (an image has millions of leaves). `max`: the
 * values the model's input takes; more is refused as soon as it is seen, before they are all copied.
 */
function flatten(v: unknown, out: number[], dims: number[], index: number[], where: string, max: number): void {
  if (Array.isArray(v)) {
    const depth = index.length;
    if (dims.length <= depth) dims.push(v.length);
    else if (dims[depth] !== v.length)
      throw new DataFileError(`${at(where, index)}: ragged nested arrays (length ${v.length} where ${dims[depth]} was seen); every row needs the same length`);
    for (let i = 0; i < v.length; i++) {
      index.push(i);
      flatten(v[i], out, dims, index, where, max);
      index.pop();
    }
  } else if (typeof v === 'number' && Number.isFinite(v)) {
    if (out.length >= max) throw new DataFileError(`${where}: more than the ${max} values the model's input takes`);
    out.push(v);
  }
  // JSON has no NaN or Infinity; 1e999 parses to Infinity.
  else if (typeof v === 'number') throw new DataFileError(`${at(where, index)} is not a finite number; give finite values`);
  else
    throw new DataFileError(
      `${at(where, index)} is ${v === null ? 'null' : typeof v === 'object' ? 'an object' : `a ${typeof v}`}, not a number; give nested arrays of numbers`,
    );
}

const FORMS = '{"NAME": nested arrays} or {"NAME": {"dims": [...], "data": [...]}}';

/** The file's entry names for a message: a few, each cut short (a hostile file can hold a million long keys). */
function namesOf(entries: Record<string, unknown>): string {
  const names = Object.keys(entries);
  if (names.length === 0) return 'nothing';
  const shown = names.slice(0, 8).map((n) => (n.length > 80 ? `${n.slice(0, 80)}…` : n));
  return names.length > 8 ? `${shown.join(', ')}, ... (${names.length - 8} more)` : shown.join(', ');
}

function readDims(v: unknown, where: string): number[] {
  if (!Array.isArray(v) || !v.every((d) => Number.isInteger(d) && d >= 0))
    throw new DataFileError(`${where}: expected a list of whole numbers, e.g. [1, 3, 640, 640]`);
  return v as number[];
}

/**
 * `{name: nested arrays}` or `{name: {dims: [...], data: [...]}}` (`shape` for `dims`, as --weights files have it).
 * What the file holds is the file's fault (DataFileError, exit 4); its size and nesting are bounded (src/limits.ts)
 * before anything walks it.
 */
function jsonInputs(file: string, specs: InputSpec[]): InputTensor[] {
  const size = effects.fs.statSync(file).size;
  if (size > MAX_INPUTS_JSON_BYTES)
    throw new DataFileError(
      `--inputs ${file}: ${size} bytes, over the ${mib(MAX_INPUTS_JSON_BYTES)} limit for an inputs JSON file; feed large inputs as a folder of images`,
    );
  let parsed: unknown;
  try {
    parsed = JSON.parse(effects.fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new DataFileError(`--inputs ${file}: not valid JSON (${(e as Error).message.split('\n')[0]})`);
  }
  const deep = tooDeep(parsed);
  if (deep)
    throw new DataFileError(
      `--inputs ${file}: ${placeOf('', deep, 6) || 'the top level'} nests deeper than ${MAX_NESTING_DEPTH} levels of arrays and objects (the limit); an input is {"NAME": nested arrays} of its rank`,
    );
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed))
    throw new DataFileError(`--inputs ${file}: expected an object with one entry per model input, ${FORMS}`);
  const entries = parsed as Record<string, unknown>;
  const where = `--inputs ${file}: `;
  return specs.map((s) => {
    const entry = Object.hasOwn(entries, s.name) ? entries[s.name] : undefined;
    if (entry === undefined) throw new DataFileError(`--inputs ${file}: no entry for model input '${s.name}' (the file has ${namesOf(entries)})`);
    const values: number[] = [];
    let dims: number[] = [];
    const want = s.dims.reduce((a, b) => a * b, 1);
    if (entry && typeof entry === 'object' && !Array.isArray(entry)) {
      const e = entry as { dims?: unknown; shape?: unknown; data?: unknown };
      if (e.data === undefined) throw new DataFileError(`${where}'${s.name}' is an object without "data"; expected ${FORMS}`);
      const given = e.dims !== undefined ? readDims(e.dims, `${where}${s.name}.dims`) : undefined;
      const shape = e.shape !== undefined ? readDims(e.shape, `${where}${s.name}.shape`) : undefined;
      if (given && shape && JSON.stringify(given) !== JSON.stringify(shape)) {
        throw new DataFileError(`${where}'${s.name}' has dims [${given}] and shape [${shape}]; give one of them`);
      }
      flatten(e.data, values, [], [], `${where}${s.name}`, want);
      dims = given ?? shape ?? [values.length];
    } else flatten(entry, values, dims, [], `${where}${s.name}`, want);
    const given = dims.reduce((a, b) => a * b, 1);
    if (given !== values.length || dims.length !== s.dims.length || dims.some((d, i) => d !== s.dims[i])) {
      throw new DataFileError(`--inputs ${file}: '${s.name}' has shape [${dims}] (${values.length} values), the model expects [${s.dims}] (${want})`);
    }
    const type = TYPES[s.elemType] ?? 'float32';
    const data =
      type === 'int64'
        ? BigInt64Array.from(values, (v) => BigInt(Math.trunc(v)))
        : type === 'int32'
          ? Int32Array.from(values)
          : type === 'float64'
            ? Float64Array.from(values)
            : type === 'bool' || type === 'uint8'
              ? Uint8Array.from(values)
              : Float32Array.from(values);
    return { name: s.name, type, dims: s.dims, data };
  });
}

const IMAGE = /\.(jpe?g|png|webp|bmp|tiff?)$/i;

/** Letterbox to [H, W]: scale to fit, centre, pad with 114 (what ultralytics' LetterBox does). */
async function letterbox(file: string, h: number, w: number): Promise<Float32Array> {
  const sharp = (await import('sharp')).default;
  let raw: Buffer;
  try {
    raw = await sharp(file)
      .removeAlpha()
      .resize(w, h, { fit: 'contain', background: { r: 114, g: 114, b: 114 } })
      .toColourspace('srgb')
      .raw()
      .toBuffer();
  } catch (e) {
    throw new DataFileError(
      `--inputs: cannot decode image ${file} (${(e as Error).message.split('\n')[0]}); the folder holds a file that is no image sharp can read`,
    );
  }
  const out = new Float32Array(3 * h * w);
  for (let i = 0; i < h * w; i++) for (let c = 0; c < 3; c++) out[c * h * w + i] = raw[i * 3 + c]! / 255;
  return out;
}

async function imageSets(dir: string, specs: InputSpec[], seed: number): Promise<InputTensor[][]> {
  // Regular files only: a FIFO named x.jpg would block the decoder.
  const files = effects.fs
    .readdirSync(dir)
    .filter((f) => IMAGE.test(f))
    .sort()
    .map((f) => path.join(dir, f))
    .filter((f) => effects.fs.statSync(f, { throwIfNoEntry: false })?.isFile());
  if (files.length === 0) throw new UsageError(`--inputs ${dir}: the folder has no .jpg, .png, .webp, .bmp or .tiff images`);
  const image = specs.find((s) => s.dims.length === 4 && s.dims[1] === 3 && (s.elemType === DT.FLOAT || s.elemType === DT.DOUBLE));
  if (!image) throw new UsageError(`--inputs ${dir}: the model has no [N,3,H,W] float image input to feed images to`);
  const [n, , h, w] = image.dims as [number, number, number, number];
  const sets: InputTensor[][] = [];
  for (let start = 0; start < files.length; start += n) {
    const base = makeInputs(specs, { seed });
    const data = new Float32Array(n * 3 * h * w);
    for (let b = 0; b < n; b++) data.set(await letterbox(files[(start + b) % files.length]!, h, w), b * 3 * h * w);
    sets.push(base.map((t) => (t.name === image.name ? { ...t, data: t.type === 'float64' ? Float64Array.from(data) : data } : t)));
  }
  return sets;
}
