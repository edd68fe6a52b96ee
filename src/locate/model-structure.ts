/**
 * What the locator knows of a model (ModelStructure) and its parts: the family, layers and head inputs. Types only,
 * apart from the code that builds them (structure.ts, head.ts, family.ts), so each of those can import them.
 */
import type { Dim, Graph, Node, TensorType, Value } from '../graph/graph.js';
import type { Scope } from './scope.js';

export type Family = 'yolov5' | 'yolov8' | 'yolo11' | 'rtdetr' | 'rtdetr-official' | 'unknown';

/** A module of the model as the locator sees it: a scope and the data tensors that leave it. */
export interface Layer {
  /** Display scope as the exporter wrote it: `model.23`, `model/backbone/res_layers.1`. */
  scope: string;
  /** Dotted module path used for matching. */
  path: string;
  /** yolov5/ultralytics module index, or null. */
  index: number | null;
  /** Module type recognised from the scope's structure (`C3`, `C2f`, `Detect`, ...), or `op:<Op>` for a lone op. */
  type: string;
  nodes: Node[];
  /** Data tensors produced inside and read outside (or graph outputs), in file order. */
  boundary: Value[];
  /** Layer indexes (or scopes) that feed this one. */
  from: string[];
  isHead: boolean;
}

export interface HeadInput {
  value: Value;
  /** Scope of the producing layer (`model.17`). */
  fromScope: string;
  fromIndex: number | null;
}

/**
 * What the locator knows of a model: the family, the scope of each node, which tensors are data, the layer
 * table and the head. Built once per loaded model; edits build a new one.
 */
export interface ModelStructure {
  graph: Graph;
  family: Family;
  types: Map<Value, TensorType>;
  scopes: Map<Node, Scope | null>;
  layers: Layer[];
  /** The head's scope (`model.24`, `model.decoder`), or null when it is found by structure alone. */
  headPath: string | null;
  head: HeadInput[];
  isData(v: Value): boolean;
  shapeOf(v: Value): Dim[] | null;
  /** The layer that contains a node, if any. */
  layerOf(node: Node): Layer | null;
  /** A cycle or unsorted nodes (Graph.orderProblem), found once: commands that edit or locate refuse such a graph. */
  orderProblem: string | null;
}
