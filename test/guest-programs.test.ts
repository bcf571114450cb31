// The guest programs (guest/*.py) run inside the build VM; here they run with the real python3
// against a recorded guest: a fake filesystem root (IMAGEBUILD_GUEST_ROOT) and fake executables as the
// only things on PATH, so no tool of the machine running the tests leaks in.
import { execa, type Result } from 'execa';
import { copyFile, cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const guestDir = path.join(repoRoot, 'guest');
const fixtureDir = path.join(repoRoot, 'test/fixtures/guest');
const fakeBin = path.join(fixtureDir, 'bin');
const ubuntuRoot = path.join(fixtureDir, 'root-ubuntu');

const NO_GPU_REASON = 'no GPU passed through to this build (hardware.gpu.passthrough is empty)';
const DRIVER_CHECKS = [
  'gpu_count',
  'gpu_names',
  'gpu_memory_mib_min',
  'pcie_link_gen_min',
  'pcie_link_width_min',
  'idle_temp_c_max',
  'nvidia_driver',
];
const VALIDATION_CHECKS = ['ddp_scaling_efficiency', 'gpu_utilization_pct', 'vllm_tokens_per_s', 'soak_max_temp_c', 'soak_throttled'];
const VALIDATION_PARAMS = {
  layer: 'validation',
  gpu_count: 4,
  gpu_passthrough: true,
  venv: '/opt/ai/venv',
  suite_dir: '/opt/imagebuild/validation',
  ddp_model: 'resnet50',
  ddp_batch_size: 32,
  vllm_model: 'facebook/opt-1.3b',
  vllm_prompts: 30,
  vllm_max_tokens: 50,
  soak_duration: '2s',
  // The spec allows whole seconds only; a quarter second keeps the sampled runs short here.
  sample_interval_s: 0.25,
};

type GateCheck = {
  check: string;
  status: 'measured' | 'skipped' | 'error';
  value?: unknown;
  unit?: string;
  detail?: Record<string, unknown>;
  reason?: string;
};
type GateReport = {
  format: number;
  layer: string;
  started_at: string;
  finished_at: string;
  host: { hostname: string; kernel: string };
  checks: GateCheck[];
};
type GuestRun = { result: Result; outDir: string };
type RunOptions = { root?: string; path?: string[]; env?: Record<string, string> };

let python3 = '';
let pythonVersion = '';
let hostKernel = '';
let work = '';

beforeAll(async () => {
  // The real interpreter, not a shim that needs the PATH the tests take away.
  const { stdout } = await execa('python3', ['-c', 'import platform, sys; print(sys.executable); print(platform.python_version()); print(platform.release())']);
  [python3 = '', pythonVersion = '', hostKernel = ''] = stdout.split('\n');
});

afterEach(async () => {
  if (work) await rm(work, { recursive: true, force: true });
  work = '';
});

async function workDir(): Promise<string> {
  work = await mkdtemp(path.join(tmpdir(), 'imagebuild-guest-'));
  return work;
}

async function emptyDir(name: string): Promise<string> {
  const dir = path.join(work || (await workDir()), name);
  await mkdir(dir, { recursive: true });
  return dir;
}

async function runGuest(program: 'run_checks.py' | 'facts.py' | 'inventory.py', args: string[], options: RunOptions = {}): Promise<Result> {
  return execa(python3, [path.join(guestDir, program), ...args], {
    env: {
      PATH: (options.path ?? [fakeBin]).join(path.delimiter),
      PYTHONDONTWRITEBYTECODE: '1',
      FAKE_REAL_PYTHON: python3,
      ...(options.root === undefined ? {} : { IMAGEBUILD_GUEST_ROOT: options.root }),
      ...options.env,
    },
    extendEnv: false,
    reject: false,
    timeout: 60_000,
  });
}

async function runChecks(params: Record<string, unknown>, options: RunOptions = {}): Promise<GuestRun & { report: GateReport }> {
  const outDir = work || (await workDir());
  const paramsFile = path.join(outDir, 'checks.json');
  await writeFile(paramsFile, JSON.stringify(params));
  const out = path.join(outDir, 'gate.json');
  const result = await runGuest('run_checks.py', ['--params', paramsFile, '--out', out], { root: ubuntuRoot, ...options });
  expect(result.stderr).toBe('');
  expect(result.exitCode).toBe(0);
  const report: GateReport = JSON.parse(await readFile(out, 'utf8'));
  return { result, outDir, report };
}

async function runFacts(args: string[], options: RunOptions): Promise<GuestRun & { facts: Record<string, unknown> }> {
  const outDir = work || (await workDir());
  const out = path.join(outDir, 'facts.json');
  const result = await runGuest('facts.py', ['--out', out, ...args], options);
  expect(result.exitCode).toBe(0);
  return { result, outDir, facts: JSON.parse(await readFile(out, 'utf8')) };
}

function byCheck(report: GateReport): Record<string, GateCheck> {
  return Object.fromEntries(report.checks.map((c) => [c.check, c]));
}

function values(report: GateReport): Record<string, unknown> {
  return Object.fromEntries(report.checks.map((c) => [c.check, c.status === 'measured' ? c.value : c.status]));
}

async function argvLog(dir: string): Promise<string[]> {
  const text = await readFile(path.join(dir, 'argv.log'), 'utf8').catch(() => '');
  return text.split('\n').filter(Boolean);
}

describe('run_checks.py: driver layer', () => {
  it('measures four RTX 5090s from the nvidia-smi query', async () => {
    const dir = await workDir();

    const { report } = await runChecks(
      { layer: 'driver', gpu_count: 4, gpu_passthrough: true },
      { env: { FAKE_NVIDIA_SMI: '4x5090', FAKE_ARGV_LOG: path.join(dir, 'argv.log') } },
    );

    expect(values(report)).toEqual({
      gpu_count: 4,
      gpu_names: Array(4).fill('NVIDIA GeForce RTX 5090'),
      gpu_memory_mib_min: 32607,
      pcie_link_gen_min: 5,
      pcie_link_width_min: 16,
      idle_temp_c_max: 38,
      nvidia_driver: '570.172.08',
    });
    expect(byCheck(report).pcie_link_gen_min?.detail?.per_gpu).toContainEqual({ index: 2, pcie_gen_max: 5, pcie_gen_current: 1 });
    expect(await argvLog(dir)).toEqual([
      'nvidia-smi --query-gpu=index,name,memory.total,pcie.link.gen.max,pcie.link.gen.current,pcie.link.width.current,temperature.gpu,driver_version --format=csv,noheader,nounits',
    ]);
  });

  it('writes the report envelope: format, layer, UTC timestamps, host', async () => {
    await workDir();

    const { report } = await runChecks({ layer: 'driver', gpu_count: 4, gpu_passthrough: true }, { env: { FAKE_NVIDIA_SMI: '4x5090' } });

    expect(report).toMatchObject({ format: 1, layer: 'driver', host: { hostname: 'vault-cube-build', kernel: '6.8.0-45-generic' } });
    expect(report.started_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(report.finished_at >= report.started_at).toBe(true);
  });

  it('skips every GPU check, without running nvidia-smi, when no GPU is passed through', async () => {
    const dir = await workDir();

    const { report } = await runChecks(
      { layer: 'driver', gpu_count: 4, gpu_passthrough: false },
      { env: { FAKE_NVIDIA_SMI: '4x5090', FAKE_ARGV_LOG: path.join(dir, 'argv.log') } },
    );

    expect(report.checks).toEqual(DRIVER_CHECKS.map((check) => ({ check, status: 'skipped', reason: NO_GPU_REASON })));
    expect(await argvLog(dir)).toEqual([]);
  });

  it('reports an error on every GPU check when nvidia-smi is not installed', async () => {
    const noTools = await emptyDir('empty-bin');

    const { report } = await runChecks({ layer: 'driver', gpu_count: 4, gpu_passthrough: true }, { path: [noTools] });

    expect(report.checks).toEqual(
      DRIVER_CHECKS.map((check) => ({ check, status: 'error', reason: 'nvidia-smi not found: NVIDIA driver not installed' })),
    );
  });

  it('measures gpu_count 0 and skips the rest when nvidia-smi finds no devices', async () => {
    await workDir();

    const { report } = await runChecks({ layer: 'driver', gpu_count: 4, gpu_passthrough: true }, { env: { FAKE_NVIDIA_SMI: 'nodev' } });

    const checks = byCheck(report);
    expect(checks.gpu_count).toMatchObject({ status: 'measured', value: 0 });
    expect(report.checks.slice(1)).toEqual(
      DRIVER_CHECKS.slice(1).map((check) => ({ check, status: 'skipped', reason: 'nvidia-smi: No devices were found' })),
    );
  });

  it('reports a driver/library mismatch as an error with nvidia-smi exit code and message', async () => {
    await workDir();

    const { report } = await runChecks({ layer: 'driver', gpu_count: 4, gpu_passthrough: true }, { env: { FAKE_NVIDIA_SMI: 'mismatch' } });

    expect(new Set(report.checks.map((c) => c.status))).toEqual(new Set(['error']));
    expect(byCheck(report).gpu_count?.reason).toBe(
      'nvidia-smi failed (exit 18): Failed to initialize NVML: Driver/library version mismatch | NVML library version: 570.172',
    );
  });

  it('turns a malformed nvidia-smi row into errors, not a crash', async () => {
    await workDir();

    const { report } = await runChecks({ layer: 'driver', gpu_count: 4, gpu_passthrough: true }, { env: { FAKE_NVIDIA_SMI: 'malformed' } });

    expect(report.checks).toHaveLength(DRIVER_CHECKS.length);
    for (const check of report.checks) {
      expect(check.status).toBe('error');
      expect(check.reason).toContain('unexpected nvidia-smi output line (expected 8 comma-separated fields, got 3)');
    }
  });
});

describe('run_checks.py: base layer', () => {
  it('measures boot state, SSH, users and the root filesystem of a recorded Ubuntu guest', async () => {
    await workDir();

    const { report } = await runChecks(
      { layer: 'base', gpu_count: 4, gpu_passthrough: false, users: ['vaultadmin', 'ghost'], ssh_port: 22 },
      { env: { FAKE_USERS: 'root vaultadmin' } },
    );

    const checks = byCheck(report);
    expect(report.checks.map((c) => c.check)).toEqual([
      'system_running',
      'ssh_listening',
      'users_present',
      'root_fs_gib',
      'root_fs_type',
      'root_partition',
      'root_fills_disk',
      'boot_loaders',
    ]);
    expect(checks.system_running).toMatchObject({ status: 'measured', value: 'running' });
    expect(checks.ssh_listening).toMatchObject({ status: 'measured', value: true, detail: { listeners: ['0.0.0.0:22', '[::]:22'] } });
    expect(checks.users_present).toMatchObject({ status: 'measured', value: ['vaultadmin'], detail: { missing: ['ghost'] } });
    expect(checks.root_fs_type).toMatchObject({ status: 'measured', value: 'ext4' });
    expect(checks.root_partition).toMatchObject({ status: 'measured', value: '/dev/vda1' });
    expect(checks.root_fs_gib).toMatchObject({ status: 'measured', unit: 'GiB' });
    expect(checks.root_fs_gib?.value).toBeGreaterThan(0);
    expect(checks.root_fills_disk).toMatchObject({
      status: 'measured',
      value: 0,
      unit: 'MiB',
      detail: { disk: '/dev/vda', disk_bytes: 10 * 1024 ** 3, gpt: true, backup_header_lba: 20971519, backup_header_at_end: true },
    });
    expect(checks.boot_loaders).toMatchObject({ status: 'measured', value: ['bios', 'uefi'], detail: { booted_firmware: 'uefi', mbr_has_grub: true } });
  });

  it('measures the space a disk bigger than the image leaves after the root, a backup GPT header not at the end, and missing loaders', async () => {
    const root = await emptyDir('grown-disk');
    await cp(ubuntuRoot, root, { recursive: true, verbatimSymlinks: true });
    const disk = path.join(root, 'sys/devices/virtio2/block/vda');
    // The image was dd-ed to a 20 GiB disk and not grown: the backup header still sits where the 10 GiB image ended.
    await writeFile(path.join(disk, 'size'), `${20 * 1024 * 1024 * 2}\n`);
    await rm(path.join(root, 'boot/efi/EFI/BOOT/BOOTX64.EFI'));
    await rm(path.join(root, 'sys/firmware'), { recursive: true });
    const head = await readFile(path.join(root, 'dev/vda'));
    head.fill(0, 0, 440);
    await writeFile(path.join(root, 'dev/vda'), head);

    const { report } = await runChecks({ layer: 'base', gpu_count: 0, gpu_passthrough: false, users: [], ssh_port: 22 }, { root, env: { FAKE_USERS: 'root' } });

    const checks = byCheck(report);
    expect(checks.root_fills_disk).toMatchObject({
      status: 'measured',
      value: 10 * 1024,
      detail: { disk_bytes: 20 * 1024 ** 3, backup_header_lba: 20971519, backup_header_at_end: false },
    });
    expect(checks.boot_loaders).toMatchObject({ status: 'measured', value: [], detail: { booted_firmware: 'bios', mbr_has_grub: false } });
  });

  it('skips root_fills_disk for a root on device-mapper', async () => {
    const root = await emptyDir('lvm-root');
    await cp(ubuntuRoot, root, { recursive: true, verbatimSymlinks: true });
    const mounts = await readFile(path.join(root, 'proc/mounts'), 'utf8');
    await writeFile(path.join(root, 'proc/mounts'), mounts.replace('/dev/vda1 / ext4', '/dev/mapper/ubuntu--vg-ubuntu--lv / ext4'));

    const { report } = await runChecks({ layer: 'base', gpu_count: 0, gpu_passthrough: false, users: [], ssh_port: 22 }, { root, env: { FAKE_USERS: 'root' } });

    const checks = byCheck(report);
    expect(checks.root_fills_disk).toMatchObject({ status: 'skipped' });
    expect(checks.root_fills_disk?.reason).toContain('not a disk partition');
    expect(checks.boot_loaders).toMatchObject({ status: 'measured', value: ['bios', 'uefi'] });
  });

  it('reports a degraded system with its failed units, and no listener on another SSH port', async () => {
    await workDir();

    const { report } = await runChecks(
      { layer: 'base', gpu_count: 0, gpu_passthrough: false, users: ['vaultadmin'], ssh_port: 2222 },
      { env: { FAKE_SYSTEMCTL: 'degraded', FAKE_USERS: 'vaultadmin' } },
    );

    const checks = byCheck(report);
    expect(checks.system_running).toMatchObject({ value: 'degraded', detail: { failed_units: ['fail2ban.service'] } });
    expect(checks.ssh_listening).toMatchObject({ status: 'measured', value: false });
  });
});

describe('run_checks.py: runtime layer', () => {
  it('counts the GPUs a CUDA container sees, alone and with containers running concurrently', async () => {
    const dir = await workDir();

    const { report } = await runChecks(
      { layer: 'runtime', gpu_count: 4, gpu_passthrough: true, cuda_image: 'nvidia/cuda:12.8.1-base-ubuntu24.04', containers: 2 },
      { env: { FAKE_DOCKER: 'ok', FAKE_ARGV_LOG: path.join(dir, 'argv.log') } },
    );

    expect(values(report)).toEqual({ docker_gpu: 4, docker_gpu_concurrent: 2 });
    const runs = await argvLog(dir);
    expect(runs).toHaveLength(3);
    for (const run of runs) expect(run).toMatch(/^docker run --rm --gpus all --name imagebuild-gate-\d+-\d nvidia\/cuda:12\.8\.1-base-ubuntu24\.04 nvidia-smi -L$/);
  });

  it('reports docker failures as errors with the reason', async () => {
    const dir = await workDir();
    const noTools = await emptyDir('empty-bin');
    const params = { layer: 'runtime', gpu_count: 4, gpu_passthrough: true, cuda_image: 'nvidia/cuda:12.8.1-base-ubuntu24.04', containers: 2 };

    const missing = await runChecks(params, { path: [noTools] });
    const noGpuRuntime = await runChecks(params, { env: { FAKE_DOCKER: 'nogpu', FAKE_ARGV_LOG: path.join(dir, 'argv.log') } });

    expect(byCheck(missing.report).docker_gpu).toEqual({ check: 'docker_gpu', status: 'error', reason: 'docker: command not found' });
    expect(byCheck(noGpuRuntime.report).docker_gpu?.reason).toContain('could not select device driver "" with capabilities: [[gpu]]');
    expect(byCheck(noGpuRuntime.report).docker_gpu_concurrent).toMatchObject({ status: 'measured', value: 0 });
  });

  it('turns a missing parameter into that check\'s error', async () => {
    await workDir();

    const { report } = await runChecks({ layer: 'runtime', gpu_count: 4, gpu_passthrough: true, containers: 2 }, { env: { FAKE_DOCKER: 'ok' } });

    expect(byCheck(report).docker_gpu).toMatchObject({ status: 'error', reason: "checks.json has no valid 'cuda_image' (expected str)" });
  });
});

describe('run_checks.py: frameworks layer', () => {
  const params = { layer: 'frameworks', gpu_count: 4, gpu_passthrough: true, venv: '/opt/ai/venv', matmul_size: 8192, tensorflow: true, vllm: true };

  it('imports every framework and counts only the GPUs whose matmul result is a CUDA tensor', async () => {
    await workDir();

    const { report } = await runChecks(params, { env: { FAKE_TORCH: 'one-on-cpu' } });

    expect(values(report)).toEqual({
      pytorch_import: '2.7.1+cu128',
      pytorch_cuda_devices: 4,
      pytorch_matmul_gpus: 3,
      tensorflow_import: '2.19.0',
      tensorflow_gpus: 4,
      vllm_import: '0.10.1',
    });
    const matmul = byCheck(report).pytorch_matmul_gpus?.detail;
    expect(matmul).toMatchObject({ n: 8192, dtype: 'float32' });
    expect(matmul?.devices).toContainEqual(expect.objectContaining({ index: 3, device_type: 'cpu', on_gpu: false }));
    expect(matmul?.devices).toContainEqual(expect.objectContaining({ index: 0, device_type: 'cuda', tflops: 104.74, on_gpu: true }));
  });

  it('still reports the import versions without a GPU, and skips the GPU checks', async () => {
    await workDir();

    const { report } = await runChecks({ ...params, gpu_passthrough: false });

    expect(values(report)).toEqual({
      pytorch_import: '2.7.1+cu128',
      pytorch_cuda_devices: 'skipped',
      pytorch_matmul_gpus: 'skipped',
      tensorflow_import: '2.19.0',
      tensorflow_gpus: 'skipped',
      vllm_import: '0.10.1',
    });
  });

  it('reports a missing torch as an error naming the import failure', async () => {
    await workDir();

    const { report } = await runChecks({ ...params, tensorflow: false, vllm: false }, { env: { FAKE_TORCH: 'missing' } });

    expect(report.checks.map((c) => c.check)).toEqual(['pytorch_import', 'pytorch_cuda_devices', 'pytorch_matmul_gpus']);
    expect(byCheck(report).pytorch_import).toEqual({
      check: 'pytorch_import',
      status: 'error',
      reason: "import torch failed (exit 1): File \"<string>\", line 3, in <module> | ModuleNotFoundError: No module named 'torch'",
    });
  });
});

describe('run_checks.py: validation layer', () => {
  it('runs the suite programs and samples GPU utilization and temperature while they run', async () => {
    const dir = await workDir();

    const { report } = await runChecks(VALIDATION_PARAMS, {
      env: { FAKE_NVIDIA_SMI: '4x5090', FAKE_GPU_PHASE_FILE: path.join(dir, 'gpu-phase') },
    });

    expect(values(report)).toEqual({
      ddp_scaling_efficiency: 0.87,
      // Only the samples inside the n-GPU window count: the 1-GPU phase before it averages 25 %.
      gpu_utilization_pct: 96,
      vllm_tokens_per_s: 1234.5,
      // The suite says 58 °C; the fake nvidia-smi samples say 63 °C: the hotter reading wins.
      soak_max_temp_c: 63,
      soak_throttled: false,
    });
    const checks = byCheck(report);
    expect(checks.ddp_scaling_efficiency?.detail).toMatchObject({ model: 'resnet50', batch_size: 32, device: 'cuda' });
    expect(checks.vllm_tokens_per_s?.detail).toMatchObject({ model: 'facebook/opt-1.3b', prompts: 30, generated_tokens: 1500 });
    expect(checks.gpu_utilization_pct?.detail?.samples_in_window).toBeGreaterThan(0);
  });

  it('reports a suite that is not installed', async () => {
    await workDir();

    const { report } = await runChecks({ ...VALIDATION_PARAMS, suite_dir: '/opt/not-installed' }, { env: { FAKE_NVIDIA_SMI: '4x5090' } });

    const checks = byCheck(report);
    expect(checks.ddp_scaling_efficiency).toMatchObject({ status: 'error', reason: 'validation suite not installed at /opt/not-installed/test_pytorch_ddp.py' });
    expect(checks.vllm_tokens_per_s).toMatchObject({ status: 'error', reason: 'validation suite not installed at /opt/not-installed/test_vllm_inference.py' });
    expect(checks.soak_throttled).toMatchObject({ status: 'error', reason: 'validation suite not installed at /opt/not-installed/stress_soak.py' });
  });

  it('skips every validation check without a GPU', async () => {
    await workDir();

    const { report } = await runChecks({ ...VALIDATION_PARAMS, gpu_passthrough: false });

    expect(report.checks).toEqual(VALIDATION_CHECKS.map((check) => ({ check, status: 'skipped', reason: NO_GPU_REASON })));
  });
});

describe('run_checks.py: arguments and output', () => {
  it.each([
    ['no --out', (dir: string) => ['--params', path.join(dir, 'checks.json')]],
    ['no --params', (dir: string) => ['--out', path.join(dir, 'gate.json')]],
    ['an unknown option', (dir: string) => ['--params', path.join(dir, 'checks.json'), '--out', path.join(dir, 'gate.json'), '--fast']],
    ['params that are not JSON', (dir: string) => ['--params', path.join(dir, 'broken.json'), '--out', path.join(dir, 'gate.json')]],
    ['an unknown layer', (dir: string) => ['--params', path.join(dir, 'kernel.json'), '--out', path.join(dir, 'gate.json')]],
    ['an --out directory that does not exist', (dir: string) => ['--params', path.join(dir, 'checks.json'), '--out', path.join(dir, 'nope/gate.json')]],
  ])('exits 2 and writes nothing on %s', async (_name, args) => {
    const dir = await workDir();
    await writeFile(path.join(dir, 'checks.json'), JSON.stringify({ layer: 'driver', gpu_passthrough: false }));
    await writeFile(path.join(dir, 'broken.json'), '{"layer": "driver",');
    await writeFile(path.join(dir, 'kernel.json'), JSON.stringify({ layer: 'kernel' }));

    const result = await runGuest('run_checks.py', args(dir));

    expect(result.exitCode).toBe(2);
    expect(result.stderr).not.toBe('');
    expect(await readdir(dir)).not.toContain('gate.json');
  });

  it('replaces the output atomically and leaves no temp file behind', async () => {
    const dir = await workDir();
    await writeFile(path.join(dir, 'gate.json'), 'stale');

    await runChecks({ layer: 'driver', gpu_count: 4, gpu_passthrough: true }, { env: { FAKE_NVIDIA_SMI: 'malformed' } });

    expect((await readdir(dir)).sort()).toEqual(['checks.json', 'gate.json']);
    expect(await readFile(path.join(dir, 'gate.json'), 'utf8')).toMatch(/^\{\n {2}"format": 1,/);
  });
});

describe('facts.py', () => {
  it('reads the exact facts of a recorded Ubuntu GPU image', async () => {
    const dir = await workDir();
    await writeFile(path.join(dir, 'checks.json'), JSON.stringify({ layer: 'frameworks', venv: '/opt/ai/venv' }));

    const { facts, result } = await runFacts(['--params', path.join(dir, 'checks.json')], {
      root: ubuntuRoot,
      env: { FAKE_MODINFO: '570.172.08', FAKE_DOCKER: 'ok' },
    });

    expect(facts).toEqual({
      format: 1,
      os: 'Ubuntu 24.04.3 LTS',
      os_id: 'ubuntu',
      os_version_id: '24.04',
      kernel: '6.8.0-45-generic',
      nvidia_driver: '570.172.08',
      cuda_version: '12.8.1',
      cudnn_version: '9.10.2.21',
      docker_version: '28.3.3',
      container_toolkit_version: '1.17.8',
      python_version: pythonVersion,
      venv: '/opt/ai/venv',
      frameworks: { pytorch: '2.7.1+cu128', tensorflow: '2.19.0', vllm: '0.10.1', nccl: '2.26.2' },
      stand_ins: [],
    });
    expect(result.stderr).toBe('');
  });

  it("lists the installed packages of imagebuild's hermetic test mirror by their maintainer mark, not removed ones", async () => {
    const { facts } = await runFacts(['--venv', '/opt/ai/venv'], { root: ubuntuRoot, env: { FAKE_STAND_INS: '1', FAKE_MODINFO: '580.95.05' } });

    expect(facts.stand_ins).toEqual(['deb:cuda-toolkit-13-0', 'deb:nvidia-open']);
  });

  it('reports null for everything that is not installed', async () => {
    const emptyRoot = await emptyDir('root');
    const noTools = await emptyDir('bin');

    const { facts } = await runFacts(['--venv', '/opt/ai/venv'], { root: emptyRoot, path: [noTools] });

    expect(facts).toEqual({
      format: 1,
      os: null,
      os_id: null,
      os_version_id: null,
      kernel: hostKernel,
      nvidia_driver: null,
      cuda_version: null,
      cudnn_version: null,
      docker_version: null,
      container_toolkit_version: null,
      python_version: pythonVersion,
      venv: null,
      frameworks: { pytorch: null, tensorflow: null, vllm: null, nccl: null },
      stand_ins: [],
    });
  });

  it('prefers the loaded module, falls back to nvcc and to the docker client when the daemon is down', async () => {
    const root = await emptyDir('root');
    await mkdir(path.join(root, 'etc'));
    await copyFile(path.join(ubuntuRoot, 'etc/os-release'), path.join(root, 'etc/os-release'));
    await mkdir(path.join(root, 'sys/module/nvidia'), { recursive: true });
    await writeFile(path.join(root, 'sys/module/nvidia/version'), '570.172.08\n');

    const { facts } = await runFacts([], { root, env: { FAKE_MODINFO: '575.51.02', FAKE_DOCKER: 'down' } });

    expect(facts).toMatchObject({ nvidia_driver: '570.172.08', cuda_version: '12.8', docker_version: '28.3.3', venv: null });
  });

  it('exits 2 on bad arguments', async () => {
    const dir = await workDir();

    const noOut = await runGuest('facts.py', []);
    const badParams = await runGuest('facts.py', ['--out', path.join(dir, 'facts.json'), '--params', path.join(dir, 'missing.json')]);

    expect(noOut.exitCode).toBe(2);
    expect(badParams.exitCode).toBe(2);
    expect(await readdir(dir)).toEqual([]);
  });
});

type Inventory = {
  format: number;
  os: Record<string, string | null>;
  architecture: string | null;
  kernel: string;
  dpkg: { name: string; version: string; architecture: string; source: string; source_version: string }[] | null;
  python: { venv: string; via: string; packages: { name: string; version: string }[] } | null;
  kernel_modules: { name: string; version: string | null; kernel: string; path: string }[];
  container_images: { repository: string | null; tag: string | null; id: string; digest: string | null }[] | null;
  problems: string[];
};

async function runInventory(args: string[], options: RunOptions): Promise<GuestRun & { inventory: Inventory }> {
  const outDir = work || (await workDir());
  const out = path.join(outDir, 'inventory.json');
  const result = await runGuest('inventory.py', ['--out', out, ...args], options);
  expect([result.exitCode, result.stderr]).toEqual([0, '']);
  return { result, outDir, inventory: JSON.parse(await readFile(out, 'utf8')) };
}

/** A bin directory holding only the named fake tools: the others are "not installed". */
async function someTools(...names: string[]): Promise<string> {
  const dir = await emptyDir(`bin-${names.join('-') || 'none'}`);
  for (const name of names) await copyFile(path.join(fakeBin, name), path.join(dir, name));
  return dir;
}

/** A venv made by the real python3 -m venv, with one distribution whose metadata says Name: Foo_Bar.Baz, Version: 1.0+local. */
async function realVenv(name: string, withPip: boolean): Promise<string> {
  const venv = path.join(work || (await workDir()), name);
  await execa(python3, ['-m', 'venv', ...(withPip ? [] : ['--without-pip']), venv]);
  const { stdout: site } = await execa(path.join(venv, 'bin/python'), ['-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])']);
  const distInfo = path.join(site, 'Foo_Bar.Baz-1.0+local.dist-info');
  await mkdir(distInfo, { recursive: true });
  await writeFile(path.join(distInfo, 'METADATA'), 'Metadata-Version: 2.1\nName: Foo_Bar.Baz\nVersion: 1.0+local\n');
  await writeFile(path.join(distInfo, 'RECORD'), '');
  return venv;
}

describe('inventory.py', () => {
  it('lists the recorded Ubuntu guest: installed dpkg packages with their sources, the venv by pip inspect, NVIDIA modules, container images', async () => {
    const { inventory } = await runInventory(['--venv', '/opt/ai/venv'], { root: ubuntuRoot, env: { FAKE_DOCKER: 'ok' } });

    expect(inventory).toMatchObject({ format: 1, os: { id: 'ubuntu', version_id: '24.04', version_codename: 'noble' }, architecture: 'amd64', kernel: '6.8.0-45-generic', problems: [] });
    // Installed (ii) and held (hi) packages, never removed ones (rc); a binNMU keeps its source's version.
    expect(inventory.dpkg?.map((p) => `${p.name}:${p.architecture}`)).toEqual([
      'bash:amd64',
      'libattr1:amd64',
      'libc6:amd64',
      'libc6:i386',
      'nvidia-driver-570-open:amd64',
      'openssh-server:amd64',
      'python3.12:amd64',
    ]);
    expect(inventory.dpkg).toContainEqual({ name: 'libattr1', version: '1:2.5.2-1build1.1+b1', architecture: 'amd64', source: 'attr', source_version: '1:2.5.2-1build1.1' });
    expect(inventory.dpkg).toContainEqual({ name: 'nvidia-driver-570-open', version: '570.172.08-0ubuntu1', architecture: 'amd64', source: 'nvidia-graphics-drivers-570', source_version: '570.172.08-0ubuntu1' });
    // dpkg-query prints no source for a package built from a source of its own name.
    expect(inventory.dpkg).toContainEqual({ name: 'python3.12', version: '3.12.3-1ubuntu0.8', architecture: 'amd64', source: 'python3.12', source_version: '3.12.3-1ubuntu0.8' });
    expect(inventory.python?.via).toBe('pip inspect');
    expect(inventory.python?.packages).toContainEqual({ name: 'torch', version: '2.7.1+cu128' });
    expect(inventory.python?.packages.map((p) => p.name)).toEqual(['Jinja2', 'numpy', 'nvidia-nccl-cu12', 'pip', 'ruamel.yaml', 'tensorflow', 'torch', 'typing_extensions', 'vllm']);
    expect(inventory.kernel_modules).toEqual([
      { name: 'nvidia', version: '570.172.08', kernel: '6.8.0-45-generic', path: '/lib/modules/6.8.0-45-generic/updates/dkms/nvidia.ko.zst' },
      { name: 'nvidia_uvm', version: '570.172.08', kernel: '6.8.0-45-generic', path: '/lib/modules/6.8.0-45-generic/updates/dkms/nvidia-uvm.ko.zst' },
    ]);
    expect(inventory.container_images).toEqual([
      { repository: null, tag: null, id: `sha256:${'1'.repeat(64)}`, digest: null },
      { repository: 'nvcr.io/nvidia/cuda', tag: '12.8.1-base-ubuntu24.04', id: expect.stringMatching(/^sha256:0b3c/), digest: expect.stringMatching(/^sha256:6c1f/) },
      { repository: 'vault/smoke', tag: 'latest', id: expect.stringMatching(/^sha256:9f8e/), digest: null },
    ]);
  });

  it('lists a base-only image (no venv, no Docker, no NVIDIA module) as absent parts, not problems', async () => {
    const root = await emptyDir('root');
    await mkdir(path.join(root, 'etc'));
    await copyFile(path.join(ubuntuRoot, 'etc/os-release'), path.join(root, 'etc/os-release'));
    const tools = await someTools('dpkg-query', 'dpkg');

    const { inventory } = await runInventory(['--venv', '/opt/ai/venv'], { root, path: [tools] });

    expect(inventory).toMatchObject({ python: null, kernel_modules: [], container_images: null, problems: [] });
    expect(inventory.dpkg).toHaveLength(7);
  });

  it('names what it could not read: no dpkg-query, a Docker daemon that does not answer, a module without a version', async () => {
    const root = await emptyDir('root');
    const modules = path.join(root, 'lib/modules/6.1.0-40-amd64/kernel/nvidia-580');
    await mkdir(modules, { recursive: true });
    await writeFile(path.join(modules, 'nvidia-drm.ko'), 'license=Dual MIT/GPL\n');
    const tools = await someTools('docker', 'modinfo');

    const { inventory } = await runInventory([], { root, path: [tools], env: { FAKE_DOCKER: 'down' } });

    expect(inventory).toMatchObject({ dpkg: null, container_images: null, architecture: null });
    expect(inventory.kernel_modules).toEqual([{ name: 'nvidia_drm', version: null, kernel: '6.1.0-40-amd64', path: '/lib/modules/6.1.0-40-amd64/kernel/nvidia-580/nvidia-drm.ko' }]);
    expect(inventory.problems).toEqual([
      'dpkg-query: not available or failed; no Debian packages listed',
      'modinfo: no version in /lib/modules/6.1.0-40-amd64/kernel/nvidia-580/nvidia-drm.ko',
      'docker: installed, but the daemon did not answer `docker image ls`; no container images listed',
    ]);
  });

  it("reads the venv's package metadata when its pip cannot inspect", async () => {
    const { inventory } = await runInventory(['--venv', '/opt/ai/venv'], { root: ubuntuRoot, env: { FAKE_DOCKER: 'empty', FAKE_PIP: 'missing' } });

    expect(inventory.python).toEqual({ venv: '/opt/ai/venv', via: 'importlib.metadata', packages: [{ name: 'torch', version: '2.7.1+cu128' }, { name: 'vllm', version: '0.10.1' }] });
    expect(inventory.container_images).toEqual([]);
  });

  it('lists a real venv with the real pip inspect, and one made --without-pip from its metadata', async () => {
    const withPip = await realVenv('venv-pip', true);
    const withoutPip = await realVenv('venv-bare', false);
    const tools = await someTools();

    const inspected = (await runInventory(['--venv', withPip], { path: [tools] })).inventory.python;
    const read = (await runInventory(['--venv', withoutPip], { path: [tools] })).inventory.python;

    expect(inspected?.via).toBe('pip inspect');
    expect(inspected?.packages).toContainEqual({ name: 'Foo_Bar.Baz', version: '1.0+local' });
    expect(inspected?.packages.map((p) => p.name)).toContain('pip');
    expect(read).toEqual({ venv: withoutPip, via: 'importlib.metadata', packages: [{ name: 'Foo_Bar.Baz', version: '1.0+local' }] });
  }, 120_000);

  it('refuses an --out in a directory that does not exist (exit 2)', async () => {
    const dir = await workDir();

    const result = await runGuest('inventory.py', ['--out', path.join(dir, 'missing', 'inventory.json')], { root: ubuntuRoot });

    expect(result.exitCode).toBe(2);
    expect(result.stderr).toMatch(/--out: directory .*missing does not exist/);
  });
});

describe('guest programs', () => {
  it('parse as Python 3.9, the oldest interpreter they promise to run on', async () => {
    const programs = ['run_checks.py', 'facts.py', 'guest_files.py', 'inventory.py'].map((p) => path.join(guestDir, p));

    const result = await execa(python3, ['-c', 'import ast, sys\nfor f in sys.argv[1:]:\n    ast.parse(open(f).read(), f, feature_version=(3, 9))', ...programs], { reject: false });

    expect(result.stderr).toBe('');
    expect(result.exitCode).toBe(0);
  });

  it('run from a copy of their folder, as Packer uploads it, and leave no bytecode in it', async () => {
    const uploaded = await emptyDir('imagebuild-guest');
    for (const file of await readdir(guestDir)) await copyFile(path.join(guestDir, file), path.join(uploaded, file));
    const paramsFile = path.join(work, 'checks.json');
    await writeFile(paramsFile, JSON.stringify({ layer: 'runtime', gpu_count: 0, gpu_passthrough: false }));
    const env = { PATH: fakeBin, FAKE_REAL_PYTHON: python3, IMAGEBUILD_GUEST_ROOT: ubuntuRoot };

    const checks = await execa(python3, [path.join(uploaded, 'run_checks.py'), '--params', paramsFile, '--out', path.join(work, 'gate.json')], { env, extendEnv: false, reject: false });
    const facts = await execa(python3, [path.join(uploaded, 'facts.py'), '--out', path.join(work, 'facts.json')], { env, extendEnv: false, reject: false });

    expect([checks.exitCode, checks.stderr]).toEqual([0, '']);
    expect(facts.exitCode).toBe(0);
    expect(JSON.parse(await readFile(path.join(work, 'gate.json'), 'utf8'))).toMatchObject({ format: 1, layer: 'runtime' });
    expect(JSON.parse(await readFile(path.join(work, 'facts.json'), 'utf8'))).toMatchObject({ format: 1, os_id: 'ubuntu' });
    expect((await readdir(uploaded)).sort()).toEqual(['facts.py', 'guest_files.py', 'inventory.py', 'run_checks.py']);
  });

  it("run inventory.py from the three files the seal role copies, and leave no bytecode beside them", async () => {
    const copied = await emptyDir('imagebuild-inventory');
    for (const file of ['inventory.py', 'facts.py', 'guest_files.py']) await copyFile(path.join(guestDir, file), path.join(copied, file));
    const env = { PATH: fakeBin, FAKE_REAL_PYTHON: python3, IMAGEBUILD_GUEST_ROOT: ubuntuRoot, FAKE_DOCKER: 'ok' };

    const result = await execa(python3, [path.join(copied, 'inventory.py'), '--out', path.join(copied, 'inventory.json')], { env, extendEnv: false, reject: false });

    expect([result.exitCode, result.stderr]).toEqual([0, '']);
    expect(JSON.parse(await readFile(path.join(copied, 'inventory.json'), 'utf8'))).toMatchObject({ format: 1, os: { id: 'ubuntu' } });
    expect((await readdir(copied)).sort()).toEqual(['facts.py', 'guest_files.py', 'inventory.json', 'inventory.py']);
  });
});
