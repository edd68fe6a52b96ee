import type { DoctorReport } from '../../doctor.js';
import { table } from './text.js';

/** `doctor`: onnxruntime-node, a row per execution provider, and how to fix the ones that cannot load. */
export function formatDoctor(r: DoctorReport): string {
  const lines = [`onnxruntime-node ${r.onnxruntimeNode}  (${r.platform}, node ${r.node})`, `libraries in ${r.binaryDir}`, ''];
  lines.push(
    table(
      ['provider', 'listed', 'bundled', 'loadable', 'why not'],
      r.providers.map((p) => [p.name, p.listed ? 'yes' : 'no', p.bundled ? 'yes' : 'no', p.loadable ? 'yes' : 'no', p.reason ?? '']),
    ),
  );
  if (r.installScript.skippedBy) lines.push('', `CUDA download skipped by ${r.installScript.skippedBy}`);
  if (r.problems.length > 0) {
    lines.push('', 'To fix:');
    for (const p of r.problems) lines.push(`- ${p.what}`, `  fix: ${p.fix}`);
  }
  return lines.join('\n');
}
