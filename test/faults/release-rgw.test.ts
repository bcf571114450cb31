import { createHash } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { buffer } from 'node:stream/consumers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readReleaseIndex } from '../../src/app/release-store.js';
import { openStore } from '../../src/adapters/store/open-store.js';
import { writeLocalRelease, writeReleaseProject } from '../helpers/local-release.js';
import { startReleaseCli } from '../helpers/release-project.js';
import { requireTools } from '../helpers/require-tools.js';
import { RGW_TOOLS, startRgw, type TestRgw } from '../helpers/rgw.js';
import { DEMO_NAME } from '../helpers/spec-builders.js';
import { makeTempDir, type TempDir } from '../helpers/temp-dir.js';

// What broke on Ceph RGW 16.2 (issue 17): two runners publishing one version at once left a listed,
// current release with one runner's manifest and the other's image, because RGW ignores If-None-Match
// on CompleteMultipartUpload and SHA256SUMS/spec.json were overwritten. Here two CLI processes
// publish v1.0.0 at the same moment, multipart images of different bytes, against a real radosgw.

const hasRgw = requireTools('test/faults/release-rgw.test.ts', ...RGW_TOOLS);
const MIB = 1024 * 1024;

describe.skipIf(!hasRgw)('two runners publishing one version at once against a RADOS Gateway', () => {
  let rgw: TestRgw;
  let work: TempDir;
  const savedEnv = { ...process.env };

  beforeAll(async () => {
    [rgw, work] = await Promise.all([startRgw(), makeTempDir('imagebuild-release-rgw-')]);
    Object.assign(process.env, rgw.credentialsEnv);
  }, 180_000);
  afterAll(async () => {
    process.env = { ...savedEnv };
    await rgw?.stop();
    await work?.cleanup();
  }, 60_000);

  it('lists one runner’s manifest and image, refuses the other, which leaves nothing behind', async () => {
    const storeSpec = rgw.storeSpec('race');
    const images: Record<string, string> = {};
    for (const runner of ['a', 'b']) {
      const cwd = join(work.dir, runner);
      await mkdir(cwd);
      const { outputRoot } = await writeReleaseProject(cwd, storeSpec);
      images[runner] = (await writeLocalRelease(outputRoot, '1.0.0', { size: 20 * MIB })).manifest.checksum_sha256;
    }

    // An index exists already (an earlier release): this race is about whose objects get listed.
    await mkdir(join(work.dir, 'first'));
    await writeLocalRelease((await writeReleaseProject(join(work.dir, 'first'), storeSpec)).outputRoot, '0.9.0', { size: MIB });
    const first = await startReleaseCli(['publish', 'v0.9.0', '--spec', 'box.yaml'], join(work.dir, 'first'), rgw.credentialsEnv);
    expect(first.exitCode, first.stderr).toBe(0);

    const results = await Promise.all(['a', 'b'].map((runner) => startReleaseCli(['publish', 'v1.0.0', '--spec', 'box.yaml', '--json', '--allow-bump-mismatch', 'the race test skips a minor'], join(work.dir, runner), rgw.credentialsEnv)));

    expect(results.map((r) => r.exitCode).sort(), results.map((r) => r.stderr).join('\n')).toEqual([0, 2]);
    const store = await openStore(storeSpec, { cwd: work.dir });
    try {
      const { index } = await readReleaseIndex(store, DEMO_NAME);
      const record = index.releases.find((r) => r.version === '1.0.0')!;
      const manifest = (await store.getJson(record.manifest_key))!.value as { checksum_sha256: string };
      const stored = createHash('sha256').update(await buffer(await store.getStream(record.artifact_key))).digest('hex');
      const sums = (await buffer(await store.getStream(record.sums_key))).toString();
      const winner = results.findIndex((r) => r.exitCode === 0);
      expect(results.map((r) => r.exitCode).sort(), results.map((r) => r.stderr).join('\n')).toEqual([0, 2]);
      expect(results[1 - winner]!.stderr).toMatch(/v1\.0\.0 was (meanwhile )?published/);
      expect(index.releases.map((r) => r.version).sort()).toEqual(['0.9.0', '1.0.0']);
      expect(record.sha256).toBe(images[['a', 'b'][winner]!]);
      expect(manifest.checksum_sha256).toBe(record.sha256);
      expect(stored).toBe(record.sha256);
      // The winner's SHA256SUMS: its image, then its manifest (whose bytes the store holds).
      const manifestSha = createHash('sha256').update(await buffer(await store.getStream(record.manifest_key))).digest('hex');
      expect(sums).toBe(`${record.sha256}  ${DEMO_NAME}-v1.0.0.qcow2\n${manifestSha}  image-manifest.json\n`);
      const dir = record.manifest_key.replace(/image-manifest\.json$/, '');
      expect((await store.list(`${DEMO_NAME}/v1.0.0/`)).map((o) => o.key).filter((k) => !k.startsWith(dir))).toEqual([]);
    } finally {
      store.close();
    }
  }, 240_000);

  it('two first publishes of different versions into an empty store: one creates the index, both are listed', async () => {
    const storeSpec = rgw.storeSpec('first-race');
    for (const [runner, version] of [['c', '1.0.0'], ['d', '1.1.0']] as const) {
      const cwd = join(work.dir, runner);
      await mkdir(cwd);
      await writeLocalRelease((await writeReleaseProject(cwd, storeSpec)).outputRoot, version, { size: 8 * MIB });
    }

    const results = await Promise.all([
      startReleaseCli(['publish', 'v1.0.0', '--spec', 'box.yaml'], join(work.dir, 'c'), rgw.credentialsEnv),
      startReleaseCli(['publish', 'v1.1.0', '--spec', 'box.yaml'], join(work.dir, 'd'), rgw.credentialsEnv),
    ]);

    expect(results.map((r) => r.exitCode), results.map((r) => r.stderr).join('\n')).toEqual([0, 0]);
    const store = await openStore(storeSpec, { cwd: work.dir });
    try {
      const { index } = await readReleaseIndex(store, DEMO_NAME);
      expect(index.releases.map((r) => r.version)).toEqual(['1.0.0', '1.1.0']);
      expect(index.current?.version).toBe('1.1.0');
    } finally {
      store.close();
    }
  }, 240_000);
});
