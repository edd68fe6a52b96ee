/** Test helper (no tests): pickle bytes written opcode by opcode, for the pickle and checkpoint tests. */

/** Pickle bytes from opcodes and operands, written by hand as CPython's pickle would (pickletools names). */
export const P = {
  proto: (v: number) => [0x80, v],
  mark: [0x28],
  stop: [0x2e],
  none: [0x4e],
  int1: (v: number) => [0x4b, v],
  int4: (v: number) => [0x4a, v & 255, (v >> 8) & 255, (v >> 16) & 255, (v >>> 24) & 255],
  str: (s: string) => {
    const b = [...Buffer.from(s, 'utf8')];
    return [0x58, b.length & 255, (b.length >> 8) & 255, 0, 0, ...b];
  },
  shortStr: (s: string) => [0x8c, Buffer.byteLength(s), ...Buffer.from(s, 'utf8')],
  global: (m: string, n: string) => [0x63, ...Buffer.from(`${m}\n${n}\n`, 'latin1')],
  stackGlobal: [0x93],
  emptyTuple: [0x29],
  tuple: [0x74],
  tuple1: [0x85],
  tuple2: [0x86],
  emptyList: [0x5d],
  append: [0x61],
  appends: [0x65],
  emptyDict: [0x7d],
  setitem: [0x73],
  setitems: [0x75],
  reduce: [0x52],
  newobj: [0x81],
  build: [0x62],
  put: (i: number) => [0x71, i],
  get: (i: number) => [0x68, i],
  memoize: [0x94],
  float: (v: number) => {
    const b = Buffer.alloc(9);
    b[0] = 0x47;
    b.writeDoubleBE(v, 1);
    return [...b];
  },
};

export const bytesOf = (...parts: (number | number[])[]) => new Uint8Array(parts.flat());
