import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bytesOf, P } from '../../test/pickle-bytes.js';
import { PickleError, PyDict, PyGlobal, PyObject, PySet, PyTuple } from './pickle-values.js';
import { readPickle } from './pickle.js';

test('reads the values PyTorch and numpy pickles hold (protocol 2 and 4 forms)', () => {
  const data = bytesOf(
    P.proto(2),
    P.emptyDict,
    P.put(0),
    P.mark,
    P.str('a'),
    P.int4(-5),
    P.str('b'),
    P.float(0.25),
    P.str('c'),
    P.mark,
    P.int1(1),
    P.int1(2),
    P.tuple,
    P.str('d'),
    P.emptyList,
    P.mark,
    P.none,
    P.shortStr('x'),
    P.appends,
    P.str('e'),
    [0x8a, 9, 0, 0, 0, 0, 0, 0, 0, 0, 1], // LONG1: 2**64
    P.str('f'),
    P.get(0), // the dict itself: a cycle, kept by identity
    P.setitems,
    P.stop,
  );
  const { value, end } = readPickle(data);
  assert.equal(end, data.length);
  assert.ok(value instanceof PyDict);
  assert.equal(value.get('a'), -5);
  assert.equal(value.get('b'), 0.25);
  assert.deepEqual((value.get('c') as PyTuple).items, [1, 2]);
  assert.deepEqual(value.get('d'), [null, 'x']);
  assert.equal(value.get('e'), 2n ** 64n);
  assert.equal(value.get('f'), value);
});

test('OrderedDict, set and _codecs.encode bytes are rebuilt as data; NEWOBJ makes an inert stand-in', () => {
  const data = bytesOf(
    P.proto(4),
    P.shortStr('collections'),
    P.shortStr('OrderedDict'),
    P.stackGlobal,
    P.emptyTuple,
    P.reduce,
    P.mark,
    P.str('k'),
    P.global('_codecs', 'encode'),
    P.str('\u00ff\u0001'),
    P.str('latin1'),
    P.tuple2,
    P.reduce,
    P.str('s'),
    P.global('builtins', 'set'),
    P.emptyList,
    P.str('q'),
    P.append,
    P.tuple1,
    P.reduce,
    P.str('m'),
    P.global('models.yolo', 'Model'),
    P.emptyTuple,
    P.newobj,
    P.emptyDict,
    P.str('training'),
    [0x89], // NEWFALSE
    P.setitem,
    P.build,
    P.setitems,
    P.stop,
  );
  const value = readPickle(data).value as PyDict;
  assert.deepEqual(value.get('k'), new Uint8Array([255, 1]));
  assert.deepEqual((value.get('s') as PySet).items, ['q']);
  const m = value.get('m') as PyObject;
  assert.ok(m instanceof PyObject);
  assert.equal(m.cls.qualified, 'models.yolo.Model');
  assert.equal((m.state as PyDict).get('training'), false);
  // ultralytics keeps its arguments in an IterableSimpleNamespace, rebuilt as (cls, (), state): a stand-in too.
  const ns = readPickle(
    bytesOf(
      P.proto(2),
      P.global('ultralytics.utils', 'IterableSimpleNamespace'),
      P.emptyTuple,
      P.reduce,
      P.emptyDict,
      P.str('imgsz'),
      P.int1(64),
      P.setitem,
      P.build,
      P.stop,
    ),
  ).value;
  assert.ok(ns instanceof PyObject);
  assert.equal((ns.state as PyDict).get('imgsz'), 64);
});

test('calling anything outside the allowed set is refused, however it is named', () => {
  const calls: [string, Uint8Array][] = [
    ['posix.system', bytesOf(P.proto(2), P.global('posix', 'system'), P.str('touch /tmp/pwned'), P.tuple1, P.reduce, P.stop)],
    ['builtins.eval', bytesOf(P.proto(4), P.shortStr('builtins'), P.shortStr('eval'), P.stackGlobal, P.str('1'), P.tuple1, P.reduce, P.stop)],
    ['torch.load', bytesOf(P.proto(2), P.global('torch', 'load'), P.str('x.pt'), P.tuple1, P.reduce, P.stop)],
    ['models.yolo.Model (REDUCE, i.e. __init__)', bytesOf(P.proto(2), P.global('models.yolo', 'Model'), P.emptyTuple, P.reduce, P.stop)],
  ];
  for (const [what, data] of calls) {
    assert.throws(
      () => readPickle(data),
      (e: Error) => e instanceof PickleError && /calls .* refusing/.test(e.message),
      what,
    );
  }
  // Instances of classes from modules that run code are refused even though no constructor would run here.
  const popen = bytesOf(P.proto(2), P.global('subprocess', 'Popen'), P.emptyTuple, P.newobj, P.stop);
  assert.throws(() => readPickle(popen), /subprocess\.Popen, which could run code/);
  // A callable reached through the memo or as a REDUCE result is no different.
  const viaMemo = bytesOf(P.proto(2), P.global('os', 'system'), P.put(1), [0x30], P.get(1), P.str('id'), P.tuple1, P.reduce, P.stop);
  assert.throws(() => readPickle(viaMemo), /calls os\.system/);
  // Opcodes that call classes in protocol 0/1 (INST, OBJ) and extension registries are not supported at all.
  assert.throws(() => readPickle(bytesOf(P.proto(2), P.mark, [0x69], ...Buffer.from('os\nsystem\n'), P.stop)), /INST/);
  assert.throws(() => readPickle(bytesOf(P.proto(2), [0x82, 1], P.stop)), /EXT1/);
});

test('bounds: opcodes, marks, memo, stack and lengths past the end are refused', () => {
  const manyMarks = bytesOf(P.proto(2), ...Array.from({ length: 20_000 }, () => P.mark), P.stop);
  assert.throws(() => readPickle(manyMarks), /more than 10000 MARKs/);
  const longRun = bytesOf(P.proto(2), ...Array.from({ length: 1000 }, () => [...P.none, 0x30]), P.none, P.stop);
  assert.throws(() => readPickle(longRun, 0, {}, { maxOps: 500 }), /more than 500 opcodes/);
  assert.deepEqual(readPickle(longRun).value, null);
  const memo = bytesOf(P.proto(4), P.none, ...Array.from({ length: 100 }, () => P.memoize), P.stop);
  assert.throws(() => readPickle(memo, 0, {}, { maxMemo: 50 }), /memo passes 50/);
  const stack = bytesOf(P.proto(2), ...Array.from({ length: 100 }, () => P.none), P.stop);
  assert.throws(() => readPickle(stack, 0, {}, { maxStack: 50 }), /stack passes 50/);
  // A string claiming 4 GB in a 20-byte pickle.
  assert.throws(() => readPickle(bytesOf(P.proto(2), [0x58, 255, 255, 255, 255], P.stop)), /truncated pickle: a string/);
  assert.throws(() => readPickle(bytesOf(P.proto(2), [0x8d, 255, 255, 255, 255, 255, 255, 255, 127], P.stop)), /exceeds the 12-byte input/);
  assert.throws(() => readPickle(bytesOf(P.proto(2), P.get(3), P.stop)), /memo entry 3 read before/);
  assert.throws(() => readPickle(bytesOf(P.proto(2), P.none)), /truncated pickle/);
  assert.throws(() => readPickle(bytesOf(P.proto(9), P.none, P.stop)), /protocol 9/);
  assert.throws(() => readPickle(bytesOf(P.proto(2), P.setitems, P.stop)), /no MARK/);
});

test('GLOBAL names are kept as names, never resolved', () => {
  const g = readPickle(bytesOf(P.proto(2), P.global('torch', 'HalfStorage'), P.stop)).value;
  assert.ok(g instanceof PyGlobal);
  assert.equal(g.qualified, 'torch.HalfStorage');
});
