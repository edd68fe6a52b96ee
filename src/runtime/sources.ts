import * as fs from 'node:fs';
import * as path from 'node:path';
import { UsageError } from '../errors.js';
import { TensorProto_DataType as DT } from '../onnx/proto.js';
import { makeInputs, type InputSpec, type InputTensor } from './inputs.js';

/**
 * `--inputs random|zeros|FILE.json|DIR`: the input sets a run feeds. Random and zeros give one set; a JSON
 * file gives one set; a folder of images gives one set per batch of images, letterboxed as ultralytics and
 * YOLOv5 do (aspect kept, grey 114 padding, RGB, CHW, /255).
 */
export async function inputSets(source: string, specs: InputSpec[], seed = 0): Promise<InputTensor[][]> {
  if (source === 'random' || source === 'zeros') return [makeInputs(specs, { mode: source, seed })];
  let stat: fs.Stats;
  try {
    stat = fs.statSync(source);
  } catch {
    throw new UsageError(`--inputs ${source}: no such file or folder; use random, zeros, a .json file or a folder of images`);
  }
  if (stat.isDirectory()) return imageSets(source, specs, seed);
  if (source.toLowerCase().endsWith('.json')) return [jsonInputs(source, specs)];
  throw new UsageError(`--inputs ${source}: expected random, zeros, a .json file or a folder of .jpg/.png images`);
}

const TYPES: Record<number, InputTensor['type']> = { [DT.FLOAT]: 'float32', [DT.DOUBLE]: 'float64', [DT.INT64]: 'int64', [DT.INT32]: 'int32', [DT.BOOL]: 'bool', [DT.UINT8]: 'uint8' };

function flatten(v: unknown, out: number[], dims: number[], depth: number, where: string): void {
  if (Array.isArray(v)) {
    if (dims.length <= depth) dims.push(v.length);
    else if (dims[depth] !== v.length) throw new UsageError(`${where}: ragged nested arrays (length ${v.length} where ${dims[depth]} was seen)`);
    for (const x of v) flatten(x, out, dims, depth + 1, where);
  } else if (typeof v === 'number' && Number.isFinite(v)) out.push(v);
  else throw new UsageError(`${where}: ${JSON.stringify(v)} is not a finite number`);
}

/** `{name: nested arrays}` or `{name: {dims: [...], data: [...]}}`, one entry per model input. */
function jsonInputs(file: string, specs: InputSpec[]): InputTensor[] {
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new UsageError(`--inputs ${file}: not valid JSON (${(e as Error).message.split('\n')[0]})`);
  }
  return specs.map((s) => {
    const entry = parsed[s.name];
    if (entry === undefined) throw new UsageError(`--inputs ${file}: no entry for model input '${s.name}' (the file has ${Object.keys(parsed).join(', ') || 'nothing'})`);
    const values: number[] = [];
    let dims: number[] = [];
    if (entry && typeof entry === 'object' && !Array.isArray(entry) && 'data' in entry) {
      const e = entry as { dims?: number[]; data: unknown };
      flatten(e.data, values, [], 0, `${file}: ${s.name}`);
      dims = e.dims ?? [values.length];
    } else flatten(entry, values, dims, 0, `${file}: ${s.name}`);
    const want = s.dims.reduce((a, b) => a * b, 1);
    const given = dims.reduce((a, b) => a * b, 1);
    if (given !== values.length || dims.length !== s.dims.length || dims.some((d, i) => d !== s.dims[i])) {
      throw new UsageError(`--inputs ${file}: '${s.name}' has shape [${dims}] (${values.length} values), the model expects [${s.dims}] (${want})`);
    }
    const type = TYPES[s.elemType] ?? 'float32';
    const data =
      type === 'int64' ? BigInt64Array.from(values, (v) => BigInt(Math.trunc(v)))
      : type === 'int32' ? Int32Array.from(values)
      : type === 'float64' ? Float64Array.from(values)
      : type === 'bool' || type === 'uint8' ? Uint8Array.from(values)
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
    raw = await sharp(file).removeAlpha().resize(w, h, { fit: 'contain', background: { r: 114, g: 114, b: 114 } }).toColourspace('srgb').raw().toBuffer();
  } catch (e) {
    throw new UsageError(`--inputs: cannot decode image ${file} (${(e as Error).message.split('\n')[0]})`);
  }
  const out = new Float32Array(3 * h * w);
  for (let i = 0; i < h * w; i++) for (let c = 0; c < 3; c++) out[c * h * w + i] = raw[i * 3 + c]! / 255;
  return out;
}

async function imageSets(dir: string, specs: InputSpec[], seed: number): Promise<InputTensor[][]> {
  const files = fs.readdirSync(dir).filter((f) => IMAGE.test(f)).sort().map((f) => path.join(dir, f));
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
