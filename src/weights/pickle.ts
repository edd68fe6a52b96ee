import { callAllowed, instantiable } from './pickle-calls.js';
import { kindOf, Opaque, PickleError, PyDict, PyGlobal, PyObject, PySet, PyTuple, type PickleValue } from './pickle-values.js';

/**
 * An inert reader of Python pickles (protocols 2 to 5, binary opcodes), for PyTorch checkpoints.
 *
 * Python's unpickler imports and calls whatever a pickle names; this reader never does. A GLOBAL or STACK_GLOBAL
 * becomes a `PyGlobal` (a name). Calling one (REDUCE) is allowed only for the few callables a checkpoint needs and
 * whose effect we reproduce as data: the tensor-rebuild functions, `collections.OrderedDict`, `builtins.set`,
 * `_codecs.encode` (protocol 2's spelling of bytes) and numpy's scalar and dtype. Building an instance (NEWOBJ) makes
 * an inert `PyObject` stand-in holding the class name and, after BUILD, its state, so a model pickled whole
 * (yolov5 and ultralytics save `model` so) reads without its classes; classes from modules that can run code (os,
 * subprocess, builtins, ...) are refused there too. Anything else is refused with `PickleError`. That allow-list is
 * `pickle-calls.ts`; the values built are `pickle-values.ts`; this file is the opcode loop.
 *
 * Why not an npm parser: the one on npm (`pickleparser` 0.2.1, two releases on one day in 2024), measured on the
 * fixtures, reads them, but by default turns a pickle calling posix.system into a placeholder without a word, and
 * has no bounds (200,000 nested MARKs parse); its name resolver could refuse names, the bounds it cannot add. This reader implements
 * just the opcodes PyTorch and numpy write, with bounds on the opcode count, the stack and mark depth, the memo,
 * and every length read from the file (never past the end of the input).
 */

export interface PickleLimits {
  /** Opcodes executed (default 50 million: a yolov5x model pickled whole takes about 200,000). */
  maxOps?: number;
  /** Values on the stack plus open MARKs (default 1,000,000). */
  maxStack?: number;
  /** Nested MARKs (default 10,000). */
  maxMarks?: number;
  /** Memo entries (default 10,000,000). */
  maxMemo?: number;
}

export interface PickleHooks {
  /** Resolves a persistent id (BINPERSID); throw PickleError to refuse it. */
  persistentLoad?: (pid: PickleValue) => PickleValue;
  /**
   * Calls an allowed callable (REDUCE) beyond the built-in ones: return undefined when `fn` is not one the caller
   * knows, and the reader refuses it.
   */
  call?: (fn: PyGlobal, args: PickleValue[]) => PickleValue | undefined;
}

const textDecoder = new TextDecoder('utf-8', { fatal: true });

/**
 * Reads one pickle from `data` starting at `start`; returns the value and the offset after its STOP.
 *
 * Raises: PickleError for a truncated or malformed pickle, an opcode outside the supported set, a call to anything
 * not allowed, or a bound exceeded. Cost: linear in the pickle's size (each opcode O(1) but APPENDS/SETITEMS, which
 * are linear in their items).
 */
export function readPickle(data: Uint8Array, start = 0, hooks: PickleHooks = {}, limits: PickleLimits = {}): { value: PickleValue; end: number } {
  const maxOps = limits.maxOps ?? 50_000_000;
  const maxStack = limits.maxStack ?? 1_000_000;
  const maxMarks = limits.maxMarks ?? 10_000;
  const maxMemo = limits.maxMemo ?? 10_000_000;
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  let pos = start;
  let stack: PickleValue[] = [];
  const marks: PickleValue[][] = [];
  const memo = new Map<number, PickleValue>();
  let ops = 0;

  const need = (n: number, what: string) => {
    if (n < 0 || pos + n > data.length) throw new PickleError(`truncated pickle: ${what} at byte ${pos} needs ${n} bytes, ${data.length - pos} left`);
  };
  const u8 = () => {
    need(1, 'a byte');
    return data[pos++]!;
  };
  const u16 = () => {
    need(2, 'a 2-byte integer');
    const v = view.getUint16(pos, true);
    pos += 2;
    return v;
  };
  const i32 = () => {
    need(4, 'a 4-byte integer');
    const v = view.getInt32(pos, true);
    pos += 4;
    return v;
  };
  const u32 = () => {
    need(4, 'a 4-byte length');
    const v = view.getUint32(pos, true);
    pos += 4;
    return v;
  };
  const u64 = () => {
    need(8, 'an 8-byte length');
    const v = view.getBigUint64(pos, true);
    pos += 8;
    if (v > BigInt(data.length)) throw new PickleError(`length ${v} at byte ${pos - 8} exceeds the ${data.length}-byte input`);
    return Number(v);
  };
  const bytes = (n: number, what: string) => {
    need(n, what);
    const b = data.subarray(pos, pos + n);
    pos += n;
    return b;
  };
  const utf8 = (n: number) => {
    const b = bytes(n, 'a string');
    try {
      return textDecoder.decode(b);
    } catch {
      throw new PickleError(`a string at byte ${pos - n} is not UTF-8`);
    }
  };
  const latin1 = (b: Uint8Array) => {
    let s = '';
    for (let i = 0; i < b.length; i += 4096) s += String.fromCharCode(...b.subarray(i, i + 4096));
    return s;
  };
  const line = () => {
    const end = data.indexOf(0x0a, pos);
    if (end < 0 || end - pos > 4096) throw new PickleError(`truncated pickle: an unterminated line at byte ${pos}`);
    const s = latin1(data.subarray(pos, end));
    pos = end + 1;
    return s;
  };
  const push = (v: PickleValue) => {
    if (stack.length + marks.length >= maxStack) throw new PickleError(`the pickle's stack passes ${maxStack} values`);
    stack.push(v);
  };
  const pop = (): PickleValue => {
    if (stack.length === 0) throw new PickleError(`malformed pickle: pop from an empty stack at byte ${pos - 1}`);
    return stack.pop()!;
  };
  const top = (): PickleValue => {
    if (stack.length === 0) throw new PickleError(`malformed pickle: empty stack at byte ${pos - 1}`);
    return stack[stack.length - 1]!;
  };
  const popMark = (): PickleValue[] => {
    const items = stack;
    const prev = marks.pop();
    if (!prev) throw new PickleError(`malformed pickle: no MARK before byte ${pos - 1}`);
    stack = prev;
    return items;
  };
  const put = (i: number) => {
    if (memo.size >= maxMemo && !memo.has(i)) throw new PickleError(`the pickle's memo passes ${maxMemo} entries`);
    memo.set(i, top());
  };
  const get = (i: number) => {
    if (!memo.has(i)) throw new PickleError(`malformed pickle: memo entry ${i} read before it was written (byte ${pos})`);
    push(memo.get(i)!);
  };
  const asList = (v: PickleValue, op: string): PickleValue[] | PySet => {
    if (Array.isArray(v)) return v;
    if (v instanceof PySet) return v;
    if (v instanceof PyObject) {
      // list subclasses (rare in checkpoints): keep the items in the stand-in's args
      return v.args;
    }
    throw new PickleError(`malformed pickle: ${op} on a ${kindOf(v)}, not a list`);
  };
  const asDict = (v: PickleValue, op: string): PyDict => {
    if (v instanceof PyDict) return v;
    if (v instanceof PyObject) {
      // a dict subclass stand-in: its items go to a dict in its state slot
      if (!(v.state instanceof PyDict)) v.state = new PyDict();
      return v.state;
    }
    throw new PickleError(`malformed pickle: ${op} on a ${kindOf(v)}, not a dict`);
  };

  if (start >= data.length) throw new PickleError('empty pickle');
  for (;;) {
    if (++ops > maxOps) throw new PickleError(`the pickle runs more than ${maxOps} opcodes`);
    const at = pos;
    const op = u8();
    switch (op) {
      case 0x80: {
        // PROTO
        const v = u8();
        if (v > 5) throw new PickleError(`pickle protocol ${v} is not supported (2 to 5)`);
        break;
      }
      case 0x95: // FRAME: a length hint only
        u64();
        break;
      case 0x2e: // STOP
        if (marks.length > 0) throw new PickleError('malformed pickle: STOP inside a MARK');
        return { value: pop(), end: pos };
      case 0x28: // MARK
        if (marks.length >= maxMarks) throw new PickleError(`the pickle nests more than ${maxMarks} MARKs (a recursion bomb?)`);
        if (stack.length + marks.length >= maxStack) throw new PickleError(`the pickle's stack passes ${maxStack} values`);
        marks.push(stack);
        stack = [];
        break;
      case 0x30: // POP
        pop();
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        push(top());
        break;
      case 0x4e: // NONE
        push(null);
        break;
      case 0x88: // NEWTRUE
        push(true);
        break;
      case 0x89: // NEWFALSE
        push(false);
        break;
      case 0x4a: // BININT
        push(i32());
        break;
      case 0x4b: // BININT1
        push(u8());
        break;
      case 0x4d: // BININT2
        push(u16());
        break;
      case 0x8a: // LONG1
      case 0x8b: {
        // LONG4
        const n = op === 0x8a ? u8() : u32();
        if (n > 1024) throw new PickleError(`an integer of ${n} bytes at byte ${at}`);
        const b = bytes(n, 'a long integer');
        let v = 0n;
        for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]!);
        if (n > 0 && b[n - 1]! & 0x80) v -= 1n << BigInt(8 * n);
        push(v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v);
        break;
      }
      case 0x47: {
        // BINFLOAT (big-endian)
        need(8, 'a float');
        push(view.getFloat64(pos, false));
        pos += 8;
        break;
      }
      case 0x58: // BINUNICODE
        push(utf8(u32()));
        break;
      case 0x8c: // SHORT_BINUNICODE
        push(utf8(u8()));
        break;
      case 0x8d: // BINUNICODE8
        push(utf8(u64()));
        break;
      case 0x54: // BINSTRING (a Python 2 str)
        push(latin1(bytes(i32(), 'a string')));
        break;
      case 0x55: // SHORT_BINSTRING
        push(latin1(bytes(u8(), 'a string')));
        break;
      case 0x42: // BINBYTES
        push(bytes(u32(), 'bytes').slice());
        break;
      case 0x43: // SHORT_BINBYTES
        push(bytes(u8(), 'bytes').slice());
        break;
      case 0x8e: // BINBYTES8
      case 0x96: // BYTEARRAY8
        push(bytes(u64(), 'bytes').slice());
        break;
      case 0x5d: // EMPTY_LIST
        push([]);
        break;
      case 0x6c: // LIST
        push(popMark());
        break;
      case 0x61: {
        // APPEND
        const v = pop();
        const list = asList(top(), 'APPEND');
        if (list instanceof PySet) list.items.push(v);
        else list.push(v);
        break;
      }
      case 0x65: {
        // APPENDS
        const items = popMark();
        const list = asList(top(), 'APPENDS');
        for (const v of items) (list instanceof PySet ? list.items : list).push(v);
        break;
      }
      case 0x29: // EMPTY_TUPLE
        push(new PyTuple([]));
        break;
      case 0x74: // TUPLE
        push(new PyTuple(popMark()));
        break;
      case 0x85: // TUPLE1
        push(new PyTuple([pop()]));
        break;
      case 0x86: {
        // TUPLE2
        const b = pop();
        const a = pop();
        push(new PyTuple([a, b]));
        break;
      }
      case 0x87: {
        // TUPLE3
        const c = pop();
        const b = pop();
        const a = pop();
        push(new PyTuple([a, b, c]));
        break;
      }
      case 0x7d: // EMPTY_DICT
        push(new PyDict());
        break;
      case 0x64: {
        // DICT
        const items = popMark();
        if (items.length % 2) throw new PickleError(`malformed pickle: DICT with an odd number of items at byte ${at}`);
        const d = new PyDict();
        for (let i = 0; i < items.length; i += 2) d.set(items[i]!, items[i + 1]!);
        push(d);
        break;
      }
      case 0x73: {
        // SETITEM
        const v = pop();
        const k = pop();
        asDict(top(), 'SETITEM').set(k, v);
        break;
      }
      case 0x75: {
        // SETITEMS
        const items = popMark();
        if (items.length % 2) throw new PickleError(`malformed pickle: SETITEMS with an odd number of items at byte ${at}`);
        const d = asDict(top(), 'SETITEMS');
        for (let i = 0; i < items.length; i += 2) d.set(items[i]!, items[i + 1]!);
        break;
      }
      case 0x8f: // EMPTY_SET
        push(new PySet());
        break;
      case 0x90: {
        // ADDITEMS
        const items = popMark();
        const s = top();
        if (!(s instanceof PySet)) throw new PickleError(`malformed pickle: ADDITEMS on a ${kindOf(s)}`);
        s.items.push(...items);
        break;
      }
      case 0x91: {
        // FROZENSET
        const s = new PySet();
        s.items.push(...popMark());
        push(s);
        break;
      }
      case 0x63: {
        // GLOBAL
        const module = line();
        const name = line();
        push(new PyGlobal(module, name));
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') throw new PickleError(`malformed pickle: STACK_GLOBAL of non-strings at byte ${at}`);
        push(new PyGlobal(module, name));
        break;
      }
      case 0x52: {
        // REDUCE
        const args = pop();
        const fn = pop();
        if (!(args instanceof PyTuple)) throw new PickleError(`malformed pickle: REDUCE arguments are a ${kindOf(args)}, not a tuple (byte ${at})`);
        push(callAllowed(fn, args.items, (f, a) => hooks.call?.(f, a)));
        break;
      }
      case 0x81: // NEWOBJ
      case 0x92: {
        // NEWOBJ_EX
        const kwargs = op === 0x92 ? pop() : null;
        const args = pop();
        const cls = pop();
        if (!(cls instanceof PyGlobal)) throw new PickleError(`malformed pickle: NEWOBJ of a ${kindOf(cls)} (byte ${at})`);
        if (!(args instanceof PyTuple)) throw new PickleError(`malformed pickle: NEWOBJ arguments are a ${kindOf(args)} (byte ${at})`);
        if (!instantiable(cls)) throw new PickleError(`the pickle makes an instance of ${cls.qualified}, which could run code; refusing to load it`);
        if (cls.qualified === 'collections.OrderedDict') push(new PyDict());
        else {
          const obj = new PyObject(cls, args.items);
          if (kwargs instanceof PyDict && kwargs.size > 0) obj.state = kwargs;
          push(obj);
        }
        break;
      }
      case 0x62: {
        // BUILD: set an instance's state; nothing runs (no __setstate__)
        const state = pop();
        const obj = top();
        if (obj instanceof PyObject) obj.state = state;
        else if (obj instanceof PyDict || obj instanceof Opaque) {
          // an OrderedDict's attributes (a state_dict's _metadata): not needed
        } else throw new PickleError(`the pickle sets the state of a ${kindOf(obj)}; only instances have state (byte ${at})`);
        break;
      }
      case 0x51: {
        // BINPERSID
        const pid = pop();
        if (!hooks.persistentLoad) throw new PickleError('the pickle refers to external data (a persistent id) where none is expected');
        push(hooks.persistentLoad(pid));
        break;
      }
      case 0x68: // BINGET
        get(u8());
        break;
      case 0x6a: // LONG_BINGET
        get(u32());
        break;
      case 0x71: // BINPUT
        put(u8());
        break;
      case 0x72: // LONG_BINPUT
        put(u32());
        break;
      case 0x94: // MEMOIZE
        put(memo.size);
        break;
      default: {
        const names: Record<number, string> = {
          0x69: 'INST (calls a class)',
          0x6f: 'OBJ (calls a class)',
          0x50: 'PERSID (text)',
          0x82: 'EXT1',
          0x83: 'EXT2',
          0x84: 'EXT4',
          0x97: 'NEXT_BUFFER (out-of-band data)',
          0x98: 'READONLY_BUFFER',
        };
        const what = names[op] ?? `0x${op.toString(16).padStart(2, '0')}`;
        throw new PickleError(`unsupported pickle opcode ${what} at byte ${at}`);
      }
    }
  }
}
