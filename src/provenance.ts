import { create } from '@bufbuild/protobuf';
import { StringStringEntryProtoSchema, type StringStringEntryProto } from './onnx/proto.js';

/** The metadata_props key under which onnx-attn records, as a JSON array, every insertion made into a model. */
export const PROVENANCE_KEY = 'onnx_attn';

/** The provenance entries of a model's metadata; none when the key is absent or its value is not a JSON array. */
export function readProvenance(props: { key: string; value: string }[]): unknown[] {
  const entry = props.find((p) => p.key === PROVENANCE_KEY);
  if (!entry) return [];
  try {
    const parsed = JSON.parse(entry.value) as unknown;
    return Array.isArray(parsed) ? parsed : [];
  } catch {
    return [];
  }
}

/** Sets the provenance entry to `entries` (as JSON), in place if present, else appended; other entries are kept as they were. */
export function writeProvenance(props: StringStringEntryProto[], entries: unknown[]): void {
  const value = JSON.stringify(entries);
  const entry = props.find((p) => p.key === PROVENANCE_KEY);
  if (entry) entry.value = value;
  else props.push(create(StringStringEntryProtoSchema, { key: PROVENANCE_KEY, value }));
}
