import { z } from 'zod';
import { Sha256 } from '../digest.js';

// What `imagebuild flash` leaves behind: a JSON report in the shape of a gate verdict (status,
// checks with measured and expected, a one-line summary), plus what was written where.

/** One check of a flash: the source's SHA-256, SHA256SUMS, the signature, the read-back compare, the source unchanged afterwards. */
export const FlashCheck = z.strictObject({
  check: z.enum(['source_sha256', 'sha256sums', 'signature', 'readback_compare', 'source_unchanged']),
  status: z.enum(['pass', 'fail', 'skipped']),
  measured: z.json(),
  expected: z.string().min(1),
  reason: z.string().optional(),
});
export type FlashCheck = z.infer<typeof FlashCheck>;

/** How the release's signature was treated (SignatureVerdict of src/app/release-signing.ts), as recorded. */
export const FlashSignature = z.union([
  z.strictObject({
    status: z.literal('verified'),
    principal: z.string(),
    fingerprint: z.string(),
    namespace: z.string(),
    allowed_signers: z.string(),
    command: z.string(),
  }),
  z.strictObject({ status: z.literal('unsigned-allowed'), signed: z.boolean(), reason: z.string() }),
]);
export type FlashSignature = z.infer<typeof FlashSignature>;

export const FlashReport = z.strictObject({
  format: z.literal(1),
  kind: z.literal('flash'),
  status: z.enum(['passed', 'failed']),
  summary: z.string(),
  started_at: z.iso.datetime(),
  finished_at: z.iso.datetime(),
  duration_s: z.number().nonnegative(),
  source: z.strictObject({
    image: z.string(),
    manifest: z.string(),
    name: z.string(),
    version: z.string(),
    sha256: Sha256,
    virtual_size_bytes: z.number().int().nonnegative(),
  }),
  signature: FlashSignature,
  device: z.strictObject({
    path: z.string(),
    kind: z.enum(['block', 'file']),
    name: z.string(),
    model: z.string().nullable(),
    vendor: z.string().nullable(),
    serial: z.string().nullable(),
    size_bytes: z.number().int().nonnegative(),
  }),
  write: z.strictObject({
    /** Bytes of data the image holds, written as data. */
    bytes_written: z.number().int().nonnegative(),
    /** Bytes the image holds as zeros, zeroed with the device's write-zeroes (or skipped on a known-zero target). */
    bytes_zeroed: z.number().int().nonnegative(),
    target_was_zero: z.boolean(),
    duration_s: z.number().nonnegative(),
  }),
  compare: z.strictObject({
    result: z.enum(['identical', 'mismatch']),
    /** Bytes compared from the start of the target: the image's virtual size. */
    range_bytes: z.number().int().nonnegative(),
    /** First differing offset, when qemu-img compare named one. */
    mismatch_offset: z.number().int().nonnegative().nullable(),
    duration_s: z.number().nonnegative(),
  }),
  checks: z.array(FlashCheck),
});
export type FlashReport = z.infer<typeof FlashReport>;

/** The report from what was measured: failed when any check failed, with a one-line summary. */
export function assembleFlashReport(input: Omit<FlashReport, 'format' | 'kind' | 'status' | 'summary'>): FlashReport {
  const failed = input.checks.filter((c) => c.status === 'fail');
  const status = failed.length > 0 ? 'failed' : 'passed';
  const where = `${input.source.name} v${input.source.version} onto ${input.device.path}`;
  const summary =
    status === 'passed'
      ? `flash passed: ${where}; read back identical over ${input.compare.range_bytes} bytes`
      : `flash failed: ${where}; ${failed.map((c) => `${c.check} measured ${JSON.stringify(c.measured)}, expected ${c.expected}`).join('; ')}`;
  return FlashReport.parse({ format: 1, kind: 'flash', status, summary, ...input });
}

/** `flash-<serial or name>-<UTC time>.json`, with anything but [A-Za-z0-9._-] in the serial made `_`. */
export function flashReportFileName(token: string, finishedAt: Date): string {
  const stamp = finishedAt.toISOString().replace(/\.\d{3}Z$/, 'Z').replace(/[-:]/g, '');
  return `flash-${token.replace(/[^A-Za-z0-9._-]/g, '_')}-${stamp}.json`;
}
