import { existsSync } from 'node:fs';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/fault-harness.js';
import { FAKE_BUILD_TOOLS } from '../helpers/fake-tools.js';
import { requireTools } from '../helpers/require-tools.js';
import { DEMO_NAME, smallDemoSpec } from '../helpers/spec-builders.js';
import { makeTempDir } from '../helpers/temp-dir.js';

const hasBuildTools = requireTools('test/faults/spec-relative-dirs.test.ts', ...FAKE_BUILD_TOOLS);

// A location is what the spec says (issue 17, rule 7, local side): relative cache, output and
// filesystem-store directories are relative to the spec file, so running imagebuild from another
// working directory finds the same cache, releases and store — not a fresh, empty set beside the
// shell. $IMAGEBUILD_CACHE_DIR and $IMAGEBUILD_OUTPUT_DIR stay relative to the working directory.

describe.skipIf(!hasBuildTools)('relative directories in a spec', () => {
  let work: { dir: string; cleanup: () => Promise<void> };
  const project = () => join(work.dir, 'project');
  const specPath = () => join(project(), 'box.yaml');

  beforeAll(async () => {
    work = await makeTempDir('imagebuild-fault-spec-dirs-');
    for (const dir of ['project', 'a', 'b']) await mkdir(join(work.dir, dir));
    await writeFile(specPath(), smallDemoSpec([
      [['cache'], { dir: 'state/cache' }],
      [['output'], { dir: 'releases' }],
      [['artifacts'], { store: { kind: 'filesystem', dir: 'store' }, retention: 3 }],
    ]));
  });
  afterAll(async () => {
    await work.cleanup();
  });

  it('build from one directory, publish, list and cache ls from others: every path is beside the spec, nothing lands in the working directories', async () => {
    const built = await runCli(['build', 'v1.0.0', '--spec', '../project/box.yaml', '--host-profile', 'cpu', '--no-verify', '--json'], join(work.dir, 'a'));
    const published = await runCli(['publish', 'v1.0.0', '--spec', specPath()], join(work.dir, 'b'));
    const listed = await runCli(['list', '--spec', specPath(), '--json'], '/');
    const cacheLs = await runCli(['cache', 'ls', '--spec', 'project/box.yaml', '--host-profile', 'cpu', '--json'], work.dir);

    expect(built.exitCode, built.stderr).toBe(0);
    expect(published.exitCode, published.stderr).toBe(0);
    expect(listed.exitCode, listed.stderr).toBe(0);
    expect(listed.stdout).toContain('1.0.0');
    expect(existsSync(join(project(), 'releases', DEMO_NAME, 'v1.0.0', `${DEMO_NAME}-v1.0.0.qcow2`))).toBe(true);
    expect((await readdir(join(project(), 'state/cache/layers'))).filter((n) => !n.startsWith('.'))).toHaveLength(5);
    expect(existsSync(join(project(), 'store'))).toBe(true);
    expect(JSON.parse(cacheLs.stdout)).toMatchObject({ cacheDir: join(project(), 'state/cache') });
    expect((JSON.parse(cacheLs.stdout) as { layers: unknown[] }).layers).toHaveLength(5);
    expect(await readdir(join(work.dir, 'a'))).toEqual([]);
    expect(await readdir(join(work.dir, 'b'))).toEqual([]);
  });

  it('the same build again from a third directory is a no-op: it finds the release beside the spec', async () => {
    const again = await runCli(['build', 'v1.0.0', '--spec', specPath(), '--host-profile', 'cpu', '--no-verify', '--json'], join(work.dir, 'b'));

    expect(again.exitCode, again.stderr).toBe(0);
    expect((JSON.parse(again.stdout) as { status: string }).status).toBe('unchanged');
    expect(await readdir(join(work.dir, 'b'))).toEqual([]);
  });

  it('$IMAGEBUILD_CACHE_DIR and $IMAGEBUILD_OUTPUT_DIR are relative to the working directory', async () => {
    const listing = await runCli(['cache', 'ls', '--spec', specPath(), '--host-profile', 'cpu', '--json'], join(work.dir, 'a'), { IMAGEBUILD_CACHE_DIR: 'mine' });

    expect(listing.exitCode, listing.stderr).toBe(0);
    expect(JSON.parse(listing.stdout)).toMatchObject({ cacheDir: join(work.dir, 'a', 'mine'), layers: [] });
  });
});
