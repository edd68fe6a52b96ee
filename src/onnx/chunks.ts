import { toBinary, type DescMessage } from '@bufbuild/protobuf';
import { originalNodeField } from './node-bytes.js';
import { GraphProtoSchema, ModelProtoSchema, NodeProtoSchema, TensorProtoSchema } from './proto.js';
import type { GraphProto, ModelProto, TensorProto } from './proto.js';

/**
 * The ModelProto encoding as a list of chunks, where every large tensor payload (raw_data) is the loaded buffer
 * itself, not a copy. Concatenated, the chunks are byte-identical to `toBinary(ModelProtoSchema, model)`:
 * protobuf-es writes known fields in field-number order and unknown fields last, so a message splits into
 * [fields before N] [field N, by hand] [fields after N + unknown]. Only the outer layers are split
 * (model → graph → initializer → raw_data); everything else is encoded by protobuf-es as usual, except the graph's
 * nodes: an unchanged node is the bytes it was decoded from (onnx/node-bytes.ts), consecutive ones one view.
 */

const MODEL_GRAPH = 7;
const GRAPH_NODE = 1;
const GRAPH_INITIALIZER = 5;
const TENSOR_RAW_DATA = 9;

/** Payloads smaller than this are encoded inline with their tensor (splitting them saves nothing). */
const MIN_BY_REFERENCE = 64 * 1024;

export function modelChunks(model: ModelProto, minByReference = MIN_BY_REFERENCE): Uint8Array[] {
  const graph = model.graph;
  if (!graph || (!graph.initializer.some((t) => ownRaw(t) && t.rawData.length >= minByReference) && !graph.node.some((n) => originalNodeField(n))))
    return [toBinary(ModelProtoSchema, model)];
  const out: Uint8Array[] = [];
  out.push(partial(ModelProtoSchema, model, (n) => n < MODEL_GRAPH, false));
  const g = graphChunks(graph, minByReference);
  out.push(lengthDelimited(MODEL_GRAPH, total(g)), ...g);
  out.push(partial(ModelProtoSchema, model, (n) => n > MODEL_GRAPH, true));
  return out.filter((c) => c.length > 0);
}

export function total(chunks: readonly Uint8Array[]): number {
  let n = 0;
  for (const c of chunks) n += c.length;
  return n;
}

function graphChunks(graph: GraphProto, minByReference: number): Uint8Array[] {
  const out: Uint8Array[] = [...nodeChunks(graph), partial(GraphProtoSchema, graph, (n) => n > GRAPH_NODE && n < GRAPH_INITIALIZER, false)];
  for (const t of graph.initializer) {
    const c = tensorChunks(t, minByReference);
    out.push(lengthDelimited(GRAPH_INITIALIZER, total(c)), ...c);
  }
  out.push(partial(GraphProtoSchema, graph, (n) => n > GRAPH_INITIALIZER, true));
  return out;
}

/** The graph's node fields: runs of unchanged nodes as views of the decoded bytes, the others encoded. */
function nodeChunks(graph: GraphProto): Uint8Array[] {
  const out: Uint8Array[] = [];
  let run: { buffer: Uint8Array; start: number; end: number } | null = null;
  const flush = () => {
    if (run) out.push(run.buffer.subarray(run.start, run.end));
    run = null;
  };
  for (const node of graph.node) {
    const field = originalNodeField(node);
    if (field && run && run.buffer === field.buffer && run.end === field.start) run.end = field.end;
    else {
      flush();
      if (field) run = { ...field };
      else {
        const bytes = toBinary(NodeProtoSchema, node);
        out.push(lengthDelimited(GRAPH_NODE, bytes.length), bytes);
      }
    }
  }
  flush();
  return out;
}

function tensorChunks(t: TensorProto, minByReference: number): Uint8Array[] {
  if (!ownRaw(t) || t.rawData.length < minByReference) return [toBinary(TensorProtoSchema, t)];
  return [
    partial(TensorProtoSchema, t, (n) => n < TENSOR_RAW_DATA, false),
    lengthDelimited(TENSOR_RAW_DATA, t.rawData.length),
    t.rawData,
    partial(TensorProtoSchema, t, (n) => n > TENSOR_RAW_DATA, true),
  ];
}

function ownRaw(t: TensorProto): boolean {
  return Object.prototype.hasOwnProperty.call(t, 'rawData');
}

/**
 * Encodes only the fields whose number passes `keep` (and the unknown fields when asked), from a shallow copy:
 * lists are emptied and explicit-presence fields deleted, exactly what "not set" means to protobuf-es.
 */
function partial<T extends object>(schema: DescMessage, msg: T, keep: (fieldNumber: number) => boolean, unknown: boolean): Uint8Array {
  const copy: Record<string, unknown> = Object.assign(Object.create(Object.getPrototypeOf(msg) as object) as Record<string, unknown>, msg);
  for (const f of schema.fields) {
    if (keep(f.number)) continue;
    if (f.fieldKind === 'list') copy[f.localName] = [];
    else if (f.fieldKind === 'map') copy[f.localName] = {};
    else delete copy[f.localName];
  }
  if (!unknown) delete copy.$unknown;
  return toBinary(schema, copy as never);
}

/** Tag (wire type 2) and length varint of a length-delimited field. */
function lengthDelimited(fieldNumber: number, length: number): Uint8Array {
  const bytes: number[] = [];
  const varint = (v: number) => {
    while (v >= 0x80) {
      bytes.push((v % 0x80) | 0x80);
      v = Math.floor(v / 0x80);
    }
    bytes.push(v);
  };
  varint((fieldNumber << 3) | 2);
  varint(length);
  return Uint8Array.from(bytes);
}
