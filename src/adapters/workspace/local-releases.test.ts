import { createHash } from 'node:crypto';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { listTree, useTempDir } from '../../../test/helpers/temp-dir.js';
import { serializeManifest } from '../../core/manifest/image-manifest.js';
import { testManifest } from '../../../test/helpers/test-manifest.js';
import { listLocalReleases, readLocalCurrent, removeLocalRelease, setLocalCurrent, writeReleaseSums } from './local-releases.js';
import { releaseLayout } from './release-layout.js';

const work = useTempDir();

async function makeRelease(version: string, withManifest = true): Promise<void> {
  const release = releaseLayout(work.dir, 'box', version);
  await mkdir(release.dir, { recursive: true });
  if (withManifest) await writeFile(release.manifest, '{}\n');
}

describe('local releases', () => {
  it('lists v<version> directories that hold a manifest, oldest first by semver, and none of staging or other entries', async () => {
    for (const version of ['1.10.0', '1.2.0', '1.9.1']) await makeRelease(version);
    await makeRelease('2.0.0', false);
    await mkdir(releaseLayout(work.dir, 'box', '3.0.0').staging(123));
    await mkdir(join(work.dir, 'notes'));

    const releases = await listLocalReleases(work.dir);

    expect(releases).toEqual(['1.2.0', '1.9.1', '1.10.0'].map((version) => ({ version, dir: releaseLayout(work.dir, 'box', version).dir })));
  });

  it('lists nothing for an output directory not made yet', async () => {
    expect(await listLocalReleases(join(work.dir, 'missing'))).toEqual([]);
  });

  it('points current at a version, replacing the link, and reads it back', async () => {
    await makeRelease('1.0.0');
    await makeRelease('1.1.0');

    await setLocalCurrent(work.dir, '1.0.0');
    const link = await setLocalCurrent(work.dir, '1.1.0');

    expect(link).toBe(join(work.dir, 'current'));
    expect(await readLocalCurrent(work.dir)).toBe('1.1.0');
    expect(await listTree(work.dir)).not.toContainEqual(expect.stringMatching(/^\.current\.tmp/));
  });

  it('reads no current version where there is no link', async () => {
    expect(await readLocalCurrent(work.dir)).toBeUndefined();
  });

  it('removes a release whole, leaving no retired directory behind', async () => {
    await makeRelease('1.0.0');

    await removeLocalRelease(releaseLayout(work.dir, 'box', '1.0.0'));

    expect(await listTree(work.dir)).toEqual([]);
  });

  it('writes SHA256SUMS from the manifest: its files, then the manifest itself, as sha256sum -c reads it; unchanged when it holds that already', async () => {
    await makeRelease('1.0.0');
    const release = releaseLayout(work.dir, 'box', '1.0.0');
    const manifest = testManifest({ name: 'box', version: '1.0.0', artifact: release.artifactName, checksum_sha256: 'a'.repeat(64) });
    await writeFile(release.sums, 'stale\n');

    const { text } = await writeReleaseSums(release, manifest);
    const before = (await stat(release.sums)).ino;
    await writeReleaseSums(release, manifest);

    const manifestSha = createHash('sha256').update(serializeManifest(manifest)).digest('hex');
    expect(text).toBe(`${'a'.repeat(64)}  box-v1.0.0.qcow2\n${manifestSha}  image-manifest.json\n`);
    expect(await readFile(release.sums, 'utf8')).toBe(text);
    expect((await stat(release.sums)).ino).toBe(before);
  });
});
