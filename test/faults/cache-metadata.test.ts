import { execFileSync } from 'node:child_process';
import { readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CacheEntry } from '../../src/core/plan/cache-entry.js';
import { LAYERS, registeredLayers, runCli } from '../helpers/fault-harness.js';
import { FAKE_BUILD_TOOLS } from '../helpers/fake-tools.js';
import { requireTools } from '../helpers/require-tools.js';
import { smallDemoSpec } from '../helpers/spec-builders.js';
import { listTree, makeTempDir } from '../helpers/temp-dir.js';

const hasBuildTools = requireTools('test/faults/cache-metadata.test.ts', ...FAKE_BUILD_TOOLS);

// Corrupted and missing cache metadata. The cache's promise (README: "unreadable or inconsistent
// entries are reported, never used") is checked through plan and cache ls; then what a build does
// with it. A cached layer is a qcow2 overlay on its parent's bytes, so a layer rebuilt under a key
// that cached layers sit on must take those layers with it — or they silently corrupt on the new
// bytes. The invariant checked after every build: no cached overlay is older than its parent.

const build = (version: string, spec = 'box.yaml', ...extra: string[]) => ['build', version, '--spec', spec, '--host-profile', 'cpu', '--no-verify', '--json', ...extra];
type Plan = { layers: { layer: string; key: string; action: string; reasons: string[] }[]; notices: string[] };

describe.skipIf(!hasBuildTools)('corrupted and missing cache metadata', () => {
  let work: { dir: string; cleanup: () => Promise<void> };
  const cache = () => join(work.dir, '.imagebuild/cache');
  const plan = async (spec = 'box.yaml') => {
    const result = await runCli(['plan', 'v9.0.0', '--spec', spec, '--host-profile', 'cpu', '--json'], work.dir);
    expect(result.exitCode, result.stderr).toBe(0);
    return { plan: JSON.parse(result.stdout) as Plan, stderr: result.stderr };
  };
  const entryPath = (key: string) => join(cache(), 'layers', key, 'entry.json');
  const readEntry = async (key: string) => CacheEntry.parse(JSON.parse(await readFile(entryPath(key), 'utf8')));

  /** Cached layers registered before the parent they sit on — overlays made on bytes that are gone. */
  async function staleOverlays(): Promise<string[]> {
    const { layers } = await registeredLayers(cache());
    const entries = await Promise.all(layers.map((l) => readEntry(l.key)));
    const byKey = new Map(entries.map((e) => [e.key, e]));
    const stale: string[] = [];
    for (const child of entries) {
      const parent = child.inputs.parentKey === null ? undefined : byKey.get(child.inputs.parentKey);
      if (!parent) continue;
      const backing = JSON.parse(execFileSync('qemu-img', ['info', '--output=json', join(cache(), 'layers', child.key, 'layer.qcow2')], { encoding: 'utf8' }))['backing-filename'];
      if (parent.createdAt > child.createdAt || backing !== join(cache(), 'layers', parent.key, 'layer.qcow2')) stale.push(`${child.layer} ${child.key.slice(0, 12)} on ${parent.layer} ${parent.key.slice(0, 12)}`);
    }
    return stale;
  }

  beforeAll(async () => {
    work = await makeTempDir('imagebuild-fault-cache-');
    await writeFile(join(work.dir, 'box.yaml'), smallDemoSpec());
    // A second spec sharing base, driver and runtime: its frameworks and validation sit on the same runtime.
    await writeFile(join(work.dir, 'other.yaml'), smallDemoSpec([[['layers', 'frameworks', 'gate', 'matmul_size'], 2048]]));
    for (const args of [build('1.0.0'), build('2.0.0', 'other.yaml')]) {
      const result = await runCli(args, work.dir);
      expect(result.exitCode, result.stderr).toBe(0);
    }
  });
  afterAll(async () => {
    await work.cleanup();
  });

  it('a truncated entry.json is reported once by plan and cache ls (exit 0, writes nothing) and never used: its layer and those above it are to be built', async () => {
    const { plan: before } = await plan();
    const base = before.layers[0]!.key;
    const text = await readFile(entryPath(base), 'utf8');
    await truncate(entryPath(base), Math.floor(text.length / 2));
    const tree = await listTree(work.dir);

    const { plan: after, stderr } = await plan();
    const listing = await runCli(['cache', 'ls', '--spec', 'box.yaml', '--host-profile', 'cpu', '--json'], work.dir);

    const problems = (JSON.parse(listing.stdout) as { problems: string[] }).problems;
    expect(stderr).toBe('');
    expect(after.notices).toEqual([expect.stringMatching(new RegExp(`${base}/entry\\.json: unreadable \\(.*\\); ignored$`))]);
    expect(listing.exitCode).toBe(0);
    expect(problems).toEqual(after.notices);
    expect(after.layers.map((l) => l.action)).toEqual(['build', 'build', 'build', 'build', 'build']);
    expect(after.layers.slice(1).map((l) => l.reasons[0])).toEqual(['parent base is rebuilt', 'parent driver is rebuilt', 'parent runtime is rebuilt', 'parent frameworks is rebuilt']);
    expect(await listTree(work.dir)).toEqual(tree);
  });

  it('a build over it rebuilds the chain and heals the cache: the broken entry is replaced, and the other spec’s layers on the old bytes are dropped', async () => {
    const result = await runCli(build('1.1.0'), work.dir);

    const report = JSON.parse(result.stdout) as { layers: { action: string }[] };
    const { plan: mine } = await plan();
    const { plan: other } = await plan('other.yaml');
    expect(result.exitCode, result.stderr).toBe(0);
    expect(report.layers.map((l) => l.action)).toEqual(['built', 'built', 'built', 'built', 'built']);
    expect(mine.notices).toEqual([]);
    expect(mine.layers.map((l) => l.action)).toEqual(['reuse', 'reuse', 'reuse', 'reuse', 'reuse']);
    expect(other.layers.map((l) => l.action)).toEqual(['reuse', 'reuse', 'reuse', 'build', 'build']);
    expect(await staleOverlays()).toEqual([]);
  });

  it('build --from-layer frameworks replaces the cached layers it rebuilds (not only runs Packer for them)', async () => {
    const { plan: before } = await plan();
    const [frameworks, validation] = [before.layers[3]!.key, before.layers[4]!.key];
    const old = await Promise.all([frameworks, validation].map(async (k) => ({ createdAt: (await readEntry(k)).createdAt, inode: (await stat(join(cache(), 'layers', k, 'layer.qcow2'))).ino })));

    const result = await runCli(build('1.2.0', 'box.yaml', '--from-layer', 'frameworks'), work.dir);

    const now = await Promise.all([frameworks, validation].map(async (k) => ({ createdAt: (await readEntry(k)).createdAt, inode: (await stat(join(cache(), 'layers', k, 'layer.qcow2'))).ino })));
    expect(result.exitCode, result.stderr).toBe(0);
    expect(now[0]!.createdAt > old[0]!.createdAt).toBe(true);
    expect(now[1]!.createdAt > old[1]!.createdAt).toBe(true);
    expect(now.map((n) => n.inode)).not.toEqual(old.map((o) => o.inode));
    expect(await staleOverlays()).toEqual([]);
  });

  it('layers whose parent entry is gone (a rollback killed half-way) are rebuilt with it, never reused on the rebuilt parent', async () => {
    await runCli(build('3.0.0', 'other.yaml'), work.dir);
    const { plan: before } = await plan();
    // `rollback --layer runtime` drops runtime first, then the layers above it: killed in between.
    await rm(join(cache(), 'layers', before.layers[2]!.key), { recursive: true });

    const { plan: after } = await plan();
    const result = await runCli(build('1.3.0'), work.dir);

    const { plan: other } = await plan('other.yaml');
    expect(after.layers.map((l) => l.action)).toEqual(['reuse', 'reuse', 'build', 'build', 'build']);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(other.layers.map((l) => l.action)).toEqual(['reuse', 'reuse', 'reuse', 'build', 'build']);
    expect(await staleOverlays()).toEqual([]);
    expect((await registeredLayers(cache())).layers.map((l) => l.layer).sort()).toEqual([...LAYERS].sort());
  });
});
