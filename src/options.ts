import { UsageError } from './errors.js';

/**
 * Checks of library options, the same rules the CLI applies to its flags, so a library caller's typo is a
 * UsageError naming the option rather than a value written into provenance or a TypeError deep inside.
 */

/** A value from a fixed set, or undefined (the default). */
export function oneOf<T extends string>(name: string, value: unknown, choices: readonly T[]): T | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !(choices as readonly string[]).includes(value)) {
    throw new UsageError(`${name} ${JSON.stringify(value)}: expected one of ${choices.join(', ')}`);
  }
  return value as T;
}

/** A number in [min, max] (whole when asked), or undefined (the default). */
export function numberIn(name: string, value: unknown, min: number, max: number, whole = false): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max || (whole && !Number.isInteger(value))) {
    const unbounded = max >= Number.MAX_SAFE_INTEGER;
    const range = min === Number.MIN_VALUE ? ' > 0' : min <= Number.MIN_SAFE_INTEGER ? '' : unbounded ? ` ≥ ${min}` : ` from ${min} to ${max}`;
    throw new UsageError(`${name} ${JSON.stringify(value)}: expected a${whole ? ' whole' : ''} number${range}`);
  }
  return value;
}

/** A repeatable option: one string or a list of them (the CLI's repeated flag), as a list. */
export function listOf(name: string, value: unknown): string[] {
  if (value === undefined) return [];
  if (typeof value === 'string') return [value];
  if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return [...value];
  throw new UsageError(`${name}: expected a string or a list of strings, got ${JSON.stringify(value)}`);
}
