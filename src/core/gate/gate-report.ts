import { z } from 'zod';
import { LAYER_NAMES } from '../spec/layers.js';
import { GateReportInvalidError } from '../../errors/index.js';

// Schemas for the JSON files that come back from the build VM (guest/run_checks.py, guest/facts.py,
// guest/inventory.py, ansible/callback_plugins/imagebuild_report.py). Objects are loose: the guest
// may add fields (more detail) without breaking an older host. Types are strict: a value of the wrong
// kind, an unknown status or another format number is refused.

const CheckId = z.string().regex(/^[a-z][a-z0-9_]*$/, { error: 'not a check id; lower-case letters, digits and _' });
const Detail = z.record(z.string(), z.unknown());
// Timestamps from the guest's clock, written by Python as ...Z; an offset is tolerated.
const Timestamp = z.iso.datetime({ offset: true });
const Count = z.number().int().nonnegative();
// A fact lands in the manifest verbatim: one non-empty line of printable text.
const FactText = z
  .string()
  .min(1)
  .max(200)
  .refine((text) => ![...text].some((ch) => ch < ' ' || ch === '\u007f'), { error: 'not a single line of printable text' });

/** One check's outcome as the guest reports it: measured (with its value), skipped or error (with a reason). */
export const GuestCheck = z.discriminatedUnion(
  'status',
  [
    z.looseObject({
      check: CheckId,
      status: z.literal('measured'),
      value: z.json(),
      unit: z.string().optional(),
      detail: Detail.optional(),
    }),
    z.looseObject({
      check: CheckId,
      status: z.literal('skipped'),
      reason: z.string().min(1),
      detail: Detail.optional(),
    }),
    z.looseObject({
      check: CheckId,
      status: z.literal('error'),
      reason: z.string().min(1),
      detail: Detail.optional(),
    }),
  ],
  { error: 'unknown check status; valid: measured, skipped, error' },
);
export type GuestCheck = z.infer<typeof GuestCheck>;

/** A layer's gate file from run_checks.py: what was measured, never whether it passed. */
export const GuestGateReport = z.looseObject({
  format: z.literal(1, { error: 'unsupported gate report format; this imagebuild reads format 1' }),
  layer: z.enum(LAYER_NAMES, { error: `unknown layer; valid: ${LAYER_NAMES.join(', ')}` }),
  started_at: Timestamp,
  finished_at: Timestamp,
  host: z.looseObject({
    hostname: z.string().nullable(),
    kernel: z.string().nullable(),
  }),
  checks: z.array(GuestCheck).superRefine((checks, ctx) => {
    const seen = new Set<string>();
    checks.forEach((entry, index) => {
      // Two verdicts for one check would let the evaluator pick the passing one.
      if (seen.has(entry.check)) ctx.addIssue({ code: 'custom', path: [index, 'check'], message: `check ${entry.check} is reported twice` });
      seen.add(entry.check);
    });
  }),
});
export type GuestGateReport = z.infer<typeof GuestGateReport>;

const AnsibleHostStats = z.looseObject({
  ok: Count,
  changed: Count,
  failures: Count,
  unreachable: Count,
  skipped: Count,
  rescued: Count,
  ignored: Count,
});

/** One playbook run as the imagebuild_report callback records it. */
export const AnsibleRunReport = z.looseObject({
  format: z.literal(1, { error: 'unsupported Ansible report format; this imagebuild reads format 1' }),
  // Null when the run ended before a playbook started.
  playbook: z.string().nullable(),
  duration_s: z.number().nonnegative(),
  hosts: z.record(z.string(), AnsibleHostStats),
  changed_tasks: z.array(z.looseObject({ host: z.string(), task: z.string() })),
  failed_tasks: z.array(z.looseObject({ host: z.string(), task: z.string(), message: z.string() })),
});
export type AnsibleRunReport = z.infer<typeof AnsibleRunReport>;

/** What facts.py read from the image; null where nothing is installed. */
export const GuestFacts = z.looseObject({
  format: z.literal(1, { error: 'unsupported facts format; this imagebuild reads format 1' }),
  os: FactText.nullable(),
  os_id: FactText.nullable(),
  os_version_id: FactText.nullable(),
  kernel: FactText.nullable(),
  nvidia_driver: FactText.nullable(),
  cuda_version: FactText.nullable(),
  cudnn_version: FactText.nullable(),
  docker_version: FactText.nullable(),
  container_toolkit_version: FactText.nullable(),
  python_version: FactText,
  venv: FactText.nullable(),
  frameworks: z.looseObject({
    pytorch: FactText.nullable(),
    tensorflow: FactText.nullable(),
    vllm: FactText.nullable(),
    // Facts from before NCCL was read have no such key.
    nccl: FactText.nullable().default(null),
  }),
  /** Packages of imagebuild's hermetic test mirror installed in the image (`deb:…`, `pypi:…`); older facts have none. */
  stand_ins: z.array(FactText).default([]),
});
export type GuestFacts = z.infer<typeof GuestFacts>;

// Package names and versions land in the SBOM verbatim: printable text, longer than a fact may be.
const InventoryText = z
  .string()
  .min(1)
  .max(1000)
  .refine((text) => ![...text].some((ch) => ch < ' ' || ch === '\u007f'), { error: 'not a single line of printable text' });

/** What inventory.py listed in the sealed image, for the release's SBOM; null where a part is absent (no venv, no Docker). */
export const GuestInventory = z.looseObject({
  format: z.literal(1, { error: 'unsupported inventory format; this imagebuild reads format 1' }),
  os: z.looseObject({
    id: InventoryText.nullable(),
    version_id: InventoryText.nullable(),
    version_codename: InventoryText.nullable(),
    pretty_name: InventoryText.nullable(),
  }),
  architecture: InventoryText.nullable(),
  kernel: InventoryText.nullable(),
  dpkg: z
    .array(z.looseObject({ name: InventoryText, version: InventoryText, architecture: InventoryText, source: InventoryText, source_version: InventoryText }))
    .nullable(),
  python: z
    .looseObject({
      venv: InventoryText,
      via: InventoryText,
      packages: z.array(z.looseObject({ name: InventoryText, version: InventoryText })),
    })
    .nullable(),
  kernel_modules: z.array(z.looseObject({ name: InventoryText, version: InventoryText.nullable(), kernel: InventoryText, path: InventoryText })),
  container_images: z
    .array(z.looseObject({ repository: InventoryText.nullable(), tag: InventoryText.nullable(), id: InventoryText, digest: InventoryText.nullable() }))
    .nullable(),
  problems: z.array(z.string()),
});
export type GuestInventory = z.infer<typeof GuestInventory>;

/** Validates an inventory file from inventory.py; throws GateReportInvalidError naming `source` and the first problem. */
export function parseGuestInventory(json: unknown, source: string): GuestInventory {
  return parseWith(GuestInventory, json, source, 'inventory');
}

/** Validates a gate file from run_checks.py; throws GateReportInvalidError naming `source` and the first problem. */
export function parseGuestGateReport(json: unknown, source: string): GuestGateReport {
  return parseWith(GuestGateReport, json, source, 'gate report');
}

/** Validates a report from the imagebuild_report Ansible callback; throws GateReportInvalidError naming `source` and the first problem. */
export function parseAnsibleRunReport(json: unknown, source: string): AnsibleRunReport {
  return parseWith(AnsibleRunReport, json, source, 'Ansible report');
}

/** Validates a facts file from facts.py; throws GateReportInvalidError naming `source` and the first problem. */
export function parseGuestFacts(json: unknown, source: string): GuestFacts {
  return parseWith(GuestFacts, json, source, 'facts file');
}

function parseWith<T>(schema: z.ZodType<T>, json: unknown, source: string, what: string): T {
  const result = schema.safeParse(json);
  if (result.success) return result.data;
  const [issue] = result.error.issues;
  const problem = issue === undefined ? 'does not validate' : `${formatPath(issue.path, json)}: ${issueMessage(issue)}`;
  throw new GateReportInvalidError(source, `invalid ${what}: ${problem}`, { cause: result.error });
}

function issueMessage(issue: z.core.$ZodIssue): string {
  // z.json() is a union of every JSON type; its own message ("Invalid input") names none of them.
  if (issue.code === 'invalid_union' && !('discriminator' in issue)) return 'missing, or not a JSON value';
  return issue.message;
}

// `checks[3] (gpu_count).value` reads better than `checks.3.value` when the guest sends dozens of checks.
function formatPath(path: readonly PropertyKey[], json: unknown): string {
  if (path.length === 0) return '(root)';
  let out = '';
  let node: unknown = json;
  for (const key of path) {
    if (typeof key === 'number') {
      out += `[${key}]`;
      node = childOf(node, key);
      const id = childOf(node, 'check');
      if (typeof id === 'string' && /^[a-z][a-z0-9_]{0,63}$/.test(id)) out += ` (${id})`;
    } else {
      out += `${out === '' ? '' : '.'}${String(key)}`;
      node = childOf(node, key);
    }
  }
  return out;
}

function childOf(node: unknown, key: PropertyKey): unknown {
  return node !== null && typeof node === 'object' ? Reflect.get(node, key) : undefined;
}
