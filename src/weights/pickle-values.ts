/**
 * The values the inert pickle reader (src/weights/pickle.ts) builds: Python's dicts, sets and tuples as small
 * classes, names as `PyGlobal`s that are never imported, instances as inert `PyObject` stand-ins.
 */

// Its error class lives with the others in errors.ts.
export { PickleError } from '../errors.js';

/** A name a pickle refers to (`module.name`); it is never imported. */
export class PyGlobal {
  constructor(
    readonly module: string,
    readonly name: string,
  ) {}
  get qualified(): string {
    return `${this.module}.${this.name}`;
  }
}

/** An instance made by NEWOBJ (or an allowed REDUCE): its class name, constructor arguments and BUILD state. */
export class PyObject {
  state: PickleValue = null;
  constructor(
    readonly cls: PyGlobal,
    readonly args: PickleValue[],
  ) {}
}

/** A dict (or OrderedDict): insertion-ordered pairs; string and number keys are looked up by value. */
export class PyDict {
  readonly entries = new Map<unknown, [PickleValue, PickleValue]>();
  set(key: PickleValue, value: PickleValue): void {
    // Strings and numbers by value, objects (tuples) by identity: checkpoints key their dicts by strings and ints.
    this.entries.set(key, [key, value]);
  }
  get(key: string): PickleValue | undefined {
    return this.entries.get(key)?.[1];
  }
  has(key: string): boolean {
    return this.entries.has(key);
  }
  *items(): IterableIterator<[PickleValue, PickleValue]> {
    yield* this.entries.values();
  }
  get size(): number {
    return this.entries.size;
  }
}

/** A set or frozenset. */
export class PySet {
  readonly items: PickleValue[] = [];
}

/** A tuple (lists are plain arrays). */
export class PyTuple {
  constructor(readonly items: PickleValue[]) {}
}

/** What a persistent id resolved to (the caller's storages). */
export class PersistentRef {
  constructor(readonly value: unknown) {}
}

export type PickleValue =
  null | boolean | number | bigint | string | Uint8Array | PickleValue[] | PyTuple | PyDict | PySet | PyGlobal | PyObject | PersistentRef | Opaque;

/** A value of a kind the reader keeps but does not interpret (a numpy dtype, a slice, a tensor from a hook). */
export class Opaque {
  constructor(
    readonly what: string,
    readonly payload?: unknown,
  ) {}
}

/** A short name of a value's kind, for messages. */
export function kindOf(v: PickleValue | undefined): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'None';
  if (Array.isArray(v)) return 'list';
  if (v instanceof Uint8Array) return 'bytes';
  if (v instanceof PyTuple) return 'tuple';
  if (v instanceof PyDict) return 'dict';
  if (v instanceof PySet) return 'set';
  if (v instanceof PyGlobal) return `reference to ${v.qualified}`;
  if (v instanceof PyObject) return `${v.cls.qualified} object`;
  if (v instanceof PersistentRef) return 'storage';
  if (v instanceof Opaque) return v.what;
  return typeof v === 'bigint' ? 'int' : typeof v === 'number' ? 'number' : typeof v === 'boolean' ? 'bool' : 'str';
}
