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
export function letterboxGeometry(
  w0: number,
  h0: number,
  h: number,
  w: number,
): LetterboxGeometry & { width: number; height: number; right: number; bottom: number } {
  const gain = Math.min(h / h0, w / w0);
  const width = Math.max(1, roundHalfEven(w0 * gain));
  const height = Math.max(1, roundHalfEven(h0 * gain));
  const dw = (w - width) / 2;
  const dh = (h - height) / 2;
  const padX = roundHalfEven(dw - 0.1);
  const padY = roundHalfEven(dh - 0.1);
  return { gain, padX, padY, width, height, right: w - width - padX, bottom: h - height - padY };
}

/** Interpolation weights of one axis, as OpenCV's resize computes them (float32, then 11-bit fixed point). */
function linearWeights(dst: number, src: number, clampEdges: boolean): { offset: Int32Array; weight: Int16Array } {
  const f32 = Math.fround;
  const scale = 1 / (dst / src);
  const offset = new Int32Array(dst);
  const weight = new Int16Array(dst * 2);
  // cvRound: half to even, on the float32 product.
  const round = (x: number) => (Math.abs(x % 1) === 0.5 ? 2 * Math.round(x / 2) : Math.round(x));
  for (let d = 0; d < dst; d++) {
    let f = f32((d + 0.5) * scale - 0.5);
    let i = Math.floor(f);
    f = f32(f - i);
    // Columns are clamped here; rows past an edge read the edge row twice instead (as OpenCV does).
    if (clampEdges && i < 0) {
      f = 0;
      i = 0;
    }
    if (clampEdges && i >= src - 1) {
      f = 0;
      i = src - 1;
    }
    offset[d] = i;
    weight[2 * d] = round(f32(f32(1 - f) * 2048));
    weight[2 * d + 1] = round(f32(f * 2048));
  }
  return { offset, weight };
}

/**
 * OpenCV's `resize(..., INTER_LINEAR)` of an 8-bit RGB image, to the bit: fixed-point weights, the horizontal pass in
 * integers, the vertical pass as its SIMD kernels round it ((a>>4)·w >> 16, summed, +2 >> 2); an exact halving is
 * INTER_AREA's 2×2 mean, as OpenCV switches to it. Checked against OpenCV 4.6 in letterbox.test.ts, so the boxes
 * scored here are the ones ultralytics' `val` would see.
 */
export function resizeLinearCv(src: Uint8Array, sw: number, sh: number, dw: number, dh: number): Uint8Array {
  const out = new Uint8Array(dw * dh * 3);
  if (sw === 2 * dw && sh === 2 * dh) {
    for (let y = 0; y < dh; y++) {
      for (let x = 0; x < dw; x++) {
        for (let c = 0; c < 3; c++) {
          const at = (yy: number, xx: number) => src[(yy * sw + xx) * 3 + c]!;
          out[(y * dw + x) * 3 + c] = (at(2 * y, 2 * x) + at(2 * y, 2 * x + 1) + at(2 * y + 1, 2 * x) + at(2 * y + 1, 2 * x + 1) + 2) >> 2;
        }
      }
    }
    return out;
  }
  const X = linearWeights(dw, sw, true);
  const Y = linearWeights(dh, sh, false);
  const rows = new Map<number, Int32Array>();
  const row = (sy: number) => {
    let r = rows.get(sy);
    if (r) return r;
    r = new Int32Array(dw * 3);
    for (let d = 0; d < dw; d++) {
      const x0 = X.offset[d]!;
      const x1 = Math.min(x0 + 1, sw - 1);
      for (let c = 0; c < 3; c++) r[d * 3 + c] = src[(sy * sw + x0) * 3 + c]! * X.weight[2 * d]! + src[(sy * sw + x1) * 3 + c]! * X.weight[2 * d + 1]!;
    }
    rows.set(sy, r);
    return r;
  };
  const clampRow = (v: number) => Math.min(Math.max(v, 0), sh - 1);
  for (let y = 0; y < dh; y++) {
    const r0 = row(clampRow(Y.offset[y]!));
    const r1 = row(clampRow(Y.offset[y]! + 1));
    const b0 = Y.weight[2 * y]!;
    const b1 = Y.weight[2 * y + 1]!;
    for (let x = 0; x < dw * 3; x++) {
      const v = ((((r0[x]! >> 4) * b0) >> 16) + (((r1[x]! >> 4) * b1) >> 16) + 2) >> 2;
      out[y * dw * 3 + x] = v < 0 ? 0 : v > 255 ? 255 : v;
    }
  }
  return out;
}

/**
 * Letterbox to [H, W] as ultralytics' LetterBox does: decoded (EXIF orientation applied, as OpenCV's imread does),
 * resized by OpenCV's bilinear rule unless the size is already right, centred on grey 114; RGB, CHW, /255.
 */
export async function letterboxImage(
  file: string,
  h: number,
  w: number,
): Promise<{ data: Float32Array; geometry: LetterboxGeometry; width: number; height: number }> {
  const sharp = (await import('sharp')).default;
  let decoded: { data: Buffer; info: { width: number; height: number } };
  try {
    decoded = await sharp(file).autoOrient().removeAlpha().toColourspace('srgb').raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
  } catch (e) {
    throw new DataFileError(`--dataset: cannot decode image ${file} (${(e as Error).message.split('\n')[0]})`);
  }
  const { width, height } = decoded.info;
  const g = letterboxGeometry(width, height, h, w);
  const pixels = g.width === width && g.height === height ? decoded.data : resizeLinearCv(decoded.data, width, height, g.width, g.height);
  const out = new Float32Array(3 * h * w).fill(114 / 255);
  for (let y = 0; y < g.height; y++) {
    for (let x = 0; x < g.width; x++) {
      const at = (y + g.padY) * w + x + g.padX;
      for (let c = 0; c < 3; c++) out[c * h * w + at] = pixels[(y * g.width + x) * 3 + c]! / 255;
    }
  }
  return { data: out, geometry: { gain: g.gain, padX: g.padX, padY: g.padY }, width, height };
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
