/**
 * Where each node of a decoded model lies in the bytes it was decoded from, so the saver can write an unchanged node
 * as those bytes instead of encoding it again. A real export is thousands of small nodes (RT-DETR-l: 3,206): encoding
 * them was most of a save that is otherwise writes of weights by reference. A node counts as unchanged while its own
 * fields are what they were at decoding (a shallow snapshot: every field, list element by element); protobuf-es
 * writes an unchanged decoded message to the same bytes, so the output is the same either way.
 */
import type { ModelProto, NodeProto } from './proto.js';

/** Field numbers on the path model → graph → node (onnx.proto). */
const MODEL_GRAPH = 7;
const GRAPH_NODE = 1;

interface NodeSource {
  /** The whole decoded buffer, and this node's field in it: tag, length and message. */
  buffer: Uint8Array;
  start: number;
  end: number;
  /** The node's own fields at decoding; lists copied. */
  snapshot: Map<string, unknown>;
}

const SOURCES = new WeakMap<NodeProto, NodeSource>();

function snapshotOf(node: NodeProto): Map<string, unknown> {
  const fields = new Map<string, unknown>();
  for (const key of Object.keys(node)) {
    const v = (node as unknown as Record<string, unknown>)[key];
    fields.set(key, Array.isArray(v) ? [...(v as unknown[])] : v);
  }
  return fields;
}

function unchanged(node: NodeProto, snapshot: Map<string, unknown>): boolean {
  const keys = Object.keys(node);
  if (keys.length !== snapshot.size) return false;
  for (const key of keys) {
    if (!snapshot.has(key)) return false;
    const was = snapshot.get(key);
    const now = (node as unknown as Record<string, unknown>)[key];
    if (Array.isArray(was)) {
      if (!Array.isArray(now) || now.length !== was.length) return false;
      for (let i = 0; i < was.length; i++) if (now[i] !== was[i]) return false;
    } else if (now !== was) return false;
  }
  return true;
}

/** A varint at `pos`: its value (lengths and tags here stay far below 2^53) and where the next byte is. */
function varint(bytes: Uint8Array, pos: number): [number, number] {
  let value = 0;
  let scale = 1;
  for (;;) {
    if (pos >= bytes.length) throw new RangeError('varint past the end');
    const b = bytes[pos++]!;
    value += (b & 0x7f) * scale;
    if (b < 0x80) return [value, pos];
    scale *= 128;
    if (scale > 2 ** 63) throw new RangeError('varint too long');
  }
}

/** The fields of the message in bytes[start, end): number, wire type, where the field starts and its value lies. */
function* fields(
  bytes: Uint8Array,
  start: number,
  end: number,
): Generator<{ number: number; start: number; valueStart: number; valueEnd: number; wire: number }> {
  let pos = start;
  while (pos < end) {
    const fieldStart = pos;
    const [tag, afterTag] = varint(bytes, pos);
    const wire = tag & 7;
    let valueStart = afterTag;
    let valueEnd: number;
    if (wire === 0) valueEnd = varint(bytes, afterTag)[1];
    else if (wire === 1) valueEnd = afterTag + 8;
    else if (wire === 5) valueEnd = afterTag + 4;
    else if (wire === 2) {
      const [length, afterLength] = varint(bytes, afterTag);
      valueStart = afterLength;
      valueEnd = afterLength + length;
    } else throw new RangeError(`wire type ${wire}`); // groups: not in ONNX; no reuse
    if (valueEnd > end) throw new RangeError('field past the end of its message');
    yield { number: Math.floor(tag / 8), start: fieldStart, valueStart, valueEnd, wire };
    pos = valueEnd;
  }
}

/**
 * Records where each node of `model.graph` lies in `bytes` (the buffer it was decoded from). Only the plain layout
 * is recorded: one graph field, and as many node fields as decoded nodes; anything else (a graph split over several
 * fields, which protobuf merges) records nothing, and every node is encoded as before.
 */
export function recordNodeBytes(model: ModelProto, bytes: Uint8Array): void {
  const nodes = model.graph?.node;
  if (!nodes || nodes.length === 0) return;
  try {
    const graphs = [...fields(bytes, 0, bytes.length)].filter((f) => f.number === MODEL_GRAPH);
    if (graphs.length !== 1 || graphs[0]!.wire !== 2) return;
    const g = graphs[0]!;
    const ranges: { start: number; end: number }[] = [];
    for (const f of fields(bytes, g.valueStart, g.valueEnd)) {
      if (f.number === GRAPH_NODE) {
        if (f.wire !== 2) return;
        ranges.push({ start: f.start, end: f.valueEnd });
      }
    }
    if (ranges.length !== nodes.length) return;
    nodes.forEach((node, i) => SOURCES.set(node, { buffer: bytes, ...ranges[i]!, snapshot: snapshotOf(node) }));
  } catch {
    // Bytes protobuf-es decoded but this scan does not follow: nothing recorded, the nodes are encoded.
  }
}

/** The bytes of `node`'s graph field (tag, length, message) as decoded, while the node is unchanged; else null. */
export function originalNodeField(node: NodeProto): { buffer: Uint8Array; start: number; end: number } | null {
  const source = SOURCES.get(node);
  return source && unchanged(node, source.snapshot) ? source : null;
}
