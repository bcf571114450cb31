import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { execa } from 'execa';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCli } from '../src/cli/main.js';
import { createOutput } from '../src/cli/output.js';
import { RENDER_MARKER } from '../src/adapters/fs/write-files.js';
import { BUILT_CLI } from './helpers/project-root.js';
import { DEMO_SPEC_PATH, mutateManifest } from './helpers/spec-builders.js';
import { listTree, makeTempDir } from './helpers/temp-dir.js';

type Run = { code: number; stdout: string; stderr: string };

async function cli(args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): Promise<Run> {
  const stdout = Object.assign(new PassThrough(), { isTTY: env.TTY === '1' });
  const stderr = new PassThrough();
  const chunks = { out: [] as Buffer[], err: [] as Buffer[] };
  stdout.on('data', (c: Buffer) => chunks.out.push(c));
  stderr.on('data', (c: Buffer) => chunks.err.push(c));
  const code = await runCli(args, createOutput(stdout, stderr, env), cwd);
  return { code, stdout: Buffer.concat(chunks.out).toString(), stderr: Buffer.concat(chunks.err).toString() };
}

/** Runs `run` with IMAGEBUILD_TODAY set: the CLI runs in this process and reads the date from its environment. */
async function onDate<T>(today: string, run: () => Promise<T>): Promise<T> {
  const before = process.env.IMAGEBUILD_TODAY;
  process.env.IMAGEBUILD_TODAY = today;
  try {
    return await run();
  } finally {
    if (before === undefined) delete process.env.IMAGEBUILD_TODAY;
    else process.env.IMAGEBUILD_TODAY = before;
  }
}

let work: { dir: string; cleanup: () => Promise<void> };
beforeEach(async () => {
  work = await makeTempDir();
});
afterEach(() => work.cleanup());

describe('imagebuild CLI', () => {
  it.each(['validate', 'compat', 'render', 'plan', 'build', 'verify', 'export', 'flash', 'publish', 'list', 'download', 'diff', 'prune', 'rollback', 'cache', 'schema'])('prints help for %s with its usage and options', async (command) => {
    const result = await cli([command, '--help'], work.dir);

    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`Usage: imagebuild ${command}`);
    expect(result.stdout).toContain('-h, --help');
  });

  it('joins a list option given more than once into one comma list (export --format raw --format vmdk)', async () => {
    const result = await cli(['export', 'v9.9.9', '--format', 'raw', '--format', 'vmdk,raw.xz', '--spec', 'missing.yaml'], work.dir);

    // The spec is read after the formats are parsed: reaching it means both repeats were taken as one list.
    expect(result.stderr).toContain('missing.yaml: spec file not found');
    const unknown = await cli(['export', 'v9.9.9', '--format', 'raw', '--format', 'qcow3', '--spec', 'missing.yaml'], work.dir);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('qcow3');
  });

  it('lists every command in the main help', async () => {
    const result = await cli(['--help'], work.dir);

    expect(result.code).toBe(0);
    for (const command of ['validate', 'render', 'plan', 'schema']) expect(result.stdout).toMatch(new RegExp(`^  ${command} `, 'm'));
  });

  it('prints the package version', async () => {
    const result = await cli(['--version'], work.dir);

    expect(result.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it.each([
    [['frobnicate'], 'unknown command "frobnicate"; valid commands: validate, compat, render, plan, build, verify, export, flash, publish, list, download, diff, prune, reindex, rollback, cache, schema'],
    [['plan'], 'plan: expected 1 argument(s), got 0'],
    [['plan', '1.1'], 'version "1.1" is not semver; give vMAJOR.MINOR.PATCH'],
    [['plan', 'latest'], 'version "latest" is not semver'],
    [['plan', 'v1.1.0', '--from-layer', 'kernel'], '--from-layer "kernel" is not a layer; valid: base, driver, runtime, frameworks, validation'],
    [['plan', 'v1.1.0', '--from-layer', 'validation', '--until-layer', 'base'], '--from-layer validation is above --until-layer base'],
    [['validate', '--spce', 'x.yaml'], "validate: Unknown option '--spce'"],
    [['validate', 'extra'], 'validate: expected 0 argument(s), got 1'],
    [['render', '--packer-version', 'new'], '--packer-version "new" is not a version'],
    [['validate', '--spec', 'missing.yaml'], 'missing.yaml: spec file not found'],
    // A repeated option is refused, never settled by the last one (flash --device A --device B must not write B).
    [['flash', 'v1.0.0', '--device', '/dev/sdb', '--device', '/dev/sdc'], 'flash: --device is given 2 times ("/dev/sdb", "/dev/sdc"); give it once'],
    [['plan', 'v1.1.0', '--spec', 'a.yaml', '--spec', 'b.yaml'], 'plan: --spec is given 2 times'],
  ])('refuses %j with exit 2 or 1 and one clear line', async (args, message) => {
    const result = await cli(args, work.dir);

    expect(result.code).toBe(args.includes('missing.yaml') ? 1 : 2);
    expect(result.stderr).toContain(message);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(await listTree(work.dir)).toEqual([]);
  });

  it('validates the shipped demo box by default and names the RTX 5090 minimums', async () => {
    const result = await cli(['validate'], work.dir);

    expect(result.code).toBe(0);
    expect(result.stdout).toContain('vault-cube-demo-box is valid');
    expect(result.stdout).toContain('minimums for NVIDIA GeForce RTX 5090 (Blackwell, sm_120): NVIDIA driver >= 570.86.16, CUDA >= 12.8, PyTorch >= 2.7 with cu128 wheels');
    expect(result.stdout).toMatch(/driver {5}NVIDIA 580\.173\.02 \(open modules, Canonical's signed prebuilt modules; R580 Long Term Support, end of life June 2028\), CUDA 13\.0\.2, cuDNN 9\.28\.1/);
    expect(result.stdout).toContain('PyTorch 2.13.0+cu130 (NCCL 2.31.2 pinned), vLLM 0.29.0 in /opt/ai/venv');
    expect(result.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^warning: .*hardware\.gpu\.count: 4x NVIDIA GeForce RTX 5090 have no PCIe peer-to-peer/)]);
  });

  it('compat names the newest consistent stack for the spec\'s GPUs, each choice with its sources', async () => {
    const result = await onDate('2026-12-05', () => cli(['compat', '--json'], work.dir));

    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout) as {
      date: string;
      gpus: number;
      recommended: Record<string, unknown> & { sources: Record<string, { url: string }[]> };
      findings: { severity: string }[];
      branches: { branch: string; supported: boolean }[];
    };
    expect(report).toMatchObject({ date: '2026-12-05', gpus: 4 });
    expect(report.recommended).toMatchObject({
      driver_branch: '580',
      cuda: '13.0',
      pytorch: { version: '2.13.0', cuda_variant: 'cu130', bundled_nccl: '2.29.7' },
      vllm: { version: '0.29.0', torch: '2.13.0' },
      nccl_pin: { wheel: 'nvidia-nccl-cu13', version: '2.31.2', needed_from_gpus: 2 },
      container_toolkit: '1.20.0',
    });
    expect(report.recommended.sources.nccl?.map((source) => source.url)).toContain('https://github.com/NVIDIA/nccl/issues/2418');
    expect(report.findings.filter((finding) => finding.severity === 'error')).toEqual([]);
    expect(report.branches.find((branch) => branch.branch === '570')).toMatchObject({ supported: false });
  });

  it('compat takes a GPU model, shows the branches\' lifecycle on the given date, and refuses an unknown model', async () => {
    const later = await onDate('2027-04-01', () => cli(['compat', 'h100', '--gpus', '8'], work.dir));
    const unknown = await cli(['compat', 'rtx-9999'], work.dir);
    const badCount = await cli(['compat', 'h100', '--gpus', 'many'], work.dir);

    expect(later.code).toBe(0);
    expect(later.stdout).toContain('NVIDIA H100 80GB HBM3 (Hopper, sm_90), 8 GPU(s): compatibility table on 2027-04-01');
    expect(later.stdout).toMatch(/R595 +Production, past end of life: ended March 2027 +ended/);
    expect(later.stdout).toMatch(/R580 +Long Term Support, end of life June 2028 +supported/);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr.trim()).toBe('error: unknown GPU model "rtx-9999"; valid: rtx-5090, rtx-pro-6000-blackwell, b200, rtx-4090, l40s, h100, a100, rtx-3090');
    expect(badCount.code).toBe(2);
    expect(badCount.stderr).toContain('--gpus "many" is not a GPU count; give 1 to 16');
  });

  it.each(['tomorrow', '2026-02-30', '2026-13-01'])('refuses IMAGEBUILD_TODAY=%s, which is not a date', async (value) => {
    const result = await onDate(value, () => cli(['validate'], work.dir));

    expect(result.code).toBe(2);
    expect(result.stderr.trim()).toBe(`error: IMAGEBUILD_TODAY="${value}" is not a date; use YYYY-MM-DD, e.g. 2026-12-05`);
  });

  it("refuses the reference architecture's original versions with the RTX 5090 minimums", async () => {
    const spec = join(work.dir, 'reference.yaml');
    await writeFile(spec, mutateManifest(DEMO_SPEC_PATH, [
      [['layers', 'driver', 'nvidia_driver'], '550.127.05'],
      [['layers', 'driver', 'cuda'], '12.4.0'],
      [['layers', 'frameworks', 'pytorch', 'version'], '2.1.0'],
      [['layers', 'frameworks', 'pytorch', 'cuda_variant'], 'cu121'],
    ]));

    const result = await cli(['validate', '--spec', 'reference.yaml'], work.dir);

    expect(result.code).toBe(2);
    expect(result.stderr).toContain('error: reference.yaml: layers.driver.nvidia_driver: NVIDIA driver 550.127.05 cannot drive NVIDIA GeForce RTX 5090 (Blackwell, sm_120); needs driver >= 570.86.16');
    expect(result.stderr).toContain('error: reference.yaml: layers.driver.cuda: CUDA 12.4 has no support for sm_120');
    expect(result.stderr).toContain('PyTorch >= 2.7 with cu128 wheels');
    expect(result.stderr).toMatch(/^hint: minimums for NVIDIA GeForce RTX 5090/m);
  });

  it('prints machine-readable validation with --json', async () => {
    const result = await cli(['validate', '--json'], work.dir);

    const parsed = JSON.parse(result.stdout);
    expect(parsed.valid).toBe(true);
    expect(parsed.name).toBe('vault-cube-demo-box');
    expect(parsed.minimums).toMatchObject({ cuda: '12.8', pytorch: '2.7', pytorchVariant: 'cu128' });
  });

  it('plans five layers to build on an empty cache, and --json carries keys and reasons', async () => {
    const text = await cli(['plan', 'v1.1.0'], work.dir);
    const json = JSON.parse((await cli(['plan', '1.1.0', '--json'], work.dir)).stdout);

    expect(text.code).toBe(0);
    expect(text.stdout).toContain('vault-cube-demo-box-v1.1.0.qcow2');
    expect(text.stdout).toContain('5 of 5 layers to build, 0 reused');
    expect(json.layers.map((l: { layer: string }) => l.layer)).toEqual(['base', 'driver', 'runtime', 'frameworks', 'validation']);
    expect(json.layers[0].reasons).toEqual(['not in the cache']);
    expect(json.layers.every((l: { key: string }) => /^[0-9a-f]{64}$/.test(l.key))).toBe(true);
  });

  it('renders into .imagebuild/rendered/<name> and replaces its own output on the next run', async () => {
    const first = await cli(['render'], work.dir);
    const second = await cli(['render', '--json'], work.dir);

    const outDir = join(work.dir, '.imagebuild/rendered/vault-cube-demo-box');
    expect(first.code).toBe(0);
    expect(second.code).toBe(0);
    expect(existsSync(join(outDir, 'base/base.pkr.hcl'))).toBe(true);
    expect(existsSync(join(outDir, RENDER_MARKER))).toBe(true);
    expect(JSON.parse(second.stdout).files).toContain('frameworks/vars.yml');
    expect((await listTree(join(work.dir, '.imagebuild/rendered'))).filter((p) => !p.startsWith('vault-cube-demo-box'))).toEqual([]);
  });

  it('refuses to render over a directory it did not write, and leaves it untouched', async () => {
    const outDir = join(work.dir, 'mine');
    await mkdir(outDir);
    await writeFile(join(outDir, 'notes.txt'), 'precious');

    const result = await cli(['render', '--out', 'mine'], work.dir);

    expect(result.code).toBe(1);
    expect(result.stderr).toContain('exists and was not written by imagebuild');
    expect(await listTree(work.dir)).toEqual(['mine', 'mine/notes.txt']);
  });

  it('uses colour only on a terminal and never with NO_COLOR', async () => {
    const tty = await cli(['validate'], work.dir, { TTY: '1' });
    const noColor = await cli(['validate'], work.dir, { TTY: '1', NO_COLOR: '1' });
    const pipe = await cli(['validate'], work.dir);

    expect(tty.stdout).toContain('\u001b[');
    expect(noColor.stdout).not.toContain('\u001b[');
    expect(pipe.stdout).not.toContain('\u001b[');
  });

  it('prints the JSON Schema of specs', async () => {
    const result = await cli(['schema'], work.dir);

    const schema = JSON.parse(result.stdout);
    expect(schema.additionalProperties).toBe(false);
    expect(schema.required).toEqual(expect.arrayContaining(['name', 'os', 'users', 'hardware', 'layers']));
  });
});

describe('the installed bin', () => {
  it('runs as a process and exits with the command status', async () => {
    const ok = await execa('node', [BUILT_CLI, 'validate', '--spec', DEMO_SPEC_PATH], { reject: false });
    const bad = await execa('node', [BUILT_CLI, 'plan', 'nope'], { reject: false });

    expect(ok.exitCode).toBe(0);
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).not.toContain('    at ');
  });
});
