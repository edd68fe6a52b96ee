import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { test } from 'node:test';
import { create, toBinary } from '@bufbuild/protobuf';
import { fixture } from '../../test/helpers.js';
import { modelChunks } from './chunks.js';
import { decodeModel } from './load.js';
import { originalNodeField } from './node-bytes.js';
import { AttributeProtoSchema, ModelProtoSchema } from './proto.js';

const joined = (chunks: Uint8Array[]) => Buffer.concat(chunks);
const load = (name: string) => {
  const bytes = fs.readFileSync(fixture(name));
  return { bytes, proto: decodeModel(bytes, name) };
};

test('an unchanged decoded node is written as the bytes it came from, all of them as one view of the file', () => {
  const { bytes, proto } = load('yolov8-op17.onnx');
  const nodes = proto.graph!.node;
  assert.ok(nodes.length > 100);
  for (const n of nodes) assert.ok(originalNodeField(n), `node ${n.name} has its decoded bytes`);
  const first = originalNodeField(nodes[0]!)!;
  const last = originalNodeField(nodes[nodes.length - 1]!)!;
  assert.equal(first.buffer, bytes);
  // Each field is a node: decoding its bytes alone (tag and length stripped) gives that node.
  const chunks = modelChunks(proto);
  assert.ok(
    chunks.some((c) => c.buffer === bytes.buffer && c.byteOffset === bytes.byteOffset + first.start && c.length === last.end - first.start),
    'the run of nodes is one view of the decoded buffer',
  );
  assert.ok(joined(chunks).equals(bytes), 'the model is written back byte for byte');
});

test('an edited node is encoded again; the rest stay views, and the result equals the encoder on the edited model', () => {
  const { proto } = load('yolov5-op12.onnx');
  const nodes = proto.graph!.node;
  const rewired = nodes[10]!;
  rewired.input = [...rewired.input.slice(0, -1), 'renamed_input'];
  const inPlace = nodes[20]!;
  inPlace.output[0] = 'renamed_output'; // an edit in place of the list, not a new list
  const named = nodes[30]!;
  named.name = `${named.name}_x`;
  const attributed = nodes.find((n) => n.attribute.length > 0 && nodes.indexOf(n) > 40)!;
  attributed.attribute.push(create(AttributeProtoSchema, { name: 'extra', i: 3n, type: 2 }));
  for (const n of [rewired, inPlace, named, attributed]) assert.equal(originalNodeField(n), null, `${n.name} counts as changed`);
  assert.ok(originalNodeField(nodes[0]!));
  assert.ok(joined(modelChunks(proto)).equals(toBinary(ModelProtoSchema, proto)));
});

test('nodes added, removed or reordered: the output is still what the encoder writes', () => {
  const { proto } = load('rtdetr-l-op17.onnx');
  const nodes = proto.graph!.node;
  const moved = nodes.splice(5, 3);
  nodes.splice(50, 0, ...moved);
  nodes.splice(100, 1);
  assert.ok(joined(modelChunks(proto)).equals(toBinary(ModelProtoSchema, proto)));
});

test('a graph given in two fields (protobuf merges them) records nothing and is encoded as before', () => {
  const { proto } = load('yolov5-op12.onnx');
  const encoded = toBinary(ModelProtoSchema, proto);
  // A second graph field holding one more node: a valid protobuf whose node list spans both fields.
  const extra = toBinary(ModelProtoSchema, create(ModelProtoSchema, { graph: { node: [{ opType: 'Identity', input: ['a'], output: ['b'] }] } }));
  const merged = decodeModel(Buffer.concat([encoded, extra]), 'merged');
  assert.equal(merged.graph!.node.length, proto.graph!.node.length + 1);
  assert.ok(merged.graph!.node.every((n) => originalNodeField(n) === null));
  assert.ok(joined(modelChunks(merged)).equals(toBinary(ModelProtoSchema, merged)));
});
