import type { ModuleDescription } from '../../modules/index.js';
import { countText, table } from './text.js';

/** `modules`: one block per module, its options, and op counts measured by building it. */
export function formatModules(modules: ModuleDescription[]): string {
  const blocks = modules.map((m) => {
    const lines = [`${m.name}: ${m.title}`, `  reference: ${m.reference}`, `  params: ${m.paramsFormula}`];
    for (const o of m.options) {
      const values = o.choices ? o.choices.join('|') : o.kind;
      lines.push(`  --opt ${o.key}=${values} (default ${o.default}): ${o.describe}`);
    }
    if (m.options.length === 0) lines.push('  no options');
    const rows = m.examples.map((e) => [
      e.context,
      e.variant,
      countText(e.params),
      countText(e.macs),
      String(e.opCount),
      Object.entries(e.ops)
        .map(([k, v]) => (v > 1 ? `${k}×${v}` : k))
        .join(' '),
    ]);
    lines.push(
      table(['example', 'variant', 'params', 'MACs', 'ops', 'op types'], rows)
        .split('\n')
        .map((l) => `  ${l}`)
        .join('\n'),
    );
    return lines.join('\n');
  });
  return blocks.join('\n\n');
}
