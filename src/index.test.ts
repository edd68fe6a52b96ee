import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fixture } from '../test/helpers.js';
import * as api from './index.js';

// The library's surface is part of the contract: a change to this list is a deliberate, reviewed change.
const PUBLIC_API = [
  'BuildError',
  'DataFileError',
  'EpUnavailableError',
  'ExitCode',
  'Graph',
  'LocateError',
  'MODULES',
  'MismatchError',
  'ModelError',
  'ModuleBuilder',
  'Node',
  'OnnxAttnError',
  'UsageError',
  'VERSION',
  'Value',
  'analyzeModel',
  'analyzeStructure',
  'apply',
  'applyInsertItems',
  'applyInsertions',
  'checkRun',
  'checkRunInputs',
  'checkStructure',
  'checkPlan',
  'compare',
  'convert',
  'decodeModel',
  'describeModules',
  'doctor',
  'encodeModel',
  'expandPoints',
  'findModule',
  'inferShapes',
  'initWeights',
  'insertIntoFile',
  'inspect',
  'isOnnxAttnError',
  'loadModel',
  'loadModelSync',
  'locate',
  'planInsertions',
  'rankRows',
  'readTensorFile',
  'renderReport',
  'readTorchCheckpoint',
  'decodeTensor',
  'torchCode',
  'resolveOptions',
  'resolveWeights',
  'saveModel',
  'stageModel',
  'splitSpecs',
  'standaloneModel',
  'summarize',
  'sweep',
  'validate',
  'writeReports',
  'cocoEvaluate',
  'loadDataset',
];

test('the public API exports exactly the documented names', () => {
  assert.deepEqual(Object.keys(api).sort(), [...PUBLIC_API].sort());
});

test('the package name resolves to the same public API (what `import ... from "onnx-attn"` gets)', async () => {
  const viaName = (await import('onnx-attn')) as Record<string, unknown>;
  assert.deepEqual(Object.keys(viaName).sort(), Object.keys(api).sort());
  assert.equal(viaName.loadModel, api.loadModel);
});

test('loadModel is async and loadModelSync gives the same model', async () => {
  const pending = api.loadModel(fixture('yolov5-op12.onnx'));
  assert.ok(pending instanceof Promise);
  const a = await pending;
  const b = api.loadModelSync(fixture('yolov5-op12.onnx'));
  assert.ok(Buffer.from(api.encodeModel(a)).equals(api.encodeModel(b)));
});

test('the plan schema and package.json are importable subpaths', async () => {
  const { createRequire } = await import('node:module');
  const require = createRequire(import.meta.url);
  const schema = require('onnx-attn/schema/plan.schema.json') as { title: string; properties: Record<string, unknown> };
  assert.ok('models' in schema.properties);
  assert.equal((require('onnx-attn/package.json') as { name: string }).name, 'onnx-attn');
});
