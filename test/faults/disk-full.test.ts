import { existsSync, statfsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { freeTmpfs, killSurvivors, makePublishedRelease, mountTmpfs, registeredLayers, runCli, startCli, survivorsAfter, tmpfsUnavailable } from '../helpers/fault-harness.js';
import { sha256Of } from '../helpers/release-project.js';
import { FAKE_BUILD_TOOLS, packerRuns } from '../helpers/fake-tools.js';
import { requireTools } from '../helpers/require-tools.js';
import { DEMO_NAME, smallDemoSpec } from '../helpers/spec-builders.js';
import { listTree, makeTempDir } from '../helpers/temp-dir.js';
import { waitFor } from '../helpers/wait.js';

const hasBuildTools = requireTools('test/faults/disk-full.test.ts', ...FAKE_BUILD_TOOLS);

// A disk that fills up: real size-limited filesystems (tmpfs) mounted over the cache, the output or a
// download's destination. Preflight wants gigabytes free in the cache, so a build's tmpfs starts big
// and the wrapper packer shrinks it to what it holds (mount -o remount,size=…) at the chosen moment —
// a full disk without filling gigabytes of memory: before the fake packer writes the layer (Packer's
// writes and its log fail), or after it succeeded (imagebuild's own writes fail: the gate verdict, the
// cache entry, the flatten into output/). Every case wants: one clear line (exit 1, no stack
// trace), nothing registered half-way, no temporary files left, and the same command completing once
// space is free again.

const BUILD = ['build', 'v1.0.0', '--spec', 'box.yaml', '--host-profile', 'cpu', '--no-verify', '--json'];

/** The lines of stderr, and whether any is a stack frame. */
function errorLines(stderr: string): { lines: string[]; stack: boolean } {
  const lines = stderr.split('\n').filter(Boolean);
  return { lines, stack: lines.some((l) => l.startsWith('    at ')) };
}

/** Shrinks a tmpfs to what it holds now (plus a page): the next writes find it full. Retried while a writer grows it past the size asked for. */
function shrinkTmpfsToUsage(dir: string): void {
  for (let attempt = 0; ; attempt++) {
    const fs = statfsSync(dir);
    const used = (fs.blocks - fs.bfree) * fs.bsize;
    try {
      execFileSync('mount', ['-o', `remount,size=${used + 4096}`, dir], { stdio: 'pipe' });
      return;
    } catch (error) {
      if (attempt > 50) throw error;
    }
  }
}

/** Paths under `dir` that look like temporary or staging files a failed write left behind. */
async function leftovers(dir: string): Promise<string[]> {
  return (await listTree(dir)).filter((p) => /(^|\/)\.[^/]*\.tmp-|\.tmp$|(^|\/)\.staging-|\.partial-|(^|\/)\.keys-/.test(p));
}

let work: { dir: string; cleanup: () => Promise<void> };
const unmounts: (() => void)[] = [];
beforeEach(async () => {
  work = await makeTempDir('imagebuild-fault-disk-');
});
afterEach(async () => {
  killSurvivors(work.dir);
  for (const unmount of unmounts.splice(0).reverse()) unmount();
  await work.cleanup();
});

describe.skipIf(tmpfsUnavailable !== undefined || !hasBuildTools)(`disk full during a build (${tmpfsUnavailable ?? 'size-limited tmpfs mounts'})`, () => {
  it('while a layer builds: one line naming the full disk, layers below intact, nothing of the layer registered, no temp files; resumes once space is free', async () => {
    const cache = join(work.dir, '.imagebuild/cache');
    unmounts.push(await mountTmpfs(cache, '6g'));
    await writeFile(join(work.dir, 'box.yaml'), smallDemoSpec());
    const record = join(work.dir, 'packer-runs.txt');

    const full = await runCli(BUILD, work.dir, { FAULT_FULL_MOUNT: cache, FAULT_FULL_UNIT: 'runtime', FAKE_PACKER_RECORD: record });

    const { lines, stack } = errorLines(full.stderr);
    const cached = await registeredLayers(cache);
    const builds = await readdir(join(cache, 'builds'));
    expect(full.exitCode).toBe(1);
    expect(stack).toBe(false);
    expect(lines).toEqual([expect.stringMatching(/^error: packer build runtime\.pkr\.hcl: cannot write its log .*runtime\.log: no space left on device \(ENOSPC\); packer exited with 1$/)]);
    expect(cached.layers.map((l) => [l.layer, l.gate])).toEqual(expect.arrayContaining([['base', 'passed'], ['driver', 'passed']]));
    expect(cached.layers).toHaveLength(2);
    expect(cached.hidden).toEqual([]);
    // The layer's output directory went to failed/ (what fitted of it), not left in the build's work/.
    expect(await readdir(join(cache, 'builds', builds[0]!, 'work'))).toEqual([]);
    expect(await leftovers(cache)).toEqual([]);
    expect(existsSync(join(cache, 'lock'))).toBe(false);
    expect(existsSync(join(work.dir, 'output'))).toBe(false);
    expect(await survivorsAfter(work.dir, 5_000)).toEqual([]);

    await freeTmpfs(cache, '6g');
    await rm(record, { force: true });
    const resumed = await runCli(BUILD, work.dir, { FAKE_PACKER_RECORD: record });

    expect(resumed.exitCode, resumed.stderr).toBe(0);
    expect(packerRuns(record)).toEqual(['build runtime', 'build frameworks', 'build validation', 'build seal']);
  });

  it('after a layer was built, while its gate verdict and cache entry are written: one line, exit 1, nothing registered, no work directory left; resumes', async () => {
    const cache = join(work.dir, '.imagebuild/cache');
    unmounts.push(await mountTmpfs(cache, '6g'));
    await writeFile(join(work.dir, 'box.yaml'), smallDemoSpec());
    const record = join(work.dir, 'packer-runs.txt');

    const full = await runCli(BUILD, work.dir, { FAULT_FULL_MOUNT: cache, FAULT_FULL_UNIT: 'runtime', FAULT_FULL_WHEN: 'after' });

    const lines = full.stderr.split('\n').filter(Boolean);
    const cached = await registeredLayers(cache);
    const [build] = await readdir(join(cache, 'builds'));
    expect(lines.some((l) => l.startsWith('    at ') || l.startsWith('internal error'))).toBe(false);
    expect(full.exitCode).toBe(1);
    expect(lines).toEqual([expect.stringMatching(/^error: .*no space left on device \(ENOSPC\)/)]);
    expect(cached.layers.map((l) => l.layer).sort()).toEqual(['base', 'driver']);
    expect(cached.hidden).toEqual([]);
    expect(await readdir(join(cache, 'builds', build!, 'work'))).toEqual([]);
    expect(existsSync(join(cache, 'lock'))).toBe(false);

    await freeTmpfs(cache, '6g');
    const resumed = await runCli(BUILD, work.dir, { FAKE_PACKER_RECORD: record });

    expect(resumed.exitCode, resumed.stderr).toBe(0);
    expect(packerRuns(record)).toEqual(['build runtime', 'build frameworks', 'build validation', 'build seal']);
  });

  it('while the chain is flattened into a full output filesystem: one line, exit 1, no staging release directory nor sealed overlay left; resumes', async () => {
    const output = join(work.dir, 'output');
    unmounts.push(await mountTmpfs(output, '6g'));
    await writeFile(join(work.dir, 'box.yaml'), smallDemoSpec());
    const cache = join(work.dir, '.imagebuild/cache');
    const record = join(work.dir, 'packer-runs.txt');

    const full = await runCli(BUILD, work.dir, { FAULT_FULL_MOUNT: output, FAULT_FULL_UNIT: 'seal', FAULT_FULL_WHEN: 'after' });

    const lines = full.stderr.split('\n').filter(Boolean);
    const [build] = await readdir(join(cache, 'builds'));
    expect(full.exitCode).toBe(1);
    expect(lines).toEqual([expect.stringMatching(/^error: .*No space left on device/i)]);
    expect((await registeredLayers(cache)).layers).toHaveLength(5);
    // The staging directory of the release that could not be written, and the sealed overlay it came from.
    expect((await listTree(output)).filter((p) => p.includes('.partial-'))).toEqual([]);
    expect(await readdir(join(cache, 'builds', build!, 'work'))).toEqual([]);

    await freeTmpfs(output, '6g');
    const resumed = await runCli(BUILD, work.dir, { FAKE_PACKER_RECORD: record });

    expect(resumed.exitCode, resumed.stderr).toBe(0);
    expect(packerRuns(record)).toEqual(['build seal']);
    expect(existsSync(join(output, DEMO_NAME, 'v1.0.0', 'image-manifest.json'))).toBe(true);
  });

  it('is refused by preflight, in one line, when the cache filesystem is too small to start', async () => {
    const cache = join(work.dir, '.imagebuild/cache');
    unmounts.push(await mountTmpfs(cache, '512m'));
    await writeFile(join(work.dir, 'box.yaml'), smallDemoSpec());
    const record = join(work.dir, 'packer-runs.txt');

    const refused = await runCli(BUILD, work.dir, { FAKE_PACKER_RECORD: record });

    const { lines, stack } = errorLines(refused.stderr);
    expect(refused.exitCode).toBe(1);
    expect(stack).toBe(false);
    expect(lines).toEqual([`error: preflight: disk: ${cache} has 0.5 GiB free; the build needs about 5.0 GiB for cache (5 layer(s) to build)`]);
    expect(packerRuns(record)).toEqual([]);
    expect((await registeredLayers(cache)).layers).toEqual([]);
  });
});

describe.skipIf(tmpfsUnavailable !== undefined)(`disk full during a download (${tmpfsUnavailable ?? 'size-limited tmpfs mounts'})`, () => {
  const MIB = 1024 * 1024;
  const PAGE = 4096;
  const DOWNLOAD = ['download', 'v1.0.0', '--spec', 'box.yaml', '--dest', 'dl'];

  async function published(bytes: number) {
    const manifest = await makePublishedRelease(work.dir, bytes);
    const publish = await runCli(['publish', 'v1.0.0', '--spec', 'box.yaml'], work.dir);
    expect(publish.exitCode, publish.stderr).toBe(0);
    return manifest;
  }

  it('is refused up front, in one line, when the destination cannot hold the image: nothing written', async () => {
    await published(4 * MIB);
    const dest = join(work.dir, 'dl');
    unmounts.push(await mountTmpfs(dest, MIB));

    const refused = await runCli(DOWNLOAD, work.dir);

    const { lines, stack } = errorLines(refused.stderr);
    expect(refused.exitCode).toBe(1);
    expect(stack).toBe(false);
    // Free space is measured with the download's lock file (one page) already there.
    expect(lines).toEqual([`error: ${dest}: 1020.0 KiB free, but v1.0.0 needs 4.0 MiB; free space there (or choose another --dest), then run the same command again`]);
    expect(await readdir(dest)).toEqual([]);
  });

  it('while the image streams in (the disk fills meanwhile): one line, nothing under the final name, the .part kept as an exact prefix; resumes once space is free', async () => {
    const manifest = await published(4 * MIB);
    const dest = join(work.dir, 'dl');
    unmounts.push(await mountTmpfs(dest, 8 * MIB));
    const partPath = join(dest, `${manifest.artifact}.part`);

    // Slowed down so the disk can fill under it: once bytes arrive, the filesystem is shrunk to what it holds.
    const download = startCli([...DOWNLOAD, '--limit-rate', '512K'], work.dir);
    await waitFor(async () => ((await stat(partPath).catch(() => undefined))?.size ?? 0) > 0, 20_000);
    shrinkTmpfsToUsage(dest);
    const full = await download;

    const { lines, stack } = errorLines(String(full.stderr));
    const errors = lines.filter((l) => !/^(download|hash) /.test(l));
    const part = await readFile(partPath);
    const image = await readFile(join(work.dir, 'output', DEMO_NAME, 'v1.0.0', manifest.artifact));
    expect(full.exitCode).toBe(1);
    expect(stack).toBe(false);
    expect(errors).toEqual([
      expect.stringMatching(new RegExp(`^error: download of v1\\.0\\.0 stopped at \\d+ of 4194304 bytes \\(${dest} is full \\(ENOSPC\\)\\); free at least [\\d.]+ [KM]iB there, then run the same command again to resume`)),
    ]);
    expect((await readdir(dest)).sort()).toEqual([`${manifest.artifact}.part`, `${manifest.artifact}.part.json`]);
    expect(part.length).toBeGreaterThan(0);
    expect(part.length).toBeLessThan(image.length);
    expect(part.equals(image.subarray(0, part.length))).toBe(true);

    await freeTmpfs(dest, 8 * MIB);
    const resumed = await runCli(DOWNLOAD, work.dir);

    expect(resumed.exitCode, resumed.stderr).toBe(0);
    expect(resumed.stdout).toMatch(/resumed at /);
    expect(await sha256Of(join(dest, manifest.artifact))).toBe(manifest.checksum_sha256);
    expect((await readdir(dest)).sort()).toEqual(['SHA256SUMS', 'SHA256SUMS.sig', manifest.artifact, 'download.json', 'image-manifest.json'].sort());
  });

  it('when the image fits but its manifest does not: one line, no temp file, nothing under the final name; the next run completes with manifest and SHA256SUMS', async () => {
    const manifest = await published(MIB);
    const dest = join(work.dir, 'dl');
    // Room for the image, the .part record and the download's lock file beside it, not a page more.
    unmounts.push(await mountTmpfs(dest, MIB + 2 * PAGE));

    const full = await runCli(DOWNLOAD, work.dir);

    const { lines, stack } = errorLines(full.stderr);
    const errors = lines.filter((l) => !/^(download|hash) /.test(l));
    expect(full.exitCode).toBe(1);
    expect(stack).toBe(false);
    expect(errors).toEqual([`error: ${join(dest, 'image-manifest.json')}: cannot write it: no space left on device (ENOSPC)`]);
    expect((await readdir(dest)).sort()).toEqual([`${manifest.artifact}.part`, `${manifest.artifact}.part.json`]);

    await freeTmpfs(dest, 8 * MIB);
    const again = await runCli(DOWNLOAD, work.dir);

    expect(again.exitCode, again.stderr).toBe(0);
    expect(await sha256Of(join(dest, manifest.artifact))).toBe(manifest.checksum_sha256);
    expect((await readdir(dest)).sort()).toEqual(['SHA256SUMS', 'SHA256SUMS.sig', manifest.artifact, 'download.json', 'image-manifest.json'].sort());
    expect(await readFile(join(dest, 'SHA256SUMS'), 'utf8')).toMatch(new RegExp(`^${manifest.checksum_sha256}  ${manifest.artifact}\n[0-9a-f]{64}  image-manifest\\.json\n$`));
  });
});
