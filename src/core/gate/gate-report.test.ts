import { describe, expect, it } from 'vitest';
import { catchErrorOf } from '../../../test/helpers/catch-error.js';
import { GateReportInvalidError } from '../../errors/index.js';
import { parseAnsibleRunReport, parseGuestFacts, parseGuestGateReport } from './gate-report.js';

// Shapes as run_checks.py, facts.py and the imagebuild_report callback write them (recorded from the
// programs run against test/fixtures/guest), trimmed to what the schemas care about.
function gateReport(): Record<string, unknown> {
  return {
    format: 1,
    layer: 'driver',
    started_at: '2026-11-23T16:05:44Z',
    finished_at: '2026-11-23T16:05:45Z',
    host: { hostname: 'vault-cube-build', kernel: '6.8.0-45-generic' },
    checks: [
      {
        check: 'gpu_count',
        status: 'measured',
        value: 4,
        unit: 'count',
        detail: { gpus: [{ index: 0, name: 'NVIDIA GeForce RTX 5090', memory_total_mib: 32607, pcie_gen_max: 5 }] },
      },
      { check: 'gpu_names', status: 'measured', value: ['NVIDIA GeForce RTX 5090'] },
      { check: 'pcie_link_gen_min', status: 'skipped', reason: 'nvidia-smi: No devices were found' },
      { check: 'nvidia_driver', status: 'error', reason: 'NVIDIA-SMI has failed', detail: { traceback: '...' } },
    ],
  };
}

function ansibleReport(stats: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    changed_tasks: [{ host: 'default', task: 'Install packages' }],
    duration_s: 12.3,
    failed_tasks: [],
    format: 1,
    hosts: { default: { changed: 1, failures: 0, ignored: 0, ok: 20, rescued: 0, skipped: 3, unreachable: 0, ...stats } },
    playbook: 'base.yml',
  };
}

function facts(): Record<string, unknown> {
  return {
    format: 1,
    os: 'Ubuntu 24.04.3 LTS', os_id: 'ubuntu', os_version_id: '24.04',
    kernel: '6.8.0-45-generic',
    nvidia_driver: null,
    cuda_version: null,
    cudnn_version: null,
    docker_version: '28.3.3',
    container_toolkit_version: null,
    python_version: '3.12.3',
    venv: null,
    frameworks: { pytorch: null, tensorflow: null, vllm: null },
  };
}

function catchError(run: () => unknown): GateReportInvalidError {
  return catchErrorOf(GateReportInvalidError, run);
}

describe('parseGuestGateReport', () => {
  it('accepts a run_checks.py report, keeping extra fields and detail', () => {
    const json = { ...gateReport(), extra: 'from a newer guest' };

    const report = parseGuestGateReport(json, 'driver-gate.json');

    expect(report.layer).toBe('driver');
    expect(report.checks.map((c) => c.status)).toEqual(['measured', 'measured', 'skipped', 'error']);
    expect(report.checks[0]).toMatchObject({ value: 4, detail: { gpus: [{ name: 'NVIDIA GeForce RTX 5090' }] } });
    expect(report).toHaveProperty('extra', 'from a newer guest');
  });

  it('accepts a host whose hostname and kernel could not be read', () => {
    const json = { ...gateReport(), host: { hostname: null, kernel: null } };

    const report = parseGuestGateReport(json, 'gate.json');

    expect(report.host).toEqual({ hostname: null, kernel: null });
  });

  it('accepts a measured null value (the guest measured nothing to report)', () => {
    const json = { ...gateReport(), checks: [{ check: 'gpu_count', status: 'measured', value: null }] };

    const report = parseGuestGateReport(json, 'gate.json');

    expect(report.checks[0]).toMatchObject({ value: null });
  });

  const withCheck = (check: Record<string, unknown>) => ({ ...gateReport(), checks: [check] });
  it.each([
    { name: 'not an object', json: 'garbage', fragment: '(root): Invalid input: expected object' },
    { name: 'null', json: null, fragment: '(root):' },
    { name: 'another format', json: { ...gateReport(), format: 2 }, fragment: 'format: unsupported gate report format' },
    { name: 'an unknown layer', json: { ...gateReport(), layer: 'kernel' }, fragment: 'layer: unknown layer; valid: base, driver' },
    { name: 'a timestamp that is not one', json: { ...gateReport(), started_at: 'yesterday' }, fragment: 'started_at:' },
    { name: 'no checks', json: { ...gateReport(), checks: undefined }, fragment: 'checks:' },
    { name: 'an unknown check status', json: withCheck({ check: 'gpu_count', status: 'passed', value: 4 }), fragment: 'checks[0] (gpu_count).status: unknown check status' },
    { name: 'a measured check without a value', json: withCheck({ check: 'gpu_count', status: 'measured' }), fragment: 'checks[0] (gpu_count).value: missing, or not a JSON value' },
    { name: 'a skipped check without a reason', json: withCheck({ check: 'gpu_count', status: 'skipped' }), fragment: 'checks[0] (gpu_count).reason:' },
    { name: 'an error check with an empty reason', json: withCheck({ check: 'gpu_count', status: 'error', reason: '' }), fragment: 'checks[0] (gpu_count).reason:' },
    { name: 'a check id that is not one', json: withCheck({ check: 'GPU Count!', status: 'measured', value: 4 }), fragment: 'checks[0].check: not a check id' },
    { name: 'detail that is not an object', json: withCheck({ check: 'gpu_count', status: 'measured', value: 4, detail: 'x' }), fragment: 'checks[0] (gpu_count).detail:' },
    {
      name: 'a check reported twice',
      json: { ...gateReport(), checks: [{ check: 'gpu_count', status: 'measured', value: 4 }, { check: 'gpu_count', status: 'measured', value: 3 }] },
      fragment: 'checks[1] (gpu_count).check: check gpu_count is reported twice',
    },
  ])('refuses $name with one line naming the file and the first problem', ({ json, fragment }) => {
    const error = catchError(() => parseGuestGateReport(json, 'output/.work/driver/gate.json'));

    expect(error.code).toBe('GATE_REPORT_INVALID');
    expect(error.exitCode).toBe(1);
    expect(error.source).toBe('output/.work/driver/gate.json');
    expect(error.message).toMatch(/^output\/\.work\/driver\/gate\.json: invalid gate report: /);
    expect(error.message).toContain(fragment);
    expect(error.message).not.toContain('\n');
  });

  it('keeps the message on one line even when the source name has a newline', () => {
    const error = catchError(() => parseGuestGateReport({}, 'gate\n.json'));

    expect(error.message).not.toContain('\n');
  });
});

describe('parseAnsibleRunReport', () => {
  it('accepts a report from the imagebuild_report callback', () => {
    const report = parseAnsibleRunReport(ansibleReport(), 'ansible-idempotence.json');

    expect(report.hosts['default']?.changed).toBe(1);
    expect(report.changed_tasks).toEqual([{ host: 'default', task: 'Install packages' }]);
  });

  it('accepts a report written before any playbook started (playbook null, no hosts)', () => {
    const json = { ...ansibleReport(), playbook: null, hosts: {}, changed_tasks: [] };

    const report = parseAnsibleRunReport(json, 'ansible.json');

    expect(report.playbook).toBeNull();
  });

  it.each([
    { name: 'a negative count', json: ansibleReport({ changed: -1 }), fragment: 'hosts.default.changed:' },
    { name: 'a count as text', json: ansibleReport({ failures: '0' }), fragment: 'hosts.default.failures:' },
    { name: 'a failed task without its message', json: { ...ansibleReport(), failed_tasks: [{ host: 'default', task: 'x' }] }, fragment: 'failed_tasks[0].message:' },
    { name: 'another format', json: { ...ansibleReport(), format: 2 }, fragment: 'format: unsupported Ansible report format' },
  ])('refuses $name', ({ json, fragment }) => {
    const error = catchError(() => parseAnsibleRunReport(json, 'ansible.json'));

    expect(error.message).toMatch(/^ansible\.json: invalid Ansible report: /);
    expect(error.message).toContain(fragment);
  });
});

describe('parseGuestFacts', () => {
  it('accepts the facts of a GPU-less image, with nulls where nothing is installed (nccl too, for facts from before it was read)', () => {
    const parsed = parseGuestFacts(facts(), 'facts.json');

    expect(parsed.nvidia_driver).toBeNull();
    expect(parsed.frameworks).toEqual({ pytorch: null, tensorflow: null, vllm: null, nccl: null });
    expect(parsed.os).toBe('Ubuntu 24.04.3 LTS');
  });

  it.each([
    { name: 'a driver version as a number', json: { ...facts(), nvidia_driver: 570 }, fragment: 'nvidia_driver:' },
    { name: 'an empty version', json: { ...facts(), cuda_version: '' }, fragment: 'cuda_version:' },
    { name: 'a version with a newline', json: { ...facts(), kernel: '6.8.0\n"injected": 1' }, fragment: 'kernel: not a single line of printable text' },
    { name: 'no frameworks', json: { ...facts(), frameworks: undefined }, fragment: 'frameworks:' },
    { name: 'a framework omitted instead of null', json: { ...facts(), frameworks: { pytorch: null, tensorflow: null } }, fragment: 'frameworks.vllm:' },
    { name: 'no python version', json: { ...facts(), python_version: null }, fragment: 'python_version:' },
  ])('refuses $name', ({ json, fragment }) => {
    const error = catchError(() => parseGuestFacts(json, 'facts.json'));

    expect(error.message).toMatch(/^facts\.json: invalid facts file: /);
    expect(error.message).toContain(fragment);
  });
});
