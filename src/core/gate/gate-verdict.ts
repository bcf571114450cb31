import { z } from 'zod';
import { LAYER_NAMES, type LayerName } from '../spec/layers.js';
import { formatMeasured } from './judge-measurement.js';

/** A judged check: pass or fail against the spec, skipped by the guest, or error (not measured or not judgeable). */
export const GateCheckStatus = z.enum(['pass', 'fail', 'skipped', 'error']);
export type GateCheckStatus = z.infer<typeof GateCheckStatus>;

/** One check of a verdict, with what was measured and what the spec expected. */
export const GateCheckResult = z.strictObject({
  check: z.string().min(1),
  status: GateCheckStatus,
  /** The guest's value as reported; null when nothing was measured. */
  measured: z.json(),
  /** What the spec requires, for people: ">= 0.8", "== 4", "NVIDIA GeForce RTX 5090". */
  expected: z.string().min(1),
  reason: z.string().optional(),
  /** A GPU check may be skipped on a build without GPUs; the image is then not GPU-validated. */
  gpu: z.boolean(),
});
export type GateCheckResult = z.infer<typeof GateCheckResult>;

/** A layer's gate verdict; failed when any check failed or errored. */
export const GateVerdict = z.strictObject({
  layer: z.enum(LAYER_NAMES),
  status: z.enum(['passed', 'failed']),
  checks: z.array(GateCheckResult),
  /** Ids of the checks that were skipped. */
  skipped: z.array(z.string()),
  /** True when no GPU check was skipped. */
  gpuValidated: z.boolean(),
  summary: z.string(),
});
export type GateVerdict = z.infer<typeof GateVerdict>;

/** One line per failed or errored check, naming layer, check, expected and measured; empty when the gate passed. */
export function describeGateFailure(verdict: GateVerdict): string {
  return verdict.checks
    .filter((c) => c.status === 'fail' || c.status === 'error')
    .map((c) => {
      const measured = c.status === 'error' ? `nothing (${c.reason ?? 'error'})` : formatMeasured(c.measured);
      const reason = c.status === 'fail' && c.reason !== undefined ? ` (${c.reason})` : '';
      return `${verdict.layer} gate failed: ${c.check} measured ${measured}, expected ${c.expected}${reason}`;
    })
    .join('\n');
}

/** A layer's verdict from its judged checks, with a one-line summary of the counts. */
export function verdictOf(layer: LayerName, checks: GateCheckResult[]): GateVerdict {
  const count = (status: GateCheckStatus) => checks.filter((c) => c.status === status).length;
  const failed = count('fail') + count('error') > 0;
  const skipped = checks.filter((c) => c.status === 'skipped').map((c) => c.check);
  const gpuValidated = !checks.some((c) => c.gpu && c.status === 'skipped');
  const parts = [
    [count('pass'), 'passed'],
    [count('fail'), 'failed'],
    [count('error'), count('error') === 1 ? 'error' : 'errors'],
    [skipped.length, 'skipped'],
  ] as const;
  const counts = parts.filter(([n]) => n > 0).map(([n, label]) => `${n} ${label}`);
  const summary = `${layer} gate ${failed ? 'failed' : 'passed'}: ${counts.length > 0 ? counts.join(', ') : 'no checks'}${gpuValidated ? '' : '; GPU not validated'}`;
  return { layer, status: failed ? 'failed' : 'passed', checks, skipped, gpuValidated, summary };
}
