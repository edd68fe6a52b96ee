import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { create, toBinary } from '@bufbuild/protobuf';
import { fixture, fixtureFiles, listFiles, tmpDir } from '../../test/helpers.js';
import { loadModel, loadModelSync, decodeModel } from './load.js';
import { ModelProtoSchema, StringStringEntryProtoSchema, TensorProtoSchema, TensorProto_DataType } from './proto.js';
import { encodeModel, saveModel } from './save.js';
import { modelChunks, total } from './chunks.js';

const read = (p: string) => fs.readFileSync(p);

test('every fixture round-trips byte for byte through load and save', () => {
  const files = fixtureFiles();
  assert.ok(files.length >= 10, `expected the bundled fixtures, found ${files.length}`);
  for (const rel of files) {
    const src = fixture(rel);
    const out = path.join(tmpDir(), path.basename(src));
    const r = saveModel(loadModelSync(src), out);
    assert.ok(read(src).equals(read(out)), `${rel}: model bytes differ after a round trip`);
    if (r.dataPath) assert.ok(read(`${src}.data`).equals(read(r.dataPath)), `${rel}: external data differs`);
  }
});

test('external data loads from the model folder, honouring offset and length', () => {
  const m = loadModelSync(fixture('yolov5-external/yolov5-op12.onnx'));
  assert.equal(m.hadExternalData, true);
  assert.ok(m.externalData.size > 10);
  const data = read(fixture('yolov5-external/yolov5-op12.onnx.data'));
  for (const [t, bytes] of m.externalData) {
    const e = Object.fromEntries(t.externalData.map((x) => [x.key, x.value]));
    const off = Number(e.offset ?? 0);
    assert.equal(bytes.length, Number(e.length));
    assert.ok(Buffer.from(bytes).equals(data.subarray(off, off + bytes.length)), `${t.name} payload`);
  }
  // Inline and external forms describe the same model: inlining gives the inline fixture's tensors.
  const inline = decodeModel(encodeModel(m));
  const ref = loadModelSync(fixture('yolov5-op12.onnx')).proto;
  assert.deepEqual(
    inline.graph!.initializer.map((t) => [t.name, Buffer.from(t.rawData).toString('base64')]),
    ref.graph!.initializer.map((t) => [t.name, Buffer.from(t.rawData).toString('base64')]),
  );
});

test('convert moves tensors out and back in without changing them', () => {
  const dir = tmpDir();
  const src = loadModelSync(fixture('yolov8-op12.onnx'));
  const ext = saveModel(src, path.join(dir, 'v8.onnx'), { externalData: 'always', threshold: 1024 });
  assert.ok(ext.dataPath && fs.existsSync(ext.dataPath));
  assert.ok(ext.bytes < read(fixture('yolov8-op12.onnx')).length / 2, 'weights left the protobuf');
  const back = loadModelSync(path.join(dir, 'v8.onnx'));
  assert.equal(back.hadExternalData, true);
  const inline = saveModel(back, path.join(dir, 'v8-inline.onnx'), { externalData: 'never' });
  assert.equal(inline.dataPath, null);
  // Same tensors as the original; the only difference is the explicit data_location the onnx package also writes.
  const a = decodeModel(read(fixture('yolov8-op12.onnx')));
  const b = decodeModel(read(inline.path));
  assert.deepEqual(
    b.graph!.initializer.map((t) => Buffer.from(t.rawData).toString('hex')),
    a.graph!.initializer.map((t) => Buffer.from(t.rawData).toString('hex')),
  );
  // The in-memory model is unchanged by saving.
  assert.ok(Buffer.from(encodeModel(src)).equals(read(fixture('yolov8-op12.onnx'))));
});

test('fields the schema does not know, and node metadata_props, survive a round trip', () => {
  const m = loadModelSync(fixture('yolov5-op12.onnx'));
  m.proto.graph!.node[0]!.metadataProps.push(create(StringStringEntryProtoSchema, { key: 'pkg.torch.onnx.name_scopes', value: "['', 'model.0']" }));
  const known = toBinary(ModelProtoSchema, m.proto);
  // Field 99, varint 1234 and field 98, bytes "hi": numbers ONNX has not defined.
  const unknown = Buffer.from([0x98, 0x06, 0xd2, 0x09, 0x92, 0x06, 0x02, 0x68, 0x69]);
  const bytes = Buffer.concat([known, unknown]);
  const dir = tmpDir();
  fs.writeFileSync(path.join(dir, 'in.onnx'), bytes);
  const out = saveModel(loadModelSync(path.join(dir, 'in.onnx')), path.join(dir, 'out.onnx'));
  assert.ok(read(out.path).equals(bytes));
});

test('saves are atomic and refuse to overwrite', () => {
  const dir = tmpDir();
  const m = loadModelSync(fixture('yolov5-op12.onnx'));
  const out = path.join(dir, 'a.onnx');
  saveModel(m, out);
  assert.throws(() => saveModel(m, out), /already exists; pass --force/);
  saveModel(m, out, { force: true });
  assert.deepEqual(listFiles(dir), ['a.onnx'], 'no temp files left behind');
  const copy = path.join(dir, 'in.onnx');
  fs.copyFileSync(fixture('yolov5-op12.onnx'), copy);
  const loaded = loadModelSync(copy);
  assert.throws(() => saveModel(loaded, copy, { force: true }), /refusing to overwrite the input/);
  assert.throws(() => saveModel(m, path.join(dir, 'missing-dir', 'x.onnx')), /does not exist/);
  assert.deepEqual(listFiles(dir), ['a.onnx', 'in.onnx']);
  // An external data file already beside the output is somebody's data too: kept unless --force.
  fs.writeFileSync(path.join(dir, 'e.onnx.data'), 'precious');
  assert.throws(
    () => saveModel(m, path.join(dir, 'e.onnx'), { externalData: 'always' }),
    /e\.onnx\.data already exists \(the output's external data file\); pass --force/,
  );
  assert.equal(fs.readFileSync(path.join(dir, 'e.onnx.data'), 'utf8'), 'precious');
  assert.deepEqual(listFiles(dir), ['a.onnx', 'e.onnx.data', 'in.onnx']);
  saveModel(m, path.join(dir, 'e.onnx'), { externalData: 'always', force: true });
  assert.ok(fs.statSync(path.join(dir, 'e.onnx.data')).size > 1000);
});

test('external data that escapes the model folder, or is missing or short, is refused', async () => {
  const dir = tmpDir();
  const src = fixture('yolov5-external/yolov5-op12.onnx');
  const proto = loadModelSync(src, { loadExternalData: false }).proto;
  const t = proto.graph!.initializer.find((x) => x.externalData.length > 0)!;
  const loc = t.externalData.find((e) => e.key === 'location')!;
  const write = (name: string, location: string) => {
    loc.value = location;
    fs.writeFileSync(path.join(dir, name), toBinary(ModelProtoSchema, proto));
    return path.join(dir, name);
  };
  fs.copyFileSync(`${src}.data`, path.join(dir, 'yolov5-op12.onnx.data'));
  assert.throws(() => loadModelSync(write('escape.onnx', '../secret.data')), /outside the model's folder; refused/);
  assert.throws(() => loadModelSync(write('abs.onnx', '/etc/passwd')), /outside the model's folder; refused/);
  assert.throws(() => loadModelSync(write('missing.onnx', 'nope.data')), /external data file 'nope.data' of tensor .* not found/);
  fs.writeFileSync(path.join(dir, 'short.data'), Buffer.alloc(10));
  assert.throws(() => loadModelSync(write('short.onnx', 'short.data')), /is 10 bytes, but tensor .* needs bytes/);
  // The parallel loader refuses the same inputs with the same words.
  await assert.rejects(loadModel(write('escape2.onnx', '../secret.data')), /outside the model's folder; refused/);
  await assert.rejects(loadModel(write('short2.onnx', 'short.data')), /is 10 bytes, but tensor .* needs bytes/);
  await assert.rejects(loadModel(path.join(dir, 'none.onnx')), /none.onnx: no such file; check the path/);
  await assert.rejects(loadModel(dir), /is a directory, not an .onnx file/);
});

test('loadModel reads in parallel pieces and gives exactly what loadModelSync gives', async () => {
  for (const rel of fixtureFiles()) {
    const a = await loadModel(fixture(rel));
    const b = loadModelSync(fixture(rel));
    assert.ok(Buffer.from(encodeModel(a)).equals(encodeModel(b)), `${rel}: the two loaders disagree`);
    assert.equal(a.hadExternalData, b.hadExternalData);
  }
  // Payloads larger than one read piece (8 MB), inline and in an external data file, land at the right offsets.
  const dir = tmpDir();
  const m = loadModelSync(fixture('yolov5-op12.onnx'));
  const big = (name: string, bytes: number, seed: number) => {
    const raw = Buffer.alloc(bytes);
    for (let i = 0; i < bytes; i += 4) raw.writeUInt32LE((Math.imul(i + seed, 2654435761) ^ seed) >>> 0, i);
    m.proto.graph!.initializer.push(create(TensorProtoSchema, { name, dims: [BigInt(bytes / 4)], dataType: TensorProto_DataType.FLOAT, rawData: raw }));
    return raw;
  };
  const payloads = [big('big.a', 20 << 20, 1), big('big.b', (9 << 20) + 4, 2)];
  const inline = saveModel(m, path.join(dir, 'inline.onnx'));
  const external = saveModel(m, path.join(dir, 'ext.onnx'), { externalData: 'always' });
  for (const file of [inline.path, external.path]) {
    const loaded = await loadModel(file);
    const byName = (n: string) => loaded.proto.graph!.initializer.find((t) => t.name === n)!;
    payloads.forEach((raw, i) => {
      const t = byName(i === 0 ? 'big.a' : 'big.b');
      const got = loaded.externalData.get(t) ?? t.rawData;
      assert.ok(Buffer.from(got).equals(raw), `${path.basename(file)}: payload ${i} differs`);
    });
  }
  assert.ok(Buffer.from(encodeModel(await loadModel(inline.path))).equals(encodeModel(m)), 'inline model differs');
});

test('the streamed encoding (payloads by reference) is byte-identical to the plain encoder', () => {
  for (const rel of fixtureFiles()) {
    const m = loadModelSync(fixture(rel));
    const plain = encodeModel(m);
    // A threshold of 1 byte splits every tensor, so the by-reference path covers every fixture.
    const chunks = modelChunks(m.proto, 1);
    assert.ok(chunks.length > 3 || m.hadExternalData, `${rel}: split into ${chunks.length} chunks`);
    if (!m.hadExternalData) assert.ok(Buffer.concat(chunks).equals(plain), `${rel}: streamed bytes differ`);
    assert.equal(total(chunks), Buffer.concat(chunks).length);
  }
});
