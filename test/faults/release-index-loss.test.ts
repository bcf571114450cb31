import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { publishRelease } from '../../src/app/release-publish.js';
import { readReleaseIndex } from '../../src/app/release-store.js';
import { openStore } from '../../src/adapters/store/open-store.js';
import type { ArtifactStore } from '../../src/adapters/store/types.js';
import type { ReleaseIndex } from '../../src/core/release/release-index.js';
import type { StoreSpec } from '../../src/core/spec/schema.js';
import { writeLocalRelease, writeReleaseProject } from '../helpers/local-release.js';
import { startReleaseCli } from '../helpers/release-project.js';
import { useS3Server } from '../helpers/use-s3-server.js';
import { DEMO_NAME } from '../helpers/spec-builders.js';
import { useTempDir } from '../helpers/temp-dir.js';

// Rule: retention never deletes what it cannot prove is garbage. A store whose releases.json is
// missing or unreadable is not an empty store: prune, publish, list and rollback refuse (exit 1, one
// line naming `imagebuild reindex`), and reindex rebuilds the index from the manifests in the store.

const s3 = useS3Server();

const INDEX = `${DEMO_NAME}/releases.json`;

describe.each(['s3', 'filesystem'] as const)('a lost release index (%s store)', (kind) => {
  const temp = useTempDir(`imagebuild-release-index-loss-${kind}-`);
  let prefixCount = 0;
  const cli = (...args: string[]) => startReleaseCli([...args, '--spec', 'box.yaml'], temp.dir, s3.credentialsEnv);

  /** A store with v1.0.0 and v1.0.1 (current) published, and the index they were listed in. */
  async function published(): Promise<{ store: ArtifactStore; outputRoot: string; index: ReleaseIndex }> {
    const storeSpec: StoreSpec = kind === 's3' ? s3.storeSpec(`loss-${++prefixCount}`) : { kind: 'filesystem', dir: 'store' };
    if (kind === 'filesystem') await mkdir(join(temp.dir, 'store'), { recursive: true });
    const { outputRoot } = await writeReleaseProject(temp.dir, storeSpec);
    const store = await openStore(storeSpec, { cwd: temp.dir });
    for (const version of ['1.0.0', '1.0.1']) {
      await writeLocalRelease(outputRoot, version);
      await publishRelease({ specArg: 'box.yaml', cwd: temp.dir, version, store });
    }
    return { store, outputRoot, index: (await readReleaseIndex(store, DEMO_NAME)).index };
  }

  /** Replaces releases.json with raw bytes (not JSON, or JSON that is no index). */
  async function storeIndexBytes(store: ArtifactStore, text: string): Promise<void> {
    const file = join(temp.dir, 'broken-index.json');
    await writeFile(file, text);
    await store.putFile(INDEX, file);
  }

  it('missing: prune --yes, publish, list and rollback refuse with one line and change nothing; reindex rebuilds what was listed', async () => {
    const { store, outputRoot, index } = await published();
    await writeLocalRelease(outputRoot, '1.0.2');
    await store.delete([INDEX]);
    const objects = await store.list(`${DEMO_NAME}/`);

    const results = { prune: await cli('prune', '--yes'), publish: await cli('publish', 'v1.0.2', '--json'), list: await cli('list'), rollback: await cli('rollback', '--to', 'v1.0.0') };

    try {
      for (const [command, result] of Object.entries(results)) {
        expect(result.exitCode, command).toBe(1);
        expect(result.stderr.trim().split('\n'), command).toHaveLength(1);
        expect(result.stderr, command).toMatch(/releases\.json is missing, but .*imagebuild reindex --yes/);
      }
      expect(await store.list(`${DEMO_NAME}/`)).toEqual(objects);

      const dryRun = await cli('reindex');
      expect(dryRun.exitCode).toBe(0);
      expect(dryRun.stdout).toMatch(/releases\.json is missing; would list 2 release\(s\)/);
      expect(await store.getJson(INDEX)).toBeUndefined();

      const applied = await cli('reindex', '--yes', '--json');
      const rebuilt = (await readReleaseIndex(store, DEMO_NAME)).index;
      expect(applied.exitCode).toBe(0);
      expect(rebuilt.releases.map((r) => [r.version, r.manifest_key, r.artifact_key, r.sums_key, r.spec_key, r.sha256, r.size_bytes])).toEqual(
        index.releases.map((r) => [r.version, r.manifest_key, r.artifact_key, r.sums_key, r.spec_key, r.sha256, r.size_bytes]),
      );
      expect(rebuilt.releases.map((r) => r.published_at)).toEqual(index.releases.map((r) => r.published_at));
      expect(rebuilt.current?.version).toBe('1.0.1');
      expect(rebuilt.releases[0]!.published_by).toMatch(/^unknown \(index rebuilt by .+@.+\)$/);

      const again = await cli('reindex', '--yes');
      expect(again.exitCode).toBe(2);
      expect(again.stderr).toMatch(/releases\.json is readable and lists 2 release\(s\); reindex only rebuilds a missing or unreadable index/);
      expect((await cli('publish', 'v1.0.2', '--json')).exitCode).toBe(0);
      expect((await readReleaseIndex(store, DEMO_NAME)).index.releases.map((r) => r.version)).toEqual(['1.0.0', '1.0.1', '1.0.2']);
    } finally {
      store.close();
    }
  }, 240_000);

  it.each([
    ['not JSON', '{"format": 1, "releases": ['],
    ['JSON that is no index', '{"format": 2, "name": "vault-cube-demo-box"}'],
  ])('unreadable (%s): prune --yes and publish refuse with one line naming reindex; reindex --yes replaces it', async (_what, text) => {
    const { store, outputRoot, index } = await published();
    await writeLocalRelease(outputRoot, '1.0.2');
    await storeIndexBytes(store, text);
    const objects = await store.list(`${DEMO_NAME}/`);

    const prune = await cli('prune', '--yes');
    const publish = await cli('publish', 'v1.0.2', '--json');
    const reindex = await cli('reindex', '--yes');

    try {
      for (const result of [prune, publish]) {
        expect(result.exitCode).toBe(1);
        expect(result.stderr.trim().split('\n')).toHaveLength(1);
        expect(result.stderr).toMatch(/releases\.json: .*imagebuild reindex --yes/);
      }
      expect(reindex.exitCode).toBe(0);
      expect(reindex.stdout).toMatch(/releases\.json is unreadable; listed 2 release\(s\)/);
      expect((await store.list(`${DEMO_NAME}/`)).filter((o) => o.key !== INDEX)).toEqual(objects.filter((o) => o.key !== INDEX));
      expect((await readReleaseIndex(store, DEMO_NAME)).index.releases.map((r) => r.manifest_key)).toEqual(index.releases.map((r) => r.manifest_key));
    } finally {
      store.close();
    }
  }, 240_000);

  it('reindex skips a version without a complete publish, and names it', async () => {
    const { store, index } = await published();
    const listed = index.releases.find((r) => r.version === '1.0.0')!;
    await store.delete([INDEX, listed.sums_key]);
    await store.putJson(`${DEMO_NAME}/v1.1.0/20260101T000000Z-00000000/spec.json`, { unfinished: true });

    const result = await cli('reindex', '--yes', '--json');

    try {
      const report = JSON.parse(result.stdout) as { skipped: { version: string; why: string }[]; current: string };
      expect(result.exitCode).toBe(0);
      expect(report.current).toBe('1.0.1');
      expect(report.skipped.map((s) => s.version)).toEqual(['1.0.0', '1.1.0']);
      expect(report.skipped[0]!.why).toMatch(/SHA256SUMS: missing/);
      expect(report.skipped[1]!.why).toMatch(/no image-manifest\.json: an unfinished publish/);
      expect((await readReleaseIndex(store, DEMO_NAME)).index.releases.map((r) => r.version)).toEqual(['1.0.1']);
    } finally {
      store.close();
    }
  }, 240_000);

  it('the first publish to a store with no release creates the index, even past what an interrupted first publish left', async () => {
    const storeSpec: StoreSpec = kind === 's3' ? s3.storeSpec(`loss-${++prefixCount}`) : { kind: 'filesystem', dir: 'store' };
    if (kind === 'filesystem') await mkdir(join(temp.dir, 'store'), { recursive: true });
    const { outputRoot } = await writeReleaseProject(temp.dir, storeSpec);
    const store = await openStore(storeSpec, { cwd: temp.dir });
    await store.putJson(`${DEMO_NAME}/v1.0.0/20260101T000000Z-00000000/spec.json`, { unfinished: true });
    await writeLocalRelease(outputRoot, '1.0.0');

    const result = await cli('publish', 'v1.0.0', '--json');

    try {
      expect(result.exitCode).toBe(0);
      expect((await readReleaseIndex(store, DEMO_NAME)).index.current?.version).toBe('1.0.0');
    } finally {
      store.close();
    }
  }, 240_000);
});
