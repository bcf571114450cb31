import { describe, expect, it } from 'vitest';
import { demoSpecYaml } from '../../../test/helpers/demo-spec-yaml.js';
import { parseSpec } from '../spec/parse-spec.js';
import type { LayerName } from '../spec/layers.js';
import type { ImageSpec } from '../spec/schema.js';
import { describeGateFailure, evaluateGate, GateVerdict, type GateInput } from './evaluate-gate.js';
import type { AnsibleRunReport, GuestCheck, GuestGateReport } from './gate-report.js';

// The demo box's gate thresholds (manifests/vault-cube-demo-box.yaml), trimmed to what the gates read.
const DEMO_YAML = demoSpecYaml([
  [['hardware', 'gpu', 'passthrough'], ['0000:01:00.0', '0000:21:00.0', '0000:41:00.0', '0000:61:00.0']],
  [['layers', 'base', 'gate'], { idempotence: true, min_root_fs_gib: 180 }],
  [['layers', 'driver', 'gate'], { gpu_count: 4, gpu_name: 'NVIDIA GeForce RTX 5090', min_memory_mib: 32000, max_idle_temp_c: 60, min_pcie_gen: 5, min_pcie_width: 16 }],
  [['layers', 'runtime', 'gate', 'containers'], 2],
]);

function demoSpec(mutate: (s: ImageSpec) => void = () => {}): ImageSpec {
  const spec = structuredClone(parseSpec(DEMO_YAML, 'demo.yaml').spec);
  mutate(spec);
  return spec;
}

const RTX_5090 = 'NVIDIA GeForce RTX 5090';

// What a healthy 4x RTX 5090 build measures, per layer.
const HEALTHY: Record<LayerName, Record<string, GuestValue>> = {
  base: {
    system_running: 'running',
    ssh_listening: true,
    users_present: ['vaultadmin'],
    root_fs_gib: 195.8,
    root_fs_type: 'ext4',
    root_partition: '/dev/vda2',
    root_fills_disk: 0.9,
    boot_loaders: ['bios', 'uefi'],
  },
  driver: {
    gpu_count: 4,
    gpu_names: [RTX_5090, RTX_5090, RTX_5090, RTX_5090],
    gpu_memory_mib_min: 32607,
    pcie_link_gen_min: 5,
    pcie_link_width_min: 16,
    idle_temp_c_max: 34,
    nvidia_driver: '580.173.02',
  },
  runtime: { docker_gpu: 4, docker_gpu_concurrent: 2 },
  frameworks: {
    pytorch_import: '2.13.0+cu130',
    pytorch_cuda_devices: 4,
    pytorch_matmul_gpus: 4,
    tensorflow_import: '2.19.0',
    tensorflow_gpus: 4,
    vllm_import: '0.29.0',
  },
  validation: {
    ddp_scaling_efficiency: 0.87,
    vllm_tokens_per_s: 1234.5,
    gpu_utilization_pct: 96.5,
    soak_max_temp_c: 81,
    soak_throttled: false,
  },
};

type GuestValue = string | number | boolean | string[] | null;

function report(layer: LayerName, overrides: Record<string, GuestValue | GuestCheck | undefined> = {}): GuestGateReport {
  const values: Record<string, GuestValue | GuestCheck | undefined> = { ...HEALTHY[layer], ...overrides };
  const checks = Object.entries(values).flatMap(([check, value]): GuestCheck[] => {
    if (value === undefined) return [];
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) return [value];
    return [{ check, status: 'measured', value }];
  });
  return {
    format: 1,
    layer,
    started_at: '2026-11-23T16:05:44Z',
    finished_at: '2026-11-23T16:05:45Z',
    host: { hostname: 'vault-cube', kernel: '6.8.0-45-generic' },
    checks,
  };
}

const skipped = (check: string, reason = 'no GPU passed through to this build'): GuestCheck => ({ check, status: 'skipped', reason });
const errored = (check: string, reason: string): GuestCheck => ({ check, status: 'error', reason });

function ansibleRun(changedTasks: string[] = [], failedTasks: string[] = []): AnsibleRunReport {
  return {
    format: 1,
    playbook: 'base.yml',
    duration_s: 12.3,
    hosts: { default: { ok: 20, changed: changedTasks.length, failures: failedTasks.length, unreachable: 0, skipped: 0, rescued: 0, ignored: 0 } },
    changed_tasks: changedTasks.map((task) => ({ host: 'default', task })),
    failed_tasks: failedTasks.map((task) => ({ host: 'default', task, message: 'non-zero return code' })),
  };
}

function evaluate(layer: LayerName, overrides: Parameters<typeof report>[1] = {}, extra: Partial<GateInput> = {}) {
  // Every layer's gate asks for the idempotence run by default.
  return evaluateGate({ layer, spec: demoSpec(), report: report(layer, overrides), ansible: { idempotence: ansibleRun() }, ...extra });
}

function checkOf(verdict: GateVerdict, check: string) {
  const found = verdict.checks.find((c) => c.check === check);
  if (found === undefined) throw new Error(`no ${check} in the verdict: ${verdict.checks.map((c) => c.check).join(', ')}`);
  return found;
}

describe('evaluateGate: a healthy build', () => {
  it.each(['base', 'driver', 'runtime', 'frameworks', 'validation'] as const)('passes the %s gate with every check passing', (layer) => {
    const verdict = evaluate(layer);

    expect(verdict.status).toBe('passed');
    expect(verdict.checks.every((c) => c.status === 'pass')).toBe(true);
    expect(verdict.checks.length).toBeGreaterThanOrEqual(Object.keys(HEALTHY[layer]).length);
    expect(verdict.gpuValidated).toBe(true);
    expect(verdict.skipped).toEqual([]);
    expect(verdict.summary).toBe(`${layer} gate passed: ${verdict.checks.length} passed`);
    expect(() => GateVerdict.parse(verdict)).not.toThrow();
  });

  it('marks the GPU checks: all of driver, runtime and validation, and the device checks of frameworks', () => {
    const gpuChecks = (['base', 'driver', 'runtime', 'frameworks', 'validation'] as const).flatMap((layer) =>
      evaluate(layer).checks.filter((c) => c.gpu).map((c) => c.check),
    );

    expect(gpuChecks).toEqual([
      ...Object.keys(HEALTHY.driver),
      ...Object.keys(HEALTHY.runtime),
      'pytorch_cuda_devices',
      'pytorch_matmul_gpus',
      'tensorflow_gpus',
      ...Object.keys(HEALTHY.validation),
    ]);
  });
});

describe('evaluateGate: every rule', () => {
  it.each<{ layer: LayerName; check: string; value: GuestValue; status: 'pass' | 'fail'; expected: string; reason?: string }>([
    { layer: 'base', check: 'system_running', value: 'degraded', status: 'fail', expected: '== running', reason: 'system is degraded' },
    { layer: 'base', check: 'system_running', value: 'starting', status: 'fail', expected: '== running', reason: 'system is starting' },
    { layer: 'base', check: 'ssh_listening', value: false, status: 'fail', expected: '== true', reason: 'nothing listens on TCP port 22' },
    { layer: 'base', check: 'users_present', value: [], status: 'fail', expected: 'includes vaultadmin', reason: 'missing user: vaultadmin' },
    { layer: 'base', check: 'users_present', value: ['root', 'vaultadmin'], status: 'pass', expected: 'includes vaultadmin' },
    { layer: 'base', check: 'root_fs_type', value: 'xfs', status: 'pass', expected: 'one of ext4, xfs, btrfs' },
    { layer: 'base', check: 'root_fs_type', value: 'btrfs', status: 'pass', expected: 'one of ext4, xfs, btrfs' },
    { layer: 'base', check: 'root_fs_type', value: 'overlay', status: 'fail', expected: 'one of ext4, xfs, btrfs', reason: 'root filesystem is overlay' },
    { layer: 'base', check: 'root_partition', value: '/dev/vda1', status: 'pass', expected: 'a partition, e.g. /dev/vda1' },
    { layer: 'base', check: 'root_partition', value: '/dev/sdb3', status: 'pass', expected: 'a partition, e.g. /dev/vda1' },
    { layer: 'base', check: 'root_partition', value: '/dev/nvme0n1p2', status: 'pass', expected: 'a partition, e.g. /dev/vda1' },
    { layer: 'base', check: 'root_partition', value: '/dev/mapper/ubuntu--vg-ubuntu--lv', status: 'pass', expected: 'a partition, e.g. /dev/vda1' },
    { layer: 'base', check: 'root_partition', value: '/dev/vda', status: 'fail', expected: 'a partition, e.g. /dev/vda1', reason: 'partitioning' },
    { layer: 'base', check: 'root_partition', value: '/dev/nvme0n1', status: 'fail', expected: 'a partition, e.g. /dev/vda1', reason: 'whole disk /dev/nvme0n1' },
    { layer: 'base', check: 'root_partition', value: '/dev/root', status: 'fail', expected: 'a partition, e.g. /dev/vda1', reason: '/dev/root' },
    { layer: 'base', check: 'root_partition', value: 'overlay', status: 'fail', expected: 'a partition, e.g. /dev/vda1', reason: 'not a disk partition' },
    { layer: 'driver', check: 'gpu_names', value: [RTX_5090, RTX_5090, 'NVIDIA GeForce RTX 4090', RTX_5090], status: 'fail', expected: RTX_5090, reason: 'GPU 2 is NVIDIA GeForce RTX 4090' },
    { layer: 'driver', check: 'gpu_names', value: [], status: 'fail', expected: RTX_5090, reason: 'nvidia-smi listed no GPUs' },
    { layer: 'driver', check: 'nvidia_driver', value: '570.169', status: 'fail', expected: '== 580.173.02', reason: 'driver 570.169 is loaded' },
    { layer: 'frameworks', check: 'pytorch_import', value: '', status: 'fail', expected: 'importable', reason: 'no version' },
    { layer: 'validation', check: 'soak_throttled', value: true, status: 'fail', expected: '== false', reason: 'throttled' },
    // Thresholds on a measured number.
    { layer: 'base', check: 'root_fills_disk', value: 16, status: 'pass', expected: "<= 16 MiB left after the root partition, backup GPT header at the disk's end" },
    { layer: 'base', check: 'root_fills_disk', value: 10240, status: 'fail', expected: "<= 16 MiB left after the root partition, backup GPT header at the disk's end", reason: '10240 MiB of the disk lie unused' },
    { layer: 'base', check: 'boot_loaders', value: ['bios', 'uefi'], status: 'pass', expected: 'includes bios, uefi' },
    { layer: 'base', check: 'boot_loaders', value: ['bios'], status: 'fail', expected: 'includes bios, uefi', reason: 'no boot loader for uefi' },
    { layer: 'base', check: 'root_fs_gib', value: 179.9, status: 'fail', expected: '>= 180' },
    { layer: 'base', check: 'root_fs_gib', value: 180, status: 'pass', expected: '>= 180' },
    { layer: 'driver', check: 'gpu_count', value: 3, status: 'fail', expected: '== 4' },
    { layer: 'driver', check: 'gpu_count', value: 5, status: 'fail', expected: '== 4' },
    { layer: 'driver', check: 'gpu_memory_mib_min', value: 31999, status: 'fail', expected: '>= 32000' },
    { layer: 'driver', check: 'gpu_memory_mib_min', value: 32000, status: 'pass', expected: '>= 32000' },
    { layer: 'driver', check: 'pcie_link_gen_min', value: 4, status: 'fail', expected: '>= 5' },
    { layer: 'driver', check: 'pcie_link_width_min', value: 8, status: 'fail', expected: '>= 16' },
    { layer: 'driver', check: 'idle_temp_c_max', value: 61, status: 'fail', expected: '<= 60' },
    { layer: 'driver', check: 'idle_temp_c_max', value: 60, status: 'pass', expected: '<= 60' },
    { layer: 'runtime', check: 'docker_gpu', value: 0, status: 'fail', expected: '== 4' },
    { layer: 'runtime', check: 'docker_gpu_concurrent', value: 1, status: 'fail', expected: '== 2' },
    { layer: 'frameworks', check: 'pytorch_cuda_devices', value: 0, status: 'fail', expected: '== 4' },
    { layer: 'frameworks', check: 'pytorch_matmul_gpus', value: 3, status: 'fail', expected: '== 4' },
    { layer: 'frameworks', check: 'tensorflow_gpus', value: 0, status: 'fail', expected: '== 4' },
    { layer: 'validation', check: 'ddp_scaling_efficiency', value: 0.79, status: 'fail', expected: '>= 0.8' },
    { layer: 'validation', check: 'ddp_scaling_efficiency', value: 0.8, status: 'pass', expected: '>= 0.8' },
    { layer: 'validation', check: 'vllm_tokens_per_s', value: 9.9, status: 'fail', expected: '>= 10' },
    { layer: 'validation', check: 'gpu_utilization_pct', value: 89.9, status: 'fail', expected: '>= 90' },
    { layer: 'validation', check: 'soak_max_temp_c', value: 86, status: 'fail', expected: '<= 85' },
    { layer: 'validation', check: 'soak_max_temp_c', value: 85, status: 'pass', expected: '<= 85' },
  ])('$layer $check = $value → $status', ({ layer, check, value, status, expected, reason }) => {
    const verdict = evaluate(layer, { [check]: value });

    const result = checkOf(verdict, check);
    expect(result).toMatchObject({ status, expected, measured: value });
    if (reason !== undefined) expect(result.reason).toContain(reason);
    expect(verdict.status).toBe(status === 'pass' ? 'passed' : 'failed');
  });

  it('fails root_fills_disk when the backup GPT header is not at the disk end, even with no space left over', () => {
    const verdict = evaluate('base', {
      root_fills_disk: { check: 'root_fills_disk', status: 'measured', value: 0, unit: 'MiB', detail: { disk: '/dev/nvme0n1', backup_header_at_end: false } },
    });

    expect(checkOf(verdict, 'root_fills_disk')).toMatchObject({ status: 'fail', reason: 'the backup GPT header is not at the end of /dev/nvme0n1; the first-boot grow did not run' });
  });

  it('names the failed units of a degraded system', () => {
    const verdict = evaluate('base', {
      system_running: { check: 'system_running', status: 'measured', value: 'degraded', detail: { failed_units: ['fail2ban.service', 'ufw.service'] } },
    });

    expect(checkOf(verdict, 'system_running').reason).toBe('system is degraded; failed units: fail2ban.service, ufw.service');
    expect(verdict.status).toBe('failed');
  });

  it('names every missing user', () => {
    const spec = demoSpec((s) => s.users.push({ ...s.users[0]!, name: 'alice' }, { ...s.users[0]!, name: 'bob' }));

    const verdict = evaluateGate({ layer: 'base', spec, report: report('base'), ansible: { idempotence: ansibleRun() } });

    expect(checkOf(verdict, 'users_present')).toMatchObject({ status: 'fail', expected: 'includes vaultadmin, alice, bob', reason: 'missing users: alice, bob' });
  });
});

describe('evaluateGate: thresholds the spec leaves unset', () => {
  // No driver gate overrides and no root size: what manifests/local-dev.yaml leaves to the defaults.
  const defaultsSpec = demoSpec((s) => {
    s.layers.driver.gate = { max_idle_temp_c: s.layers.driver.gate.max_idle_temp_c, idempotence: true };
    s.layers.base.gate = { idempotence: true };
  });

  it('takes the GPU count from hardware.gpu and the name and memory from the compat table, allowing 1 % less memory', () => {
    const verdict = evaluateGate({ layer: 'driver', spec: defaultsSpec, report: report('driver', { gpu_memory_mib_min: 32280 }), ansible: { idempotence: ansibleRun() } });

    expect(checkOf(verdict, 'gpu_count').expected).toBe('== 4');
    expect(checkOf(verdict, 'gpu_names').expected).toBe(RTX_5090);
    // 32607 MiB in the table; 1 % less, rounded down.
    expect(checkOf(verdict, 'gpu_memory_mib_min')).toMatchObject({ expected: '>= 32280', status: 'pass' });
    expect(verdict.status).toBe('passed');
  });

  it('fails memory more than 1 % under the table', () => {
    const verdict = evaluateGate({ layer: 'driver', spec: defaultsSpec, report: report('driver', { gpu_memory_mib_min: 32279 }), ansible: { idempotence: ansibleRun() } });

    expect(checkOf(verdict, 'gpu_memory_mib_min').status).toBe('fail');
  });

  it('uses hardware.gpu.count for every GPU gate when the driver gate sets no count', () => {
    const spec = demoSpec((s) => {
      s.hardware.gpu.count = 2;
      delete s.layers.driver.gate.gpu_count;
    });

    const verdict = evaluateGate({ layer: 'runtime', spec, report: report('runtime', { docker_gpu: 2 }), ansible: { idempotence: ansibleRun() } });

    expect(checkOf(verdict, 'docker_gpu')).toMatchObject({ expected: '== 2', status: 'pass' });
  });

  it.each([
    { layer: 'driver' as const, check: 'pcie_link_gen_min', value: 1 },
    { layer: 'driver' as const, check: 'pcie_link_width_min', value: 1 },
    { layer: 'base' as const, check: 'root_fs_gib', value: 3.9 },
  ])('records $check without judging it when no minimum is set', ({ layer, check, value }) => {
    const verdict = evaluateGate({ layer, spec: defaultsSpec, report: report(layer, { [check]: value }), ansible: { idempotence: ansibleRun() } });

    expect(checkOf(verdict, check)).toMatchObject({ status: 'pass', expected: 'recorded', measured: value });
  });

  it('accepts any release of a bare driver branch', () => {
    const spec = demoSpec((s) => (s.layers.driver.nvidia_driver = '570'));

    const ok = evaluateGate({ layer: 'driver', spec, report: report('driver', { nvidia_driver: '570.195.03' }), ansible: { idempotence: ansibleRun() } });
    const wrong = evaluateGate({ layer: 'driver', spec, report: report('driver', { nvidia_driver: '575.64.05' }), ansible: { idempotence: ansibleRun() } });

    expect(checkOf(ok, 'nvidia_driver')).toMatchObject({ status: 'pass', expected: '570.*' });
    expect(checkOf(wrong, 'nvidia_driver').status).toBe('fail');
  });

  it('uses the runtime gate container count', () => {
    const spec = demoSpec((s) => (s.layers.runtime.gate.containers = 4));

    const verdict = evaluateGate({ layer: 'runtime', spec, report: report('runtime', { docker_gpu_concurrent: 2 }), ansible: { idempotence: ansibleRun() } });

    expect(checkOf(verdict, 'docker_gpu_concurrent')).toMatchObject({ status: 'fail', expected: '== 4' });
  });
});

describe('evaluateGate: optional frameworks', () => {
  const withoutOptional = demoSpec((s) => {
    delete s.layers.frameworks.tensorflow;
    delete s.layers.frameworks.vllm;
  });

  it('requires no TensorFlow or vLLM check when the spec has neither', () => {
    const verdict = evaluateGate({
      layer: 'frameworks',
      spec: withoutOptional,
      report: report('frameworks', { tensorflow_import: undefined, tensorflow_gpus: undefined, vllm_import: undefined }),
      ansible: { idempotence: ansibleRun() },
    });

    expect(verdict.status).toBe('passed');
    expect(verdict.checks.map((c) => c.check)).toEqual(['pytorch_import', 'pytorch_cuda_devices', 'pytorch_matmul_gpus', 'ansible_idempotent']);
  });

  it.each(['tensorflow_import', 'tensorflow_gpus', 'vllm_import'])('requires %s when the spec installs that framework', (check) => {
    const verdict = evaluate('frameworks', { [check]: undefined });

    expect(checkOf(verdict, check)).toMatchObject({ status: 'error', reason: 'not reported', measured: null });
    expect(verdict.status).toBe('failed');
  });
});

describe('evaluateGate: skipped, missing and broken checks', () => {
  it('keeps a gate whose GPU checks were skipped passed, but not GPU-validated', () => {
    const allSkipped = Object.fromEntries(Object.keys(HEALTHY.driver).map((c) => [c, skipped(c)]));

    const verdict = evaluate('driver', allSkipped);

    expect(verdict.status).toBe('passed');
    expect(verdict.gpuValidated).toBe(false);
    expect(verdict.skipped).toEqual(Object.keys(HEALTHY.driver));
    expect(checkOf(verdict, 'gpu_count')).toMatchObject({ status: 'skipped', reason: 'no GPU passed through to this build', measured: null, expected: '== 4' });
    expect(verdict.summary).toBe('driver gate passed: 1 passed, 7 skipped; GPU not validated');
  });

  it('passes a GPU-less frameworks gate on the import checks alone, not GPU-validated', () => {
    const verdict = evaluate('frameworks', {
      pytorch_cuda_devices: skipped('pytorch_cuda_devices'),
      pytorch_matmul_gpus: skipped('pytorch_matmul_gpus'),
      tensorflow_gpus: skipped('tensorflow_gpus'),
    });

    expect(verdict.status).toBe('passed');
    expect(verdict.gpuValidated).toBe(false);
    expect(verdict.skipped).toEqual(['pytorch_cuda_devices', 'pytorch_matmul_gpus', 'tensorflow_gpus']);
    expect(checkOf(verdict, 'pytorch_import').status).toBe('pass');
  });

  it('treats a skipped non-GPU check as an error: only the GPU can be missing from a build', () => {
    const verdict = evaluate('frameworks', { pytorch_import: skipped('pytorch_import', 'no venv') });

    expect(checkOf(verdict, 'pytorch_import')).toMatchObject({ status: 'error', reason: 'skipped (no venv), but only GPU checks may be skipped' });
    expect(verdict.status).toBe('failed');
  });

  it('fails a gate whose required check is missing from the report', () => {
    const verdict = evaluate('driver', { gpu_count: undefined });

    expect(checkOf(verdict, 'gpu_count')).toMatchObject({ status: 'error', reason: 'not reported', measured: null, expected: '== 4' });
    expect(verdict.status).toBe('failed');
    expect(verdict.summary).toBe('driver gate failed: 7 passed, 1 error');
  });

  it("carries the guest's error reason, on one line", () => {
    const verdict = evaluate('driver', { idle_temp_c_max: errored('idle_temp_c_max', 'nvidia-smi failed (exit 9):\nNVIDIA-SMI has failed') });

    expect(checkOf(verdict, 'idle_temp_c_max')).toMatchObject({ status: 'error', reason: 'nvidia-smi failed (exit 9): NVIDIA-SMI has failed' });
    expect(verdict.status).toBe('failed');
  });

  it.each([
    { check: 'gpu_count', value: '4', reason: 'measured value 4 is not a number' },
    { check: 'gpu_count', value: 3.5, reason: 'measured value 3.5 is not a count' },
    { check: 'gpu_names', value: RTX_5090, reason: 'is not a list of strings' },
    { check: 'nvidia_driver', value: 570, reason: 'measured value 570 is not a string' },
    { check: 'idle_temp_c_max', value: null, reason: 'measured value null is not a number' },
  ])('reports a $check value of the wrong kind ($value) as an error', ({ check, value, reason }) => {
    const verdict = evaluate('driver', { [check]: value });

    expect(checkOf(verdict, check)).toMatchObject({ status: 'error' });
    expect(checkOf(verdict, check).reason).toContain(reason);
    expect(verdict.status).toBe('failed');
  });

  it('fails on a check the host does not know only when the guest reports it broken', () => {
    const verdict = evaluate('runtime', {
      run_checks: errored('run_checks', 'KeyError: gpu_passthrough'),
      docker_info: { check: 'docker_info', status: 'measured', value: '28.3.3' },
    });

    expect(checkOf(verdict, 'run_checks')).toMatchObject({ status: 'error', reason: 'KeyError: gpu_passthrough' });
    expect(verdict.checks.map((c) => c.check)).not.toContain('docker_info');
    expect(verdict.status).toBe('failed');
  });

  it('refuses a report for another layer', () => {
    const verdict = evaluateGate({ layer: 'runtime', spec: demoSpec(), report: report('driver'), ansible: { idempotence: ansibleRun() } });

    expect(checkOf(verdict, 'report_layer')).toMatchObject({ status: 'error', measured: 'driver', expected: '== runtime' });
    expect(verdict.status).toBe('failed');
  });
});

describe('evaluateGate: Ansible', () => {
  it('fails the base gate when the second run changed something, naming the tasks', () => {
    const verdict = evaluate('base', {}, { ansible: { idempotence: ansibleRun(['Install packages', 'Restart ssh']) } });

    expect(checkOf(verdict, 'ansible_idempotent')).toMatchObject({
      status: 'fail',
      measured: 2,
      expected: '== 0 changed',
      reason: 'the second run changed 2 tasks: default: Install packages, default: Restart ssh',
    });
    expect(verdict.status).toBe('failed');
  });

  it('passes idempotence when the second run changed nothing', () => {
    const verdict = evaluate('base', {}, { ansible: { idempotence: ansibleRun() } });

    expect(checkOf(verdict, 'ansible_idempotent')).toMatchObject({ status: 'pass', measured: 0 });
  });

  it('fails idempotence when the second run failed', () => {
    const verdict = evaluate('base', {}, { ansible: { idempotence: ansibleRun([], ['Start docker']) } });

    expect(checkOf(verdict, 'ansible_idempotent')).toMatchObject({ status: 'fail', reason: 'the second run failed: default: Start docker (non-zero return code)' });
  });

  it('errors when idempotence is required but no second run was reported', () => {
    const verdict = evaluate('base', {}, { ansible: {} });

    expect(checkOf(verdict, 'ansible_idempotent')).toMatchObject({ status: 'error', measured: null });
    expect(verdict.status).toBe('failed');
  });

  it("fails a GPU layer whose playbook's second run changed something, naming the task", () => {
    const verdict = evaluate('driver', {}, { ansible: { idempotence: ansibleRun(['Hold the driver packages']) } });

    expect(checkOf(verdict, 'ansible_idempotent')).toMatchObject({ status: 'fail', measured: 1, reason: 'the second run changed 1 task: default: Hold the driver packages' });
    expect(verdict.status).toBe('failed');
  });

  it("errs when a GPU layer's idempotence run left no report, and skips the check when the layer's gate turns it off", () => {
    const missing = evaluateGate({ layer: 'frameworks', spec: demoSpec(), report: report('frameworks') });
    const off = evaluateGate({ layer: 'frameworks', spec: demoSpec((s) => (s.layers.frameworks.gate.idempotence = false)), report: report('frameworks') });

    expect(checkOf(missing, 'ansible_idempotent')).toMatchObject({ status: 'error', reason: 'not reported: no idempotence run report' });
    expect(off.checks.map((c) => c.check)).not.toContain('ansible_idempotent');
    expect(off.status).toBe('passed');
  });

  it('does not check idempotence when the spec turns it off', () => {
    const spec = demoSpec((s) => (s.layers.base.gate.idempotence = false));

    const verdict = evaluateGate({ layer: 'base', spec, report: report('base') });

    expect(verdict.checks.map((c) => c.check)).not.toContain('ansible_idempotent');
    expect(verdict.status).toBe('passed');
  });

  it('fails any gate whose Ansible run reported failed tasks, naming them', () => {
    const verdict = evaluate('runtime', {}, { ansible: { run: { ...ansibleRun([], ['Install nvidia-container-toolkit']), playbook: 'runtime.yml' } } });

    expect(checkOf(verdict, 'ansible_run')).toMatchObject({
      status: 'fail',
      measured: 1,
      reason: 'runtime.yml failed: default: Install nvidia-container-toolkit (non-zero return code)',
    });
    expect(verdict.status).toBe('failed');
  });

  it('passes an Ansible run without failures, whatever it changed', () => {
    const verdict = evaluate('runtime', {}, { ansible: { run: ansibleRun(['Install nvidia-container-toolkit']), idempotence: ansibleRun() } });

    expect(checkOf(verdict, 'ansible_run')).toMatchObject({ status: 'pass', measured: 0 });
    expect(verdict.status).toBe('passed');
  });
});

describe('describeGateFailure', () => {
  it('names layer, check, measured and expected', () => {
    const verdict = evaluate('driver', { gpu_count: 3 });

    expect(describeGateFailure(verdict)).toBe('driver gate failed: gpu_count measured 3, expected == 4');
  });

  it('gives one line per failing or broken check, with the reason where the numbers do not say it', () => {
    const verdict = evaluate('base', { system_running: 'degraded', root_partition: '/dev/vda', ssh_listening: undefined });

    expect(describeGateFailure(verdict).split('\n')).toEqual([
      'base gate failed: system_running measured degraded, expected == running (system is degraded)',
      'base gate failed: ssh_listening measured nothing (not reported), expected == true',
      "base gate failed: root_partition measured /dev/vda, expected a partition, e.g. /dev/vda1 (root filesystem is on the whole disk /dev/vda, not a partition; check the image's partitioning)",
    ]);
  });

  it('is empty for a passed gate, skipped checks included', () => {
    const verdict = evaluate('runtime', { docker_gpu: skipped('docker_gpu') });

    expect(describeGateFailure(verdict)).toBe('');
  });
});
