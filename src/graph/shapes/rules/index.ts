/**
 * The op-rule registry: one table of shape rules by op type (default ONNX domain), merged from the rule files.
 * A new rule goes in the file of its kind; a new kind of op gets a file here and an entry in RULE_FAMILIES.
 * `rules.test.ts` lists every op with a rule, so one lost in a move fails.
 */
import type { Rule } from '../context.js';
import { CONV_RULES } from './conv.js';
import { ELEMENTWISE_RULES } from './elementwise.js';
import { INDEXING_RULES } from './indexing.js';
import { LAYOUT_RULES } from './layout.js';
import { REDUCE_RULES } from './reduce.js';
import { RESIZE_RULES } from './resize.js';
import { VALUE_RULES } from './values.js';

/** The rule files by kind; an op belongs to exactly one. */
export const RULE_FAMILIES: Readonly<Record<string, Readonly<Record<string, Rule>>>> = {
  values: VALUE_RULES,
  elementwise: ELEMENTWISE_RULES,
  conv: CONV_RULES,
  reduce: REDUCE_RULES,
  layout: LAYOUT_RULES,
  indexing: INDEXING_RULES,
  resize: RESIZE_RULES,
};

/** Every rule by op type: a plain object, looked up once per node with Object.hasOwn. */
export const RULES: Readonly<Record<string, Rule>> = Object.assign({}, ...Object.values(RULE_FAMILIES)) as Record<string, Rule>;
