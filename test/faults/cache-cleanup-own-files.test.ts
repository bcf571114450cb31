import { existsSync } from 'node:fs';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/fault-harness.js';
import { FAKE_BUILD_TOOLS } from '../helpers/fake-tools.js';
import { requireTools } from '../helpers/require-tools.js';
import { DEMO_NAME, smallDemoSpec } from '../helpers/spec-builders.js';
import { makeTempDir } from '../helpers/temp-dir.js';

const hasBuildTools = requireTools('test/faults/cache-cleanup-own-files.test.ts', ...FAKE_BUILD_TOOLS);

// imagebuild deletes only what it wrote (issue 17, rule 6): cache prune, rollback and a build's
// clean-up of killed runs' leftovers remove entries by the names imagebuild gives them (a key, a
// stamped build or failed-layer name, `v<version>.partial-<pid>`), never a file a user put beside them.

const SPEC = ['--spec', 'box.yaml', '--host-profile', 'cpu'];

describe.skipIf(!hasBuildTools)('clean-up touches only imagebuild’s own files', () => {
  let work: { dir: string; cleanup: () => Promise<void> };
  const cache = () => join(work.dir, '.imagebuild/cache');
  const output = () => join(work.dir, 'output', DEMO_NAME);

  beforeAll(async () => {
    work = await makeTempDir('imagebuild-fault-cleanup-');
    await writeFile(join(work.dir, 'box.yaml'), smallDemoSpec());
  });
  afterAll(async () => {
    await work.cleanup();
  });

  it('a build clears a killed run’s staging directory of its version, and keeps a user’s file with a similar name', async () => {
    await mkdir(join(output(), 'v1.0.0.partial-99999'), { recursive: true });
    await writeFile(join(output(), 'v1.0.0.partial-notes'), 'mine');

    const built = await runCli(['build', 'v1.0.0', ...SPEC, '--no-verify', '--json'], work.dir);

    expect(built.exitCode, built.stderr).toBe(0);
    expect((await readdir(output())).sort()).toEqual(['v1.0.0', 'v1.0.0.partial-notes']);
  });

  it('cache prune --yes and rollback remove their own entries and keep files a user put in the cache', async () => {
    const mine = ['builds/notes.txt', 'builds/20261205-v1-mine', 'failed/README.md', 'failed/20261203T000000-base-my-copy', 'bootstrap/my-image.qcow2'];
    for (const path of mine) {
      await mkdir(join(cache(), path, '..'), { recursive: true });
      await writeFile(join(cache(), path), 'mine');
    }
    const ownBuilds = (await readdir(join(cache(), 'builds'))).filter((n) => !mine.includes(`builds/${n}`));

    const pruned = await runCli(['cache', 'prune', ...SPEC, '--yes', '--json'], work.dir);
    const rolledBack = await runCli(['rollback', '--layer', 'base', ...SPEC], work.dir);

    expect(pruned.exitCode, pruned.stderr).toBe(0);
    expect(rolledBack.exitCode, rolledBack.stderr).toBe(0);
    const removed = (JSON.parse(pruned.stdout) as { removed: { path: string }[] }).removed.map((r) => r.path);
    expect(ownBuilds.length).toBeGreaterThan(0);
    expect(removed).toEqual(expect.arrayContaining(ownBuilds.map((n) => join(cache(), 'builds', n))));
    expect(removed.filter((p) => mine.some((m) => p.endsWith(m)))).toEqual([]);
    expect(mine.filter((path) => !existsSync(join(cache(), path)))).toEqual([]);
  });
});
