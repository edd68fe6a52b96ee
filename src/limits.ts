/**
 * Limits on the files other people commit (plans, `--inputs` JSON, `--weights` files): the bounds that keep a
 * hostile or broken file from hanging a CI job, exhausting its memory or overflowing the stack. Each is named in
 * the message that refuses a file, and listed in the README's "Limits" section. Run counts are in
 * src/runtime/limits.ts, the input element cap in src/runtime/inputs.ts.
 */

/**
 * Deepest nesting of arrays and objects in a plan, an `--inputs` JSON file, a weights JSON file or a safetensors
 * header. A tensor of rank r is r levels of arrays inside one or two objects; a plan is about 6 levels deep.
 */
export const MAX_NESTING_DEPTH = 64;

/** Largest plan file (a plan of MAX_PLAN_ENTRIES entries takes a few hundred KB). */
export const MAX_PLAN_BYTES = 1024 * 1024;
/** Most `models:` entries in one plan. */
export const MAX_PLAN_ENTRIES = 1000;
/** Most `insert:` items in one entry (the points of one item are bounded by the model's own tensors). */
export const MAX_INSERT_ITEMS = 100;
/** Most `reports:` of one plan. */
export const MAX_PLAN_REPORTS = 100;
/** Most nodes YAML aliases may expand to in a plan (the `yaml` library's own default): an alias bomb stops here. */
export const MAX_PLAN_ALIAS_COUNT = 100;

/**
 * Largest `--inputs` JSON file: parsed JSON takes up to 14 times its text in memory (a 64 MiB file of zeros peaks at
 * 940 MB), so 32 MiB keeps a run under 1 GB; a 1x3x640x640 image written out is 5 to 12 MB. Larger inputs come as a
 * folder of images.
 */
export const MAX_INPUTS_JSON_BYTES = 32 * 1024 * 1024;

/** Largest weights file read (.safetensors, .npz, .json); attention modules' weights are a few MB. */
export const MAX_WEIGHTS_FILE_BYTES = 1024 * 1024 * 1024;
/** Largest JSON weights file (as for inputs, parsed JSON is many times its text); larger weights come as .safetensors or .npz. */
export const MAX_WEIGHTS_JSON_BYTES = 32 * 1024 * 1024;
/** Most members of a `.npz` (each a tensor of one module's state_dict). */
export const MAX_NPZ_MEMBERS = 10_000;
/** Largest inflated size one `.npz` member may declare (checked before it is inflated). */
export const MAX_NPZ_MEMBER_BYTES = 256 * 1024 * 1024;
/** Largest inflated size of all of a `.npz`'s members together (checked before any is inflated). */
export const MAX_NPZ_INFLATED_BYTES = 1024 * 1024 * 1024;

/** A MiB figure for messages: `256 MiB`. */
export const mib = (bytes: number) => `${Math.round((bytes / (1024 * 1024)) * 10) / 10} MiB`;

/**
 * The place where `value` (parsed JSON or YAML data) nests deeper than `limit` levels of arrays and objects, as
 * key-path segments, or null when it does not. Iterative, so it is safe on any depth: run it right after parsing,
 * before any recursive walk (a recursive flatten, JSON.stringify, a schema validator) sees the data.
 */
export function tooDeep(value: unknown, limit = MAX_NESTING_DEPTH): (string | number)[] | null {
  if (value === null || typeof value !== 'object') return null;
  // Each frame: a container and its path; depth is the path's length + 1.
  const stack: { v: object; path: (string | number)[] }[] = [{ v: value, path: [] }];
  while (stack.length > 0) {
    const { v, path } = stack.pop()!;
    if (path.length + 1 > limit) return path;
    // Only containers are pushed: an image's million numbers cost one type check each.
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        const child: unknown = v[i];
        if (child !== null && typeof child === 'object') stack.push({ v: child, path: [...path, i] });
      }
    } else {
      for (const k of Object.keys(v)) {
        const child: unknown = (v as Record<string, unknown>)[k];
        if (child !== null && typeof child === 'object') stack.push({ v: child, path: [...path, k] });
      }
    }
  }
  return null;
}

/**
 * `images[0][0]`, `a.b[2]`: a key path for messages (keys that are not plain names are quoted). A path longer than
 * `max` segments keeps its first max - 1 and its last, with `…` between and the depth after it.
 */
export function placeOf(root: string, path: readonly (string | number)[], max = Infinity): string {
  if (path.length > max) return `${placeOf(root, path.slice(0, max - 1))}…${placeOf('', path.slice(-1)).replace(/^\./, '.')} (level ${path.length + 1})`;
  let s = root;
  for (const seg of path) s += typeof seg === 'number' ? `[${seg}]` : /^[A-Za-z_][\w-]*$/.test(seg) ? (s ? `.${seg}` : seg) : `[${JSON.stringify(seg)}]`;
  return s;
}
