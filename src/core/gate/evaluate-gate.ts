import type { LayerName } from '../spec/layers.js';
import type { ImageSpec } from '../spec/schema.js';
import { ansibleChecks, type GateAnsibleReports } from './ansible-checks.js';
import type { GuestGateReport } from './gate-report.js';
import { verdictOf, type GateCheckResult, type GateVerdict } from './gate-verdict.js';
import { oneLine } from '../../errors/index.js';
import type { GateRule } from './judge-measurement.js';
import { rulesFor } from './layer-rules.js';

// The guest measures, the host judges: every threshold comes from the spec here, so changing one
// never needs a rebuilt image, and a verdict can be recomputed from a kept gate report.

export { describeGateFailure, GateCheckResult, GateCheckStatus, GateVerdict } from './gate-verdict.js';
export { expectedGpuCount } from './layer-rules.js';

/** What evaluateGate judges: one layer's guest report, its Ansible reports, and the spec's thresholds. */
export type GateInput = {
  readonly layer: LayerName;
  readonly spec: ImageSpec;
  readonly report: GuestGateReport;
  readonly ansible?: GateAnsibleReports;
  /** Judge only what the guest measured: a finished image booted for verification has no Ansible runs to judge. */
  readonly imageChecksOnly?: boolean;
};

/** Judges one layer's gate report against the spec's thresholds; pure, never throws for a bad measurement. */
export function evaluateGate(input: GateInput): GateVerdict {
  const { layer, spec, report } = input;
  const reported = new Map(report.checks.map((entry) => [entry.check, entry]));
  const checks: GateCheckResult[] = [];

  if (report.layer !== layer) {
    checks.push({
      check: 'report_layer',
      status: 'error',
      measured: report.layer,
      expected: `== ${layer}`,
      reason: `the gate report is for the ${report.layer} layer, not ${layer}`,
      gpu: false,
    });
  }

  const rules = rulesFor(layer, spec);
  for (const rule of rules) checks.push(judgeReported(rule, reported.get(rule.check)));

  // A check the rules do not know is informational, unless it broke: run_checks.py reports its own
  // crash as a "run_checks" error, and that must not pass.
  const known = new Set(rules.map((r) => r.check));
  for (const entry of report.checks) {
    if (!known.has(entry.check) && entry.status === 'error') {
      checks.push({ check: entry.check, status: 'error', measured: null, expected: 'no error', reason: oneLine(entry.reason), gpu: false });
    }
  }

  if (!input.imageChecksOnly) checks.push(...ansibleChecks(layer, spec, input.ansible));
  return verdictOf(layer, checks);
}

function judgeReported(rule: GateRule, entry: GuestGateReport['checks'][number] | undefined): GateCheckResult {
  const base = { check: rule.check, expected: rule.expected, gpu: rule.gpu };
  if (entry === undefined) return { ...base, status: 'error', measured: null, reason: 'not reported' };
  switch (entry.status) {
    case 'skipped':
      // Only the GPU can be absent from a build; a non-GPU check that skips hides a broken guest check.
      return rule.gpu
        ? { ...base, status: 'skipped', measured: null, reason: oneLine(entry.reason) }
        : { ...base, status: 'error', measured: null, reason: `skipped (${oneLine(entry.reason)}), but only GPU checks may be skipped` };
    case 'error':
      return { ...base, status: 'error', measured: null, reason: oneLine(entry.reason) };
    case 'measured': {
      const judgement = rule.judge(entry.value, entry.detail);
      return judgement.reason === undefined
        ? { ...base, status: judgement.status, measured: entry.value }
        : { ...base, status: judgement.status, measured: entry.value, reason: judgement.reason };
    }
  }
}
