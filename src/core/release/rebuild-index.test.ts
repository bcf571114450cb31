import { describe, expect, it } from 'vitest';
import { testManifest } from '../../../test/helpers/test-manifest.js';
import type { ImageManifest } from '../manifest/image-manifest.js';
import { rebuildReleaseIndex, REINDEX_CURRENT_REASON, type FoundRelease } from './rebuild-index.js';
import { releaseKeys } from './release-index.js';

function found(version: string, overrides: Partial<ImageManifest> = {}, publishedAt: string | null = null): FoundRelease {
  const manifest = testManifest({ version, artifact: `box-v${version}.qcow2`, ...overrides });
  return { keys: releaseKeys('box', version, manifest.artifact, `20260101T000000Z-0000000${version.length % 10}`), manifest, specStored: version !== '1.0.0', publishedAt };
}

describe('rebuilding a release index from stored manifests', () => {
  const stamp = { at: '2026-12-05T10:00:00Z', by: 'ops@host' };

  it('lists every release in semver order with its keys, and makes the highest stable release whose gates passed current', () => {
    const failed: Partial<ImageManifest> = {
      verify: { status: 'failed', booted: true, ssh_host_key_sha256: null, build_account_refused: true, checked_as: null, gate: { status: 'skipped', summary: '', checks: [] }, sha256_unchanged: true, duration_s: 1, problems: ['x'] },
    };

    const index = rebuildReleaseIndex('box', [found('1.1.0-rc.1'), found('1.0.1', {}, '2026-02-01T00:00:00Z'), found('1.0.0'), found('1.0.2', failed)], stamp);

    expect(index.releases.map((r) => [r.version, r.gate_status, r.bump.from, r.bump.actual])).toEqual([
      ['1.0.0', 'passed', null, 'initial'],
      ['1.0.1', 'passed', '1.0.0', 'patch'],
      ['1.0.2', 'failed', '1.0.1', 'patch'],
      ['1.1.0-rc.1', 'passed', '1.0.2', 'minor'],
    ]);
    expect(index.releases.map((r) => r.published_at)).toEqual(['2026-01-15T10:30:00Z', '2026-02-01T00:00:00Z', '2026-01-15T10:30:00Z', '2026-01-15T10:30:00Z']);
    expect(index.releases.map((r) => r.spec_key === null)).toEqual([true, false, false, false]);
    expect(index.releases[0]!.published_by).toBe('unknown (index rebuilt by ops@host)');
    expect(index.current).toEqual({ version: '1.0.1', set_at: stamp.at, set_by: stamp.by, reason: REINDEX_CURRENT_REASON });
  });

  it('leaves current empty when no stable release passed', () => {
    expect(rebuildReleaseIndex('box', [found('1.0.0-rc.1')], stamp).current).toBeNull();
  });
});
