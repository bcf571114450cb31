import { z } from 'zod';
import { COMPAT_TABLE, type GpuFacts } from '../compat/table.js';
import { LAYER_NAMES, type LayerName } from '../spec/layers.js';
import type { ImageSpec } from '../spec/schema.js';
import type { AnsibleRunReport, GuestGateReport } from './gate-report.js';

// The guest measures, the host judges: every threshold comes from the spec here, so changing one
// never needs a rebuilt image, and a verdict can be recomputed from a kept gate report.

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

/** What evaluateGate judges: one layer's guest report, its Ansible reports, and the spec's thresholds. */
export type GateInput = {
  readonly layer: LayerName;
  readonly spec: ImageSpec;
  readonly report: GuestGateReport;
  readonly ansible?: { readonly run?: AnsibleRunReport; readonly idempotence?: AnsibleRunReport };
  /** Judge only what the guest measured: a finished image booted for verification has no Ansible runs to judge. */
  readonly imageChecksOnly?: boolean;
};

type Json = z.infer<ReturnType<typeof z.json>>;
type Judgement = { status: 'pass' | 'fail' | 'error'; reason?: string };
type GateRule = {
  readonly check: string;
  readonly gpu: boolean;
  readonly expected: string;
  readonly judge: (value: Json, detail: Readonly<Record<string, unknown>> | undefined) => Judgement;
};

const ROOT_FS_TYPES = ['ext4', 'xfs', 'btrfs'];
// nvidia-smi reports memory.total a little under the marketing size, and it moves between driver
// releases; 1 % below the table's figure still rules out a card of the next size down.
const MEMORY_TOLERANCE = 0.01;
const MAX_NAMED_TASKS = 5;

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

/** The number of GPUs every GPU gate expects: the driver gate's override, else hardware.gpu.count. */
export function expectedGpuCount(spec: ImageSpec): number {
  return spec.layers.driver.gate.gpu_count ?? spec.hardware.gpu.count;
}

function verdictOf(layer: LayerName, checks: GateCheckResult[]): GateVerdict {
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

function rulesFor(layer: LayerName, spec: ImageSpec): GateRule[] {
  switch (layer) {
    case 'base':
      return baseRules(spec);
    case 'driver':
      return driverRules(spec);
    case 'runtime':
      return runtimeRules(spec);
    case 'frameworks':
      return frameworksRules(spec);
    case 'validation':
      return validationRules(spec);
  }
}

function baseRules(spec: ImageSpec): GateRule[] {
  const gate = spec.layers.base.gate;
  const users = spec.users.map((u) => u.name);
  const port = spec.layers.base.ssh.port;
  return [
    {
      check: 'system_running',
      gpu: false,
      expected: '== running',
      judge: (value, detail) =>
        withString(value, (state) => {
          if (state === 'running') return pass();
          const units = stringList(detail?.['failed_units']);
          return fail(`system is ${state}${units.length > 0 ? `; failed units: ${units.join(', ')}` : ''}`);
        }),
    },
    {
      check: 'ssh_listening',
      gpu: false,
      expected: '== true',
      judge: (value) => withBoolean(value, (listening) => (listening ? pass() : fail(`nothing listens on TCP port ${port}`))),
    },
    {
      check: 'users_present',
      gpu: false,
      expected: `includes ${users.join(', ')}`,
      judge: (value) =>
        withStringList(value, (present) => {
          const missing = users.filter((u) => !present.includes(u));
          return missing.length === 0 ? pass() : fail(`missing user${missing.length === 1 ? '' : 's'}: ${missing.join(', ')}`);
        }),
    },
    gate.min_root_fs_gib === undefined
      ? recorded('root_fs_gib')
      : { check: 'root_fs_gib', gpu: false, expected: `>= ${gate.min_root_fs_gib}`, judge: atLeast(gate.min_root_fs_gib) },
    {
      check: 'root_fs_type',
      gpu: false,
      expected: `one of ${ROOT_FS_TYPES.join(', ')}`,
      judge: (value) => withString(value, (type) => (ROOT_FS_TYPES.includes(type) ? pass() : fail(`root filesystem is ${type}`))),
    },
    {
      check: 'root_partition',
      gpu: false,
      expected: 'a partition, e.g. /dev/vda1',
      judge: (value) => withString(value, judgeRootDevice),
    },
  ];
}

// What /proc/mounts names as the root device. A partition of a disk, or a device-mapper volume
// (LVM, LUKS) that lives on one; the whole disk means the installer did not partition it.
function judgeRootDevice(device: string): Judgement {
  if (/^\/dev\/mapper\/[^/\s]+$/.test(device) || /^\/dev\/dm-\d+$/.test(device)) return pass();
  if (/^\/dev\/(?:[sv]d|xvd|hd)[a-z]+\d+$/.test(device) || /^\/dev\/(?:nvme\d+n\d+|mmcblk\d+)p\d+$/.test(device)) return pass();
  if (/^\/dev\/(?:[sv]d|xvd|hd)[a-z]+$/.test(device) || /^\/dev\/(?:nvme\d+n\d+|mmcblk\d+)$/.test(device)) {
    return fail(`root filesystem is on the whole disk ${device}, not a partition; check the image's partitioning`);
  }
  // A kernel booted without an initramfs names the root /dev/root, which hides the real device.
  if (device === '/dev/root') return fail('root device is reported as /dev/root; cannot tell whether partitioning gave it a partition');
  return fail(`root filesystem is on ${device}, not a disk partition; check the image's partitioning`);
}

function driverRules(spec: ImageSpec): GateRule[] {
  const gate = spec.layers.driver.gate;
  const gpus: Readonly<Record<string, GpuFacts>> = COMPAT_TABLE.gpus;
  // hasOwn keeps a model such as "constructor" from resolving to an Object.prototype member.
  const table = Object.hasOwn(gpus, spec.hardware.gpu.model) ? gpus[spec.hardware.gpu.model] : undefined;
  const count = expectedGpuCount(spec);
  const name = gate.gpu_name ?? table?.name;
  const memory = gate.min_memory_mib ?? (table === undefined ? undefined : Math.floor(table.memoryMiB * (1 - MEMORY_TOLERANCE)));
  const driver = spec.layers.driver.nvidia_driver;
  // A bare branch ("570") installs whatever release of the branch apt has; a full version must match exactly.
  const driverIsBranch = driver.split('.').length === 1;
  return [
    { check: 'gpu_count', gpu: true, expected: `== ${count}`, judge: equalsCount(count) },
    {
      check: 'gpu_names',
      gpu: true,
      expected: name ?? 'a GPU name (set layers.driver.gate.gpu_name)',
      judge: (value) =>
        withStringList(value, (names) => {
          if (name === undefined) return error(`no expected GPU name for model ${spec.hardware.gpu.model}; set layers.driver.gate.gpu_name`);
          if (names.length === 0 && count > 0) return fail('nvidia-smi listed no GPUs');
          const wrong = names.map((n, index) => ({ n, index })).filter(({ n }) => n.trim() !== name);
          return wrong.length === 0 ? pass() : fail(wrong.map(({ n, index }) => `GPU ${index} is ${n}`).join('; '));
        }),
    },
    memory === undefined
      ? { check: 'gpu_memory_mib_min', gpu: true, expected: 'a memory size (set layers.driver.gate.min_memory_mib)', judge: () => error(`no expected memory size for model ${spec.hardware.gpu.model}; set layers.driver.gate.min_memory_mib`) }
      : { check: 'gpu_memory_mib_min', gpu: true, expected: `>= ${memory}`, judge: atLeast(memory) },
    gate.min_pcie_gen === undefined
      ? recorded('pcie_link_gen_min', true)
      : { check: 'pcie_link_gen_min', gpu: true, expected: `>= ${gate.min_pcie_gen}`, judge: atLeast(gate.min_pcie_gen) },
    gate.min_pcie_width === undefined
      ? recorded('pcie_link_width_min', true)
      : { check: 'pcie_link_width_min', gpu: true, expected: `>= ${gate.min_pcie_width}`, judge: atLeast(gate.min_pcie_width) },
    { check: 'idle_temp_c_max', gpu: true, expected: `<= ${gate.max_idle_temp_c}`, judge: atMost(gate.max_idle_temp_c) },
    {
      check: 'nvidia_driver',
      gpu: true,
      expected: driverIsBranch ? `${driver}.*` : `== ${driver}`,
      judge: (value) =>
        withString(value, (version) => {
          const matches = driverIsBranch ? version.split('.')[0] === driver : version === driver;
          return matches ? pass() : fail(`driver ${version} is loaded, the spec installs ${driver}`);
        }),
    },
  ];
}

function runtimeRules(spec: ImageSpec): GateRule[] {
  const count = expectedGpuCount(spec);
  const containers = spec.layers.runtime.gate.containers;
  return [
    { check: 'docker_gpu', gpu: true, expected: `== ${count}`, judge: equalsCount(count) },
    { check: 'docker_gpu_concurrent', gpu: true, expected: `== ${containers}`, judge: equalsCount(containers) },
  ];
}

function frameworksRules(spec: ImageSpec): GateRule[] {
  const count = expectedGpuCount(spec);
  const { tensorflow, vllm } = spec.layers.frameworks;
  return [
    imported('pytorch_import'),
    { check: 'pytorch_cuda_devices', gpu: true, expected: `== ${count}`, judge: equalsCount(count) },
    { check: 'pytorch_matmul_gpus', gpu: true, expected: `== ${count}`, judge: equalsCount(count) },
    ...(tensorflow === undefined
      ? []
      : [imported('tensorflow_import'), { check: 'tensorflow_gpus', gpu: true, expected: `== ${count}`, judge: equalsCount(count) }]),
    ...(vllm === undefined ? [] : [imported('vllm_import')]),
  ];
}

function validationRules(spec: ImageSpec): GateRule[] {
  const gate = spec.layers.validation.gate;
  return [
    { check: 'ddp_scaling_efficiency', gpu: true, expected: `>= ${gate.ddp_min_scaling_efficiency}`, judge: atLeast(gate.ddp_min_scaling_efficiency) },
    { check: 'vllm_tokens_per_s', gpu: true, expected: `>= ${gate.vllm_min_tokens_per_s}`, judge: atLeast(gate.vllm_min_tokens_per_s) },
    { check: 'gpu_utilization_pct', gpu: true, expected: `>= ${gate.min_gpu_utilization_pct}`, judge: atLeast(gate.min_gpu_utilization_pct) },
    { check: 'soak_max_temp_c', gpu: true, expected: `<= ${gate.soak_max_temp_c}`, judge: atMost(gate.soak_max_temp_c) },
    {
      check: 'soak_throttled',
      gpu: true,
      expected: '== false',
      judge: (value) => withBoolean(value, (throttled) => (throttled ? fail('GPUs throttled during the soak') : pass())),
    },
  ];
}

function ansibleChecks(layer: LayerName, spec: ImageSpec, ansible: GateInput['ansible']): GateCheckResult[] {
  const checks: GateCheckResult[] = [];
  const run = ansible?.run;
  // The run report is optional: without it, packer's own exit status already said whether Ansible failed.
  if (run !== undefined) {
    const failures = sumHosts(run, 'failures') + sumHosts(run, 'unreachable');
    checks.push({
      check: 'ansible_run',
      status: failures === 0 ? 'pass' : 'fail',
      measured: failures,
      expected: '== 0 failed tasks',
      ...(failures === 0 ? {} : { reason: `${playbookOf(run)} failed: ${nameTasks(run.failed_tasks)}` }),
      gpu: false,
    });
  }
  if (layer === 'base' && spec.layers.base.gate.idempotence) {
    const second = ansible?.idempotence;
    if (second === undefined) {
      checks.push({ check: 'ansible_idempotent', status: 'error', measured: null, expected: '== 0 changed', reason: 'not reported: no idempotence run report', gpu: false });
    } else {
      const changed = sumHosts(second, 'changed');
      const failures = sumHosts(second, 'failures') + sumHosts(second, 'unreachable');
      const reasons = [
        ...(changed > 0 ? [`the second run changed ${changed} task${changed === 1 ? '' : 's'}: ${nameTasks(second.changed_tasks)}`] : []),
        ...(failures > 0 ? [`the second run failed: ${nameTasks(second.failed_tasks)}`] : []),
      ];
      checks.push({
        check: 'ansible_idempotent',
        status: reasons.length === 0 ? 'pass' : 'fail',
        measured: changed,
        expected: '== 0 changed',
        ...(reasons.length === 0 ? {} : { reason: reasons.join('; ') }),
        gpu: false,
      });
    }
  }
  return checks;
}

function sumHosts(report: AnsibleRunReport, field: 'changed' | 'failures' | 'unreachable'): number {
  return Object.values(report.hosts).reduce((sum, host) => sum + host[field], 0);
}

function playbookOf(report: AnsibleRunReport): string {
  return report.playbook ?? 'the playbook';
}

function nameTasks(tasks: readonly { host: string; task: string; message?: string }[]): string {
  if (tasks.length === 0) return 'no task named in the report';
  const named = tasks.slice(0, MAX_NAMED_TASKS).map((t) => `${t.host}: ${oneLine(t.task)}${t.message ? ` (${oneLine(t.message)})` : ''}`);
  const more = tasks.length > MAX_NAMED_TASKS ? `, and ${tasks.length - MAX_NAMED_TASKS} more` : '';
  return `${named.join(', ')}${more}`;
}

// --- judges --------------------------------------------------------------------------------

function recorded(check: string, gpu = false): GateRule {
  // No threshold in the spec: the value is kept in the verdict for the record, but must be a number.
  return { check, gpu, expected: 'recorded', judge: (value) => withNumber(value, () => pass()) };
}

function imported(check: string): GateRule {
  return {
    check,
    gpu: false,
    expected: 'importable',
    judge: (value) => withString(value, (version) => (version.trim() === '' ? fail('import reported no version') : pass())),
  };
}

function atLeast(min: number): GateRule['judge'] {
  return (value) => withNumber(value, (n) => (n >= min ? pass() : fail()));
}

function atMost(max: number): GateRule['judge'] {
  return (value) => withNumber(value, (n) => (n <= max ? pass() : fail()));
}

function equalsCount(expected: number): GateRule['judge'] {
  return (value) =>
    withNumber(value, (n) => (Number.isInteger(n) ? (n === expected ? pass() : fail()) : error(`measured value ${n} is not a count`)));
}

function withNumber(value: Json, judge: (n: number) => Judgement): Judgement {
  return typeof value === 'number' && Number.isFinite(value) ? judge(value) : error(`measured value ${formatMeasured(value)} is not a number`);
}

function withString(value: Json, judge: (s: string) => Judgement): Judgement {
  return typeof value === 'string' ? judge(value) : error(`measured value ${formatMeasured(value)} is not a string`);
}

function withBoolean(value: Json, judge: (b: boolean) => Judgement): Judgement {
  return typeof value === 'boolean' ? judge(value) : error(`measured value ${formatMeasured(value)} is not true or false`);
}

function withStringList(value: Json, judge: (list: string[]) => Judgement): Judgement {
  return Array.isArray(value) && value.every((v) => typeof v === 'string')
    ? judge(stringList(value))
    : error(`measured value ${formatMeasured(value)} is not a list of strings`);
}

function stringList(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

function pass(): Judgement {
  return { status: 'pass' };
}

function fail(reason?: string): Judgement {
  return reason === undefined ? { status: 'fail' } : { status: 'fail', reason };
}

function error(reason: string): Judgement {
  return { status: 'error', reason };
}

function formatMeasured(value: Json): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  const line = oneLine(text);
  return line.length <= 200 ? line : `${line.slice(0, 197)}...`;
}

// Guest reasons are stderr tails; the CLI prints one line per check.
function oneLine(text: string): string {
  return text.replace(/\s*[\r\n]+\s*/g, ' ').trim();
}
