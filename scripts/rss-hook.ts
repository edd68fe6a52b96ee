/**
 * Loaded with `node --import` by the bench: writes the process's peak RSS (KiB) to $ONNX_ATTN_RSS_FILE at exit,
 * so a whole CLI run is measured from the inside, native memory (onnxruntime, Buffers) included.
 */
import { writeFileSync } from 'node:fs';

process.on('exit', () => {
  const file = process.env.ONNX_ATTN_RSS_FILE;
  if (file) writeFileSync(file, String(process.resourceUsage().maxRSS));
});
