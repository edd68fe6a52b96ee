import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Argv } from 'yargs';
import { UsageError } from '../errors.js';
import { numberIn } from '../options.js';
import type { CommandContext, GlobalFlags } from './context.js';
import { NUMBER_RULES, parseNumberFlag } from './flags.js';
import { COMMANDS } from './main.js';

/** The flags each command declares, by running its yargs builder on a recorder instead of yargs. */
function declaredFlags(): Map<string, Map<string, { type?: unknown }>> {
  const byCommand = new Map<string, Map<string, { type?: unknown }>>();
  for (const register of COMMANDS) {
    const flags = new Map<string, { type?: unknown }>();
    const recorder: Record<string, unknown> = new Proxy(
      {},
      {
        get: (_, method) => {
          if (method === 'option' || method === 'positional') return (name: string, spec: { type?: unknown }) => (flags.set(name, spec), recorder);
          if (method === 'options')
            return (table: Record<string, { type?: unknown }>) => (Object.entries(table).forEach(([n, s]) => flags.set(n, s)), recorder);
          throw new Error(`the recorder does not know yargs' ${String(method)}`);
        },
      },
    );
    const cli = {
      command: (name: string, _describe: string, builder: (y: unknown) => unknown) => {
        builder(recorder);
        byCommand.set(name.split(' ')[0]!, flags);
        return cli;
      },
    };
    register(cli as unknown as Argv<GlobalFlags>, {} as CommandContext);
  }
  return byCommand;
}

test('every command registers once, in the order --help lists them', () => {
  assert.deepEqual([...declaredFlags().keys()], ['inspect', 'convert', 'insert', 'validate', 'compare', 'apply', 'modules', 'sweep', 'doctor', 'torch']);
});

test('every numeric flag of every command has a rule, and every rule belongs to a numeric flag', () => {
  const numeric = new Set<string>();
  for (const flags of declaredFlags().values()) for (const [name, spec] of flags) if (spec.type === 'number') numeric.add(name);
  assert.deepEqual([...numeric].sort(), Object.keys(NUMBER_RULES).sort());
});

test('a numeric flag is accepted exactly when the library rule (numberIn) accepts its number', () => {
  const texts = ['0', '-0', '1', '-1', '0.5', '1.5', '2', '1e-3', '1e5', '100000', '100001', '9007199254740991', '9007199254740992', '1e30', '-1e30'];
  for (const [name, rule] of Object.entries(NUMBER_RULES)) {
    for (const text of texts) {
      let library = true;
      try {
        numberIn(name, Number(text), rule.min, rule.max, rule.whole);
      } catch {
        library = false;
      }
      let cli = true;
      try {
        assert.equal(parseNumberFlag(name, text, rule), Number(text));
      } catch (e) {
        assert.ok(e instanceof UsageError, String(e));
        cli = false;
      }
      assert.equal(cli, library, `--${name} ${text}`);
    }
  }
});

test('a refused number is quoted as typed, with the side of the rule it is on', () => {
  const refused = (name: string, text: string) => {
    try {
      parseNumberFlag(name, text, NUMBER_RULES[name]);
    } catch (e) {
      assert.ok(e instanceof UsageError);
      return e.message;
    }
    assert.fail(`--${name} ${text} was accepted`);
  };
  assert.equal(refused('iters', ' 7x'), "--iters ' 7x': expected a whole number ≥ 1");
  assert.equal(refused('iters', '100001'), "--iters '100001': expected a whole number ≤ 100000");
  assert.equal(refused('warmup', '-1'), "--warmup '-1': expected a whole number ≥ 0");
  assert.equal(refused('seed', '0.5'), "--seed '0.5': expected a whole number");
  assert.equal(refused('seed', '-1e30'), "--seed '-1e30': expected a whole number between -9007199254740991 and 9007199254740991");
  assert.equal(refused('device-id', '1e20'), "--device-id '1e20': expected a whole number between -9007199254740991 and 9007199254740991");
  assert.equal(refused('bn-eps', '-1e-5'), "--bn-eps '-1e-5': expected a number > 0");
  assert.equal(refused('conf', '1e400'), "--conf '1e400': expected a number ≥ 0");
  assert.equal(refused('min-map', '1.01'), "--min-map '1.01': expected a number ≤ 1");
  // No rule: any finite number.
  assert.equal(parseNumberFlag('any', '-1e300'), -1e300);
  assert.throws(() => parseNumberFlag('any', 'NaN'), /^UsageError: --any 'NaN': expected a number$/);
});
