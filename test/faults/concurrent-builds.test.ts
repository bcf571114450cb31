import { hostname } from 'node:os';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliResult, killSurvivors, runCli, startCli } from '../helpers/fault-harness.js';
import { waitForFile } from '../helpers/wait.js';
import { FAKE_BUILD_TOOLS } from '../helpers/fake-tools.js';
import { requireTools } from '../helpers/require-tools.js';
import { DEMO_NAME, smallDemoSpec } from '../helpers/spec-builders.js';
import { listTree, makeTempDir } from '../helpers/temp-dir.js';

const hasBuildTools = requireTools('test/faults/concurrent-builds.test.ts', ...FAKE_BUILD_TOOLS);

// Two builds started at the same instant against one cache: exactly one gets the lock and builds; the
// other is refused at once with one line naming the holder (pid, host, command), having written nothing.
// The winner is held in its base layer's Packer run (the wrapper packer waits for a go file) so the
// loser meets a live lock, not a finished build.

const build = (version: string, spec = 'box.yaml') => ['build', version, '--spec', spec, '--host-profile', 'cpu', '--no-verify'];

/** Runs `run` while a paused build waits, then lets that build go on, whatever `run` did. */
async function thenRelease<T>(marks: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } finally {
    await writeFile(join(marks, 'go'), '');
  }
}

describe.skipIf(!hasBuildTools)('two builds started at once against one cache', () => {
  let work: { dir: string; cleanup: () => Promise<void> };
  const cacheLock = () => join(work.dir, '.imagebuild/cache/lock');
  // The work directory as a refused build could change it. The holder's apt-cacher-ng (a live process of the build
  // holding the lock) creates its logs and its statistics store (pool/_xstore: qstats/i, qstats/o, rsnap) on its own
  // schedule after it answers: a loaded machine once saw one entry appear between two listings (CI, beside the real
  // build). They are the holder's proxy's, never a refused build's, which stops at the lock.
  const holderLogs = /^\.imagebuild\/cache\/apt-cache\/(logs|pool\/_xstore)(\/|$)/;
  const settledTree = async () => (await listTree(work.dir)).filter((path) => !holderLogs.test(path));

  beforeAll(async () => {
    work = await makeTempDir('imagebuild-fault-race-');
    await writeFile(join(work.dir, 'box.yaml'), smallDemoSpec());
  });
  afterAll(async () => {
    killSurvivors(work.dir);
    await work.cleanup();
  });

  it.each([
    { round: 1, versions: ['1.0.0', '1.0.0'], spec: 'box.yaml', layer: 'base', what: 'the same version, on a fresh cache' },
    { round: 2, versions: ['1.1.0', '1.2.0'], spec: 'soak.yaml', layer: 'validation', what: 'two versions, on a warm cache' },
  ])('$what: one builds, the other is refused naming who holds the lock, and writes nothing', async ({ round, versions, spec, layer }) => {
    await writeFile(join(work.dir, 'soak.yaml'), smallDemoSpec([[['layers', 'validation', 'gate', 'soak_duration'], '1h']]));
    const marks = [join(work.dir, `marks-${round}-a`), join(work.dir, `marks-${round}-b`)];
    for (const dir of marks) await mkdir(dir);
    const before = await listTree(work.dir);

    const children = versions.map((v, i) => startCli(build(v, spec), work.dir, { FAULT_DIR: marks[i]!, FAULT_PAUSE_UNIT: layer }));
    // The loser ends on its own; the winner waits in its first layer to build until released.
    const first = await Promise.race(children.map((child, i) => child.then((result) => ({ result, i }))));
    const loser = first.i;
    const winner = 1 - loser;
    try {
      await waitForFile(join(marks[winner]!, `paused-${layer}`), 30_000);
      const holder = JSON.parse(await readFile(cacheLock(), 'utf8')) as { pid: number; hostname: string; command: string; startedAt: string };
      const whileHeld = await settledTree();
      // A third build meets the same live lock; that nothing at all changes proves a refused build writes nothing.
      const third = await runCli(build('9.9.9', spec), work.dir);
      const afterThird = await settledTree();

      const refused: CliResult = { exitCode: first.result.exitCode, stdout: String(first.result.stdout), stderr: String(first.result.stderr) };
      const refusal = (version: string) => [
        `error: ${cacheLock()}: held by pid ${holder.pid} on ${hostname()} (imagebuild build v${version} (${DEMO_NAME})) since ${holder.startedAt}; wait for it to finish, or remove the file if that process is gone`,
      ];
      expect(holder.pid).toBe(children[winner]!.pid);
      expect(refused.exitCode).toBe(1);
      expect(refused.stderr.split('\n').filter(Boolean)).toEqual(refusal(versions[winner]!));
      expect(refused.stdout).toBe('');
      expect(whileHeld.filter((p) => p.includes(String(children[loser]!.pid)) || (p.startsWith('output') && !before.includes(p)))).toEqual([]);
      expect(third.exitCode).toBe(1);
      expect(third.stderr.split('\n').filter(Boolean)).toEqual(refusal(versions[winner]!));
      expect({ added: afterThird.filter((p) => !whileHeld.includes(p)), removed: whileHeld.filter((p) => !afterThird.includes(p)) }).toEqual({ added: [], removed: [] });
    } finally {
      await writeFile(join(marks[winner]!, 'go'), '');
      // Ended before the next round starts, whatever failed above: a winner still holding the lock would refuse both of its builds.
      await children[winner];
    }
    const finished = await children[winner]!;
    const again = await runCli(build(versions[loser]!, spec), work.dir);

    expect(finished.exitCode, String(finished.stderr)).toBe(0);
    expect(again.exitCode, again.stderr).toBe(0);
  });

  it('refuses rollback --layer and cache prune --yes while a build holds the lock, naming it', async () => {
    const marks = join(work.dir, 'marks-admin');
    await mkdir(marks);
    await writeFile(join(work.dir, 'changed.yaml'), smallDemoSpec([[['layers', 'runtime', 'docker_default_shm_size'], '16G']]));
    const holder = startCli(['build', 'v2.0.0', '--spec', 'changed.yaml', '--host-profile', 'cpu', '--no-verify'], work.dir, { FAULT_DIR: marks, FAULT_PAUSE_UNIT: 'runtime' });
    await waitForFile(join(marks, 'paused-runtime'), 30_000);
    const { rollback, prune, before, after } = await thenRelease(marks, async () => {
      const before = await listTree(work.dir);
      const rollback = await runCli(['rollback', '--layer', 'driver', '--spec', 'box.yaml', '--host-profile', 'cpu'], work.dir);
      const prune = await runCli(['cache', 'prune', '--yes', '--spec', 'box.yaml', '--host-profile', 'cpu'], work.dir);
      return { rollback, prune, before, after: await listTree(work.dir) };
    });

    const built = await holder;
    for (const refused of [rollback, prune]) {
      expect(refused.exitCode).toBe(1);
      expect(refused.stderr.split('\n').filter(Boolean)).toEqual([expect.stringContaining(`held by pid ${holder.pid} on ${hostname()} (imagebuild build v2.0.0 (${DEMO_NAME}))`)]);
    }
    expect(after).toEqual(before);
    expect(built.exitCode, String(built.stderr)).toBe(0);
  });
});
