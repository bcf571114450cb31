import semver from 'semver';
import { z } from 'zod';

// The one definition of a release version: strict semver MAJOR.MINOR.PATCH, an optional prerelease,
// no build metadata, no leading v (image-manifest.json, the release index and output/<name>/v<version>/).
const RELEASE_VERSION = /^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/;

/** Whether `version` is a release version as imagebuild writes it (`1.1.0`, `1.1.0-rc.1`). */
export function isReleaseVersion(version: string): boolean {
  return RELEASE_VERSION.test(version) && semver.valid(version) === version;
}

/** A release version without the leading v, as image-manifest.json and the release index write it. */
export const ReleaseVersion = z.string().refine(isReleaseVersion, {
  error: 'not a release version; use MAJOR.MINOR.PATCH without a leading v, e.g. 1.0.0',
});

/** The directory (and `current` link target) name of a release: `v1.1.0`. */
export function releaseDirName(version: string): string {
  return `v${version}`;
}

/** The release version a directory or link name stands for (`v1.1.0` → `1.1.0`); undefined for anything else. */
export function versionOfReleaseDirName(name: string): string | undefined {
  if (!name.startsWith('v')) return undefined;
  const version = name.slice(1);
  return isReleaseVersion(version) ? version : undefined;
}

export type VersionArgument = { ok: true; version: string } | { ok: false; message: string };

/** Reads a version typed as `v1.1.0` or `1.1.0`; the caller decides what a refusal is (the CLI: a usage error). */
export function parseVersionArgument(raw: string): VersionArgument {
  const trimmed = raw.startsWith('v') ? raw.slice(1) : raw;
  if (isReleaseVersion(trimmed)) return { ok: true, version: trimmed };
  // JSON quoting: a newline in the argument must not become a second line of the error.
  return { ok: false, message: `version ${JSON.stringify(raw)} is not semver; give vMAJOR.MINOR.PATCH, e.g. v1.1.0` };
}
