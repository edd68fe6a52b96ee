/**
 * `--dataset DIR|data.yaml|coco.json`: labelled images, read into COCO's form (images, categories, boxes as
 * [x, y, w, h] in image pixels) whatever the files were.
 *
 * - A COCO instances file (`.json`): `images[].file_name` resolved against the file's folder (or an `images/`
 *   folder beside it); `annotations[].bbox`, `area`, `iscrowd`; `categories[]` with their ids and names.
 * - YOLO txt labels, as ultralytics reads them: one `class cx cy w h` line per box, normalised to [0, 1] (a
 *   polygon `class x1 y1 x2 y2 …` counts as its bounding box). The label of `…/images/…/a.jpg` is
 *   `…/labels/…/a.txt` (ultralytics' `img2label_paths`), or `a.txt` beside the image. DIR may be a dataset root
 *   with `images/` (and `labels/`), the images folder itself, or hold a `data.yaml` whose `val` names the images.
 *   An image without a label file has no objects. Category ids are the class indexes; names come from the
 *   yaml's `names` when there is one.
 */
import type { Stats } from 'node:fs';
import { effects } from '../effects.js';
import * as path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { DataFileError, UsageError } from '../errors.js';
import type { GroundTruth } from './cocoeval.js';

export interface DatasetImage {
  id: number;
  file: string;
  width: number;
  height: number;
}

export interface DatasetCategory {
  id: number;
  name: string;
}

export interface Dataset {
  /** The path as given. */
  source: string;
  kind: 'yolo' | 'coco';
  images: DatasetImage[];
  categories: DatasetCategory[];
  annotations: GroundTruth[];
}

const IMAGE = /\.(jpe?g|png|webp|bmp|tiff?)$/i;
const HOW = 'give a folder of images with YOLO .txt labels (images/ and labels/, or labels beside the images), a data.yaml, or a COCO instances .json';

/** What the files hold is their fault (exit 4, as a bad --inputs file); a path that names nothing is a usage error. */
const fail = (source: string, what: string) => new DataFileError(`--dataset ${source}: ${what}`);
const usage = (source: string, what: string) => new UsageError(`--dataset ${source}: ${what}`);

/** Reads a dataset (see the header). Errors are usage errors naming the file and what to fix. */
export async function loadDataset(source: string): Promise<Dataset> {
  let stat: Stats;
  try {
    stat = effects.fs.statSync(source);
  } catch {
    throw usage(source, `no such file or folder; ${HOW}`);
  }
  if (stat.isFile() && /\.json$/i.test(source)) return loadCoco(source);
  if (stat.isFile() && /\.ya?ml$/i.test(source)) return loadYoloYaml(source, source);
  if (!stat.isDirectory()) throw usage(source, `not a folder, .yaml or .json; ${HOW}`);
  const yamlFile = ['data.yaml', 'data.yml', 'dataset.yaml'].map((f) => path.join(source, f)).find((f) => effects.fs.existsSync(f));
  if (yamlFile) return loadYoloYaml(source, yamlFile);
  const images =
    effects.fs.existsSync(path.join(source, 'images')) && effects.fs.statSync(path.join(source, 'images')).isDirectory() ? path.join(source, 'images') : source;
  return loadYolo(source, images, []);
}

function readJson(source: string): unknown {
  try {
    return JSON.parse(effects.fs.readFileSync(source, 'utf8'));
  } catch (e) {
    throw fail(source, `not valid JSON (${(e as Error).message.split('\n')[0]})`);
  }
}

const isRecord = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);
const finite = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

async function loadCoco(source: string): Promise<Dataset> {
  const json = readJson(source);
  if (!isRecord(json) || !Array.isArray(json.images) || !Array.isArray(json.annotations) || !Array.isArray(json.categories)) {
    throw fail(source, 'expected a COCO instances file with "images", "annotations" and "categories" lists');
  }
  const dir = path.dirname(source);
  const images: DatasetImage[] = json.images.map((im: unknown, i: number) => {
    if (!isRecord(im) || !finite(im.id) || typeof im.file_name !== 'string') throw fail(source, `images[${i}] needs a numeric "id" and a "file_name"`);
    const candidates = [path.resolve(dir, im.file_name), path.resolve(dir, 'images', im.file_name)];
    const file = candidates.find((f) => effects.fs.existsSync(f));
    if (!file) throw fail(source, `images[${i}]: ${im.file_name} is neither beside the file nor in images/ beside it`);
    if (!finite(im.width) || !finite(im.height) || im.width <= 0 || im.height <= 0)
      throw fail(source, `images[${i}] (${im.file_name}) needs a positive "width" and "height"`);
    return { id: im.id, file, width: im.width, height: im.height };
  });
  const imageIds = new Set(images.map((im) => im.id));
  if (imageIds.size !== images.length) throw fail(source, 'two images share an id; give each image its own "id"');
  const categories: DatasetCategory[] = json.categories.map((c: unknown, i: number) => {
    if (!isRecord(c) || !finite(c.id)) throw fail(source, `categories[${i}] needs a numeric "id"`);
    return { id: c.id, name: typeof c.name === 'string' ? c.name : String(c.id) };
  });
  const categoryIds = new Set(categories.map((c) => c.id));
  const annotations: GroundTruth[] = json.annotations.map((a: unknown, i: number) => {
    const where = `annotations[${i}]`;
    if (!isRecord(a) || !finite(a.image_id) || !finite(a.category_id)) throw fail(source, `${where} needs a numeric "image_id" and "category_id"`);
    const bbox = a.bbox;
    if (!Array.isArray(bbox) || bbox.length !== 4 || !bbox.every(finite) || bbox[2]! < 0 || bbox[3]! < 0)
      throw fail(source, `${where}: "bbox" must be [x, y, width, height] with width and height ≥ 0`);
    if (!imageIds.has(a.image_id)) throw fail(source, `${where}: image_id ${a.image_id} is not in "images"`);
    if (!categoryIds.has(a.category_id)) throw fail(source, `${where}: category_id ${a.category_id} is not in "categories"`);
    const [x, y, w, h] = bbox as [number, number, number, number];
    return { imageId: a.image_id, categoryId: a.category_id, bbox: [x, y, w, h], area: finite(a.area) ? a.area : w * h, iscrowd: !!a.iscrowd };
  });
  if (images.length === 0) throw fail(source, 'the file lists no images');
  return { source, kind: 'coco', images, categories: categories.sort((p, q) => p.id - q.id), annotations };
}

/** ultralytics' `names`: a list, or a map from class index to name. */
function yamlNames(names: unknown): string[] {
  if (Array.isArray(names)) return names.map(String);
  if (isRecord(names)) {
    const out: string[] = [];
    for (const [k, v] of Object.entries(names)) if (/^\d+$/.test(k)) out[Number(k)] = String(v);
    return Array.from(out, (n, i) => n ?? String(i));
  }
  return [];
}

async function loadYoloYaml(source: string, file: string): Promise<Dataset> {
  let doc: unknown;
  try {
    doc = parseYaml(effects.fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw fail(source, `${file} is not valid YAML (${(e as Error).message.split('\n')[0]})`);
  }
  if (!isRecord(doc) || typeof doc.val !== 'string') throw fail(source, `${file} has no "val" (the validation images, e.g. val: images/val)`);
  const root = path.resolve(path.dirname(file), typeof doc.path === 'string' ? doc.path : '.');
  const images = path.resolve(root, doc.val);
  if (!effects.fs.existsSync(images) || !effects.fs.statSync(images).isDirectory()) throw fail(source, `${file}: val ${doc.val} is not a folder (${images})`);
  return loadYolo(source, images, yamlNames(doc.names));
}

function listImages(dir: string): string[] {
  return (
    (effects.fs.readdirSync(dir, { recursive: true }) as string[])
      .map(String)
      .filter((f) => IMAGE.test(f))
      .sort()
      .map((f) => path.join(dir, f))
      // Regular files only: a FIFO named x.jpg would block the decoder.
      .filter((f) => effects.fs.statSync(f, { throwIfNoEntry: false })?.isFile())
  );
}

/** ultralytics' img2label_paths: the last `/images/` becomes `/labels/`, the extension `.txt`. */
export function labelPathOf(image: string): string {
  const sep = path.sep;
  const parts = image.split(`${sep}images${sep}`);
  const swapped = parts.length > 1 ? `${parts.slice(0, -1).join(`${sep}images${sep}`)}${sep}labels${sep}${parts[parts.length - 1]}` : image;
  return swapped.replace(/\.[^.\\/]+$/, '.txt');
}

async function imageSize(source: string, file: string): Promise<{ width: number; height: number }> {
  const sharp = (await import('sharp')).default;
  try {
    const meta = await sharp(file).metadata();
    // The size after EXIF rotation, as the letterbox (and OpenCV's imread) sees the image.
    const oriented = (meta as { autoOrient?: { width: number; height: number } }).autoOrient;
    const width = oriented?.width ?? meta.width;
    const height = oriented?.height ?? meta.height;
    if (!width || !height) throw new Error('no size');
    return { width, height };
  } catch (e) {
    throw fail(source, `cannot read image ${file} (${(e as Error).message.split('\n')[0]})`);
  }
}

async function loadYolo(source: string, imagesDir: string, names: string[]): Promise<Dataset> {
  const files = listImages(imagesDir);
  // A folder without images, or without any labels, is the wrong folder: a usage error, not a damaged file.
  if (files.length === 0) throw usage(source, `no .jpg, .png, .webp, .bmp or .tiff images under ${imagesDir}; ${HOW}`);
  const images: DatasetImage[] = [];
  const annotations: GroundTruth[] = [];
  const classes = new Set<number>();
  let labelled = 0;
  for (const [i, file] of files.entries()) {
    const { width, height } = await imageSize(source, file);
    const id = i + 1;
    images.push({ id, file, width, height });
    const label = [labelPathOf(file), file.replace(/\.[^.\\/]+$/, '.txt')].find((f) => effects.fs.existsSync(f));
    if (!label) continue;
    labelled++;
    for (const [n, line] of effects.fs.readFileSync(label, 'utf8').split(/\r?\n/).entries()) {
      if (line.trim() === '') continue;
      const values = line.trim().split(/\s+/).map(Number);
      const where = `${label}:${n + 1}`;
      if (values.some((v) => !Number.isFinite(v))) throw fail(source, `${where}: '${line.trim()}' is not numbers; expected class cx cy w h`);
      const cls = values[0]!;
      if (!Number.isInteger(cls) || cls < 0) throw fail(source, `${where}: class ${cls} is not a whole number ≥ 0`);
      let cx: number, cy: number, w: number, h: number;
      if (values.length === 5) [cx, cy, w, h] = values.slice(1) as [number, number, number, number];
      else if (values.length >= 7 && values.length % 2 === 1) {
        // A polygon (segment label): its bounding box, as ultralytics' segments2boxes.
        const xs = values.slice(1).filter((_, k) => k % 2 === 0);
        const ys = values.slice(1).filter((_, k) => k % 2 === 1);
        const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
        [cx, cy, w, h] = [(x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0];
      } else throw fail(source, `${where}: ${values.length} values; expected class cx cy w h (5), or a class and polygon points`);
      if (w < 0 || h < 0) throw fail(source, `${where}: negative width or height`);
      classes.add(cls);
      const bw = w * width;
      const bh = h * height;
      annotations.push({ imageId: id, categoryId: cls, bbox: [(cx - w / 2) * width, (cy - h / 2) * height, bw, bh], area: bw * bh, iscrowd: false });
    }
  }
  if (labelled === 0)
    throw usage(
      source,
      `none of the ${files.length} images has a label file (looked for ${path.relative(process.cwd(), labelPathOf(files[0]!)) || labelPathOf(files[0]!)} and a .txt beside each image); ${HOW}`,
    );
  const count = Math.max(names.length, ...[...classes].map((c) => c + 1));
  const categories = Array.from({ length: count }, (_, id) => ({ id, name: names[id] ?? String(id) }));
  return { source, kind: 'yolo', images, categories, annotations };
}
