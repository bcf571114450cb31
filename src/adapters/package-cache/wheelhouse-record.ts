import { join } from 'node:path';
import { z } from 'zod';
import { Sha256, sha256Hex } from '../../core/digest.js';
import { encodeCanonicalJson } from '../../core/render/encode.js';

// A wheelhouse's record and the files derived from it: one reader and one writer of the format (wheelhouse.ts
// fills, verifies and lists; this says what the bytes on disk must be).

/** Bumped when the record or the directory's layout changes: every key changes with it, so no old entry is misread. */
const WHEELHOUSE_FORMAT = 1;

/** The interpreter and platforms the wheels are for: pip download's --python-version, --implementation, --abi and --platform. */
export const WheelhouseTarget = z.object({
  /** "3.12": the guest venv's Python (Ubuntu 24.04's). */
  pythonVersion: z.string().regex(/^3\.\d+$/),
  /** "cp" for CPython. */
  implementation: z.string().regex(/^[a-z]{2}$/),
  /** "cp312"; pip adds abi3 and none itself. */
  abi: z.string().regex(/^[a-z0-9_]+$/),
  /** Platform tags the guest accepts, best first (manylinuxPlatforms gives a glibc's list). */
  platforms: z.array(z.string().regex(/^[a-z0-9_]+$/)).min(1),
});
export type WheelhouseTarget = z.infer<typeof WheelhouseTarget>;

/** What a wheelhouse holds, and so its key: the requirements, where they come from, and what they are for. */
export const WheelhouseRequest = z.object({
  /** Resolved together with their dependencies (pinned `name==version` strings, as the frameworks role installs them). */
  requirements: z.array(z.string().min(1)).min(1),
  /** Downloaded alone and installed last with --no-deps: a pin that overrides a dependency's (the spec's NCCL over torch's). */
  noDeps: z.array(z.string().min(1)).default([]),
  indexUrl: z.string().regex(/^https?:\/\//),
  extraIndexUrls: z.array(z.string().regex(/^https?:\/\//)).default([]),
  target: WheelhouseTarget,
});
export type WheelhouseRequest = z.input<typeof WheelhouseRequest>;

/** One wheel of a wheelhouse, as pip's hash-checking mode pins it. */
export const WheelhouseFile = z.object({ name: z.string().regex(/^[^/\\]+\.whl$/), sha256: Sha256, bytes: z.number().int().nonnegative() });
export type WheelhouseFile = z.infer<typeof WheelhouseFile>;

/** `wheelhouse.json`: what was asked for, and every wheel pip downloaded for it with its SHA-256 and size. */
export const WheelhouseRecord = z.object({
  format: z.literal(WHEELHOUSE_FORMAT),
  key: Sha256,
  request: WheelhouseRequest.required(),
  /** The wheels the resolved install takes (requirements.lock), by file name. */
  resolved: z.array(WheelhouseFile),
  /** The wheels the --no-deps install takes (no-deps.lock), by file name; a file may be in both. */
  noDeps: z.array(WheelhouseFile),
  createdAt: z.string(),
  /** The host pip that resolved and downloaded them (`pip 24.0 from …`), for the record only: not part of the key. */
  pip: z.string(),
});
export type WheelhouseRecord = z.infer<typeof WheelhouseRecord>;

/** Where a wheelhouse keeps its files under its root: the same names on the host and wherever a guest mounts it. */
export function wheelhousePaths(root: string): { record: string; wheels: string; resolvedLock: string; noDepsLock: string } {
  return {
    record: join(root, 'wheelhouse.json'),
    wheels: join(root, 'wheels'),
    resolvedLock: join(root, 'requirements.lock'),
    noDepsLock: join(root, 'no-deps.lock'),
  };
}

/** A request with its lists in a canonical order (sorted, without repeats or surrounding blanks, URLs without a trailing /). */
export function canonicalWheelhouseRequest(request: WheelhouseRequest): z.output<typeof WheelhouseRequest> {
  const parsed = WheelhouseRequest.parse(request);
  const list = (items: readonly string[]) => [...new Set(items.map((item) => item.trim()))].sort();
  const url = (text: string) => text.trim().replace(/\/+$/, '');
  return {
    requirements: list(parsed.requirements),
    noDeps: list(parsed.noDeps),
    indexUrl: url(parsed.indexUrl),
    extraIndexUrls: list(parsed.extraIndexUrls.map(url)),
    target: parsed.target,
  };
}

/** The key of a wheelhouse: SHA-256 of the canonical JSON of exactly what decides its content (never where it lives or when it was filled). */
export function wheelhouseKey(request: WheelhouseRequest): string {
  return sha256Hex(encodeCanonicalJson({ format: WHEELHOUSE_FORMAT, ...canonicalWheelhouseRequest(request) }));
}

/**
 * The platform tags a glibc `glibc` ("2.39") on `arch` accepts, best first: manylinux_2_<minor> down to
 * manylinux_2_17 and the legacy manylinux2014/2010/1 aliases (PEP 600). pip 23 does not expand a
 * manylinux_2_X --platform itself (only manylinux2014 and 2010), so pip download must be given them all.
 */
export function manylinuxPlatforms(glibc: string, arch: string): string[] {
  const minor = /^2\.(\d+)$/.exec(glibc)?.[1];
  if (minor === undefined || Number(minor) < 5) throw new RangeError(`not a glibc 2.x version: ${glibc}`);
  const tags: string[] = [];
  for (let m = Number(minor); m >= 5; m -= 1) {
    tags.push(`manylinux_2_${m}_${arch}`);
    if (m === 17) tags.push(`manylinux2014_${arch}`);
    if (m === 12) tags.push(`manylinux2010_${arch}`);
    if (m === 5) tags.push(`manylinux1_${arch}`);
  }
  return tags;
}

/** A wheel file name's project (PEP 503-normalised) and version: `torch-2.13.0+cu130-cp312-cp312-manylinux_2_28_x86_64.whl`. */
export function parseWheelName(fileName: string): { project: string; version: string } {
  const parts = fileName.replace(/\.whl$/, '').split('-');
  if (!fileName.endsWith('.whl') || (parts.length !== 5 && parts.length !== 6)) throw new Error(`not a wheel file name: ${fileName}`);
  return { project: parts[0]!.toLowerCase().replace(/[-_.]+/g, '-'), version: parts[1]! };
}

/**
 * A requirements file for pip's hash-checking mode: `name==version --hash=sha256:…` for each wheel, so
 * `pip install --require-hashes -r` installs exactly these bytes (and refuses any dependency not listed).
 */
export function renderWheelhouseLock(key: string, files: readonly WheelhouseFile[]): string {
  const lines = files
    .map((file) => ({ ...parseWheelName(file.name), sha256: file.sha256 }))
    .sort((a, b) => (a.project < b.project ? -1 : a.project > b.project ? 1 : 0))
    .map((pin) => `${pin.project}==${pin.version} --hash=sha256:${pin.sha256}`);
  return [`# Generated by imagebuild (src/adapters/package-cache/wheelhouse-record.ts) for wheelhouse ${key}; do not edit.`, ...lines, ''].join('\n');
}

/**
 * The pip arguments (after `pip`) that install a wheelhouse mounted at `root` in a guest: nothing from any index,
 * every file checked against the lock's SHA-256. The resolved set first, then the --no-deps pins over it.
 */
export function wheelhouseInstallArgs(root: string, record: Pick<WheelhouseRecord, 'noDeps'>): string[][] {
  const paths = wheelhousePaths(root);
  const base = ['install', '--no-index', '--find-links', paths.wheels, '--require-hashes'];
  return [[...base, '-r', paths.resolvedLock], ...(record.noDeps.length > 0 ? [[...base, '--no-deps', '-r', paths.noDepsLock]] : [])];
}
