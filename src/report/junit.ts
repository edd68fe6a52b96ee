import { create } from 'xmlbuilder2';
import type { CompareResult } from '../compare.js';
import type { ValidateResult } from '../validate.js';
import { accuracyCases, compareAccuracyCases } from './accuracy.js';
import { detectionSummary, num, overheadText, timingText, type JUnitCase, type JUnitSuite } from './format.js';

/**
 * JUnit XML (the Ant/Surefire dialect CI systems read): one testsuite per run, one testcase per check.
 * xmlbuilder2 does the escaping: output names and error text can hold anything.
 */

// The case and suite types live in format.ts, so the renderers that make cases (accuracy.ts) need not import this file.
export type { JUnitCase, JUnitSuite } from './format.js';

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
      ...(s.cases.some((c) => !c.failure && c.skipped !== undefined) ? { skipped: s.cases.filter((c) => !c.failure && c.skipped !== undefined).length } : {}),
      time: (s.timeSec ?? 0).toFixed(3),
    });
    for (const c of s.cases) {
      const tc = suite.ele('testcase', { name: c.name, classname: c.classname, time: (c.timeSec ?? 0).toFixed(3) });
      if (c.failure) tc.ele('failure', { message: c.failure }).txt(c.failure);
      else if (c.skipped !== undefined) tc.ele('skipped', { message: c.skipped });
      if (c.output) tc.ele('system-out').txt(c.output);
    }
  }
  return root.end({ prettyPrint: true }) + '\n';
}

/**
 * A passing testcase that records a CPU fallback (`--fallback cpu`): the run passed, but CI shows what it ran on
 * and why. None when the requested provider was used.
 */
export function fallbackCase(ep: { requested: string[]; used: string[]; fallbackReason: string | null }, classname: string, who = ''): JUnitCase | null {
  if (!ep.fallbackReason) return null;
  return {
    name: `${who}runs on ${ep.used.join(',')}: fell back from ${ep.requested.join(',')}`,
    classname,
    failure: null,
    output: `requested ${ep.requested.join(',')}, used ${ep.used.join(',')}; fallback: ${ep.fallbackReason}`,
  };
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
  if (r.detections) {
    // A record, never a failure: an untrained or patched detector may find nothing at the threshold.
    const d = r.detections;
    cases.push({
      name: 'detections decoded',
      classname: cls,
      failure: null,
      output: `${detectionSummary(d)}${d.perInput.length > 1 ? `; per input set: ${d.perInput.join(', ')}` : ''}`,
    });
  }
  if (r.accuracy) cases.push(...accuracyCases(r.accuracy, r.mapGate, cls));
  if (r.placementCheck) {
    cases.push({
      name: `inserted nodes run on ${r.placementCheck.required}`,
      classname: cls,
      failure: r.placementCheck.pass
        ? null
        : `${r.placementCheck.offProvider.length} node(s) ran elsewhere: ${r.placementCheck.offProvider.map((n) => `${n.node} (${n.ep})`).join(', ')}`,
    });
  }
  return { name, cases, timeSec: (r.latencyMs.mean * r.latencyMs.n) / 1000 };
}

function outputFailure(o: CompareResult['outputs'][number]): string {
  const nonFinite = o.nonFinite ?? { a: 0, b: 0 };
  if (JSON.stringify(o.shape) !== JSON.stringify(o.shapeB)) return `shape [${o.shapeB}], the reference [${o.shape}]: not comparable`;
  if (nonFinite.a > 0 || nonFinite.b > 0) return `non-finite values (${nonFinite.b} in b, ${nonFinite.a} in the reference): error not measurable`;
  return `max abs ${num(o.maxAbs)}, rel L2 ${num(o.relL2)}, cosine ${o.cosine}, ${o.withinPct}% within atol ${o.tolerance.atol} rtol ${o.tolerance.rtol}`;
}

export function compareSuite(r: CompareResult, name = `compare ${r.a.path} ${r.b.path}`): JUnitSuite {
  const cls = `onnx-attn.compare.${r.b.path}`;
  const cases: JUnitCase[] = r.outputs.map((o) => ({
    name: `output ${o.name} within ${o.tolerance.name}`,
    classname: cls,
    failure: o.pass ? null : outputFailure(o),
    output: `max abs ${num(o.maxAbs)} mean abs ${num(o.meanAbs)} rel L2 ${num(o.relL2)} cosine ${o.cosine}${(o.parts ?? []).map((p) => `\n${p.part}: max abs ${num(p.maxAbs)} rel L2 ${num(p.relL2)} cosine ${p.cosine}`).join('')}`,
  }));
  for (const p of r.problems.filter((p) => p.startsWith('output') && p.includes('shape')))
    cases.push({ name: 'output shapes match', classname: cls, failure: p });
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
    cases.push({
      name: `inserted nodes run on ${r.placementCheck.required}`,
      classname: cls,
      failure: r.placementCheck.pass ? null : `${r.placementCheck.offProvider.length} node(s) ran elsewhere`,
    });
  }
  if (r.a.accuracy && r.b.accuracy) cases.push(...compareAccuracyCases(r.a.accuracy, r.b.accuracy, r.mapDrop, r.mapGate, cls));
  // A record, never a failure: latency is measured, not gated.
  const overhead = r.latencyMs.overhead;
  if (overhead)
    cases.push({
      name: overhead.withinNoise ? 'latency overhead: within noise' : 'latency overhead measured',
      classname: cls,
      failure: null,
      output: `${overheadText(overhead)}; ${timingText(overhead)}`,
    });
  // One model on two providers: each side that fell back; two models share one choice, recorded once.
  const sides = r.mode === 'ep-pair' ? [fallbackCase(r.a.ep, cls, 'a (reference) '), fallbackCase(r.b.ep, cls, 'b ')] : [fallbackCase(r.b.ep, cls)];
  for (const c of sides) if (c) cases.push(c);
  return { name, cases, timeSec: (r.latencyMs.a.mean * r.latencyMs.a.n + r.latencyMs.b.mean * r.latencyMs.b.n) / 1000 };
}
