/** What a shape rule sees of its node: the node, the opset and what is known about its inputs. */
import type { OnnxModel } from '../../onnx/load.js';
import { AttributeProto_AttributeType as AT } from '../../onnx/proto.js';
import type { Dim, Node, Value } from '../graph.js';
import { dataOf, strides, type Known, type Tensor } from './fold.js';

/** What a rule gives for one output; its data may be left unread (`src`) for ops that only move values. */
export type RuleOutput = Known;
export type Rule = (c: RuleContext) => RuleOutput | (RuleOutput | null)[] | null;

/** The node a rule types, with typed access to its inputs' known shapes and values and to its attributes. */
export class RuleContext {
  constructor(
    readonly node: Node,
    readonly opset: number,
    readonly model: OnnxModel,
    private readonly known: Map<Value, Known>,
  ) {}

  present(i: number): boolean {
    return !!this.node.inputs[i];
  }
  in(i: number): Known | null {
    const v = this.node.inputs[i];
    return v ? (this.known.get(v) ?? null) : null;
  }
  shape(i: number): Dim[] | null {
    return this.in(i)?.shape ?? null;
  }
  elem(i: number): number {
    return this.in(i)?.elemType ?? 0;
  }
  data(i: number): Dim[] | null {
    const k = this.in(i);
    return k ? dataOf(k, this.model) : null;
  }
  /** Values, when every one is a known integer. */
  ints(i: number): number[] | null {
    const d = this.data(i);
    return d && d.every((x) => Number.isInteger(x)) ? (d as number[]) : null;
  }
  tensor(i: number): Tensor | null {
    const k = this.in(i);
    const data = k ? dataOf(k, this.model) : null;
    return data ? { shape: k!.shape as number[], data, st: strides(k!.shape as number[]) } : null;
  }
  /** Input i's data, unread (for ops that only move values around). */
  pass(i: number): Pick<Known, 'data' | 'src'> {
    const k = this.in(i);
    return k ? { data: k.data, src: k.src } : { data: null };
  }
  int(name: string, fallback: number): number {
    return this.node.attrInt(name, fallback);
  }
  /**
   * An int list that moved from an attribute to input i at opset `since` (Squeeze axes, Split sizes, ...):
   * undefined when not given, null when given but unknown.
   */
  arg(i: number, attr: string, since: number): number[] | null | undefined {
    const fromInput = this.opset > 0 ? this.opset >= since : this.present(i);
    if (fromInput) return this.present(i) ? this.ints(i) : undefined;
    return this.node.attrInts(attr) ?? undefined;
  }
  floats(name: string): number[] | null {
    const a = this.node.attr(name);
    return a && a.type === AT.FLOATS ? [...a.floats] : null;
  }
}
