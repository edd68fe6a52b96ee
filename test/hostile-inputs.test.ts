import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { zipSync } from 'fflate';
import {
  MAX_INPUTS_JSON_BYTES,
  MAX_INSERT_ITEMS,
  MAX_NESTING_DEPTH,
  MAX_PLAN_BYTES,
  MAX_PLAN_ENTRIES,
  MAX_PLAN_REPORTS,
  MAX_WEIGHTS_JSON_BYTES,
} from '../src/limits.js';
import { fixture, listFiles, ROOT, runMain, tmpDir } from './helpers.js';

/**
 * Hostile plans, --inputs and --weights files (issue #12): each is generated here, and each must end with its
 * documented exit code (2: a bad plan or flag; 4: a bad inputs or weights file), one line on stderr naming the file
 * and the problem, no stack trace, nothing written, and within a bound of time and memory measured on the process
 * that ran it.
 */

const MAIN = pathToFileURL(path.join(ROOT, 'dist/src/cli/main.js')).href;
const v5 = fixture('yolov5-op12.onnx');

interface Measured {
  code: number;
  stdout: string;
  stderr: string;
  /** CPU time of the process (user + system), ms: a bound that holds on a busy machine, unlike wall time. */
  cpuMs: number;
  /** Peak resident memory of the process, MB. */
  rssMb: number;
}

/** Runs the CLI's main in a child process and reports its peak RSS, so a memory bound holds for this input alone. */
function run(args: string[], cwd = ROOT): Measured {
  const script = `import { main } from ${JSON.stringify(MAIN)};
let out = '', err = '';
const code = await main(JSON.parse(process.argv[1]), { stdout: (t) => (out += t), stderr: (t) => (err += t) });
const { user, system } = process.cpuUsage();
process.stdout.write(JSON.stringify({ code, out, err, rss: process.resourceUsage().maxRSS, cpu: (user + system) / 1000 }));`;
  // The wall-clock limit only catches a hang; the bound asserted is CPU time.
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script, JSON.stringify(args)], {
    cwd,
    encoding: 'utf8',
    timeout: 180_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  assert.equal(r.status, 0, `the child ended with ${r.status} ${r.signal ?? ''}: ${r.stderr.slice(0, 2000)}`);
  const o = JSON.parse(r.stdout) as { code: number; out: string; err: string; rss: number; cpu: number };
  return { code: o.code, stdout: o.out, stderr: o.err, cpuMs: o.cpu, rssMb: o.rss / 1024 };
}

/** The exit code, one stderr line matching `re` and naming `file`, nothing on stdout, and the bounds. */
function refused(r: Measured, code: number, file: string, re: RegExp, bounds: { ms?: number; rssMb?: number } = {}): void {
  assert.equal(r.code, code, r.stderr);
  const lines = r.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, `one line: ${r.stderr.slice(0, 1000)}`);
  assert.doesNotMatch(r.stderr, /internal error|\n\s+at /);
  assert.ok(lines[0]!.includes(file), `names ${file}: ${lines[0]}`);
  assert.match(lines[0]!, re);
  assert.equal(r.stdout, '');
  assert.ok(r.cpuMs < (bounds.ms ?? 15_000), `took ${r.cpuMs.toFixed(0)} ms of CPU`);
  assert.ok(r.rssMb < (bounds.rssMb ?? 400), `peak RSS ${r.rssMb.toFixed(0)} MB`);
}

const deepArray = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);

test('a YAML alias bomb is a bad plan (exit 2) at the alias line, naming the alias limit', () => {
  const dir = tmpDir();
  const lines = ['version: 1', 'a0: &a0 [x, x, x, x, x, x, x, x, x, x]'];
  for (let i = 1; i < 12; i++)
    lines.push(
      `a${i}: &a${i} [${Array(10)
        .fill(`*a${i - 1}`)
        .join(', ')}]`,
    );
  lines.push('models: []');
  const plan = path.join(dir, 'plan.yaml');
  fs.writeFileSync(plan, lines.join('\n') + '\n');
  refused(run(['apply', plan]), 2, `${plan}:3:`, /YAML aliases expand past 100 nodes \(the limit for a plan/);
  assert.deepEqual(listFiles(dir), ['plan.yaml']);
});

test('plans nested 200k deep (JSON and YAML, flow and block) are exit 2 naming the depth limit, never a stack overflow', () => {
  const dir = tmpDir();
  const cases: [string, string, number][] = [
    ['deep.json', `{"version": 1, "models": ${deepArray(200_000)}}`, 1],
    ['deep.yaml', `version: 1\nmodels:\n  - ${deepArray(200_000)}\n`, 3],
    ['dashes.yaml', `version: 1\nmodels:\n${'- '.repeat(100_000)}x\n`, 3],
    // Maps by indentation: the map holding k(i) is i + 2 deep, so k63's is the first past the limit (line 3 + 63).
    ['indented.yaml', `version: 1\nmodels:\n${Array.from({ length: 100 }, (_, i) => `${' '.repeat(i + 1)}k${i}:`).join('\n')}\n`, 3 + MAX_NESTING_DEPTH - 1],
  ];
  for (const [name, text, line] of cases) {
    const plan = path.join(dir, name);
    fs.writeFileSync(plan, text);
    refused(
      run(['apply', plan]),
      2,
      `${plan}:${line}: `,
      new RegExp(`nests deeper than ${MAX_NESTING_DEPTH} levels of lists and maps \\(the limit for a plan\\)`),
      { ms: 15_000 },
    );
  }
  assert.deepEqual(listFiles(dir), cases.map(([n]) => n).sort());
});

/** A plan of `n` entries on one input, each writing its own output; entry `bad` names an unknown module. */
function bigPlan(dir: string, n: number, bad: number, name: string): string {
  fs.copyFileSync(v5, path.join(dir, 'm.onnx'));
  const lines = ['version: 1', 'models:'];
  for (let i = 0; i < n; i++)
    lines.push('  - input: m.onnx', `    output: out/e${i}.onnx`, `    insert: [{after: "23", module: ${i === bad ? 'NAMX' : 'NAM'}}]`);
  const plan = path.join(dir, name);
  fs.writeFileSync(plan, lines.join('\n') + '\n');
  return plan;
}

test('a plan at the entry limit with one bad entry is answered at that entry (checking is linear); one past it is refused by count', () => {
  const dir = tmpDir();
  // Every output is compared with every input and every other output: by real-path maps, not a search per entry.
  const plan = bigPlan(dir, MAX_PLAN_ENTRIES, 700, 'plan.yaml');
  refused(run(['apply', plan, '--dry-run']), 2, `${plan}:${5 + 700 * 3}: models[700].insert[0].module: unknown module 'NAMX'`, /expected one of NAM,/);
  const over = bigPlan(dir, 10_000, 9_000, 'over.yaml');
  refused(
    run(['apply', over, '--dry-run']),
    2,
    `${over}:2: models: 10000 entries`,
    new RegExp(`more than the ${MAX_PLAN_ENTRIES} a plan may hold; split the plan`),
  );
  assert.deepEqual(listFiles(dir), ['m.onnx', 'over.yaml', 'plan.yaml']);
});

test('insert items and reports past their limits, and a plan file past its size limit, are exit 2 naming the limit', () => {
  const dir = tmpDir();
  fs.copyFileSync(v5, path.join(dir, 'm.onnx'));
  const items = Array.from({ length: MAX_INSERT_ITEMS + 1 }, () => '      - {after: "23", module: NAM}').join('\n');
  const plan = path.join(dir, 'items.yaml');
  fs.writeFileSync(plan, `version: 1\nmodels:\n  - input: m.onnx\n    output: o.onnx\n    insert:\n${items}\n`);
  refused(
    run(['apply', plan]),
    2,
    `${plan}:5: models[0].insert: ${MAX_INSERT_ITEMS + 1} insert items`,
    new RegExp(`more than the ${MAX_INSERT_ITEMS} one entry may hold`),
  );
  const reports = path.join(dir, 'reports.yaml');
  fs.writeFileSync(
    reports,
    `version: 1\nmodels:\n  - {input: m.onnx, output: o.onnx, insert: [{after: "23", module: NAM}]}\nreports: [${Array.from({ length: MAX_PLAN_REPORTS + 1 }, (_, i) => `r${i}.md`).join(', ')}]\n`,
  );
  refused(run(['apply', reports]), 2, `${reports}:4: reports: ${MAX_PLAN_REPORTS + 1} reports`, /split the plan/);
  const huge = path.join(dir, 'huge.yaml');
  fs.writeFileSync(huge, 'version: 1\n');
  fs.truncateSync(huge, MAX_PLAN_BYTES + 1); // sparse: the size is what is checked, before any read
  refused(run(['apply', huge]), 2, `${huge}:1:`, /over the 1 MiB limit for a plan file/);
  assert.deepEqual(listFiles(dir), ['huge.yaml', 'items.yaml', 'm.onnx', 'reports.yaml']);
});

test("a plan's outputs and reports stay in its folder (after symlinks) unless --allow-outside; inputs may be anywhere", () => {
  const root = tmpDir();
  const dir = path.join(root, 'plans');
  fs.mkdirSync(dir);
  fs.mkdirSync(path.join(root, 'elsewhere'));
  fs.symlinkSync(path.join(root, 'elsewhere'), path.join(dir, 'link'));
  const plan = path.join(dir, 'plan.yaml');
  const write = (output: string, reports = '') =>
    fs.writeFileSync(plan, `version: 1\nmodels:\n  - input: ${v5}\n    output: ${output}\n    insert: [{after: "23", module: NAM}]\n${reports}`);
  write('../out/x.onnx');
  refused(
    run(['apply', plan]),
    2,
    `${plan}:4: models[0].output: '../out/x.onnx' (${path.join(root, 'out/x.onnx')}) is outside the plan's folder ${dir}`,
    /run apply --allow-outside if you trust this plan$/,
  );
  write('link/x.onnx');
  refused(
    run(['apply', plan, '--check']),
    2,
    `${plan}:4: models[0].output: 'link/x.onnx'`,
    new RegExp(`really ${path.join(root, 'elsewhere/x.onnx').replace(/[/.]/g, '\\$&')}\\) is outside`),
  );
  write('out/x.onnx', `reports: [${path.join(root, 'r.md')}]\n`);
  refused(run(['apply', plan, '--dry-run']), 2, `${plan}:6: reports[0]: '${path.join(root, 'r.md')}' is outside the plan's folder`, /--allow-outside/);
  assert.deepEqual(listFiles(root), ['elsewhere', 'plans', 'plans/link', 'plans/plan.yaml']);
  // Allowed, the same plan checks out (a dry run writes nothing); an output inside the folder needs no flag.
  write('../out/x.onnx');
  const allowed = run(['apply', plan, '--dry-run', '--allow-outside']);
  assert.equal(allowed.code, 0, allowed.stderr);
  write('out/x.onnx');
  assert.equal(run(['apply', plan, '--dry-run']).code, 0);
  assert.deepEqual(listFiles(root), ['elsewhere', 'plans', 'plans/link', 'plans/plan.yaml']);
});

test('--inputs JSON nested 200k deep, or over its size limit, is exit 4 naming the file, the place and the limit', () => {
  const dir = tmpDir();
  const deep = path.join(dir, 'deep.json');
  fs.writeFileSync(deep, `{"images": ${deepArray(200_000)}}`);
  refused(
    run(['validate', v5, '--inputs', deep, '--iters', '1', '--warmup', '0']),
    4,
    `--inputs ${deep}: images[0][0][0][0]…[0] (level 65)`,
    new RegExp(`nests deeper than ${MAX_NESTING_DEPTH} levels of arrays and objects \\(the limit\\)`),
  );
  const big = path.join(dir, 'big.json');
  fs.writeFileSync(big, '{}');
  fs.truncateSync(big, MAX_INPUTS_JSON_BYTES + 1);
  refused(run(['validate', v5, '--inputs', big, '--iters', '1', '--warmup', '0']), 4, `--inputs ${big}:`, /over the 32 MiB limit for an inputs JSON file/);
  assert.deepEqual(listFiles(dir), ['big.json', 'deep.json']);
});

test('--weights JSON and safetensors headers nested 200k deep, or a JSON over its size limit, are exit 4 naming the file and the limit', () => {
  const dir = tmpDir();
  const out = path.join(dir, 'o.onnx');
  const insert = (weights: string) => run(['insert', v5, '--after', '23', '--module', 'NAM', '--weights', weights, '-o', out]);
  const json = path.join(dir, 'deep.json');
  fs.writeFileSync(json, `{"Channel_Att.bn2.weight": ${deepArray(200_000)}}`);
  refused(insert(json), 4, `${json}: not a valid weights JSON file: ["Channel_Att.bn2.weight"][0][0][0][0]…[0] (level 65)`, /nests deeper than 64 levels/);
  const header = Buffer.from(`{"x": {"dtype": "F32", "shape": ${deepArray(200_000)}, "data_offsets": [0, 0]}}`);
  const st = Buffer.alloc(8 + header.length);
  st.writeBigUInt64LE(BigInt(header.length));
  header.copy(st, 8);
  const safetensors = path.join(dir, 'deep.safetensors');
  fs.writeFileSync(safetensors, st);
  refused(insert(safetensors), 4, `${safetensors}: not a valid safetensors file: header: x.shape[0][0][0]…[0] (level 65)`, /nests deeper than 64 levels/);
  const big = path.join(dir, 'big.json');
  fs.writeFileSync(big, '{}');
  fs.truncateSync(big, MAX_WEIGHTS_JSON_BYTES + 1);
  refused(insert(big), 4, `${big}:`, /over the 32 MiB limit for a \.json weights file; save large weights as \.safetensors or \.npz$/);
  assert.deepEqual(listFiles(dir), ['big.json', 'deep.json', 'deep.safetensors']);
});

/**
 * A raw deflate stream of about `total` zero bytes, written directly (deflating a GiB would take seconds): one
 * fixed-Huffman block of a literal 0 and then copies of length 258 at distance 1, 13 bits for every 258 bytes.
 */
function deflatedZeros(total: number): Uint8Array {
  const copies = Math.ceil((total - 1) / 258);
  const out = new Uint8Array(Math.ceil((3 + 8 + copies * 13 + 7) / 8) + 1);
  let bit = 0;
  const put = (value: number, n: number, msbFirst: boolean) => {
    for (let i = 0; i < n; i++) {
      const b = msbFirst ? (value >> (n - 1 - i)) & 1 : (value >> i) & 1;
      if (b) out[bit >> 3]! |= 1 << (bit & 7);
      bit++;
    }
  };
  put(1, 1, false); // BFINAL
  put(1, 2, false); // BTYPE 01: fixed Huffman codes
  put(0x30, 8, true); // literal 0
  for (let i = 0; i < copies; i++) {
    put(0xc5, 8, true); // length 258 (symbol 285)
    put(0, 5, true); // distance 1
  }
  put(0, 7, true); // end of block
  return out.subarray(0, (bit + 7) >> 3);
}

/**
 * A one-member zip whose member is the deflate stream `stream`, declaring `declared` inflated bytes (fflate writes
 * the zip of a small stand-in, whose sizes and CRC are then patched: no 1 GiB buffer is ever made).
 */
function bombZip(name: string, stream: Uint8Array, declared: number): Uint8Array {
  const zip = Buffer.from(zipSync({ [name]: [new Uint8Array(0), { level: 0 }] }));
  // Local header, then the data (empty), then the central directory and its end record.
  const local = zip.subarray(0, 30 + zip.readUInt16LE(26) + zip.readUInt16LE(28));
  const central = zip.subarray(30 + name.length);
  const cdSize = central.readUInt32LE(central.length - 22 + 12);
  const out = Buffer.concat([local, stream, central]);
  const lh = 0;
  const cd = local.length + stream.length;
  for (const [at, sizeAt] of [
    [lh + 18, lh + 22],
    [cd + 20, cd + 24],
  ] as const) {
    out.writeUInt32LE(stream.length, at);
    out.writeUInt32LE(declared, sizeAt);
  }
  out.writeUInt16LE(8, lh + 8); // deflate
  out.writeUInt16LE(8, cd + 10);
  out.writeUInt32LE(cd, out.length - 22 + 16); // the central directory's offset moved by the stream
  assert.equal(out.readUInt32LE(out.length - 22 + 12), cdSize);
  return out;
}

test('an .npz bomb is refused before it is inflated, or stopped at its declared size: exit 4, bounded time and memory', () => {
  const dir = tmpDir();
  const out = path.join(dir, 'o.onnx');
  const insert = (weights: string) => run(['insert', v5, '--after', '23', '--module', 'NAM', '--weights', weights, '-o', out]);
  const stream = deflatedZeros(1 << 30); // 1 GiB of zeros, about 1 MB deflated
  // Honest about its size, named as the module's key: its declared size is more than that key's shape can take.
  const honest = path.join(dir, 'honest.npz');
  fs.writeFileSync(honest, bombZip('Channel_Att.bn2.weight.npy', stream, 2 ** 30));
  refused(
    insert(honest),
    4,
    `${honest}: member Channel_Att.bn2.weight.npy declares 1073741824 bytes inflated`,
    /more than a \[32\] array can take .*; not inflated$/,
    { ms: 10_000, rssMb: 300 },
  );
  // Named as no key of the module: refused by name, nothing inflated.
  const stranger = path.join(dir, 'stranger.npz');
  fs.writeFileSync(stranger, bombZip('payload.npy', stream, 2 ** 30));
  refused(insert(stranger), 4, `${stranger}: member payload.npy is not a tensor of NAM`, /nothing was inflated$/, { ms: 10_000, rssMb: 300 });
  // Lying: declares 1 KiB, inflates to 1 GiB: stopped at the declared size.
  const liar = path.join(dir, 'liar.npz');
  fs.writeFileSync(liar, bombZip('Channel_Att.bn2.weight.npy', stream, 1024));
  refused(insert(liar), 4, `${liar}: member Channel_Att.bn2.weight.npy inflates past the 1024 bytes its zip entry declares`, /stopped there$/, {
    ms: 10_000,
    rssMb: 300,
  });
  assert.deepEqual(listFiles(dir), ['honest.npz', 'liar.npz', 'stranger.npz']);
});

test('a FIFO given as a plan, an --inputs file or a weights file is refused at once (exit 2), never read', (t) => {
  const dir = tmpDir();
  const fifo = path.join(dir, 'f.json');
  const made = spawnSync('mkfifo', [fifo]);
  if (made.status !== 0) return t.skip('mkfifo is not available');
  const plan = path.join(dir, 'p.yaml');
  fs.symlinkSync(fifo, plan);
  const npz = path.join(dir, 'w.npz');
  fs.symlinkSync(fifo, npz);
  refused(run(['apply', plan]), 2, plan, /is not a regular file; expected a plan file/, { ms: 10_000 });
  refused(
    run(['validate', v5, '--inputs', fifo, '--iters', '1', '--warmup', '0']),
    2,
    `--inputs ${fifo}: not a regular file or folder`,
    /give a \.json file or a folder of images/,
    { ms: 10_000 },
  );
  refused(
    run(['insert', v5, '--after', '23', '--module', 'NAM', '--weights', npz, '-o', path.join(dir, 'o.onnx')]),
    2,
    `${npz}: not a regular file`,
    /give a \.safetensors, \.npz or \.json file/,
    { ms: 10_000 },
  );
  assert.deepEqual(listFiles(dir), ['f.json', 'p.yaml', 'w.npz']);
});

test('a NUL in a plan path is a bad plan at its line (exit 2), found before anything is written', () => {
  const dir = tmpDir();
  fs.copyFileSync(v5, path.join(dir, 'm.onnx'));
  const plan = path.join(dir, 'plan.json');
  const entry = { input: 'm.onnx', output: 'out/a\u0000b.onnx', insert: [{ after: '23', module: 'NAM' }], validate: false, compare: false };
  fs.writeFileSync(plan, JSON.stringify({ version: 1, models: [entry], reports: ['r\u0000.md'] }, null, 2));
  const r = run(['apply', plan]);
  assert.equal(r.code, 2, r.stderr);
  assert.deepEqual(r.stderr.trimEnd().split('\n'), [
    `onnx-attn: ${plan}:6: models[0].output: "out/a\\u0000b.onnx" holds a NUL character, which no path can; remove it`,
    `onnx-attn: ${plan}:18: reports[0]: "r\\u0000.md" holds a NUL character, which no path can; remove it`,
  ]);
  assert.deepEqual(listFiles(dir), ['m.onnx', 'plan.json']);
});

test('an --inputs JSON of 100000 entries, none the model input, is exit 4 with a short message', () => {
  const dir = tmpDir();
  const file = path.join(dir, 'in.json');
  fs.writeFileSync(file, JSON.stringify(Object.fromEntries(Array.from({ length: 100_000 }, (_, i) => [`${'k'.repeat(200)}${i}`, 0]))));
  const r = run(['validate', v5, '--inputs', file, '--iters', '1', '--warmup', '0']);
  refused(r, 4, `--inputs ${file}: no entry for model input 'images' (the file has ${'k'.repeat(80)}…`, /, \.\.\. \(99992 more\)\)$/);
  assert.ok(r.stderr.length < 1200, `${r.stderr.length} characters`);
  assert.deepEqual(listFiles(dir), ['in.json']);
});

test('the published schema states the same count limits as the loader', () => {
  const schema = JSON.parse(fs.readFileSync(path.join(ROOT, 'schema/plan.schema.json'), 'utf8')) as {
    properties: Record<string, { maxItems?: number }>;
    definitions: { entry: { properties: Record<string, { maxItems?: number }> } };
  };
  assert.equal(schema.properties['models']!.maxItems, MAX_PLAN_ENTRIES);
  assert.equal(schema.properties['reports']!.maxItems, MAX_PLAN_REPORTS);
  assert.equal(schema.definitions.entry.properties['insert']!.maxItems, MAX_INSERT_ITEMS);
});

test('an --inputs or weights JSON just under its size limit, all numbers, stays under 800 MB and is refused by count (exit 4)', () => {
  const dir = tmpDir();
  // Just under the limit: '0,' repeated, in one list.
  const zeros = (key: string, bytes: number) => `{"${key}": [${'0,'.repeat(Math.floor((bytes - key.length - 10) / 2))}0]}`;
  const inputs = path.join(dir, 'in.json');
  fs.writeFileSync(inputs, zeros('images', MAX_INPUTS_JSON_BYTES));
  assert.ok(fs.statSync(inputs).size <= MAX_INPUTS_JSON_BYTES);
  refused(
    run(['validate', v5, '--inputs', inputs, '--iters', '1', '--warmup', '0']),
    4,
    `--inputs ${inputs}: images: more than the 49152 values the model's input takes`,
    /takes$/,
    { rssMb: 800 },
  );
  const weights = path.join(dir, 'w.json');
  fs.writeFileSync(weights, zeros('Channel_Att.bn2.weight', MAX_WEIGHTS_JSON_BYTES));
  refused(
    run(['insert', v5, '--after', '23', '--module', 'NAM', '--weights', weights, '--dry-run']),
    4,
    `${weights}: Channel_Att.bn2.weight holds`,
    /values, more than the 32 of \[32\]$/,
    { rssMb: 800 },
  );
  assert.deepEqual(listFiles(dir), ['in.json', 'w.json']);
});

test('a safetensors file is judged by its header before it is read: an oversized tensor or a sparse tail is exit 4 in bounded memory', () => {
  const dir = tmpDir();
  const out = path.join(dir, 'o.onnx');
  const file = (name: string, header: Record<string, unknown>, dataBytes: number) => {
    const h = Buffer.from(JSON.stringify(header));
    const lead = Buffer.alloc(8);
    lead.writeBigUInt64LE(BigInt(h.length));
    const p = path.join(dir, name);
    fs.writeFileSync(p, Buffer.concat([lead, h]));
    fs.truncateSync(p, 8 + h.length + dataBytes); // sparse: 400 MB that take no disk and must not be read
    return p;
  };
  const big = 400_000_000;
  const huge = file('huge.safetensors', { 'Channel_Att.bn2.weight': { dtype: 'F32', shape: [big / 4], data_offsets: [0, big] } }, big);
  refused(
    run(['insert', v5, '--after', '23', '--module', 'NAM', '--weights', huge, '-o', out]),
    4,
    `${huge}: Channel_Att.bn2.weight has shape [100000000], expected [32]`,
    /nothing was read past the header$/,
    { rssMb: 300 },
  );
  const entries = Object.fromEntries(
    ['weight', 'bias', 'running_mean', 'running_var'].map((k, i) => [
      `Channel_Att.bn2.${k}`,
      { dtype: 'F32', shape: [32], data_offsets: [i * 128, (i + 1) * 128] },
    ]),
  );
  const tail = file('tail.safetensors', entries, big);
  refused(
    run(['insert', v5, '--after', '23', '--module', 'NAM', '--weights', tail, '-o', out]),
    4,
    `${tail}: not a valid safetensors file: ${big - 512} bytes after its last tensor belong to none`,
    /nothing was read past the header$/,
    { rssMb: 300 },
  );
  assert.deepEqual(listFiles(dir), ['huge.safetensors', 'tail.safetensors']);
});

test('no output of a plan may replace a file the plan reads: the plan itself, a weights or inputs file, directly or as its .data', () => {
  const dir = tmpDir();
  fs.copyFileSync(v5, path.join(dir, 'm.onnx'));
  fs.writeFileSync(path.join(dir, 'in.json'), '{}');
  fs.writeFileSync(path.join(dir, 'w.safetensors'), '');
  const plan = path.join(dir, 'plan.yaml');
  const entry = (output: string, more = '') => `  - {input: m.onnx, output: ${output}, insert: [{after: "23", module: NAM${more}}], compare: false}\n`;
  const cases: [string, string][] = [
    [entry('plan.yaml'), 'models[0].output: the output is the plan itself'],
    [entry('a.onnx', ', weights: w.safetensors') + entry('w.safetensors'), 'models[1].output: the output is the file models[0].insert[0].weights reads'],
    [
      `  - {input: m.onnx, output: b.onnx, insert: [{after: "23", module: NAM}], validate: {inputs: in.json}}\n${entry('in.json')}`,
      'models[1].output: the output is the file models[0].validate.inputs reads',
    ],
  ];
  for (const [models, message] of cases) {
    fs.writeFileSync(plan, `version: 1\nmodels:\n${models}`);
    const before = fs.readFileSync(plan);
    refused(run(['apply', plan]), 2, `${plan}:`, new RegExp(message.replace(/[.[\]()]/g, '\\$&')));
    assert.deepEqual(fs.readFileSync(plan), before);
  }
  // A plan named as an output's external data file (any name but .json reads as YAML).
  const dataPlan = path.join(dir, 'o.onnx.data');
  fs.writeFileSync(dataPlan, `version: 1\nmodels:\n${entry('o.onnx')}`);
  refused(
    run(['apply', dataPlan]),
    2,
    `${dataPlan}:3: models[0].output: its external data file ${path.join(dir, 'o.onnx.data')} is the plan itself`,
    /choose another output path$/,
  );
  assert.deepEqual(listFiles(dir), ['in.json', 'm.onnx', 'o.onnx.data', 'plan.yaml', 'w.safetensors']);
});

test('an --opt named __proto__ (or any Object.prototype name) is an unknown option (exit 2), never swallowed by the options object', async () => {
  const dir = tmpDir();
  for (const key of ['__proto__', 'constructor', 'hasOwnProperty']) {
    const out = path.join(dir, `${key}.onnx`);
    const r = await runMain(['insert', fixture('yolov5-op12.onnx'), '--after', '23', '--module', 'NAM', '--opt', `${key}=1`, '-o', out]);
    assert.equal(r.code, 2, `${key}: ${r.stderr}`);
    assert.equal(r.stderr, `onnx-attn: NAM has no option '${key}'; its options are spatial\n`);
    assert.equal(fs.existsSync(out), false);
  }
});

test('an --inputs folder holding a file sharp cannot decode is the inputs at fault (exit 4), one line naming the file', async () => {
  const dir = tmpDir();
  const imgs = path.join(dir, 'imgs');
  fs.mkdirSync(imgs);
  fs.writeFileSync(path.join(imgs, 'a.jpg'), 'this is no JPEG');
  const r = await runMain(['validate', fixture('yolov5-op12.onnx'), '--inputs', imgs, '--iters', '1', '--warmup', '0']);
  assert.equal(r.code, 4, r.stderr);
  assert.match(r.stderr, /^onnx-attn: --inputs: cannot decode image .*imgs\/a\.jpg \(.*\); the folder holds a file that is no image sharp can read\n$/);
});
