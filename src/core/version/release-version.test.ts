import { describe, expect, it } from 'vitest';
import { isReleaseVersion, parseVersionArgument, releaseDirName, ReleaseVersion, versionOfReleaseDirName } from './release-version.js';

describe('release versions: one definition', () => {
  it.each(['1.0.0', '0.1.0', '1.1.0-rc.1', '10.20.30'])('accepts %s', (version) => {
    const accepted = isReleaseVersion(version);

    expect(accepted).toBe(true);
    expect(ReleaseVersion.safeParse(version).success).toBe(true);
  });

  it.each(['v1.0.0', '1.0', '1.0.0+build.1', '01.0.0', '1.0.0-', 'latest', '1.0.0\n2.0.0'])('refuses %j', (version) => {
    const accepted = isReleaseVersion(version);

    expect(accepted).toBe(false);
    expect(ReleaseVersion.safeParse(version).success).toBe(false);
  });

  it('maps versions to directory names and back, and nothing else', () => {
    const names = ['v1.1.0', 'v1.1.0-rc.1', '1.1.0', 'vlatest', 'v1.1', 'current'];

    const versions = names.map(versionOfReleaseDirName);

    expect(versions).toEqual(['1.1.0', '1.1.0-rc.1', undefined, undefined, undefined, undefined]);
    expect(releaseDirName('1.1.0')).toBe('v1.1.0');
  });

  it('reads a typed version with or without v, and returns a one-line refusal instead of throwing', () => {
    const results = ['v1.1.0', '1.1.0', '1.1', 'v1.1.0\nx'].map(parseVersionArgument);

    expect(results).toEqual([
      { ok: true, version: '1.1.0' },
      { ok: true, version: '1.1.0' },
      { ok: false, message: 'version "1.1" is not semver; give vMAJOR.MINOR.PATCH, e.g. v1.1.0' },
      { ok: false, message: 'version "v1.1.0\\nx" is not semver; give vMAJOR.MINOR.PATCH, e.g. v1.1.0' },
    ]);
  });
});
