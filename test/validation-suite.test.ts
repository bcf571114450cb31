// The validation suite (ansible/roles/validation_suite/files/) and the roles of the GPU layers, on a
// machine without a GPU.
//
// Runs for real: the suite programs' pure helpers with the real python3 on recorded nvidia-smi output
// (four idle and loaded RTX 5090s, a thermally throttled GPU, a missing GPU, a GPU that stayed at 0 %),
// their JSON fed to the gate's own readers in guest/run_checks.py, `--help` with torch, vLLM
// and TensorFlow made unimportable, the shell programs against fake nvidia-smi/docker first on PATH,
// py_compile, shellcheck, `ansible-playbook --syntax-check` on the four layer playbooks, ansible-lint,
// and the roles' templates and computed versions rendered with the demo box's vars (on localhost, into
// a temporary directory, touching nothing else). With torch importable, the DDP program also runs its
// CPU test mode (gloo) end to end.
//
// Never applied here, not even with --check: nvidia_driver, container_runtime and ai_frameworks need
// NVIDIA's apt repositories and PyPI, which this machine cannot reach, and they load kernel modules,
// reboot and restart services; package_cache, validation_suite and gpu_tuning write apt and systemd
// configuration. All six are applied only by real builds inside the build VM on the GPU host.
import { execa } from 'execa';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireTools } from './helpers/require-tools.js';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const suiteDir = path.join(repoRoot, 'ansible/roles/validation_suite/files');
const fixtures = path.join(repoRoot, 'test/fixtures/suite');
const fakeBin = path.join(fixtures, 'bin');
const smi = (name: string) => path.join(fixtures, 'nvidia-smi', name);
const golden = path.join(repoRoot, 'test/golden/vault-cube-demo-box');
const ansibleEnv = { ANSIBLE_CONFIG: path.join(repoRoot, 'ansible/ansible.cfg'), ANSIBLE_NOCOLOR: '1' };

const PYTHON_PROGRAMS = ['test_pytorch_ddp.py', 'test_vllm_inference.py', 'stress_soak.py', 'test_tensorflow_gpu.py'];
const SHELL_PROGRAMS = ['validate_gpus.sh', 'test_docker_gpu.sh'];
const LAYER_PLAYBOOKS = ['driver', 'runtime', 'frameworks', 'validation'];
const ROLES = ['nvidia_driver', 'container_runtime', 'ai_frameworks', 'validation_suite', 'gpu_tuning', 'package_cache'];

// The JSON contracts of guest/run_checks.py's comment: key -> JSON type.
const DDP_CONTRACT = {
  scaling_efficiency: 'number', throughput_1gpu: 'number', throughput_ngpu: 'number', gpus: 'number', model: 'string',
  batch_size: 'number', device: 'string', ngpu_started_at: 'number', ngpu_finished_at: 'number',
};
const VLLM_CONTRACT = {
  tokens_per_s: 'number', generated_tokens: 'number', elapsed_s: 'number', prompts: 'number', model: 'string', device: 'string',
  sample_output: 'string',
};
const SOAK_CONTRACT = {
  duration_s: 'number', max_temp_c: 'number', throttled: 'boolean', throttle_events: 'array', gpus: 'number', samples: 'number',
  per_gpu_max_temp_c: 'array',
};

let work = '';
beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'imagebuild-suite-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

function shapeOf(value: unknown): string {
  return Array.isArray(value) ? 'array' : value === null ? 'null' : typeof value;
}

function contractShape(result: Record<string, unknown>, contract: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.keys(contract).map((key) => [key, shapeOf(result[key])]));
}

/** Python that never writes bytecode next to the suite and can import neither torch, vLLM nor TensorFlow. */
function pythonEnv(extra: Record<string, string> = {}): Record<string, string> {
  return { PYTHONDONTWRITEBYTECODE: '1', PYTHONPATH: path.join(fixtures, 'no-frameworks'), ...extra };
}

// Loads modules by path and evaluates one Python expression over them; `data` is the JSON on stdin.
const HARNESS = `
import importlib.util, json, sys
def load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
scope = {name: load(name, path) for name, path in json.loads(sys.argv[1]).items()}
scope.update(data=json.loads(sys.stdin.read() or "null"), json=json)
print(json.dumps(eval(sys.argv[2], scope)))
`;
const MODULES = {
  telemetry: path.join(suiteDir, 'gpu_telemetry.py'),
  ddp: path.join(suiteDir, 'test_pytorch_ddp.py'),
  soak: path.join(suiteDir, 'stress_soak.py'),
  vllm: path.join(suiteDir, 'test_vllm_inference.py'),
  tf: path.join(suiteDir, 'test_tensorflow_gpu.py'),
  gate: path.join(repoRoot, 'guest/run_checks.py'),
};

/** Parsed JSON, as the Python side printed it. */
type Parsed = ReturnType<typeof JSON.parse>;

async function py(expression: string, data: unknown = null): Promise<Parsed> {
  const { stdout } = await execa('python3', ['-c', HARNESS, JSON.stringify(MODULES), expression], {
    input: JSON.stringify(data),
    env: pythonEnv(),
  });
  return JSON.parse(stdout);
}

async function pyFails(expression: string, data: unknown = null): Promise<string> {
  const result = await execa('python3', ['-c', HARNESS, JSON.stringify(MODULES), expression], {
    input: JSON.stringify(data),
    env: pythonEnv(),
    reject: false,
  });
  expect(result.exitCode).not.toBe(0);
  return result.stderr.trim().split('\n').at(-1) ?? '';
}

async function fixtureTexts(...names: string[]): Promise<string[]> {
  return Promise.all(names.map((name) => readFile(smi(name), 'utf8')));
}

// Samples 5 s apart built from recorded nvidia-smi outputs, as the Sampler records them.
const SAMPLES = '[{"t": 1000.0 + 5 * i, "gpus": telemetry.parse_sample_csv(text)} for i, text in enumerate(data)]';

type Run = { exitCode: number | undefined; stdout: string; stderr: string };

async function runShell(program: string, args: string[], env: Record<string, string>): Promise<Run> {
  const { exitCode, stdout, stderr } = await execa(path.join(suiteDir, program), args, {
    env: { PATH: [fakeBin, '/usr/bin', '/bin'].join(path.delimiter), ...env },
    extendEnv: false,
    reject: false,
    timeout: 30_000,
  });
  return { exitCode, stdout: String(stdout), stderr: String(stderr) };
}

describe('suite programs: compile, lint, run without the frameworks', () => {
  it('every Python program compiles', async () => {
    const files = (await readdir(suiteDir)).filter((f) => f.endsWith('.py')).map((f) => path.join(suiteDir, f));

    const result = await execa('python3', ['-m', 'py_compile', ...files], { env: { PYTHONPYCACHEPREFIX: path.join(work, 'pycache') }, reject: false });

    expect(files.length).toBeGreaterThanOrEqual(5);
    expect(result.stderr).toBe('');
    expect(result.exitCode).toBe(0);
  });

  it.skipIf(!requireTools('test/validation-suite.test.ts', 'shellcheck'))('shellcheck finds nothing in the shell programs and their fakes', async () => {
    const files = [...SHELL_PROGRAMS.map((f) => path.join(suiteDir, f)), path.join(fakeBin, 'nvidia-smi'), path.join(fakeBin, 'docker')];

    const result = await execa('shellcheck', files, { reject: false });

    expect(result.stdout).toBe('');
    expect(result.exitCode).toBe(0);
  });

  it.each(PYTHON_PROGRAMS)('%s --help works with torch, vLLM and TensorFlow unimportable', async (program) => {
    const result = await execa('python3', [path.join(suiteDir, program), '--help'], { env: pythonEnv(), reject: false });

    expect(result.exitCode).toBe(0);
    expect(result.stdout).toMatch(new RegExp(`^usage: ${program.replace('.', '\\.')}`));
    expect(result.stdout).toContain('--json');
  });

  it.each([
    ['test_pytorch_ddp.py', ['--json', '--model', 'resnet50', '--batch-size', '32'], 'cannot import torch'],
    ['stress_soak.py', ['--json', '--duration', '24h', '--interval', '5'], 'cannot import torch'],
    ['test_tensorflow_gpu.py', ['--json'], 'cannot import tensorflow'],
  ])('%s fails without its framework and prints no result line for the gate', async (program, args, message) => {
    const result = await execa('python3', [path.join(suiteDir, program), ...args], { env: pythonEnv(), reject: false });

    expect(result.exitCode).toBe(1);
    expect(result.stderr).toContain(message);
    expect(result.stdout).toBe('');
  });

  it('the gate\'s own arguments parse (run_checks.py passes exactly these)', async () => {
    const parsed = await py(
      '[vars(ddp.parse_args(["--json", "--model", "resnet50", "--batch-size", "32"])), ' +
        'vars(vllm.parse_args(["--json", "--model", "facebook/opt-1.3b", "--prompts", "30", "--max-tokens", "50"])), ' +
        'vars(soak.parse_args(["--json", "--duration", "24h", "--interval", "5"]))]',
    );

    expect(parsed[0]).toMatchObject({ json: true, model: 'resnet50', batch_size: 32, device: 'cuda' });
    expect(parsed[1]).toMatchObject({ json: true, model: 'facebook/opt-1.3b', prompts: 30, max_tokens: 50, allow_download: false });
    expect(parsed[2]).toMatchObject({ json: true, duration: '24h', duration_s: 86400, interval: 5 });
  });

  it('the soak refuses a duration the spec could not have written', async () => {
    const result = await execa('python3', [path.join(suiteDir, 'stress_soak.py'), '--json', '--duration', '1d'], { env: pythonEnv(), reject: false });

    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain("'1d' is not a duration like 24h, 30m or 90s");
  });
});

describe('gpu_telemetry: nvidia-smi samples', () => {
  it('parses four idle RTX 5090s: GPU-idle clock reason, not throttling', async () => {
    const [idle] = await fixtureTexts('soak-idle.csv');

    const rows = await py('[dict(r, reasons=telemetry.decode_throttle_reasons(r["throttle_mask"]), slowdown=telemetry.is_slowdown(r["throttle_mask"])) for r in telemetry.parse_sample_csv(data)]', idle);

    expect(rows).toHaveLength(4);
    expect(rows[2]).toEqual({
      index: 2, temperature_c: 38, utilization_pct: 0, power_w: 13.4, sm_clock_mhz: 180, throttle_mask: 1, reasons: ['gpu_idle'], slowdown: false,
    });
  });

  it('under load a card at its power limit is power-capped, not throttled', async () => {
    const [load] = await fixtureTexts('soak-load.csv');

    const rows = await py('[(r["utilization_pct"], r["power_w"], telemetry.decode_throttle_reasons(r["throttle_mask"]), telemetry.is_slowdown(r["throttle_mask"])) for r in telemetry.parse_sample_csv(data)]', load);

    expect(rows).toEqual([
      [100, 571.42, ['sw_power_cap'], false],
      [100, 568.9, ['sw_power_cap'], false],
      [100, 574.11, ['sw_power_cap'], false],
      [99, 566.37, [], false],
    ]);
  });

  it('decodes a thermal slowdown bitmask as throttling', async () => {
    const decoded = await py('[(m, telemetry.decode_throttle_reasons(m), telemetry.is_slowdown(m)) for m in (0x24, 0x60, 0x88, 0x1000)]');

    expect(decoded).toEqual([
      [0x24, ['sw_power_cap', 'sw_thermal_slowdown'], true],
      [0x60, ['sw_thermal_slowdown', 'hw_thermal_slowdown'], true],
      [0x88, ['hw_slowdown', 'hw_power_brake_slowdown'], true],
      [0x1000, ['unknown_0x1000'], false],
    ]);
  });

  it('reads [N/A] and [Not Supported] fields (a VM without power sensors) as unknown', async () => {
    const [vm] = await fixtureTexts('soak-vm-na.csv');

    const rows = await py('telemetry.parse_sample_csv(data)', vm);

    expect(rows[0]).toEqual({ index: 0, temperature_c: 45, utilization_pct: 100, power_w: null, sm_clock_mhz: 2610, throttle_mask: null });
  });

  it('"No devices were found" is no rows; a truncated row is an error', async () => {
    const [none, malformed] = await fixtureTexts('no-devices.txt', 'soak-malformed.csv');

    const rows = await py('telemetry.parse_sample_csv(data)', none);
    const error = await pyFails('telemetry.parse_sample_csv(data)', malformed);

    expect(rows).toEqual([]);
    expect(error).toBe("telemetry.TelemetryError: unexpected nvidia-smi line (expected 6 comma-separated fields, got 3): '1, 69, 100'");
  });

  it('summarises a soak in which GPU 2 throttled thermally for two samples', async () => {
    const texts = await fixtureTexts('soak-load.csv', 'soak-throttled-sw.csv', 'soak-throttled-hw.csv', 'soak-load.csv');

    const summary = await py(`telemetry.summarise_soak(${SAMPLES}, [0, 1, 2, 3], 995.0)`, texts);

    expect(summary).toEqual({
      max_temp_c: 89,
      per_gpu_max_temp_c: [72, 70, 89, 73],
      per_gpu_median_util_pct: [100, 100, 100, 99.5],
      throttled: true,
      throttle_events: [{ gpu: 2, reasons: ['hw_thermal_slowdown', 'sw_thermal_slowdown'], first_at_s: 10, last_at_s: 15, samples: 2, max_temp_c: 89 }],
      sw_power_cap_samples: 13,
      idle_gpus: [],
      missing_gpus: [],
      samples: 4,
    });
  });

  it('a soak with only power capping is not throttled', async () => {
    const texts = await fixtureTexts('soak-load.csv', 'soak-load.csv', 'soak-load.csv');

    const summary = await py(`telemetry.summarise_soak(${SAMPLES}, [0, 1, 2, 3])`, texts);

    expect(summary).toMatchObject({ throttled: false, throttle_events: [], max_temp_c: 76, sw_power_cap_samples: 9 });
  });

  it('finds the GPU that vanished from nvidia-smi during the soak', async () => {
    const texts = await fixtureTexts('soak-load.csv', 'soak-missing-gpu.csv', 'soak-load.csv');

    const summary = await py(`telemetry.summarise_soak(${SAMPLES}, [0, 1, 2, 3])`, texts);

    expect(summary.missing_gpus).toEqual([{ gpu: 3, samples_missing: 1 }]);
    expect(summary.per_gpu_max_temp_c).toEqual([72, 70, 77, 72]);
  });

  it('finds the GPU that stayed at 0 % while the others worked', async () => {
    const texts = await fixtureTexts('soak-gpu3-idle.csv', 'soak-gpu3-idle.csv');

    const summary = await py(`telemetry.summarise_soak(${SAMPLES}, [0, 1, 2, 3])`, texts);

    expect(summary.idle_gpus).toEqual([3]);
    expect(summary.per_gpu_median_util_pct).toEqual([100, 100, 100, 0]);
  });

  it('only samples inside the work window count for idleness', async () => {
    const texts = await fixtureTexts('soak-idle.csv', 'soak-load.csv', 'soak-load.csv', 'soak-idle.csv');

    const [all, window] = await py(`[telemetry.idle_gpus(s, [0, 1, 2, 3]) for s in (${SAMPLES}, telemetry.samples_between(${SAMPLES}, 1004.0, 1011.0))]`, texts);
    const idleOnly = await py(`telemetry.idle_gpus(telemetry.samples_between(${SAMPLES}, 999.0, 1001.0), [0, 1, 2, 3])`, texts);

    expect(all).toEqual([]);
    expect(window).toEqual([]);
    expect(idleOnly).toEqual([0, 1, 2, 3]);
  });

  it('computes scaling efficiency and refuses nonsense', async () => {
    const efficiency = await py('[telemetry.scaling_efficiency(812.4, 2826.1, 4), telemetry.scaling_efficiency(100, 100, 1)]');
    const error = await pyFails('telemetry.scaling_efficiency(0, 2826.1, 4)');

    expect(efficiency).toEqual([0.8697, 1]);
    expect(error).toBe('ValueError: throughputs must be > 0, got 0 and 2826.1');
  });

  it('reads NVIDIA Xid errors from the kernel log', async () => {
    const log = await readFile(path.join(fixtures, 'kernel-log/dmesg-xid.txt'), 'utf8');

    const xids = await py('telemetry.parse_xid_lines(data)', log);

    expect(xids).toEqual([
      { pci: '0000:41:00', xid: 79, message: "pid='<unknown>', name=<unknown>, GPU has fallen off the bus." },
      { pci: '0000:21:00', xid: 13, message: 'pid=40213, name=python, Graphics SM Warp Exception on (GPC 0, TPC 1, SM 0): Out Of Range Address' },
    ]);
  });
});

describe('stress_soak.py: result and verdict', () => {
  const ARGS = 'soak.parse_args(["--json", "--duration", "2h", "--interval", "5"])';
  const WORKERS = '[{"gpu": i, "iterations": 9000, "tflops": 205.3, "device": "cuda:%d" % i, "finite": True} for i in range(4)]';

  it('writes the contract the gate reads, and the gate reads it', async () => {
    const texts = await fixtureTexts('soak-load.csv', 'soak-throttled-sw.csv', 'soak-load.csv');

    const [result, temp, throttled] = await py(
      `(lambda r: [r, gate.measure_soak_temp(lambda: gate.SuiteRun(r, None, 7200.0)).value, gate.measure_soak_throttled(lambda: gate.SuiteRun(r, None, 7200.0)).value])` +
        `(soak.soak_result(telemetry.summarise_soak(${SAMPLES}, [0, 1, 2, 3], 995.0), ${ARGS}, 4, 7201.4, ${WORKERS}, []))`,
      texts,
    );

    expect(contractShape(result, SOAK_CONTRACT)).toEqual(SOAK_CONTRACT);
    expect(result).toMatchObject({ duration_s: 7201, max_temp_c: 86, throttled: true, gpus: 4, samples: 3, per_gpu_max_temp_c: [72, 70, 86, 73], device: 'cuda' });
    expect(result.throttle_events).toEqual([{ gpu: 2, reasons: ['sw_thermal_slowdown'], first_at_s: 10, last_at_s: 10, samples: 1, max_temp_c: 86 }]);
    expect([temp, throttled]).toEqual([86, true]);
  });

  it('a clean soak has nothing to fail on', async () => {
    const texts = await fixtureTexts('soak-load.csv', 'soak-load.csv');

    const failures = await py(`soak.soak_failures(telemetry.summarise_soak(${SAMPLES}, [0, 1, 2, 3]), ${WORKERS}, [], 4)`, texts);

    expect(failures).toEqual([]);
  });

  it('fails on an idle GPU, a vanished GPU, a dead load process and an Xid', async () => {
    const texts = await fixtureTexts('soak-gpu3-idle.csv', 'soak-missing-gpu.csv');
    const log = await readFile(path.join(fixtures, 'kernel-log/dmesg-xid.txt'), 'utf8');

    const failures = await py(
      `soak.soak_failures(telemetry.summarise_soak(${SAMPLES.replace('enumerate(data)', 'enumerate(data[0])')}, [0, 1, 2, 3]), ` +
        `[{"gpu": 0, "error": "RuntimeError: CUDA error: unspecified launch failure"}] + ${WORKERS}[1:3], telemetry.parse_xid_lines(data[1])[:1], 4)`,
      [texts, log],
    );

    expect(failures).toEqual([
      'load on GPU 0 failed: RuntimeError: CUDA error: unspecified launch failure',
      'the load process of GPU 3 ended without a report',
      'GPU 3 stayed idle during the soak: the load never ran on it',
      'GPU 3 was missing from nvidia-smi in 1 samples',
      "kernel logged NVIDIA Xid 79 on 0000:41:00: pid='<unknown>', name=<unknown>, GPU has fallen off the bus.",
    ]);
  });

  it('an Xid is new only if the kernel logged it during the soak', async () => {
    const log = await readFile(path.join(fixtures, 'kernel-log/dmesg-xid.txt'), 'utf8');
    const xidLines = log.split('\n').filter((l) => l.includes('NVRM: Xid'));

    const fresh = await py('[x["xid"] for x in soak.new_xids(data[0], data[1])]', [xidLines[0], xidLines.join('\n')]);
    const unknown = await py('soak.new_xids(None, data)', xidLines.join('\n'));

    expect(fresh).toEqual([13]);
    expect(unknown).toBeNull();
  });
});

describe('test_pytorch_ddp.py: the NCCL the process loaded', () => {
  it('decodes ncclGetVersion for releases before and after 2.9', async () => {
    const versions = await py('[ddp.nccl_version_of(23102), ddp.nccl_version_of(22605), ddp.nccl_version_of(2708)]');

    expect(versions).toEqual(['2.31.2', '2.26.5', '2.7.8']);
  });

  it('asks the libnccl mapped into the process, not the version torch was built with', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'imagebuild-nccl-'));
    try {
      const lib = path.join(dir, 'libnccl.so.2');
      await execa('cc', ['-shared', '-fPIC', '-o', lib, path.join(repoRoot, 'test/fixtures/guest/libnccl-stand-in.c')]);
      const maps = path.join(dir, 'maps');
      await writeFile(maps, `7f0000000000-7f0000001000 r-xp 00000000 08:01 42 ${lib}\n7f0000002000-7f0000003000 r--p 00000000 08:01 7 /usr/lib/x86_64-linux-gnu/libc.so.6\n`);
      const empty = path.join(dir, 'maps-without-nccl');
      await writeFile(empty, '7f0000002000-7f0000003000 r--p 00000000 08:01 7 /usr/lib/x86_64-linux-gnu/libc.so.6\n');

      const found = await py(`[ddp.loaded_nccl_version(${JSON.stringify(maps)}), ddp.loaded_nccl_version(${JSON.stringify(empty)}), ddp.loaded_nccl_version(${JSON.stringify(path.join(dir, 'missing'))})]`);

      expect(found).toEqual(['2.31.2', null, null]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('test_pytorch_ddp.py: P2P, phases, result', () => {
  it('disables NCCL P2P when GeForce cards report no peer access, and says why', async () => {
    const [p2p, decision] = await py('(lambda m: [m, ddp.nccl_p2p_decision({}, m, 4)])(ddp.p2p_matrix(4, lambda i, j: False))');

    expect(p2p).toMatchObject({ pairs: 12, supported: 0 });
    expect(decision).toEqual([true, '12 of 12 GPU pairs report no peer-to-peer access (GeForce cards have no PCIe P2P): NCCL_P2P_DISABLE=1, gradients go through host memory']);
  });

  it('leaves P2P to NCCL when every pair has it, and respects NCCL_P2P_DISABLE from the environment', async () => {
    const decisions = await py(
      '[ddp.nccl_p2p_decision({}, ddp.p2p_matrix(4, lambda i, j: True), 4), ' +
        'ddp.nccl_p2p_decision({"NCCL_P2P_DISABLE": "0"}, ddp.p2p_matrix(4, lambda i, j: False), 4), ' +
        'ddp.nccl_p2p_decision({}, ddp.p2p_matrix(1, lambda i, j: False), 1)]',
    );

    expect(decisions).toEqual([
      [false, 'every GPU pair reports peer-to-peer access'],
      [false, 'NCCL_P2P_DISABLE=0 set by the environment'],
      [false, 'one GPU: no peer-to-peer traffic'],
    ]);
  });

  it('plans timed steps from the warm-up step time', async () => {
    const steps = await py('[ddp.steps_for(60, 0.04, 20), ddp.steps_for(60, 10, 20), ddp.steps_for(60, 0, 20)]');

    expect(steps).toEqual([1500, 20, 20]);
  });

  it('summarises a phase from its ranks and fails on a rank that failed', async () => {
    const ranks = [0, 1, 2, 3].map((rank) => ({
      rank, steps: 1500, elapsed_s: 59.5 + rank * 0.1, started_at: 1000 + rank * 0.01, finished_at: 1060 + rank * 0.01,
      device_type: 'cuda', device: `cuda:${rank}`, loss: 6.9, finite: true,
    }));

    const summary = await py('ddp.phase_summary(data, 4, 32)', ranks);
    const error = await pyFails('ddp.phase_summary(data[:3] + [{"rank": 3, "error": "DistBackendError: NCCL error: unhandled system error"}], 4, 32)', ranks);

    expect(summary).toMatchObject({ throughput: 3210.7, steps: 1500, elapsed_s: 59.8, started_at: 1000, finished_at: 1060.03, device_types: ['cuda'] });
    expect(error).toBe('RuntimeError: rank 3: DistBackendError: NCCL error: unhandled system error');
  });

  it('writes the contract the gate reads, and the gate reads the efficiency', async () => {
    const one = { throughput: 812.4, steps: 1500, started_at: 900, finished_at: 960, device_types: ['cuda'] };
    const many = { throughput: 2826.1, steps: 1400, started_at: 1000.2, finished_at: 1060.9, device_types: ['cuda'] };

    const [result, measured] = await py(
      '(lambda r: [r, gate.measure_ddp(lambda: gate.SuiteRun(r, None, 130.0)).value])(ddp.ddp_result(data[0], data[1], 4, "resnet50", 32, "fp32", ' +
        '{"disabled": True, "reason": "GeForce", "pairs": 12, "supported": 0}, ["NVIDIA GeForce RTX 5090"] * 4, "2.7.1+cu128"))',
      [one, many],
    );

    expect(contractShape(result, DDP_CONTRACT)).toEqual(DDP_CONTRACT);
    expect(result).toMatchObject({
      scaling_efficiency: 0.8697, throughput_1gpu: 812.4, throughput_ngpu: 2826.1, gpus: 4, model: 'resnet50', batch_size: 32, device: 'cuda',
      ngpu_started_at: 1000.2, ngpu_finished_at: 1060.9, nccl_p2p_disabled: true, nccl_p2p_reason: 'GeForce',
    });
    expect(measured).toBe(0.8697);
  });

  it('builds ResNet-50 and ResNet-18 layer plans without torch until the model is built', async () => {
    const models = await py('{k: [v[0], list(v[1])] for k, v in ddp.MODELS.items()}');
    const error = await pyFails('ddp.build_model("resnet50")');

    expect(models).toEqual({ resnet50: ['bottleneck', [3, 4, 6, 3]], resnet18: ['basic', [2, 2, 2, 2]] });
    expect(error).toBe('ImportError: torch is blocked for this test');
  });
});

describe('test_vllm_inference.py: model resolution and result', () => {
  it('finds a model in a local directory or the Hugging Face cache, and refuses to download otherwise', async () => {
    const hfHome = path.join(work, 'hf');
    const local = path.join(work, 'models/opt-local');
    await mkdir(path.join(hfHome, 'hub/models--facebook--opt-1.3b/snapshots/abc123'), { recursive: true });
    await writeFile(path.join(hfHome, 'hub/models--facebook--opt-1.3b/snapshots/abc123/config.json'), '{}');
    await mkdir(local, { recursive: true });
    await writeFile(path.join(local, 'config.json'), '{}');

    const found = await py('[vllm.resolve_model(m, data[0], False) for m in ("facebook/opt-1.3b", data[1])] + [vllm.resolve_model("meta-llama/Llama-2-7b-hf", data[0], True)]', [hfHome, local]);
    const missing = await pyFails('vllm.resolve_model("meta-llama/Llama-2-7b-hf", data, False)', hfHome);

    expect(found).toEqual([['facebook/opt-1.3b', 'cache'], [local, 'directory'], ['meta-llama/Llama-2-7b-hf', 'hub']]);
    expect(missing).toContain(`FileNotFoundError: model meta-llama/Llama-2-7b-hf is not in the Hugging Face cache ${hfHome}/hub (and downloads are off)`);
  });

  it('takes the cache from HF_HOME, else from suite-config.json', async () => {
    const config = path.join(work, 'suite-config.json');
    await writeFile(config, JSON.stringify({ venv: '/opt/ai/venv', hf_home: '/opt/ai/huggingface' }));

    const homes = await py('[vllm.suite_hf_home({"HF_HOME": "/data/hf"}, data), vllm.suite_hf_home({}, data)]', config);

    expect(homes).toEqual(['/data/hf', '/opt/ai/huggingface']);
  });

  it('without the model in the cache the program fails before importing vLLM, naming the fix', async () => {
    const result = await execa('python3', [path.join(suiteDir, 'test_vllm_inference.py'), '--json', '--model', 'facebook/opt-1.3b', '--prompts', '30', '--max-tokens', '50'], {
      env: pythonEnv({ HF_HOME: path.join(work, 'empty-hf') }),
      reject: false,
    });

    expect(result.exitCode).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain('is not in the Hugging Face cache');
    expect(result.stderr).toContain('--allow-download');
  });

  it('with the model present but vLLM missing it says so', async () => {
    const local = path.join(work, 'models/opt-local2');
    await mkdir(local, { recursive: true });
    await writeFile(path.join(local, 'config.json'), '{}');

    const result = await execa('python3', [path.join(suiteDir, 'test_vllm_inference.py'), '--json', '--model', local], { env: pythonEnv(), reject: false });

    expect(result.exitCode).toBe(1);
    expect(result.stderr).toContain('cannot import vllm');
  });

  it('writes the contract the gate reads for a GPU run', async () => {
    const texts = Array(30).fill(' Paris, the city of light, where the Seine flows past the Louvre and Notre-Dame.');

    const [result, failures] = await py('vllm.inference_result(data, [50] * 30, 1.215, "facebook/opt-1.3b", "cuda", 412.0, 28311.0)', texts);
    const measured = await py('gate.result_field(data, "tokens_per_s", (int, float), "vllm")', result);

    expect(contractShape(result, VLLM_CONTRACT)).toEqual(VLLM_CONTRACT);
    expect(result).toMatchObject({ tokens_per_s: 1234.6, generated_tokens: 1500, elapsed_s: 1.215, prompts: 30, device: 'cuda', gpu_memory_grew_mib: 27899 });
    expect(failures).toEqual([]);
    expect(measured).toBe(1234.6);
  });

  it('a run that left GPU memory untouched, or produced garbage, does not count', async () => {
    const [unverified, failures] = await py('vllm.inference_result(["ok text here"] * 2, [5, 5], 0.5, "m", "cuda", 400.0, 400.0)');
    const [, garbage] = await py('vllm.inference_result(["the the the the the"] * 2, [5, 5], 0.5, "m", "cuda", 400.0, 9000.0)');
    const [cpu, cpuFailures] = await py('vllm.inference_result(["text"], [5], 0.5, "m", "cpu", None, None)');

    expect(unverified.device).toBe('unverified');
    expect(failures).toEqual(['vLLM ran on unverified, not on a CUDA GPU (platform cuda, GPU memory grew by 0 MiB)']);
    expect(garbage).toEqual(['every output is one token repeated: the model or its weights are broken']);
    expect([cpu.device, cpuFailures]).toEqual(['cpu', ['vLLM ran on cpu, not on a CUDA GPU (platform cpu, GPU memory grew by None MiB)']]);
  });

  it('cycles a varied prompt list', async () => {
    const prompts = await py('vllm.make_prompts(30)');

    expect(prompts).toHaveLength(30);
    expect(new Set(prompts).size).toBe(10);
  });
});

describe('test_tensorflow_gpu.py: placement', () => {
  it('a matmul counts only on the GPU it asked for', async () => {
    const checks = await py(
      '[tf.gpu_index("/job:localhost/replica:0/task:0/device:GPU:3"), tf.gpu_index("/job:localhost/replica:0/task:0/device:CPU:0"), ' +
        'tf.placement_ok([{"gpu": 0, "device": "/job:localhost/replica:0/task:0/device:GPU:0"}]), ' +
        'tf.placement_ok([{"gpu": 1, "device": "/job:localhost/replica:0/task:0/device:CPU:0"}]), ' +
        'tf.placement_ok([{"gpu": 0, "error": "InternalError: no kernel image is available for execution on the device"}]), tf.placement_ok([])]',
    );

    expect(checks).toEqual([3, null, true, false, false, false]);
  });
});

describe('validate_gpus.sh (suite 1) against a fake nvidia-smi', () => {
  const EXPECT = ['--expect-gpus', '4', '--expect-name', 'NVIDIA GeForce RTX 5090', '--min-memory-mib', '32000', '--min-pcie-gen', '5', '--min-pcie-width', '16', '--max-idle-temp', '60'];

  it('prints the four RTX 5090s and passes the reference expectations', async () => {
    const result = await runShell('validate_gpus.sh', EXPECT, { FAKE_SMI_OUTPUT: smi('query-4x5090.csv') });

    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain('2    NVIDIA GeForce RTX 5090      32607 MiB   1/5 x16            38 C   570.172.08');
    expect(result.stdout).toContain('  PASS  4 GPUs, expected 4');
    expect(result.stdout).toContain('  PASS  GPU 3 idle temperature 36 C < 60 C');
    expect(result.stdout).not.toContain('FAIL');
  });

  it('fails a missing GPU, a x8 gen-4 link and a hot idle GPU', async () => {
    const result = await runShell('validate_gpus.sh', EXPECT, { FAKE_SMI_OUTPUT: smi('query-hot-x8.csv') });

    expect(result.exitCode).toBe(1);
    expect(result.stdout.split('\n').filter((l) => l.includes('FAIL'))).toEqual([
      '  FAIL  3 GPUs, expected 4',
      '  FAIL  GPU 1 PCIe gen 4 (max) >= 5',
      '  FAIL  GPU 1 PCIe width x8 >= x16',
      '  FAIL  GPU 1 idle temperature 65 C < 60 C',
    ]);
  });

  it('exits 3 when the driver sees no GPU', async () => {
    const result = await runShell('validate_gpus.sh', [], { FAKE_SMI_OUTPUT: smi('no-devices.txt'), FAKE_SMI_EXIT: '6' });

    expect(result.exitCode).toBe(3);
    expect(result.stderr).toContain('the driver is loaded but sees no GPU');
  });

  it('exits 2 on a bad argument', async () => {
    const result = await runShell('validate_gpus.sh', ['--expect-gpus', 'four'], { FAKE_SMI_OUTPUT: smi('query-4x5090.csv') });

    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain('not a whole number: four');
  });
});

describe('test_docker_gpu.sh (suite 5) against a fake docker', () => {
  it('passes with every GPU, concurrent containers and one GPU per container', async () => {
    const argvLog = path.join(work, 'docker-argv.log');

    const result = await runShell('test_docker_gpu.sh', ['--containers', '3', '--expect-gpus', '4'], {
      FAKE_DOCKER_IMAGES: 'nvidia/cuda:12.8.1-base-ubuntu24.04', FAKE_ARGV_LOG: argvLog,
    });

    expect(result.exitCode).toBe(0);
    expect(result.stdout.split('\n').filter((l) => l.startsWith('  PASS'))).toEqual([
      '  PASS  a container with --gpus all sees 4 GPU(s)',
      '  PASS  4 GPUs, expected 4',
      '  PASS  3 concurrent containers each see 4 GPU(s)',
      ...[0, 1, 2, 3].map((i) => `  PASS  a container with --gpus device=${i} sees exactly 1 GPU`),
    ]);
    expect(await readFile(argvLog, 'utf8')).toContain('docker run --rm --gpus device=3 nvidia/cuda:12.8.1-base-ubuntu24.04 nvidia-smi -L');
  });

  it('fails when a container given one GPU sees all of them', async () => {
    const result = await runShell('test_docker_gpu.sh', ['--image', 'nvidia/cuda:12.8.1-base-ubuntu24.04'], { FAKE_DOCKER_NO_ISOLATION: '1' });

    expect(result.exitCode).toBe(1);
    expect(result.stdout).toContain('  FAIL  a container with --gpus device=0 sees 4 GPUs');
  });

  it('fails on a wrong GPU count and needs an image', async () => {
    const fewer = await runShell('test_docker_gpu.sh', ['--image', 'img', '--expect-gpus', '4'], { FAKE_DOCKER_GPUS: '2' });
    const noImage = await runShell('test_docker_gpu.sh', [], {});

    expect(fewer.exitCode).toBe(1);
    expect(fewer.stdout).toContain('  FAIL  2 GPUs, expected 4');
    expect(noImage.exitCode).toBe(2);
    expect(noImage.stderr).toContain('no nvidia/cuda image on this machine');
  });
});

// The DDP program's real code path (spawn, DDP, timing, JSON) on CPU processes over gloo, where a
// python3 with torch exists (Debian's python3-torch will do); the GPU path differs only in device/backend.
const torchPython = ['python3', '/usr/bin/python3'].find((python) => {
  try {
    execFileSync(python, ['-c', 'import torch.distributed as d; assert d.is_available() and d.is_gloo_available()'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
});

describe.skipIf(torchPython === undefined)(`test_pytorch_ddp.py end to end on CPU${torchPython === undefined ? ' — skipped: no python3 with torch' : ''}`, () => {
  it('trains with DDP on 1 then 2 processes and prints the contract, marked as CPU work', async () => {
    const result = await execa(
      torchPython ?? 'python3',
      [path.join(suiteDir, 'test_pytorch_ddp.py'), '--json', '--device', 'cpu', '--model', 'resnet18', '--batch-size', '2', '--image-size', '32', '--seconds', '1', '--warmup-steps', '1', '--min-steps', '2', '--gpus', '2'],
      { env: { PYTHONDONTWRITEBYTECODE: '1', OMP_NUM_THREADS: '1' }, reject: false, timeout: 180_000 },
    );

    expect(result.exitCode, result.stderr).toBe(0);
    const json = JSON.parse(result.stdout.trim().split('\n').at(-1) ?? '{}');
    expect(contractShape(json, DDP_CONTRACT)).toEqual(DDP_CONTRACT);
    expect(json).toMatchObject({ gpus: 2, model: 'resnet18', batch_size: 2, device: 'cpu', nccl_p2p_disabled: false });
    expect(json.ngpu_finished_at).toBeGreaterThan(json.ngpu_started_at);
    expect(json.scaling_efficiency).toBeGreaterThan(0);
  }, 200_000);
});

describe('the GPU layers\' playbooks and roles', () => {
  it.each(LAYER_PLAYBOOKS)('ansible-playbook --syntax-check accepts %s.yml with its rendered vars', async (layer) => {
    const result = await execa(
      'ansible-playbook',
      ['--syntax-check', '-i', 'localhost,', path.join(repoRoot, `ansible/playbooks/${layer}.yml`), '-e', `@${path.join(golden, layer, 'vars.yml')}`],
      { env: ansibleEnv, reject: false },
    );

    expect(result.stderr).not.toMatch(/ERROR/);
    expect(result.exitCode).toBe(0);
  });

  it.each(LAYER_PLAYBOOKS)('%s.yml applies package_cache first and layer_marker last', async (layer) => {
    const text = await readFile(path.join(repoRoot, `ansible/playbooks/${layer}.yml`), 'utf8');

    const roles = [...text.matchAll(/- role: (\w+)/g)].map((m) => m[1]);

    expect(roles[0]).toBe('package_cache');
    expect(roles.at(-1)).toBe('layer_marker');
  });

  it.skipIf(!requireTools('test/validation-suite.test.ts', 'ansible-lint'))('ansible-lint (production profile) passes the roles and playbooks', async () => {
    const targets = [...ROLES.map((r) => `ansible/roles/${r}`), ...LAYER_PLAYBOOKS.map((p) => `ansible/playbooks/${p}.yml`)];

    const result = await execa('ansible-lint', ['--offline', '--nocolor', '--profile', 'production', ...targets], { cwd: repoRoot, env: ansibleEnv, reject: false });

    expect(result.stdout).toBe('');
    expect(result.exitCode, result.stderr).toBe(0);
  }, 300_000);

  describe('templates and computed versions, rendered with the demo box\'s vars', () => {
    const rendered: Record<string, string> = {};
    let computed: Record<string, Parsed> = {};

    async function render(out: string, extraVars: Record<string, unknown> = {}): Promise<Run> {
      await mkdir(out, { recursive: true });
      const layerVars = LAYER_PLAYBOOKS.flatMap((layer) => ['-e', `@${path.join(golden, layer, 'vars.yml')}`]);
      const { exitCode, stdout, stderr } = await execa(
        'ansible-playbook',
        ['-i', 'localhost,', path.join(fixtures, 'render-roles.yml'), ...layerVars, '-e', JSON.stringify({ out, ...extraVars })],
        { env: ansibleEnv, reject: false, timeout: 120_000 },
      );
      return { exitCode, stdout: String(stdout), stderr: String(stderr) };
    }

    beforeAll(async () => {
      const out = path.join(work, 'rendered');
      const result = await render(out);
      expect(result.exitCode, result.stdout + result.stderr).toBe(0);
      for (const name of await readdir(out)) rendered[name] = await readFile(path.join(out, name), 'utf8');
      computed = JSON.parse(rendered['computed.json'] ?? '{}');
    }, 120_000);

    it('installs Canonical\'s signed driver and CUDA toolkit and cuDNN at the spec\'s versions from NVIDIA\'s Ubuntu 24.04 repository', () => {
      expect(computed.driver_packages).toEqual(['nvidia-driver-580-server-open=580.173.02-*', 'linux-modules-nvidia-580-server-open-generic']);
      expect(computed.cuda_toolkit).toBe('cuda-toolkit-13-0=13.0.2-*');
      expect(computed.cudnn_packages).toEqual(['cudnn9-cuda-13=9.28.1.*', 'libcudnn9-cuda-13=9.28.1.*', 'libcudnn9-dev-cuda-13=9.28.1.*']);
      expect(computed.keyring_url).toBe('https://developer.download.nvidia.com/compute/cuda/repos/ubuntu2404/x86_64/cuda-keyring_1.1-1_all.deb');
      expect(computed.repo_list).toBe('/etc/apt/sources.list.d/cuda-ubuntu2404-x86_64.list');
      expect(computed.toolkit_packages).toContain('nvidia-container-toolkit=1.20.0-*');
    });

    it('holds them with apt pins, and the pins do not catch the container toolkit', () => {
      const pin = rendered['nvidia-pin.pref'] ?? '';
      const driverPattern = /Package: \/\^\(lib\)\?nvidia-\.\*-580\(-\|\$\)\//;

      expect(pin).toMatch(driverPattern);
      expect(pin).toContain('Pin: version 580.173.02-*');
      expect(pin).toContain('Package: cuda-toolkit-13-0\nPin: version 13.0.2-*');
      expect(pin).toContain('Pin: version 9.28.1.*');
      expect(new RegExp('^(lib)?nvidia-.*-580(-|$)').test('libnvidia-container1')).toBe(false);
      expect(new RegExp('^(lib)?nvidia-.*-580(-|$)').test('libnvidia-compute-580')).toBe(true);
      expect(new RegExp('^(lib)?nvidia-.*-580(-|$)').test('nvidia-driver-580-server-open')).toBe(true);
    });

    it('pins torch to the CUDA wheel variant for every install into the venv', () => {
      expect(computed.torch_requirement).toBe('torch==2.13.0+cu130');
      expect(rendered['constraints.txt']).toContain('torch==2.13.0+cu130\nvllm==0.29.0\n');
      expect(rendered['constraints.txt']).toContain("nvidia-nccl-cu13 2.31.2 was installed over torch's pin (--no-deps)");
      expect(rendered['constraints.txt']).not.toContain('nvidia-nccl-cu13==');
      expect(computed.extra_requirements).toEqual(['vllm==0.29.0']);
      expect(computed.nccl_requirement).toBe('nvidia-nccl-cu13==2.31.2');
      expect(computed.pip_env).toEqual({ PIP_CACHE_DIR: '/var/cache/pip', PIP_CONSTRAINT: '/opt/ai/venv/imagebuild-constraints.txt', PIP_DISABLE_PIP_VERSION_CHECK: '1' });
      expect(computed.pypi_env).toEqual({ PIP_INDEX_URL: 'https://pypi.org/simple' });
    });

    it('writes boot-time tuning units: persistence, 575 W, governor through sysfs', () => {
      expect(computed.tuning_units).toEqual(['imagebuild-gpu-persistence.service', 'imagebuild-gpu-power-limit.service', 'imagebuild-cpu-governor.service']);
      expect(rendered['imagebuild-gpu-persistence.service']).toContain('ExecCondition=/usr/bin/nvidia-smi -L\nExecStart=/usr/bin/nvidia-smi -pm 1');
      expect(rendered['imagebuild-gpu-power-limit.service']).toContain('ExecStart=/usr/bin/nvidia-smi -pl 575\n');
      // systemd expands $g itself; $$ passes a literal $ to the shell.
      expect(rendered['imagebuild-cpu-governor.service']).toContain('echo performance > "$$g"');
      expect(rendered['nvidia-persistenced.service']).toContain('ExecCondition=/sbin/modprobe -q nvidia\nExecStart=/usr/bin/nvidia-persistenced --user nvidia-persistenced --persistence-mode');
    });

    it('installs every suite program the gate runs', async () => {
      const shipped = (await readdir(suiteDir)).filter((f) => !f.startsWith('.')).sort();

      expect([...computed.suite_programs].sort()).toEqual(shipped);
      expect(computed.suite_programs).toEqual(expect.arrayContaining(['test_pytorch_ddp.py', 'test_vllm_inference.py', 'stress_soak.py']));
    });

    it('drops turned-off tuning and points apt at a configured cache', async () => {
      const out = path.join(work, 'rendered-off');

      const result = await render(out, {
        gpu_tuning_persistence_mode: false,
        gpu_tuning_power_limit_w: 0,
        package_cache_apt_proxy: 'http://10.0.2.2:3142',
        ai_frameworks_vllm_version: '',
        ai_frameworks_tensorflow_version: '2.21.0',
        ai_frameworks_nccl_version: '',
      });

      expect(result.exitCode, result.stdout).toBe(0);
      const off = JSON.parse(await readFile(path.join(out, 'computed.json'), 'utf8'));
      expect(off.tuning_units).toEqual(['imagebuild-cpu-governor.service']);
      expect(off.extra_requirements).toEqual(['tensorflow==2.21.0']);
      expect(off.nccl_requirement).toBe('');
      const aptConf = await readFile(path.join(out, 'apt-proxy.conf'), 'utf8');
      expect(aptConf).toContain('Acquire::http::Proxy "http://10.0.2.2:3142";\n');
      expect(aptConf).toContain('Acquire::https::Proxy "DIRECT";\n');
      // Not imagebuild's own apt-cacher-ng (package_cache_https_proxied unset): apt reads the sources as written.
      expect(aptConf).not.toContain('sourceparts');
    }, 120_000);
  });
});
