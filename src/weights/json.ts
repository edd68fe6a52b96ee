import { BuildError, DataFileError } from '../errors.js';
import { cut, fmtShape, listKeys, preview } from './messages.js';
import { checkDepth, isShape, numel, type NamedTensor, type ReadTensorOptions, type TensorFile } from './tensor.js';

/** Weights as JSON: `{key: nested arrays}` or `{key: {shape: [...], data: [...]}}`, with an optional `__metadata__`. */

/** With `expect`, a key the module does not have, or more values than its shape takes, is refused before it is copied. */
export function parseJson(file: string, text: string, expect?: ReadTensorOptions['expect']): TensorFile {
  const bad = (what: string) => new DataFileError(`${file}: not a valid weights JSON file: ${what}`);
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw bad(`${(e as Error).message.split('\n')[0]}`);
  }
  checkDepth(doc, bad);
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw bad('the top level is not an object {key: array}');
  const tensors = new Map<string, NamedTensor>();
  const metadata: Record<string, string> = {};
  for (const [key, v] of Object.entries(doc as Record<string, unknown>)) {
    if (key === '__metadata__' && typeof v === 'object' && v !== null && !Array.isArray(v)) {
      for (const [k, s] of Object.entries(v)) metadata[k] = typeof s === 'string' ? s : JSON.stringify(s);
      continue;
    }
    if (expect && !expect.keys.has(key.replace(/^\d+\./, ''))) {
      throw new BuildError(
        `${file}: ${cut(key)} is not a tensor of ${expect.module ?? 'the module'} (another module's or variant's weights?); expected: ${listKeys([...expect.keys])}`,
      );
    }
    const expected = expect?.shapes?.get(key);
    const tooMany = (n: number) => {
      if (expected && n > numel(expected))
        throw new BuildError(`${file}: ${cut(key)} holds ${n} values, more than the ${numel(expected)} of ${fmtShape(expected)}`);
    };
    let shape: number[];
    let flat: unknown[];
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) {
      const { shape: s, data } = v as { shape?: unknown; data?: unknown };
      if (!isShape(s)) throw bad(`${cut(key)}.shape is ${preview(s)}, not a list of non-negative integers`);
      if (!Array.isArray(data) && typeof data !== 'number') throw bad(`${cut(key)}.data is not an array of numbers`);
      shape = s;
      if (Array.isArray(data)) tooMany(data.length);
      flat = Array.isArray(data) ? data.flat(Infinity) : [data];
      if (flat.length !== numel(shape)) throw bad(`${cut(key)} has ${flat.length} values, but shape ${fmtShape(shape)} needs ${numel(shape)}`);
    } else {
      const inferred = nestedShape(v);
      if (inferred === null) throw bad(`${cut(key)} is not a number, a rectangular nested array of numbers, or {shape, data}`);
      tooMany(numel(inferred));
      shape = inferred;
      flat = Array.isArray(v) ? v.flat(Infinity) : [v];
    }
    const data = new Float64Array(flat.length);
    for (let i = 0; i < flat.length; i++) {
      const x = flat[i];
      if (typeof x !== 'number') throw bad(`${cut(key)} holds ${preview(x)}, not a number`);
      data[i] = x;
    }
    tensors.set(key, { dtype: 'F64', shape, data });
  }
  return { tensors, metadata };
}

/** The shape of a rectangular nested array of numbers, or null. */
function nestedShape(v: unknown): number[] | null {
  if (typeof v === 'number') return [];
  if (!Array.isArray(v)) return null;
  if (v.length === 0) return [0];
  const inner = nestedShape(v[0]);
  if (inner === null) return null;
  for (let i = 1; i < v.length; i++) {
    const s = nestedShape(v[i]);
    if (s === null || s.length !== inner.length || s.some((d, j) => d !== inner[j])) return null;
  }
  return [v.length, ...inner];
}
