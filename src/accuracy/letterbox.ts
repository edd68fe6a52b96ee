/**
 * ultralytics' LetterBox with its geometry kept, so boxes found in the model's input can be mapped back to the
 * image (ultralytics' `scale_boxes`): the dataset evaluation needs both, `--inputs DIR` only the pixels.
 */
import { DataFileError } from '../errors.js';
import type { Box } from '../runtime/detections.js';

/** Where a letterboxed image sits in the model's input: input = image · gain + pad (pixels). */
export interface LetterboxGeometry {
  gain: number;
  padX: number;
  padY: number;
}

/** Python's round(): halves go to the even neighbour (what ultralytics' LetterBox arithmetic rounds with). */
const roundHalfEven = (x: number) => {
  const r = Math.round(x);
  const even = Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
  return even === 0 ? 0 : even; // never -0 (round(-0.1)), which reads as a different padding in JSON and tests
};

/**
 * ultralytics' LetterBox for an image of w0×h0 into h×w: scale r = min(h/h0, w/w0), size round(w0·r)×round(h0·r),
 * padding split as round(d/2 ∓ 0.1) on either side.
 */
export function letterboxGeometry(w0: number, h0: number, h: number, w: number): LetterboxGeometry & { width: number; height: number; right: number; bottom: number } {
  const gain = Math.min(h / h0, w / w0);
  const width = Math.max(1, roundHalfEven(w0 * gain));
  const height = Math.max(1, roundHalfEven(h0 * gain));
  const dw = (w - width) / 2;
  const dh = (h - height) / 2;
  const padX = roundHalfEven(dw - 0.1);
  const padY = roundHalfEven(dh - 0.1);
  return { gain, padX, padY, width, height, right: w - width - padX, bottom: h - height - padY };
}

/** Letterbox to [H, W] as ultralytics' LetterBox does (bilinear, centred, grey 114 padding); RGB, CHW, /255. */
export async function letterboxImage(file: string, h: number, w: number): Promise<{ data: Float32Array; geometry: LetterboxGeometry; width: number; height: number }> {
  const sharp = (await import('sharp')).default;
  let raw: Buffer;
  let size: { width: number; height: number };
  let g: ReturnType<typeof letterboxGeometry>;
  try {
    const image = sharp(file).autoOrient();
    const meta = await sharp(file).metadata();
    const oriented = (meta as { autoOrient?: { width: number; height: number } }).autoOrient;
    size = { width: oriented?.width ?? meta.width!, height: oriented?.height ?? meta.height! };
    g = letterboxGeometry(size.width, size.height, h, w);
    raw = await image
      .removeAlpha()
      .resize(g.width, g.height, { fit: 'fill', kernel: 'linear' })
      .extend({ top: g.padY, bottom: g.bottom, left: g.padX, right: g.right, background: { r: 114, g: 114, b: 114 } })
      .toColourspace('srgb')
      .raw()
      .toBuffer();
  } catch (e) {
    throw new DataFileError(`--dataset: cannot decode image ${file} (${(e as Error).message.split('\n')[0]})`);
  }
  const out = new Float32Array(3 * h * w);
  for (let i = 0; i < h * w; i++) for (let c = 0; c < 3; c++) out[c * h * w + i] = raw[i * 3 + c]! / 255;
  return { data: out, geometry: { gain: g.gain, padX: g.padX, padY: g.padY }, ...size };
}

/** A box in the model's input (xyxy, pixels) mapped back to the image and clipped to it, as `scale_boxes` does. */
export function unletterbox(box: Box, g: LetterboxGeometry, width: number, height: number): Box {
  const clip = (v: number, hi: number) => Math.min(Math.max(v, 0), hi);
  return [
    clip((box[0] - g.padX) / g.gain, width),
    clip((box[1] - g.padY) / g.gain, height),
    clip((box[2] - g.padX) / g.gain, width),
    clip((box[3] - g.padY) / g.gain, height),
  ];
}
