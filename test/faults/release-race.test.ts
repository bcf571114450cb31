import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buffer } from 'node:stream/consumers';
import { describe, expect, it } from 'vitest';
import { publishRelease } from '../../src/app/release-publish.js';
import { pruneReleases } from '../../src/app/release-prune.js';
import { readReleaseIndex } from '../../src/app/release-store.js';
import { openStore } from '../../src/adapters/store/open-store.js';
import type { ArtifactStore } from '../../src/adapters/store/types.js';
import type { ReleaseIndex } from '../../src/core/release/release-index.js';
import type { StoreSpec } from '../../src/core/spec/schema.js';
import { StoreAccessError, VersionExistsError } from '../../src/errors/index.js';
import { writeLocalRelease, writeReleaseProject } from '../helpers/local-release.js';
import { useS3Server } from '../helpers/use-s3-server.js';
import { DEMO_NAME } from '../helpers/spec-builders.js';
import { useTempDir } from '../helpers/temp-dir.js';

// What RADOS Gateway showed (issue 17): a failed index write must not burn the version, and two
// runners publishing one version at once must leave a release whose objects all come from one of
// them, whatever conditional headers the server ignores. s3rver ignores If-None-Match and If-Match
// altogether, as RGW does on CompleteMultipartUpload; the filesystem store honours both.

const s3 = useS3Server();

const INDEX = `${DEMO_NAME}/releases.json`;

/** An index write that lists a release (not the empty index a first publish creates before it uploads). */
function listsReleases(key: string, value: unknown): boolean {
  return key === INDEX && (value as ReleaseIndex).releases.length > 0;
}

describe.each(['s3', 'filesystem'] as const)('publish faults in a %s store', (kind) => {
  const temp = useTempDir(`imagebuild-release-race-${kind}-`);
  let prefixCount = 0;

  /** A project in `sub` of this test's directory; every project of one test shares one store. */
  async function projects(...subs: string[]): Promise<{ store: ArtifactStore; roots: Record<string, { cwd: string; outputRoot: string }> }> {
    const storeSpec: StoreSpec = kind === 's3' ? s3.storeSpec(`race-${++prefixCount}`) : { kind: 'filesystem', dir: join(temp.dir, 'store') };
    if (kind === 'filesystem') await mkdir(join(temp.dir, 'store'), { recursive: true });
    const roots: Record<string, { cwd: string; outputRoot: string }> = {};
    for (const sub of subs) {
      const cwd = join(temp.dir, sub);
      await mkdir(cwd, { recursive: true });
      roots[sub] = { cwd, outputRoot: (await writeReleaseProject(cwd, storeSpec)).outputRoot };
    }
    return { store: await openStore(storeSpec, { cwd: temp.dir }), roots };
  }

  it('a failed index write leaves nothing behind, says to publish again, and the same publish then works', async () => {
    const { store, roots } = await projects('a');
    const { cwd, outputRoot } = roots.a!;
    await writeLocalRelease(outputRoot, '1.0.0');
    await publishRelease({ specArg: 'box.yaml', cwd, version: '1.0.0', store });
    const { manifest } = await writeLocalRelease(outputRoot, '1.0.1');
    let failures = 0;
    const flaky: ArtifactStore = {
      ...store,
      putJson: async (key, value, options) => {
        if (key === INDEX && failures++ === 0) throw new StoreAccessError(`${store.describe(key)}: PUT failed: connection reset`);
        return store.putJson(key, value, options);
      },
      close: () => {},
    };

    const failed = publishRelease({ specArg: 'box.yaml', cwd, version: '1.0.1', store: flaky });

    try {
      await expect(failed).rejects.toThrow(/v1\.0\.1 was uploaded, but the release index could not be updated \(.*connection reset\); nothing was listed and this publish's objects were deleted — run the same publish again/);
      expect(await store.list(`${DEMO_NAME}/v1.0.1/`)).toEqual([]);

      const again = await publishRelease({ specArg: 'box.yaml', cwd, version: '1.0.1', store: flaky });

      const { index } = await readReleaseIndex(store, DEMO_NAME);
      expect(again.current).toBe(true);
      expect(index.current?.version).toBe('1.0.1');
      expect(index.releases.find((r) => r.version === '1.0.1')?.sha256).toBe(manifest.checksum_sha256);
    } finally {
      store.close();
    }
  });

  it('an index write that reached the store although it reported a failure is a publish that worked', async () => {
    const { store, roots } = await projects('a');
    const { cwd, outputRoot } = roots.a!;
    await writeLocalRelease(outputRoot, '1.0.0');
    const lostAnswer: ArtifactStore = {
      ...store,
      putJson: async (key, value, options) => {
        await store.putJson(key, value, options);
        if (listsReleases(key, value)) throw new StoreAccessError(`${store.describe(key)}: PUT failed: socket hang up`);
      },
      close: () => {},
    };

    const report = await publishRelease({ specArg: 'box.yaml', cwd, version: '1.0.0', store: lostAnswer });

    try {
      const record = (await readReleaseIndex(store, DEMO_NAME)).index.releases[0]!;
      expect(report.notices.join('\n')).toContain('the index write reported a failure (');
      expect(await store.head(record.artifact_key)).toMatchObject({ size: record.size_bytes });
      expect(await store.head(record.manifest_key)).toBeDefined();
    } finally {
      store.close();
    }
  });

  it('an index that cannot be read back after the write that listed the release keeps the release’s objects, and says to check', async () => {
    const { store, roots } = await projects('a');
    const { cwd, outputRoot } = roots.a!;
    await writeLocalRelease(outputRoot, '1.0.0');
    let listed = false;
    const blind: ArtifactStore = {
      ...store,
      putJson: async (key, value, options) => {
        await store.putJson(key, value, options);
        if (listsReleases(key, value)) listed = true;
      },
      getJson: async (key) => {
        if (key === INDEX && listed) throw new StoreAccessError(`${store.describe(key)}: GET failed: connection reset`);
        return store.getJson(key);
      },
      close: () => {},
    };

    const publishing = publishRelease({ specArg: 'box.yaml', cwd, version: '1.0.0', store: blind });

    try {
      await expect(publishing).rejects.toThrow(/v1\.0\.0 was listed, but the release index could not be read back \(.*connection reset\); its objects are kept — run imagebuild list/);
      const record = (await readReleaseIndex(store, DEMO_NAME)).index.releases[0]!;
      expect(await store.head(record.artifact_key)).toMatchObject({ size: record.size_bytes });
      expect(await store.head(record.manifest_key)).toBeDefined();
    } finally {
      store.close();
    }
  });

  it('two runners publishing one version at once: the listed release is one runner’s manifest and image, the other is refused and keeps nothing', async () => {
    const { store, roots } = await projects('a', 'b');
    const a = await writeLocalRelease(roots.a!.outputRoot, '1.0.0', { size: 256 * 1024 });
    const b = await writeLocalRelease(roots.b!.outputRoot, '1.0.0', { size: 256 * 1024 });
    // Both pass every check before either uploads (the existence checks a server's If-None-Match would
    // back up); then A's image goes up, then B's — the interleaving that broke a release on RGW.
    let release: () => void = () => {};
    const bothArrived = new Promise<void>((resolve) => (release = resolve));
    let aUploaded: () => void = () => {};
    const aDone = new Promise<void>((resolve) => (aUploaded = resolve));
    const waiting = new Set<string>();
    const gate = async (name: 'a' | 'b') => {
      if (waiting.has(name)) return;
      waiting.add(name);
      if (waiting.size === 2) release();
      await bothArrived;
      if (name === 'b') await aDone;
    };
    const runner = (name: 'a' | 'b', image: string): ArtifactStore => ({
      ...store,
      head: async (key) => {
        if (key.endsWith('.qcow2')) await gate(name);
        return store.head(key);
      },
      putFile: async (key, path, options) => {
        if (path === image) await gate(name);
        const result = await store.putFile(key, path, options);
        if (path === image && name === 'a') aUploaded();
        return result;
      },
      close: () => {},
    });

    const results = await Promise.allSettled([
      publishRelease({ specArg: 'box.yaml', cwd: roots.a!.cwd, version: '1.0.0', store: runner('a', a.artifactPath) }),
      publishRelease({ specArg: 'box.yaml', cwd: roots.b!.cwd, version: '1.0.0', store: runner('b', b.artifactPath) }),
    ]);

    try {
      const { index } = await readReleaseIndex(store, DEMO_NAME);
      const record = index.releases[0]!;
      const storedManifest = (await store.getJson(record.manifest_key))!.value as { checksum_sha256: string };
      const storedImage = createHash('sha256').update(await buffer(await store.getStream(record.artifact_key))).digest('hex');
      const winner = results.findIndex((r) => r.status === 'fulfilled');
      expect(index.releases.map((r) => r.version)).toEqual(['1.0.0']);
      expect(storedImage).toBe(record.sha256);
      expect(storedManifest.checksum_sha256).toBe(record.sha256);
      expect([a.manifest.checksum_sha256, b.manifest.checksum_sha256]).toContain(record.sha256);
      expect(winner).toBeGreaterThanOrEqual(0);
      expect(record.sha256).toBe([a, b][winner]!.manifest.checksum_sha256);
      for (const result of results) if (result.status === 'rejected') expect(result.reason).toBeInstanceOf(VersionExistsError);
      expect((await store.list(`${DEMO_NAME}/v1.0.0/`)).map((o) => o.key).every((k) => k.startsWith(record.manifest_key.replace(/image-manifest\.json$/, '')))).toBe(true);
    } finally {
      store.close();
    }
  });

  it('two first publishes of different versions at once: both find no index, one creates it, and both are listed', async () => {
    const { store, roots } = await projects('a', 'b');
    await writeLocalRelease(roots.a!.outputRoot, '1.0.0');
    await writeLocalRelease(roots.b!.outputRoot, '1.0.1');
    // Neither goes on past its first read of the index until both have read it: both are first publishes.
    let readers = 0;
    let bothRead: () => void = () => {};
    const bothReadIndex = new Promise<void>((resolve) => (bothRead = resolve));
    const indexCreates: string[] = [];
    const runner = (name: string): ArtifactStore => {
      let firstRead = true;
      return {
        ...store,
        getJson: async (key) => {
          const stored = await store.getJson(key);
          if (key === INDEX && firstRead) {
            firstRead = false;
            expect(stored).toBeUndefined();
            if (++readers === 2) bothRead();
            await bothReadIndex;
          }
          return stored;
        },
        putJson: async (key, value, options) => {
          if (key === INDEX && options?.ifAbsent === true) indexCreates.push(name);
          return store.putJson(key, value, options);
        },
        close: () => {},
      };
    };

    const [first, later] = await Promise.all([
      publishRelease({ specArg: 'box.yaml', cwd: roots.a!.cwd, version: '1.0.0', store: runner('a') }),
      publishRelease({ specArg: 'box.yaml', cwd: roots.b!.cwd, version: '1.0.1', store: runner('b') }),
    ]);

    try {
      const { index } = await readReleaseIndex(store, DEMO_NAME);
      expect(indexCreates.sort()).toEqual(['a', 'b']);
      expect(later.current).toBe(true);
      expect(first.version).toBe('1.0.0');
      expect(index.releases.map((r) => r.version)).toEqual(['1.0.0', '1.0.1']);
      expect(index.current?.version).toBe('1.0.1');
    } finally {
      store.close();
    }
  });

  it('prune removes what unfinished publishes left (a day old), keeps a recent one that may still be running, and never the listed release', async () => {
    const { store, roots } = await projects('a');
    const { cwd, outputRoot } = roots.a!;
    await writeLocalRelease(outputRoot, '1.0.0');
    await publishRelease({ specArg: 'box.yaml', cwd, version: '1.0.0', store });
    const listed = (await store.list(`${DEMO_NAME}/v1.0.0/`)).map((o) => o.key);
    const stale = `${DEMO_NAME}/v1.0.0/20200101T000000Z-0badf00d/image-manifest.json`;
    const unlisted = `${DEMO_NAME}/v1.0.1/20200101T000000Z-0badf00d/${DEMO_NAME}-v1.0.1.qcow2`;
    const recentId = `${new Date().toISOString().replace(/\.\d{3}Z$/, 'Z').replace(/[-:]/g, '')}-00c0ffee`;
    const recent = `${DEMO_NAME}/v1.0.2/${recentId}/${DEMO_NAME}-v1.0.2.qcow2`;
    const foreign = `${DEMO_NAME}/vnotes/readme.json`;
    for (const key of [stale, unlisted, recent, foreign]) await store.putJson(key, { left: 'behind' });
    // A file no store key can name (someone else's, beside a stale publish): neither deleted nor a reason to fail.
    const odd = join(temp.dir, 'store', DEMO_NAME, 'v1.0.0', '20200101T000000Z-0badf00d', 'notes from ops.txt');
    if (kind === 'filesystem') await writeFile(odd, 'keep me');

    const report = await pruneReleases({ specArg: 'box.yaml', cwd, apply: true });

    try {
      expect(report.store?.orphans.map((o) => o.version).sort()).toEqual(['1.0.0', '1.0.1']);
      expect(report.store?.kept.find((k) => k.version === '1.0.2')?.why).toContain('may still be running');
      const oddKey = `${DEMO_NAME}/v1.0.0/20200101T000000Z-0badf00d/notes from ops.txt`;
      expect((await store.list(`${DEMO_NAME}/`)).map((o) => o.key).sort()).toEqual([...listed, recent, foreign, INDEX, ...(kind === 'filesystem' ? [oddKey] : [])].sort());
    } finally {
      store.close();
    }
  });
});
