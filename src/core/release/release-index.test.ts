import { describe, expect, it } from 'vitest';
import { VersionExistsError } from '../../errors/index.js';
import { ReleaseIndexInvalidError, ReleaseNotFoundError, ReleaseRefusedError } from '../../errors/index.js';
import { addRelease, emptyReleaseIndex, latestRelease, parseReleaseIndex, previousRelease, publishIdOf, publishIdTime, releaseKeys, releaseOwnsKey, removeReleases, resolveRelease, setCurrent, type ReleaseRecord } from './release-index.js';

function record(version: string): ReleaseRecord {
  return {
    version,
    published_at: '2026-01-01T00:00:00Z',
    published_by: 'ci@runner',
    manifest_key: `box/v${version}/image-manifest.json`,
    artifact_key: `box/v${version}/box-v${version}.qcow2`,
    sums_key: `box/v${version}/SHA256SUMS`,
    spec_key: null,
    size_bytes: 10,
    sha256: 'c'.repeat(64),
    gate_status: 'passed',
    gpu_validated: false,
    bump: { from: null, actual: 'initial', required: null, override: null },
  };
}

describe('release index', () => {
  const stamp = { at: '2026-01-02T00:00:00Z', by: 'alice@host' };
  const index = ['1.0.0', '1.1.0', '1.0.1'].reduce((i, v) => addRelease(i, record(v)), emptyReleaseIndex('box'));

  it('keeps releases in semver order and finds latest and previous', () => {
    expect(index.releases.map((r) => r.version)).toEqual(['1.0.0', '1.0.1', '1.1.0']);
    expect(latestRelease(index)?.version).toBe('1.1.0');
    expect(previousRelease(index, '1.0.2')?.version).toBe('1.0.1');
    expect(previousRelease(index, '1.0.0')).toBeUndefined();
  });

  it('refuses a version twice, and resolves current or says what exists', () => {
    expect(() => addRelease(index, record('1.0.1'))).toThrow(VersionExistsError);
    expect(() => resolveRelease(index, 'current', 'store')).toThrow(/no release is current yet/);
    expect(() => resolveRelease(index, '9.9.9', 'store')).toThrow(ReleaseNotFoundError);
    expect(() => resolveRelease(index, '9.9.9', 'store')).toThrow('published: v1.0.0, v1.0.1, v1.1.0');
  });

  it('moves current with a history entry naming who, when and the previous version', () => {
    const published = setCurrent(index, '1.1.0', stamp, 'publish');

    const rolledBack = setCurrent(published, '1.0.1', { at: '2026-01-03T00:00:00Z', by: 'bob@host' }, 'rollback');

    expect(rolledBack.current).toEqual({ version: '1.0.1', set_at: '2026-01-03T00:00:00Z', set_by: 'bob@host', reason: 'rollback' });
    expect(rolledBack.history.at(-1)).toEqual({ version: '1.0.1', previous: '1.1.0', set_at: '2026-01-03T00:00:00Z', set_by: 'bob@host', reason: 'rollback' });
    expect(parseReleaseIndex(JSON.parse(JSON.stringify(rolledBack)), 'x')).toEqual(rolledBack);
  });

  it('never removes the current release, and rejects an index whose current is not listed', () => {
    const withCurrent = setCurrent(index, '1.0.0', stamp, 'publish');

    expect(() => removeReleases(withCurrent, ['1.0.0'])).toThrow(ReleaseRefusedError);
    expect(removeReleases(withCurrent, ['1.0.1']).releases.map((r) => r.version)).toEqual(['1.0.0', '1.1.0']);
    expect(() => parseReleaseIndex({ ...withCurrent, releases: [] }, 'releases.json')).toThrow(ReleaseIndexInvalidError);
    expect(() => parseReleaseIndex({ ...withCurrent, releases: [] }, 'releases.json')).toThrow('releases.json: current.version: current points at v1.0.0');
  });

  it('puts each publish under a directory of its own, named by when it started, and reads that time back', () => {
    const id = publishIdOf('2026-12-05T10:36:14Z', '1a2b3c4d');

    expect(id).toBe('20261205T103614Z-1a2b3c4d');
    expect(releaseKeys('box', '1.1.0', 'box-v1.1.0.qcow2', id)).toEqual({
      dir: `box/v1.1.0/${id}`,
      artifact: `box/v1.1.0/${id}/box-v1.1.0.qcow2`,
      manifest: `box/v1.1.0/${id}/image-manifest.json`,
      sums: `box/v1.1.0/${id}/SHA256SUMS`,
      spec: `box/v1.1.0/${id}/spec.json`,
    });
    expect(releaseKeys('box', '1.1.0', 'box-v1.1.0.qcow2').manifest).toBe('box/v1.1.0/image-manifest.json');
    expect(publishIdTime(id)).toBe('2026-12-05T10:36:14Z');
    expect(publishIdTime('box-v1.1.0.qcow2')).toBeUndefined();
    expect(() => publishIdOf('2026-12-05T10:36:14Z', 'xyz')).toThrow(RangeError);
  });

  it('keeps fields a newer imagebuild added, at every level, through a read-modify-write, and still validates the known ones and the format', () => {
    const stored = {
      ...index,
      mirrors: ['s3://eu/images'],
      releases: index.releases.map((r) => ({ ...r, signature: 'sigstore-bundle', bump: { ...r.bump, rules: 'v2' } })),
      current: null,
    };

    const parsed = parseReleaseIndex(stored, 'store/box/releases.json');
    const updated = parseReleaseIndex(addRelease(parsed, record('1.2.0')), 'updated');

    expect(updated).toMatchObject({ mirrors: ['s3://eu/images'] });
    expect(updated.releases.filter((r) => r.signature === 'sigstore-bundle' && r.bump.rules === 'v2').map((r) => r.version)).toEqual(['1.0.0', '1.0.1', '1.1.0']);
    expect(() => parseReleaseIndex({ ...stored, releases: [{ ...stored.releases[0], size_bytes: '10' }] }, 'store/x.json')).toThrow(ReleaseIndexInvalidError);
    expect(() => parseReleaseIndex({ ...stored, format: 2 }, 'store/x.json')).toThrow(/unsupported release index format/);
  });

  it('owns what its record names and the files beside its manifest, not another publish of the version', () => {
    const id = '20261205T103614Z-1a2b3c4d';
    const published = { ...record('1.1.0'), manifest_key: `box/v1.1.0/${id}/image-manifest.json`, artifact_key: `box/v1.1.0/${id}/box-v1.1.0.qcow2`, sums_key: `box/v1.1.0/${id}/SHA256SUMS` };

    expect(releaseOwnsKey(published, `box/v1.1.0/${id}/sbom.cdx.json`)).toBe(true);
    expect(releaseOwnsKey(published, `box/v1.1.0/${id}/box-v1.1.0.qcow2`)).toBe(true);
    expect(releaseOwnsKey(published, 'box/v1.1.0/20261205T090000Z-00000000/box-v1.1.0.qcow2')).toBe(false);
    expect(releaseOwnsKey(record('1.0.0'), 'box/v1.0.0/SHA256SUMS')).toBe(true);
    expect(releaseOwnsKey(record('1.0.0'), `box/v1.0.0/${id}/image-manifest.json`)).toBe(false);
  });
});
