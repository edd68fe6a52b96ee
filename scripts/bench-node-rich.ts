/**
 * The node-rich part of `npm run bench` (issue #15): real exports are thousands of small nodes, not a few huge
 * tensors. For each model of scripts/bench-models.ts it times whole processes, paired (each round runs every
 * command once, in turn, so the machine's drift falls on all of them), and prints medians with their spread (min-max):
 *
 * - `insert --no-check` against Python onnx's load + save (Debian's python3-onnx; skipped with a note without it),
 *   peak RSS against 1.3 × file + 60 MB;
 * - `convert` against the same anchor;
 * - `insert` with its check run against `insert --no-check` + one onnxruntime session create + run of the patched
 *   model (in-process, the session's own cost), and its peak RSS against the file;
 * - `--help` and `--version` against bare `node -e 0`;
 * - the floors under those targets (scripts/bench-floors.ts): a durable save of the file's bytes with no parsing, and
 *   the peak RSS of onnxruntime-node with one session of the patched model.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BENCH_MODELS } from './bench-models.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BIN = path.join(ROOT, 'dist/src/cli/bin.js');
const MAKE = path.join(ROOT, 'dist/scripts/bench-make.js');
const SESSION = path.join(ROOT, 'dist/scripts/bench-session.js');
const RSS_HOOK = path.join(ROOT, 'dist/scripts/rss-hook.js');
const FLOORS = path.join(ROOT, 'dist/scripts/bench-floors.js');

export interface Sample {
  seconds: number;
  rssMB: number;
  /** What the command printed last on stdout (the session script's own timing). */
  stdout: string;
}

export interface Stat {
  median: number;
  min: number;
  max: number;
  rssMB: number;
}

/** Runs a command as its own process and reads its peak RSS (from the hook for node, GNU time otherwise). */
export function measure(cmd: string[], cwd: string): Sample {
  const rssFile = path.join(os.tmpdir(), `onnx-attn-rss-${process.pid}`);
  fs.rmSync(rssFile, { force: true });
  const isNode = cmd[0] === process.execPath;
  const argv = isNode ? [cmd[0]!, '--import', RSS_HOOK, ...cmd.slice(1)] : ['/usr/bin/time', '-f', '%M', '-o', rssFile, ...cmd];
  const t0 = process.hrtime.bigint();
  const r = spawnSync(argv[0]!, argv.slice(1), {
    cwd,
    env: { ...process.env, ONNX_ATTN_RSS_FILE: rssFile },
    stdio: ['ignore', 'pipe', 'pipe'],
    encoding: 'utf8',
    maxBuffer: 1 << 26,
  });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) throw new Error(`${cmd.join(' ')} failed (${r.status}): ${r.stderr}`);
  const kb = Number(fs.readFileSync(rssFile, 'utf8').trim().split('\n').pop());
  fs.rmSync(rssFile, { force: true });
  return { seconds, rssMB: kb / 1024, stdout: r.stdout.trim().split('\n').pop() ?? '' };
}

function stat(values: number[], rss: number[] = [0]): Stat {
  const s = [...values].sort((a, b) => a - b);
  return { median: s[Math.floor(s.length / 2)]!, min: s[0]!, max: s[s.length - 1]!, rssMB: Math.max(...rss) };
}

/** Runs every command once per round, `runs` rounds; samples by label. */
function paired(commands: Record<string, { cmd: string[]; before?: () => void }>, runs: number, cwd: string): Record<string, Sample[]> {
  const out: Record<string, Sample[]> = Object.fromEntries(Object.keys(commands).map((k) => [k, []]));
  for (let i = 0; i < runs; i++) {
    for (const [label, c] of Object.entries(commands)) {
      c.before?.();
      out[label]!.push(measure(c.cmd, cwd));
    }
  }
  return out;
}

const secs = (s: Stat) => `${s.median.toFixed(2)} s (${s.min.toFixed(2)}–${s.max.toFixed(2)})`;
const ms = (s: Stat) => `${(s.median * 1000).toFixed(0)} ms (${(s.min * 1000).toFixed(0)}–${(s.max * 1000).toFixed(0)})`;
const verdict = (ok: boolean) => (ok ? 'met' : 'NOT met');

/** Ratio of medians, and the spread of the per-round ratios (paired runs: round i of a against round i of b). */
function ratio(a: Sample[], b: Sample[]): Stat {
  return stat(a.map((x, i) => x.seconds / b[i]!.seconds));
}
const times = (r: Stat) => `${r.median.toFixed(2)}× (${r.min.toFixed(2)}–${r.max.toFixed(2)})`;

export async function nodeRichBench(runs: number, python: string | undefined): Promise<string[]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'onnx-attn-bench-rich-'));
  const rows: string[] = [];
  const floorRows: string[] = [];
  const node = process.execPath;
  try {
    for (const [name, spec] of Object.entries(BENCH_MODELS)) {
      const file = path.join(dir, `${name}.onnx`);
      const made = spawnSync(node, [MAKE, name, file], { stdio: 'inherit' });
      if (made.status !== 0) throw new Error(`generating ${file} failed`);
      const mb = fs.statSync(file).size / 1e6;
      const after = name === 'rtdetr-like' ? 'head' : String(spec.layers - 1);
      console.log(`\n${name}: ${mb.toFixed(0)} MB, --after ${after} (${spec.layers} layers + head)`);
      const out = path.join(dir, 'out.onnx');
      const clean = () => fs.rmSync(out, { force: true });
      const insertArgs = [BIN, 'insert', file, '--after', after, '--module', 'NAM', '-o', out, '--quiet'];
      const commands: Record<string, { cmd: string[]; before?: () => void }> = {
        'insert --no-check': { cmd: [node, ...insertArgs, '--no-check'], before: clean },
        insert: { cmd: [node, ...insertArgs], before: clean },
        // The patched model the insert just wrote: one session create + run, timed inside the process.
        session: { cmd: [node, SESSION, out] },
        'session floor': { cmd: [node, FLOORS, 'session', out] },
        'save floor': {
          cmd: [node, FLOORS, 'save', file, path.join(dir, 'floor.onnx')],
          before: () => fs.rmSync(path.join(dir, 'floor.onnx'), { force: true }),
        },
        convert: { cmd: [node, BIN, 'convert', file, out, '--force'] },
      };
      if (python) commands.python = { cmd: [python, '-c', 'import onnx,sys; onnx.save(onnx.load(sys.argv[1]), sys.argv[2])', file, path.join(dir, 'py.onnx')] };
      const s = paired(commands, runs, dir);
      const noCheck = stat(
        s['insert --no-check']!.map((x) => x.seconds),
        s['insert --no-check']!.map((x) => x.rssMB),
      );
      const check = stat(
        s.insert!.map((x) => x.seconds),
        s.insert!.map((x) => x.rssMB),
      );
      const session = stat(s.session!.map((x) => Number(x.stdout)));
      const convert = stat(
        s.convert!.map((x) => x.seconds),
        s.convert!.map((x) => x.rssMB),
      );
      const py = s.python
        ? stat(
            s.python.map((x) => x.seconds),
            s.python.map((x) => x.rssMB),
          )
        : null;
      // Round by round: insert with its check against insert --no-check + the session of the same round.
      const checkBudget = stat(s.insert!.map((x, i) => x.seconds / (s['insert --no-check']![i]!.seconds + Number(s.session![i]!.stdout))));
      const rssLimit = 1.3 * mb + 60;
      const target = name === 'rtdetr-like' ? 0.6 : 1.0;
      console.log(
        `  insert --no-check       ${secs(noCheck)}, peak RSS ${noCheck.rssMB.toFixed(0)} MB (limit 1.3 × file + 60 = ${rssLimit.toFixed(0)} MB: ${verdict(noCheck.rssMB <= rssLimit)})`,
      );
      console.log(`  convert                 ${secs(convert)}, peak RSS ${convert.rssMB.toFixed(0)} MB`);
      console.log(
        `  insert (check run)      ${secs(check)}, peak RSS ${check.rssMB.toFixed(0)} MB (${(check.rssMB / mb).toFixed(2)}× file; target ≤ 3×: ${verdict(check.rssMB <= 3 * mb)})`,
      );
      console.log(`  session create + run    ${secs(session)} (in-process, the patched model)`);
      console.log(`  insert / (no-check + session): ${times(checkBudget)} (target ≤ 1.5×: ${verdict(checkBudget.median <= 1.5)})`);
      let pyCell = 'n/a (no python3-onnx)';
      let noCheckRatio = 'n/a';
      let convertRatio = 'n/a';
      if (py && s.python) {
        const r = ratio(s['insert --no-check']!, s.python);
        const rc = ratio(s.convert!, s.python);
        pyCell = `${secs(py)}, ${py.rssMB.toFixed(0)} MB`;
        noCheckRatio = times(r);
        convertRatio = times(rc);
        console.log(`  python onnx load + save ${secs(py)}, peak RSS ${py.rssMB.toFixed(0)} MB`);
        console.log(`  insert --no-check / python: ${times(r)} (target ≤ ${target}×: ${verdict(r.median <= target)}); convert / python: ${times(rc)}`);
      } else console.log('  python onnx load + save: skipped (Debian python3-onnx not found: apt-get install python3-onnx)');
      // The floors: what no Node tool can go under, against the targets above.
      const saveFloor = stat(s['save floor']!.map((x) => x.seconds));
      const sessionFloor = stat(
        [0],
        s['session floor']!.map((x) => x.rssMB),
      );
      const saveFloorRatio = s.python ? times(ratio(s['save floor']!, s.python)) : 'n/a';
      const targetSeconds = py ? `${(target * py.median).toFixed(2)} s` : 'n/a';
      console.log(
        `  floor: read + write + fsync + rename of the bytes, no parsing: ${secs(saveFloor)}${s.python ? `, ${saveFloorRatio} python (the target, ${target}× python, is ${targetSeconds})` : ''}`,
      );
      console.log(
        `  floor: onnxruntime-node + one session of the patched model: peak RSS ${sessionFloor.rssMB.toFixed(0)} MB (${(sessionFloor.rssMB / mb).toFixed(2)}× file; the target, 3× file, is ${(3 * mb).toFixed(0)} MB)`,
      );
      floorRows.push(
        `| ${name} (${mb.toFixed(0)} MB) | ${secs(saveFloor)} | ${saveFloorRatio} | ${target}× python = ${targetSeconds} | ${sessionFloor.rssMB.toFixed(0)} MB (${(sessionFloor.rssMB / mb).toFixed(2)}× file) | ${(3 * mb).toFixed(0)} MB |`,
      );
      rows.push(
        `| ${name} (${mb.toFixed(0)} MB) | ${secs(noCheck)}, ${noCheck.rssMB.toFixed(0)} MB | ${pyCell} | ${noCheckRatio} | ${secs(convert)} (${convertRatio}) | ${secs(check)}, ${check.rssMB.toFixed(0)} MB (${(check.rssMB / mb).toFixed(2)}× file) | ${secs(session)} | ${times(checkBudget)} |`,
      );
    }
    rows.push(
      '',
      '| model | floor: save the bytes (read, write, fsync, rename; no parsing) | / python | target for insert --no-check | floor: onnxruntime-node + one session, peak RSS | target for insert: 3× file |',
      '|---|---|---|---|---|---|',
      ...floorRows,
    );
    console.log('\nstart-up (paired)');
    const st = paired(
      {
        'node -e 0': { cmd: [node, '-e', '0'] },
        '--help': { cmd: [node, BIN, '--help'] },
        '--version': { cmd: [node, BIN, '--version'] },
      },
      Math.max(runs, 10),
      dir,
    );
    const bare = stat(st['node -e 0']!.map((x) => x.seconds));
    const help = ratio(st['--help']!, st['node -e 0']!);
    const version = ratio(st['--version']!, st['node -e 0']!);
    const helpS = stat(
      st['--help']!.map((x) => x.seconds),
      st['--help']!.map((x) => x.rssMB),
    );
    const versionS = stat(st['--version']!.map((x) => x.seconds));
    console.log(`  node -e 0   ${ms(bare)}`);
    console.log(`  --help      ${ms(helpS)}, ${helpS.rssMB.toFixed(0)} MB: ${times(help)} bare node (target ≤ 1.5×: ${verdict(help.median <= 1.5)})`);
    console.log(`  --version   ${ms(versionS)}: ${times(version)} bare node (target ≤ 1.5×: ${verdict(version.median <= 1.5)})`);
    rows.push(
      '',
      '| start-up | time | / bare `node -e 0` |',
      '|---|---|---|',
      `| \`node -e 0\` | ${ms(bare)} | 1 |`,
      `| \`onnx-attn --help\` | ${ms(helpS)} | ${times(help)} |`,
      `| \`onnx-attn --version\` | ${ms(versionS)} | ${times(version)} |`,
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}

export const NODE_RICH_HEADER =
  '| model | insert --no-check (time, peak RSS) | python onnx load+save | insert --no-check / python | convert (/ python) | insert with check run (time, peak RSS) | session create + run | insert / (no-check + session) |\n|---|---|---|---|---|---|---|---|';
