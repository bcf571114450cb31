import { cp, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { comparableManifest, killGroup, killSurvivors, LAYERS, registeredLayers, runCli, startCli, survivorsAfter } from '../helpers/fault-harness.js';
import { readManifestFile } from '../helpers/release-project.js';
import { sleep, waitForFile } from '../helpers/wait.js';
import { processesMentioning } from '../helpers/processes.js';
import { FAKE_BUILD_TOOLS, packerRuns } from '../helpers/fake-tools.js';
import { requireTools } from '../helpers/require-tools.js';
import { DEMO_NAME, smallDemoSpec } from '../helpers/spec-builders.js';
import { makeTempDir } from '../helpers/temp-dir.js';

const hasBuildTools = requireTools('test/faults/sigkill-build.test.ts', ...FAKE_BUILD_TOOLS);

// SIGKILL — which no handler can catch — at every layer's Packer run and in the finalisation (while the
// seal runs, and while the chain is flattened), each time followed by the same command: the re-run takes
// the dead build's lock over, resumes where it died (Packer runs only for what is not cached), and is
// itself killed at the next point. The last run finishes and must write the manifest an uninterrupted
// build writes. After every kill: no process of the build survives, and the cache holds only complete
// entries whose gate passed.

const BUILD = ['build', 'v1.0.0', '--spec', 'box.yaml', '--host-profile', 'cpu', '--no-verify'];

const UNITS = [...LAYERS, 'seal'];

/** The units the wrapper packer was started for (its started-<unit> markers), in build order. */
async function packerStarts(marks: string): Promise<string[]> {
  const units = (await readdir(marks)).filter((n) => n.startsWith('started-')).map((n) => n.slice('started-'.length));
  return units.sort((a, b) => UNITS.indexOf(a) - UNITS.indexOf(b)).map((u) => `build ${u}`);
}

/** Where each run is killed, what it must have asked Packer to build by then, and which layers are cached after it. */
const KILLS = [
  { at: 'base', packer: ['build base'], cached: [] },
  { at: 'driver', packer: ['build base', 'build driver'], cached: ['base'] },
  { at: 'runtime', packer: ['build driver', 'build runtime'], cached: ['base', 'driver'] },
  { at: 'frameworks', packer: ['build runtime', 'build frameworks'], cached: ['base', 'driver', 'runtime'] },
  { at: 'validation', packer: ['build frameworks', 'build validation'], cached: ['base', 'driver', 'runtime', 'frameworks'] },
  { at: 'seal', packer: ['build validation', 'build seal'], cached: [...LAYERS] },
  { at: 'flatten', packer: ['build seal'], cached: [...LAYERS] },
] as const;

describe.skipIf(!hasBuildTools)('SIGKILL at every layer and in the finalisation, then the same command', () => {
  let work: { dir: string; cleanup: () => Promise<void> };
  let project: string;
  let reference: string;
  const killedPids: number[] = [];
  const cacheDir = () => join(project, '.imagebuild/cache');
  const outputRoot = () => join(project, 'output', DEMO_NAME);

  beforeAll(async () => {
    work = await makeTempDir('imagebuild-fault-kill-');
    project = join(work.dir, 'project');
    reference = join(work.dir, 'reference');
    for (const dir of [project, reference]) {
      await mkdir(dir);
      await writeFile(join(dir, 'box.yaml'), smallDemoSpec());
    }
    // The uninterrupted build to compare with. Layer keys include the build key's fingerprint, so the
    // faulted project starts from the same key.
    const uninterrupted = await runCli([...BUILD, '--json'], reference);
    expect(uninterrupted.exitCode, uninterrupted.stderr).toBe(0);
    await cp(join(reference, '.imagebuild/cache/keys'), join(cacheDir(), 'keys'), { recursive: true });
  });
  afterAll(async () => {
    killSurvivors(work.dir);
    await work.cleanup();
  });

  it.each(KILLS.map((kill, index) => ({ ...kill, index })))(
    'killed in $at: nothing survives it, the cache holds only gated layers, and the run had resumed where the last one died',
    async ({ at, packer, cached, index }) => {
      const marks = join(work.dir, `marks-${index}`);
      await mkdir(marks);
      const child = startCli(BUILD, project, { FAULT_DIR: marks, FAULT_PAUSE_UNIT: at });
      let output = '';
      child.stdout?.on('data', (c: Buffer) => (output += c.toString()));
      child.stderr?.on('data', (c: Buffer) => (output += c.toString()));
      await waitForFile(join(marks, `paused-${at}`), 30_000, () => output);

      killGroup(child.pid);
      const killed = await child;

      const survivors = await survivorsAfter(work.dir, 10_000);
      const lock = JSON.parse(await readFile(join(cacheDir(), 'lock'), 'utf8')) as { pid: number };
      const cache = await registeredLayers(cacheDir());
      expect(killed.signal).toBe('SIGKILL');
      expect(survivors).toEqual([]);
      // The dead build's lock is still there, and it is this run's: this run took the previous one's over.
      expect(lock.pid).toBe(child.pid);
      expect(killedPids.includes(lock.pid)).toBe(false);
      expect(await packerStarts(marks)).toEqual(packer);
      expect(cache.layers.map((l) => l.layer).sort()).toEqual([...cached].sort());
      expect(cache.layers.every((l) => l.gate === 'passed')).toBe(true);
      expect(cache.hidden).toEqual([]);
      expect(existsSync(join(outputRoot(), 'v1.0.0'))).toBe(false);
      killedPids.push(child.pid!);
    },
  );

  it('the last run takes the lock over, builds only the seal, and writes the manifest an uninterrupted build writes', async () => {
    const record = join(work.dir, 'packer-runs-final.txt');
    // A kill between a layer's staging and its rename (a window the pauses above do not reach) leaves
    // a dot-named staging directory: planted here as such a kill leaves it.
    const planted = join(cacheDir(), 'layers', `.staging-0123456789abcdef-${killedPids.at(-1)}`);
    await mkdir(planted, { recursive: true });
    await writeFile(join(planted, 'layer.qcow2'), 'half a layer');

    const result = await runCli([...BUILD, '--json'], project, { FAKE_PACKER_RECORD: record });

    const report = JSON.parse(result.stdout) as { status: string; notices: string[]; layers: { action: string }[]; manifestPath: string };
    const resumed = await readManifestFile(report.manifestPath);
    const uninterrupted = await readManifestFile(join(reference, 'output', DEMO_NAME, 'v1.0.0', 'image-manifest.json'));
    expect(result.exitCode, result.stderr).toBe(0);
    expect(report.status).toBe('built');
    expect(report.notices).toContain(`took over a stale lock of pid ${killedPids.at(-1)} (imagebuild build v1.0.0 (${DEMO_NAME}))`);
    expect(report.notices).toContain(`removed what an interrupted run left in the cache: layers/.staging-0123456789abcdef-${killedPids.at(-1)}`);
    expect((await readdir(join(cacheDir(), 'layers'))).filter((n) => n.startsWith('.'))).toEqual([]);
    expect(packerRuns(record)).toEqual(['build seal']);
    expect(report.layers.map((l) => l.action)).toEqual(['reused', 'reused', 'reused', 'reused', 'reused']);
    expect(comparableManifest(resumed)).toEqual(comparableManifest(uninterrupted));
    expect(resumed.checksum_sha256).toBe(uninterrupted.checksum_sha256);
    expect(existsSync(join(cacheDir(), 'lock'))).toBe(false);
    // The flatten that was killed left a staging directory; the finalisation that succeeded removed it.
    expect((await readdir(outputRoot())).filter((n) => n.includes('.partial-'))).toEqual([]);
    expect((await registeredLayers(cacheDir())).layers.map((l) => l.gate)).toEqual(['passed', 'passed', 'passed', 'passed', 'passed']);
    expect(await survivorsAfter(work.dir, 5_000)).toEqual([]);
  });
});

describe.skipIf(!hasBuildTools)('SIGKILL of the imagebuild process alone (as the OOM killer does) while Packer runs', () => {
  it('leaves no Packer or VM process behind: they are stopped although imagebuild could not stop them', async () => {
    const work = await makeTempDir('imagebuild-fault-oom-');
    try {
      await writeFile(join(work.dir, 'box.yaml'), smallDemoSpec());
      const marks = join(work.dir, 'marks');
      await mkdir(marks);
      const child = startCli(BUILD, work.dir, { FAULT_DIR: marks, FAULT_PAUSE_UNIT: 'runtime' });
      await waitForFile(join(marks, 'paused-runtime'), 30_000);
      const packerPid = Number(await readFile(join(marks, 'paused-runtime'), 'utf8'));
      // The build's own apt cache runs beside Packer: its watchdog, not imagebuild, must stop it too.
      const aptCaches = processesMentioning(join(work.dir, '.imagebuild/cache/apt-cache'), 'cmdline').filter((p) => p.cmdline.startsWith('/usr/sbin/apt-cacher-ng '));

      process.kill(child.pid!, 'SIGKILL');
      const killed = await child;

      const survivors = await survivorsAfter(work.dir, 10_000);
      expect(killed.signal).toBe('SIGKILL');
      expect(packerPid).toBeGreaterThan(0);
      expect(aptCaches).toHaveLength(1);
      expect(survivors).toEqual([]);
    } finally {
      killSurvivors(work.dir);
      await work.cleanup();
    }
  });

  it('leaves no verification VM behind either (a real QEMU booting the finished artifact)', async () => {
    const work = await makeTempDir('imagebuild-fault-oom-verify-');
    try {
      await writeFile(join(work.dir, 'box.yaml'), smallDemoSpec([[['hardware', 'build_vm', 'memory_mib'], 2048]]));
      // Without --no-verify: after the flatten, QEMU boots the artifact (the fake one holds no OS, so it
      // never answers SSH) and imagebuild waits for it.
      const child = startCli(BUILD.filter((a) => a !== '--no-verify'), work.dir);
      const deadline = Date.now() + 30_000;
      while (!processesMentioning(work.dir, 'cmdline').some((p) => p.cmdline.startsWith('qemu-system-x86_64 '))) {
        if (Date.now() > deadline) throw new Error('the verification VM did not start within 30 s');
        await sleep(50);
      }

      process.kill(child.pid!, 'SIGKILL');
      const killed = await child;

      // The watchdog sees EOF as the kernel closes imagebuild's pipe and SIGKILLs QEMU at once (no grace for a
      // throwaway VM), so only scheduling delay remains: 10 s is that delay on a loaded 2-core machine, not a wait.
      const survivors = await survivorsAfter(work.dir, 10_000);
      expect(killed.signal).toBe('SIGKILL');
      expect(survivors).toEqual([]);
    } finally {
      killSurvivors(work.dir);
      await work.cleanup();
    }
  });
});
