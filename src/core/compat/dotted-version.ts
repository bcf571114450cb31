// NVIDIA drivers (570.133.20), CUDA (12.8.1), Python (3.12) and vLLM (0.10.1.1) are not semver:
// they have one to four numeric parts, and driver parts carry leading zeros (520.61.05).
const DOTTED_VERSION = /^\d{1,9}(?:\.\d{1,9})*$/;

/** Parses `570.86.05` into `[570, 86, 5]`; returns undefined for anything that is not dotted digits. */
export function parseDottedVersion(version: string): readonly number[] | undefined {
  if (!DOTTED_VERSION.test(version)) return undefined;
  return version.split('.').map(Number);
}

/** Compares two dotted versions numerically part by part (missing parts count as 0); throws RangeError on garbage. */
export function compareDottedVersions(a: string, b: string): number {
  const left = requireDottedVersion(a);
  const right = requireDottedVersion(b);
  for (let i = 0; i < Math.max(left.length, right.length); i++) {
    const difference = (left[i] ?? 0) - (right[i] ?? 0);
    if (difference !== 0) return Math.sign(difference);
  }
  return 0;
}

/** Returns the normalised `major.minor` of a dotted version (`12.8.1` → `12.8`, `570` → `570.0`); throws RangeError on garbage. */
export function majorMinor(version: string): string {
  const [major = 0, minor = 0] = requireDottedVersion(version);
  return `${major}.${minor}`;
}

/** Returns the first part of a dotted version (`12.8.1` → 12); throws RangeError on garbage. */
export function majorOf(version: string): number {
  const [major = 0] = requireDottedVersion(version);
  return major;
}

function requireDottedVersion(version: string): readonly number[] {
  const parts = parseDottedVersion(version);
  // Callers validate user input with parseDottedVersion first; reaching this is a programming error.
  if (parts === undefined) throw new RangeError(`not a dotted version: ${JSON.stringify(version)}`);
  return parts;
}
