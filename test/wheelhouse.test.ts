import { appendFile, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ToolFailedError } from '../src/errors/index.js';
import { wheelhouseInstallArgs, wheelhouseKey, wheelhousePaths, type WheelhouseRequest, type WheelhouseTarget } from '../src/adapters/package-cache/wheelhouse-record.js';
import { fillWheelhouse, findWheelhouse, listWheelhouses, pruneWheelhouses, removeWheelhouse, type Wheelhouse } from '../src/adapters/package-cache/wheelhouse.js';
import { cacheLayout } from '../src/adapters/workspace/cache-layout.js';
import { BUILT_CLI } from './helpers/project-root.js';
import { requireTools } from './helpers/require-tools.js';
import { LOCAL_DEV_SPEC_PATH, mutateManifest } from './helpers/spec-builders.js';
import { hostWheelhouseTarget } from './helpers/host-python.js';
import { makeTempDir, type TempDir } from './helpers/temp-dir.js';
import { buildPypiMirror, type PypiMirror } from './vendor-mirror/pypi-mirror.js';
import { serveMirror, type ServedMirror } from './vendor-mirror/serve-mirror.js';

// The frameworks layer's pip wheelhouse (issue 20), filled by this host's real pip from the hermetic PyPI stand-in
// mirror (test/vendor-mirror/README-pypi.md), then installed from into a throwaway venv with the exact pip
// arguments a guest gets, with no index at all. The mirror counts the bytes it serves: a hit must cost none.
const hasTools = requireTools('test/wheelhouse.test.ts', 'python3', 'gcc');

/** The frameworks role's version set for the demo spec: torch from PyTorch's index, TF and vLLM from PyPI, NCCL over torch's pin. */
function demoRequest(mirror: PypiMirror, served: ServedMirror, target: WheelhouseTarget, requirements = ['vllm==0.29.0', 'torch==2.13.0+cu130', 'tensorflow==2.21.0']): WheelhouseRequest {
  const { pytorchIndexUrl, pypiIndexUrl } = mirror.indexUrls(served.hostUrl);
  return { requirements, noDeps: ['nvidia-nccl-cu13==2.31.2'], indexUrl: pypiIndexUrl, extraIndexUrls: [pytorchIndexUrl], target };
}

describe.skipIf(!hasTools)('pip wheelhouse, filled from the stand-in mirror by the real pip', { timeout: 120_000 }, () => {
  let work: TempDir;
  let mirror: PypiMirror;
  let served: ServedMirror;
  let target: WheelhouseTarget;
  let cacheDir: string;
  let cold: Wheelhouse;
  let coldBytes: number;
  let coldMs: number;

  beforeAll(async () => {
    work = await makeTempDir('imagebuild-wheelhouse-');
    mirror = await buildPypiMirror({ dir: join(work.dir, 'www') });
    served = await serveMirror(mirror.dir);
    target = hostWheelhouseTarget();
    cacheDir = join(work.dir, 'cache');
    const started = performance.now();
    cold = await fillWheelhouse({ cacheDir, ...demoRequest(mirror, served, target) });
    coldMs = performance.now() - started;
    coldBytes = served.served().bytes;
  }, 120_000);

  afterAll(async () => {
    await served?.stop();
    await work?.cleanup();
  });

  it('fills cold: downloads every wheel of the set and its dependencies, and records their SHA-256', async () => {
    const byName = new Map(mirror.wheels.map((wheel) => [wheel.fileName, wheel]));

    const record = JSON.parse(await readFile(wheelhousePaths(cold.dir).record, 'utf8')) as unknown;

    expect(cold.hit).toBe(false);
    expect(cold.dir).toBe(cacheLayout(cacheDir).wheelhouseDir(cold.key));
    expect(cold.files.map((file) => file.name)).toEqual([
      'nvidia_nccl_cu13-2.29.7-py3-none-manylinux_2_28_x86_64.whl',
      'nvidia_nccl_cu13-2.31.2-py3-none-manylinux_2_28_x86_64.whl',
      'tensorflow-2.21.0-py3-none-any.whl',
      'torch-2.13.0+cu130-py3-none-any.whl',
      'vllm-0.29.0-py3-none-any.whl',
    ]);
    for (const file of cold.files) expect(file, file.name).toMatchObject({ sha256: byName.get(file.name)?.sha256, bytes: byName.get(file.name)?.bytes });
    expect(cold.bytesDownloaded).toBe(cold.files.reduce((sum, file) => sum + file.bytes, 0));
    expect(coldBytes).toBeGreaterThanOrEqual(cold.bytesDownloaded);
    expect(record).toEqual(cold.record);
    expect(await readdir(cacheLayout(cacheDir).wheelhouses)).toEqual([cold.key]);
    console.info(`wheelhouse cold fill: ${coldBytes} bytes served (${cold.bytesDownloaded} of wheels) in ${coldMs.toFixed(0)} ms`);
  });

  it('is a hit the second time: verified, and not one byte served', async () => {
    const before = served.served();
    const started = performance.now();

    const again = await fillWheelhouse({ cacheDir, ...demoRequest(mirror, served, target, ['tensorflow==2.21.0', 'torch==2.13.0+cu130', 'vllm==0.29.0']) });

    const hitMs = performance.now() - started;
    expect(again).toMatchObject({ hit: true, key: cold.key, dir: cold.dir, bytesDownloaded: 0 });
    expect(again.files).toEqual(cold.files);
    expect(served.served().bytes - before.bytes).toBe(0);
    expect(served.served().requests - before.requests).toBe(0);
    console.info(`wheelhouse hit: ${hitMs.toFixed(0)} ms, 0 bytes served`);
  });

  it('installs into a fresh venv from the wheelhouse alone, with the guest\'s exact pip arguments', async () => {
    const venv = join(work.dir, 'venv');
    await execa('python3', ['-m', 'venv', venv]);
    const before = served.served();
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: work.dir, PIP_CONFIG_FILE: '/dev/null', PIP_DISABLE_PIP_VERSION_CHECK: '1' };

    const runs = [];
    for (const args of wheelhouseInstallArgs(cold.dir, cold.record)) runs.push(await execa(join(venv, 'bin/pip'), args, { env, extendEnv: false, reject: false }));
    const { stdout } = await execa(join(venv, 'bin/python'), ['-c', 'import importlib.metadata as m, json; print(json.dumps({d: m.version(d) for d in ["torch", "vllm", "tensorflow", "nvidia-nccl-cu13"]}))'], { env, extendEnv: false });

    expect(wheelhouseInstallArgs('/opt/wheelhouse', cold.record)).toEqual([
      ['install', '--no-index', '--find-links', '/opt/wheelhouse/wheels', '--require-hashes', '-r', '/opt/wheelhouse/requirements.lock'],
      ['install', '--no-index', '--find-links', '/opt/wheelhouse/wheels', '--require-hashes', '--no-deps', '-r', '/opt/wheelhouse/no-deps.lock'],
    ]);
    for (const run of runs) expect(run.exitCode, `${run.command}\n${String(run.stdout)}\n${String(run.stderr)}`).toBe(0);
    expect(JSON.parse(stdout)).toEqual({ torch: '2.13.0+cu130', vllm: '0.29.0', tensorflow: '2.21.0', 'nvidia-nccl-cu13': '2.31.2' });
    expect(served.served().bytes - before.bytes).toBe(0);
  });

  it('lets pip refuse a wheel whose bytes are not the lock\'s, even when the host\'s check is skipped', async () => {
    const copy = join(work.dir, 'copied-wheelhouse');
    await execa('cp', ['-r', cold.dir, copy]);
    await appendFile(join(wheelhousePaths(copy).wheels, 'vllm-0.29.0-py3-none-any.whl'), 'x');
    const venv = join(work.dir, 'venv-tampered');
    await execa('python3', ['-m', 'venv', venv]);

    const run = await execa(join(venv, 'bin/pip'), wheelhouseInstallArgs(copy, cold.record)[0]!, { env: { PATH: process.env.PATH ?? '', HOME: work.dir, PIP_CONFIG_FILE: '/dev/null' }, extendEnv: false, reject: false });

    expect(run.exitCode).not.toBe(0);
    expect(String(run.stderr)).toMatch(/THESE PACKAGES DO NOT MATCH THE HASHES/);
  });

  it('gives a changed requirement a different key and a wheelhouse of its own', async () => {
    const changed = demoRequest(mirror, served, target, ['torch==2.14.0+cu130']);
    const before = served.served().bytes;

    const other = await fillWheelhouse({ cacheDir, ...changed });

    expect(other.key).not.toBe(cold.key);
    expect(other.hit).toBe(false);
    expect(other.files.map((file) => file.name)).toContain('torch-2.14.0+cu130-py3-none-any.whl');
    expect(served.served().bytes - before).toBeGreaterThan(0);
    expect(wheelhouseKey({ ...changed, target: { ...target, abi: 'cp312' } })).not.toBe(other.key);
    expect(wheelhouseKey({ ...changed, extraIndexUrls: [] })).not.toBe(other.key);
  });

  it('detects a tampered wheel in the cache, drops the entry and fills it again', async () => {
    const wheel = join(wheelhousePaths(cold.dir).wheels, 'torch-2.13.0+cu130-py3-none-any.whl');
    await appendFile(wheel, 'tampered');
    const found = await findWheelhouse(cacheDir, demoRequest(mirror, served, target));
    const before = served.served().bytes;

    const refilled = await fillWheelhouse({ cacheDir, ...demoRequest(mirror, served, target) });

    expect(found.wheelhouse).toBeUndefined();
    expect(found.problem).toMatch(/torch-2\.13\.0\+cu130-py3-none-any\.whl: \d+ bytes, the record says \d+$/);
    expect(refilled).toMatchObject({ hit: false, key: cold.key, replaced: found.problem });
    expect(refilled.files).toEqual(cold.files);
    expect(served.served().bytes - before).toBeGreaterThan(0);
    expect((await findWheelhouse(cacheDir, demoRequest(mirror, served, target))).wheelhouse?.hit).toBe(true);
  });

  it('names the requirement and the index pip could not find it on, in one line, and leaves nothing behind', async () => {
    const request = demoRequest(mirror, served, target, ['torch==9.9.9']);

    const error = await fillWheelhouse({ cacheDir, ...request }).then(() => undefined, (caught: unknown) => caught);

    expect(error).toBeInstanceOf(ToolFailedError);
    expect((error as ToolFailedError).message).toBe(`wheelhouse not filled: no wheel of torch==9.9.9 for Python ${target.pythonVersion} ${target.abi} ${target.platforms[0]} on ${request.indexUrl} + ${request.extraIndexUrls![0]}`);
    expect(await readdir(cacheLayout(cacheDir).wheelhouses)).not.toContain(wheelhouseKey(request));
    expect((await readdir(cacheLayout(cacheDir).wheelhouses)).filter((name) => name.startsWith('.'))).toEqual([]);
  });

  it('shows each wheelhouse in `cache ls` with its size and the version set it holds', async () => {
    await writeFile(join(work.dir, 'spec.yaml'), mutateManifest(LOCAL_DEV_SPEC_PATH, [[['cache', 'dir'], cacheDir]]));

    const json = await execa('node', [BUILT_CLI, 'cache', 'ls', '--spec', 'spec.yaml', '--json'], { cwd: work.dir });
    const text = await execa('node', [BUILT_CLI, 'cache', 'ls', '--spec', 'spec.yaml'], { cwd: work.dir });

    const listing = JSON.parse(json.stdout) as { wheelhouses: { key: string; bytes: number; wheels: number; requirements: string[] }[]; totalBytes: number };
    const entry = listing.wheelhouses.find((w) => w.key === cold.key);
    expect(entry).toMatchObject({ wheels: 5, requirements: ['tensorflow==2.21.0', 'torch==2.13.0+cu130', 'vllm==0.29.0', 'nvidia-nccl-cu13==2.31.2'] });
    expect(listing.totalBytes).toBeGreaterThanOrEqual(listing.wheelhouses.reduce((sum, w) => sum + w.bytes, 0));
    expect(text.stdout).toMatch(new RegExp(`wheelhouse ${cold.key.slice(0, 12)} {2}5 wheel\\(s\\) .* torch==2\\.13\\.0\\+cu130`));
  });

  it('lists every wheelhouse with its size and requirements, and prunes what no spec keeps and what killed fills left', async () => {
    const layout = cacheLayout(cacheDir);
    const orphan = layout.wheelhouseScratch('staging', cold.key, 2 ** 22 + 1);
    await mkdir(join(orphan, 'wheels'), { recursive: true });
    await writeFile(join(orphan, 'wheels', 'half.whl'), 'x'.repeat(100));

    const { entries, problems } = await listWheelhouses(cacheDir);
    const dry = await pruneWheelhouses(cacheDir, { keep: new Set([cold.key]), apply: false });
    const other = entries.find((entry) => entry.key !== cold.key)!;
    const pruned = await pruneWheelhouses(cacheDir, { keep: new Set([cold.key]), apply: true });

    expect(problems).toEqual([]);
    expect(entries.map((entry) => entry.key).sort()).toEqual([cold.key, other.key].sort());
    const listed = entries.find((entry) => entry.key === cold.key)!;
    expect(listed).toMatchObject({ dir: cold.dir, requirements: ['tensorflow==2.21.0', 'torch==2.13.0+cu130', 'vllm==0.29.0'], noDeps: ['nvidia-nccl-cu13==2.31.2'], wheels: 5 });
    expect(listed.bytes).toBeGreaterThan(cold.bytesDownloaded);
    expect(dry.removed.map((entry) => entry.why).sort()).toEqual([`left by process ${2 ** 22 + 1}, which is gone`, 'no current spec needs it']);
    expect(pruned).toEqual(dry);
    expect(await readdir(layout.wheelhouses)).toEqual([cold.key]);
    expect(await removeWheelhouse(cacheDir, cold.key)).toBe(listed.bytes);
    expect(await readdir(layout.wheelhouses)).toEqual([]);
  });
});
