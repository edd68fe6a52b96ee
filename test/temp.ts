import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/**
 * Temporary folders for tests, removed when the test process exits (node --test runs each test file in its own
 * process): a test that fails half-way, or one that never cleaned up, leaves nothing in the system's temp folder.
 */
const made: string[] = [];
process.on('exit', () => {
  for (const dir of made) fs.rmSync(dir, { recursive: true, force: true });
});

export function tmpDir(prefix = 'onnx-attn-test-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  made.push(dir);
  return dir;
}
