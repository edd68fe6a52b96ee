import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { letterboxImage, resizeLinearCv } from './letterbox.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const VAL = path.join(ROOT, 'fixtures/trained/val/images');
const opencv = spawnSync('/usr/bin/python3', ['-c', 'import cv2, numpy'], { encoding: 'utf8' });

/** OpenCV's own INTER_LINEAR resize of an RGB byte image (Debian's python3-opencv). */
function cvResize(rgb: Uint8Array, sw: number, sh: number, dw: number, dh: number): Buffer {
  const py =
    'import cv2, numpy as np, sys\nsw, sh, dw, dh = map(int, sys.argv[1:5])\nim = np.frombuffer(sys.stdin.buffer.read(), np.uint8).reshape(sh, sw, 3)\nsys.stdout.buffer.write(cv2.resize(im, (dw, dh), interpolation=cv2.INTER_LINEAR).tobytes())';
  const r = spawnSync('/usr/bin/python3', ['-c', py, String(sw), String(sh), String(dw), String(dh)], { input: rgb, maxBuffer: 1 << 26 });
  assert.equal(r.status, 0, String(r.stderr));
  return r.stdout;
}

test(
  'resizeLinearCv is OpenCV INTER_LINEAR to the bit: down, up, odd sizes and an exact halving',
  { skip: opencv.status !== 0 ? 'no /usr/bin/python3 with cv2' : false },
  async () => {
    const noise = (w: number, h: number) => Uint8Array.from({ length: w * h * 3 }, (_, i) => (i * 7919 + (i >> 5) * 31) % 256);
    const cases: [Uint8Array, number, number, number, number][] = [
      [noise(53, 37), 53, 37, 128, 89],
      [noise(53, 37), 53, 37, 31, 21],
      [noise(64, 48), 64, 48, 32, 24],
    ];
    for (const f of ['val_000.jpg', 'val_001.jpg', 'val_002.jpg']) {
      const { data, info } = await sharp(path.join(VAL, f)).raw().toBuffer({ resolveWithObject: true });
      cases.push([new Uint8Array(data), info.width, info.height, 128, Math.round((info.height * 128) / info.width)]);
    }
    for (const [src, sw, sh, dw, dh] of cases) {
      const ours = resizeLinearCv(src, sw, sh, dw, dh);
      const theirs = cvResize(src, sw, sh, dw, dh);
      let differ = 0;
      for (let i = 0; i < ours.length; i++) if (ours[i] !== theirs[i]) differ++;
      assert.equal(differ, 0, `${sw}x${sh} → ${dw}x${dh}: ${differ} of ${ours.length} values differ`);
    }
  },
);

test('letterboxImage: an image resized into the middle of grey 114, its geometry kept', async () => {
  // val_001.jpg is 160×128: into 128×128 it is 128×102 (gain 0.8), 13 rows of grey above and below.
  const lb = await letterboxImage(path.join(VAL, 'val_001.jpg'), 128, 128);
  assert.deepEqual([lb.width, lb.height, lb.geometry], [160, 128, { gain: 0.8, padX: 0, padY: 13 }]);
  const px = (c: number, y: number, x: number) => Math.round(lb.data[c * 128 * 128 + y * 128 + x]! * 255);
  assert.deepEqual([px(0, 12, 5), px(1, 12, 5), px(2, 12, 5), px(0, 115, 5)], [114, 114, 114, 114]);
  const { data, info } = await sharp(path.join(VAL, 'val_001.jpg')).raw().toBuffer({ resolveWithObject: true });
  const resized = resizeLinearCv(new Uint8Array(data), info.width, info.height, 128, 102);
  assert.deepEqual(
    [px(0, 13, 7), px(1, 60, 90), px(2, 114, 127)],
    [resized[(0 * 128 + 7) * 3]!, resized[(47 * 128 + 90) * 3 + 1]!, resized[(101 * 128 + 127) * 3 + 2]!],
  );
});
