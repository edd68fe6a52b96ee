import { create } from 'xmlbuilder2';
import type { CompareResult } from '../compare.js';
import type { ValidateResult } from '../validate.js';
import { num } from './format.js';

/**
 * JUnit XML (the Ant/Surefire dialect CI systems read): one testsuite per run, one testcase per check.
 * xmlbuilder2 does the escaping: output names and error text can hold anything.
 */
export interface JUnitCase {
  name: string;
  classname: string;
  timeSec?: number;
  failure?: string | null;
  output?: string;
}

export interface JUnitSuite {
  name: string;
  cases: JUnitCase[];
  timeSec?: number;
}

export function junitXml(suites: JUnitSuite[]): string {
  const root = create({ version: '1.0', encoding: 'UTF-8' }).ele('testsuites', {
    name: 'onnx-attn',
    tests: suites.reduce((n, s) => n + s.cases.length, 0),
    failures: suites.reduce((n, s) => n + s.cases.filter((c) => c.failure).length, 0),
  });
  for (const s of suites) {
    const suite = root.ele('testsuite', {
      name: s.name,
      tests: s.cases.length,
      failures: s.cases.filter((c) => c.failure).length,
      errors: 0,
      time: (s.timeSec ?? 0).toFixed(3),
    });
    for (const c of s.cases) {
      const tc = suite.ele('testcase', { name: c.name, classname: c.classname, time: (c.timeSec ?? 0).toFixed(3) });
      if (c.failure) tc.ele('failure', { message: c.failure }).txt(c.failure);
      if (c.output) tc.ele('system-out').txt(c.output);
    }
  }
  return root.end({ prettyPrint: true }) + '\n';
}

export function validateSuite(r: ValidateResult, name = `validate ${r.model}`): JUnitSuite {
  const cls = `onnx-attn.validate.${r.model}`;
  const cases: JUnitCase[] = r.outputs.map((o) => ({
    name: `output ${o.name} is finite`,
    classname: cls,
    failure: o.finite ? null : `${o.nonFinite} non-finite value(s)`,
    output: `${o.dtype} [${o.shape}] min ${num(o.min)} max ${num(o.max)}`,
  }));
  cases.push({
    name: `runs on ${r.ep.requested.join(',')}`,
    classname: cls,
    timeSec: (r.latencyMs.mean * r.latencyMs.n) / 1000,
    failure: null,
    output: `used ${r.ep.used.join(',')}${r.ep.fallbackReason ? `; fallback: ${r.ep.fallbackReason}` : ''}; p50 ${r.latencyMs.p50} ms`,
  });
  if (r.placementCheck) {
    cases.push({
      name: `inserted nodes run on ${r.placementCheck.required}`,
      classname: cls,
      failure: r.placementCheck.pass ? null : `${r.placementCheck.offProvider.length} node(s) ran elsewhere: ${r.placementCheck.offProvider.map((n) => `${n.node} (${n.ep})`).join(', ')}`,
    });
  }
  return { name, cases, timeSec: (r.latencyMs.mean * r.latencyMs.n) / 1000 };
}

export function compareSuite(r: CompareResult, name = `compare ${r.a.path} ${r.b.path}`): JUnitSuite {
  const cls = `onnx-attn.compare.${r.b.path}`;
  const cases: JUnitCase[] = r.outputs.map((o) => ({
    name: `output ${o.name} within ${o.tolerance.name}`,
    classname: cls,
    failure: o.pass ? null : `max abs ${num(o.maxAbs)}, rel L2 ${num(o.relL2)}, cosine ${o.cosine}, ${o.withinPct}% within atol ${o.tolerance.atol} rtol ${o.tolerance.rtol}`,
    output: `max abs ${num(o.maxAbs)} mean abs ${num(o.meanAbs)} rel L2 ${num(o.relL2)} cosine ${o.cosine}`,
  }));
  for (const p of r.problems.filter((p) => p.startsWith('output') && p.includes('shape'))) cases.push({ name: 'output shapes match', classname: cls, failure: p });
  if (r.detections) {
    const d = r.detections;
    cases.push({
      name: 'detections agree',
      classname: cls,
      failure: null,
      output: `${d.format}: matched ${d.matchedPct}% of ${d.refCount}, class agreement ${d.classAgreement}, mean IoU ${d.meanIoU}, missing ${d.missing}, extra ${d.extra}`,
    });
  }
  if (r.placementCheck) {
    cases.push({ name: `inserted nodes run on ${r.placementCheck.required}`, classname: cls, failure: r.placementCheck.pass ? null : `${r.placementCheck.offProvider.length} node(s) ran elsewhere` });
  }
  return { name, cases, timeSec: (r.latencyMs.a.mean * r.latencyMs.a.n + r.latencyMs.b.mean * r.latencyMs.b.n) / 1000 };
}
