import { execFileSync } from 'node:child_process';
import { mkdir, readFile, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CacheEntry } from '../../src/core/plan/cache-entry.js';
import { registeredLayers, runCli } from '../helpers/fault-harness.js';
import { FAKE_BUILD_TOOLS, packerRuns } from '../helpers/fake-tools.js';
import { sha256Of } from '../helpers/release-project.js';
import { requireTools } from '../helpers/require-tools.js';
import { DEMO_NAME, smallDemoSpec } from '../helpers/spec-builders.js';
import { makeTempDir } from '../helpers/temp-dir.js';
import { sleep } from '../helpers/wait.js';

const hasBuildTools = requireTools('test/faults/cache-integrity.test.ts', ...FAKE_BUILD_TOOLS);

// A cached layer is the bytes its gate passed (issue 17, rule 8). Registration records layer.qcow2's
// SHA-256 and stat in entry.json and makes the file read-only; a build proves every layer it reuses
// (an unchanged stat: nothing read; a changed one: re-hashed) and drops and rebuilds one whose bytes
// changed instead of flattening them into a release; `cache verify` re-hashes everything.

const build = (version: string, ...extra: string[]) => ['build', version, '--spec', 'box.yaml', '--host-profile', 'cpu', '--no-verify', ...extra];

describe.skipIf(!hasBuildTools)('cached layer integrity', () => {
  let work: { dir: string; cleanup: () => Promise<void> };
  const cache = () => join(work.dir, '.imagebuild/cache');
  const layerDir = (key: string) => join(cache(), 'layers', key);
  const readEntry = async (key: string) => CacheEntry.parse(JSON.parse(await readFile(join(layerDir(key), 'entry.json'), 'utf8')));
  const keyOf = async (layer: string) => (await registeredLayers(cache())).layers.find((l) => l.layer === layer)!.key;
  const verify = (...extra: string[]) => runCli(['cache', 'verify', '--spec', 'box.yaml', ...extra], work.dir);

  beforeEach(async () => {
    work = await makeTempDir('imagebuild-fault-cache-integrity-');
    await writeFile(join(work.dir, 'box.yaml'), smallDemoSpec());
    const first = await runCli(build('1.0.0', '--json'), work.dir);
    expect(first.exitCode, first.stderr).toBe(0);
  });
  afterEach(async () => {
    await work.cleanup();
  });

  it('registration records each layer image’s SHA-256 and stat in entry.json and makes the image read-only (0444)', async () => {
    const { layers } = await registeredLayers(cache());

    expect(layers.map((l) => l.layer).sort()).toEqual(['base', 'driver', 'frameworks', 'runtime', 'validation']);
    for (const { key } of layers) {
      const image = join(layerDir(key), 'layer.qcow2');
      const entry = await readEntry(key);
      const found = await stat(image, { bigint: true });
      expect(entry.imageSha256).toBe(await sha256Of(image));
      expect(entry.imageStat).toEqual({ size: Number(found.size), mtimeNs: String(found.mtimeNs), ctimeNs: String(found.ctimeNs), ino: String(found.ino) });
      expect(Number(found.mode) & 0o777).toBe(0o444);
    }
  });

  it('a build that reuses every layer proves them by their stat alone: nothing re-hashed, entry.json untouched', async () => {
    const entries = await Promise.all((await registeredLayers(cache())).layers.map((l) => readFile(join(layerDir(l.key), 'entry.json'), 'utf8')));

    const next = await runCli(build('1.0.1'), work.dir);

    expect(next.exitCode, next.stderr).toBe(0);
    expect(next.stdout).toContain('Cached layers proven (unchanged since registered, nothing re-hashed)');
    expect(await Promise.all((await registeredLayers(cache())).layers.map((l) => readFile(join(layerDir(l.key), 'entry.json'), 'utf8')))).toEqual(entries);
  });

  it('a cached layer whose bytes changed (written in place) is dropped with the layers on it and rebuilt, never flattened into the release', async () => {
    const runtime = await keyOf('runtime');
    const image = join(layerDir(runtime), 'layer.qcow2');
    const recorded = (await readEntry(runtime)).imageSha256;
    // What a VM booted on the cached file by mistake would do: write into it (root ignores the 0444 mode).
    execFileSync('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0xc3 4k 64k', image], { stdio: 'pipe' });
    const record = join(work.dir, 'packer-runs.txt');

    const next = await runCli(build('1.0.1', '--json'), work.dir, { FAKE_PACKER_RECORD: record });

    expect(next.exitCode, next.stderr).toBe(0);
    const report = JSON.parse(next.stdout) as { notices: string[]; layers: { layer: string; action: string }[] };
    expect(report.notices).toContainEqual(expect.stringMatching(new RegExp(`^runtime: cached layer ${runtime.slice(0, 12)} is not the bytes its gate passed \\(.*layer\\.qcow2: SHA-256 [0-9a-f]{64}, but its gate passed ${recorded}\\); dropped it and the 2 cached layer\\(s\\) on it, building again$`)));
    expect(report.layers.map((l) => [l.layer, l.action])).toEqual([['base', 'reused'], ['driver', 'reused'], ['runtime', 'built'], ['frameworks', 'built'], ['validation', 'built']]);
    expect(packerRuns(record)).toEqual(['build runtime', 'build frameworks', 'build validation', 'build seal']);
    expect((await readEntry(runtime)).imageSha256).toBe(await sha256Of(image));
    expect((await verify()).exitCode).toBe(0);
  });

  it.each([
    ['gone', async (image: string) => rm(image)],
    ['a directory', async (image: string) => rm(image).then(() => mkdir(image))],
  ])('a cached layer whose image is %s is dropped and rebuilt with a notice, like a changed one', async (_what, damage) => {
    const driver = await keyOf('driver');
    await damage(join(layerDir(driver), 'layer.qcow2'));
    const record = join(work.dir, 'packer-runs.txt');

    const next = await runCli(build('1.0.1', '--json'), work.dir, { FAKE_PACKER_RECORD: record });

    expect(next.exitCode, next.stderr).toBe(0);
    expect((JSON.parse(next.stdout) as { notices: string[] }).notices).toContainEqual(expect.stringMatching(new RegExp(`^driver: cached layer ${driver.slice(0, 12)} is not the bytes its gate passed \\(.*layer\\.qcow2.*\\); dropped it and the 3 cached layer\\(s\\) on it, building again$`)));
    expect(packerRuns(record)).toEqual(['build driver', 'build runtime', 'build frameworks', 'build validation', 'build seal']);
    expect((await verify()).exitCode).toBe(0);
  });

  it('cache verify re-hashes every layer: one line per changed or missing layer, exit 1; exit 0 when all are intact', async () => {
    const clean = await verify();
    const driver = await keyOf('driver');
    const frameworks = await keyOf('frameworks');
    execFileSync('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x11 8k 4k', join(layerDir(driver), 'layer.qcow2')], { stdio: 'pipe' });
    await rename(join(layerDir(frameworks), 'layer.qcow2'), join(work.dir, 'moved-away.qcow2'));

    const dirty = await verify();
    const json = await verify('--json');

    expect(clean.exitCode, clean.stderr).toBe(0);
    expect(clean.stdout).toMatch(/: 5 of 5 layer\(s\) intact, .* re-hashed$/);
    expect(dirty.exitCode).toBe(1);
    expect(dirty.stderr).toBe('');
    const lines = dirty.stdout.split('\n').filter(Boolean);
    expect(lines).toHaveLength(3);
    expect(lines.slice(0, 2)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(new RegExp(`^  changed +driver +${driver.slice(0, 12)}  vault-cube-demo-box: .*layer\\.qcow2: SHA-256 [0-9a-f]{64}, but its gate passed [0-9a-f]{64}$`)),
        expect.stringMatching(new RegExp(`^  changed +frameworks +${frameworks.slice(0, 12)}  vault-cube-demo-box: .*layer\\.qcow2: cannot be read \\(no such file or directory \\(ENOENT\\)\\)$`)),
      ]),
    );
    expect(lines[2]).toMatch(/: 3 of 5 layer\(s\) intact, .* re-hashed; 2 not proven$/);
    expect((JSON.parse(json.stdout) as { ok: boolean }).ok).toBe(false);
    expect(json.exitCode).toBe(1);
  });

  it('a layer whose stat changed but whose bytes did not (touched, copied back) is re-hashed once, kept, and its new stat recorded', async () => {
    const base = await keyOf('base');
    const image = join(layerDir(base), 'layer.qcow2');
    await utimes(image, new Date('2026-01-01T00:00:00Z'), new Date('2026-01-01T00:00:00Z'));
    const record = join(work.dir, 'packer-runs.txt');

    const first = await runCli(build('1.0.1'), work.dir, { FAKE_PACKER_RECORD: record });
    const second = await runCli(build('1.0.2'), work.dir, { FAKE_PACKER_RECORD: record });

    expect(first.exitCode, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/Cached layers proven \(\d+ bytes re-hashed\)/);
    expect(second.stdout).toContain('Cached layers proven (unchanged since registered, nothing re-hashed)');
    expect(packerRuns(record), first.stdout + second.stdout).toEqual([]);
    expect((await readEntry(base)).imageStat?.mtimeNs).toBe(String((await stat(image, { bigint: true })).mtimeNs));
  });

  it('an entry an older imagebuild wrote (no digest): cache verify calls it unproven; the next build records the digest of its bytes as found, with a notice', async () => {
    const base = await keyOf('base');
    const entryFile = join(layerDir(base), 'entry.json');
    const { imageSha256: _digest, imageStat: _stat, ...old } = await readEntry(base);
    await writeFile(entryFile, JSON.stringify(old, null, 2));

    const before = await verify();
    const next = await runCli(build('1.0.1', '--json'), work.dir);
    const after = await verify();

    expect(before.exitCode).toBe(1);
    expect(before.stdout).toMatch(new RegExp(`^  unrecorded base +${base.slice(0, 12)}  vault-cube-demo-box: no digest recorded \\(an older imagebuild registered it\\)`, 'm'));
    expect(next.exitCode, next.stderr).toBe(0);
    expect((JSON.parse(next.stdout) as { notices: string[] }).notices).toContainEqual(expect.stringMatching(new RegExp(`^base: cached layer ${base.slice(0, 12)} had no recorded digest \\(an older imagebuild registered it\\); recorded SHA-256 [0-9a-f]{64} of its bytes as found$`)));
    expect((await readEntry(base)).imageSha256).toBe(await sha256Of(join(layerDir(base), 'layer.qcow2')));
    expect(after.exitCode, after.stdout).toBe(0);
  });

  it('a moved cache: the overlays imagebuild re-points are re-recorded (writable only while it rewrites them), so the cache still verifies', async () => {
    await rename(cache(), join(work.dir, 'moved-cache'));
    const env = { IMAGEBUILD_CACHE_DIR: 'moved-cache' };

    const next = await runCli(build('1.0.1', '--json'), work.dir, env);
    const verified = await runCli(['cache', 'verify', '--spec', 'box.yaml'], work.dir, env);

    expect(next.exitCode, next.stderr).toBe(0);
    expect((JSON.parse(next.stdout) as { notices: string[] }).notices.filter((n) => n.includes('re-pointed its overlay'))).toHaveLength(4);
    expect(verified.exitCode, verified.stdout).toBe(0);
    for (const { key } of (await registeredLayers(join(work.dir, 'moved-cache'))).layers) {
      expect(Number((await stat(join(work.dir, 'moved-cache', 'layers', key, 'layer.qcow2'))).mode) & 0o777).toBe(0o444);
    }
  });
});

// Built images in output/ are read-only, and a release never shares its image's inode with another
// (issue 17, rule 1): a new version with identical layers gets a clone of the earlier image (reflink
// where the filesystem can, else a copy), never a hard link, so a write through one cannot change the
// other; and an earlier image written since its build is not cloned under its old digest.
describe.skipIf(!hasBuildTools)('release images in output/', () => {
  let work: { dir: string; cleanup: () => Promise<void> };
  const artifact = (version: string) => join(work.dir, 'output', DEMO_NAME, `v${version}`, `${DEMO_NAME}-v${version}.qcow2`);
  const manifestOf = async (version: string) => JSON.parse(await readFile(join(work.dir, 'output', DEMO_NAME, `v${version}`, 'image-manifest.json'), 'utf8')) as { checksum_sha256: string; build_date: string; artifact_reused_from?: string };

  beforeEach(async () => {
    work = await makeTempDir('imagebuild-fault-release-files-');
    await writeFile(join(work.dir, 'box.yaml'), smallDemoSpec());
    const first = await runCli(build('1.0.0', '--json'), work.dir);
    expect(first.exitCode, first.stderr).toBe(0);
  });
  afterEach(async () => {
    await work.cleanup();
  });

  it('a new version with the same layers gets its own read-only copy of the image: a write into one release leaves the other as its manifest says', async () => {
    const next = await runCli(build('1.0.1', '--json'), work.dir);
    const [first, second] = await Promise.all([stat(artifact('1.0.0')), stat(artifact('1.0.1'))]);
    execFileSync('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0xa5 4k 64k', artifact('1.0.0')], { stdio: 'pipe' });

    expect(next.exitCode, next.stderr).toBe(0);
    expect((await manifestOf('1.0.1')).artifact_reused_from).toBe('1.0.0');
    expect(first.mode & 0o777).toBe(0o444);
    expect(second.mode & 0o777).toBe(0o444);
    expect(second.ino).not.toBe(first.ino);
    expect(second.nlink).toBe(1);
    expect(await sha256Of(artifact('1.0.1'))).toBe((await manifestOf('1.0.1')).checksum_sha256);
    expect(await sha256Of(artifact('1.0.0'))).not.toBe((await manifestOf('1.0.0')).checksum_sha256);
  });

  it('an earlier image written since its build (booted in place) is not copied under its old digest: the new version is sealed afresh', async () => {
    const built = Date.parse((await manifestOf('1.0.0')).build_date);
    await sleep(Math.max(0, built + 1500 - Date.now()));
    execFileSync('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0xa5 4k 64k', artifact('1.0.0')], { stdio: 'pipe' });
    const record = join(work.dir, 'packer-runs.txt');

    const next = await runCli(build('1.0.1', '--json'), work.dir, { FAKE_PACKER_RECORD: record });

    expect(next.exitCode, next.stderr).toBe(0);
    expect(packerRuns(record)).toEqual(['build seal']);
    expect((await manifestOf('1.0.1')).artifact_reused_from).toBeUndefined();
    expect(await sha256Of(artifact('1.0.1'))).toBe((await manifestOf('1.0.1')).checksum_sha256);
  });
});

// Layers pulled from a shared cache are registered layers like any other: read-only, and proven by
// the digest their pusher recorded (the pusher's stat means nothing here: the first reuse re-hashes
// and records this cache's, the next reads nothing).
describe.skipIf(!hasBuildTools)('layers pulled from a shared cache', () => {
  let work: { dir: string; cleanup: () => Promise<void> };
  const runner = (name: string) => ({ IMAGEBUILD_CACHE_DIR: join(work.dir, name, 'cache'), IMAGEBUILD_OUTPUT_DIR: join(work.dir, name, 'output'), IMAGEBUILD_BUILD_KEY_FILE: join(work.dir, 'shared_key') });

  beforeEach(async () => {
    work = await makeTempDir('imagebuild-fault-pulled-');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(work.dir, 'shared_key')]);
    await writeFile(join(work.dir, 'box.yaml'), smallDemoSpec([[['cache', 'store'], { kind: 'filesystem', dir: 'shared' }]]));
  });
  afterEach(async () => {
    await work.cleanup();
  });

  it('are read-only, proven once by re-hashing against the pusher’s digest, then by their stat alone', async () => {
    const pushed = await runCli(build('1.0.0', '--json'), work.dir, runner('a'));
    const pulled = await runCli(build('1.0.0'), work.dir, runner('b'));
    const again = await runCli(build('1.0.1'), work.dir, runner('b'));

    expect(pushed.exitCode, pushed.stderr).toBe(0);
    expect(pulled.exitCode, pulled.stderr).toBe(0);
    expect(pulled.stdout).toMatch(/Cached layers proven \(\d+ bytes re-hashed\)/);
    expect(again.stdout).toContain('Cached layers proven (unchanged since registered, nothing re-hashed)');
    const cacheB = join(work.dir, 'b', 'cache');
    const { layers } = await registeredLayers(cacheB);
    expect(layers).toHaveLength(5);
    for (const { key } of layers) {
      const image = join(cacheB, 'layers', key, 'layer.qcow2');
      const entry = CacheEntry.parse(JSON.parse(await readFile(join(cacheB, 'layers', key, 'entry.json'), 'utf8')));
      expect(Number((await stat(image)).mode) & 0o777).toBe(0o444);
      expect(entry.imageSha256).toBe(await sha256Of(image));
    }
  });
});
