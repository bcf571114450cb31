import semver from 'semver';
import { UsageError } from '../../errors.js';

/** Parses a release version given as `v1.1.0` or `1.1.0` into its canonical `1.1.0` form; anything not strict semver is a usage error. */
export function parseVersionArg(raw: string): string {
  const trimmed = raw.startsWith('v') ? raw.slice(1) : raw;
  const parsed = semver.valid(trimmed);
  if (!parsed || parsed !== trimmed || !/^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/.test(trimmed)) {
    // JSON quoting: a newline in the argument must not become a second line of the error.
    throw new UsageError(`version ${JSON.stringify(raw)} is not semver; give vMAJOR.MINOR.PATCH, e.g. v1.1.0`);
  }
  return parsed;
}
