import semver from 'semver';
import { z } from 'zod';
import { VersionExistsError } from '../../errors/index.js';
import { ReleaseIndexInvalidError, ReleaseNotFoundError, ReleaseRefusedError } from '../../errors/index.js';
import { Sha256 } from '../digest.js';
import { printableText } from '../printable-text.js';
import { ReleaseVersion } from '../version/release-version.js';

// releases.json: the one object a reader trusts. Publishing writes it last (after the image and the
// manifest it points at), so a version listed here is always complete in the store.
//
// Old clients keep working (issue 17, rule 12): a field a newer imagebuild adds (to the index, a
// record, `current` or the bump) is kept as it is — validated by nobody here, written back unchanged
// by every read-modify-write — while every known field is validated strictly. A change older
// clients must not read is a new `format`, which they refuse.


const Timestamp = z.iso.datetime({ error: 'not an ISO 8601 UTC time; e.g. 2026-01-15T10:30:00Z' });
const StoreKey = z.string().min(1).regex(/^[A-Za-z0-9._+/-]+$/, { error: 'not a store key' });

/**
 * Free text in the index (who, why) as every reader gets it: printable, one line (see printableText),
 * at most `max` characters. Anyone who can write the store can write the index; what it says is shown
 * to operators, never obeyed by their terminals.
 */
const IndexText = (max: number) =>
  z
    .string()
    .min(1)
    .max(max * 6)
    .transform((text) => printableText(text).slice(0, max));

/** `$USER@hostname` of whoever published or moved `current`. */
const Actor = IndexText(200);

/** One published release: where its objects are, and what a reader needs without fetching the manifest. */
export const ReleaseRecord = z.looseObject({
  version: ReleaseVersion,
  published_at: Timestamp,
  published_by: Actor,
  manifest_key: StoreKey,
  artifact_key: StoreKey,
  sums_key: StoreKey,
  /** The canonical spec the image was built from, when publish could prove it (its hash equals the manifest's spec_hash). */
  spec_key: StoreKey.nullable(),
  size_bytes: z.number().int().positive().max(Number.MAX_SAFE_INTEGER),
  sha256: Sha256,
  /** failed: a gate or the verification boot failed; such a release is never made current. */
  gate_status: z.enum(['passed', 'failed']),
  gpu_validated: z.boolean(),
  bump: z.looseObject({
    from: ReleaseVersion.nullable(),
    actual: z.enum(['initial', 'major', 'minor', 'patch']),
    required: z.enum(['major', 'minor', 'patch']).nullable(),
    /** The operator's reason for publishing despite a bump mismatch (also in the manifest's version_override). */
    override: IndexText(2000).nullable(),
  }),
});
export type ReleaseRecord = z.infer<typeof ReleaseRecord>;

/** Which release `current` points at, and who pointed it there. */
export const CurrentPointer = z.looseObject({
  version: ReleaseVersion,
  set_at: Timestamp,
  set_by: Actor,
  reason: IndexText(500),
});
export type CurrentPointer = z.infer<typeof CurrentPointer>;

/** One move of `current`, newest last. */
export const CurrentChange = CurrentPointer.extend({ previous: ReleaseVersion.nullable() });
export type CurrentChange = z.infer<typeof CurrentChange>;

/** How many moves of `current` the index remembers. */
export const HISTORY_LIMIT = 200;

/** releases.json: every published release of one image, oldest first, the `current` pointer and its history. */
export const ReleaseIndex = z
  .looseObject({
    format: z.literal(1, { error: 'unsupported release index format; this imagebuild reads format 1' }),
    name: z.string().regex(/^[a-z0-9][a-z0-9-]{1,62}$/, { error: 'not an image name' }),
    releases: z.array(ReleaseRecord),
    current: CurrentPointer.nullable(),
    history: z.array(CurrentChange).max(HISTORY_LIMIT),
  })
  .superRefine((index, ctx) => {
    const seen = new Set<string>();
    index.releases.forEach((r, i) => {
      if (seen.has(r.version)) ctx.addIssue({ code: 'custom', path: ['releases', i, 'version'], message: `v${r.version} is listed twice` });
      seen.add(r.version);
    });
    if (index.current && !seen.has(index.current.version)) {
      ctx.addIssue({ code: 'custom', path: ['current', 'version'], message: `current points at v${index.current.version}, which is not a listed release` });
    }
  });
export type ReleaseIndex = z.infer<typeof ReleaseIndex>;

/** Who did something and when: the clock and the user come in as arguments. */
export type Stamp = { readonly at: string; readonly by: string };

/** Store keys of one release, relative to the store's prefix: `<name>/v<version>/<publish id>/…`. */
export type ReleaseKeys = { readonly dir: string; readonly artifact: string; readonly manifest: string; readonly sums: string; readonly spec: string };

const PUBLISH_ID = /^(\d{8}T\d{6}Z)-[0-9a-f]{8}$/;

/** The key of an image's release index: `<name>/releases.json`. */
export function releaseIndexKey(name: string): string {
  return `${name}/releases.json`;
}

/** What every store key of an image's version starts with: `<name>/v<version>/`. */
export function releaseVersionPrefix(name: string, version: string): string {
  return `${name}/v${version}/`;
}

/**
 * Where one publish of a release puts its objects: `<name>/v<version>/<publish id>/`, a directory no
 * other publish writes, so a listed release's image, manifest, sums and spec always come from one
 * publisher. Without a publish id: the layout of releases published before publish ids (still read).
 */
export function releaseKeys(name: string, version: string, artifact: string, publishId?: string): ReleaseKeys {
  const dir = `${releaseVersionPrefix(name, version)}${publishId === undefined ? '' : `${publishId}/`}`.slice(0, -1);
  return { dir, artifact: `${dir}/${artifact}`, manifest: `${dir}/image-manifest.json`, sums: `${dir}/SHA256SUMS`, spec: `${dir}/spec.json` };
}

/** A publish id: when it started (UTC, to the second, from `timestamp` as the index writes times) and 8 random hex digits. */
export function publishIdOf(timestamp: string, randomHex: string): string {
  const id = `${timestamp.replace(/[-:]/g, '')}-${randomHex}`;
  if (!PUBLISH_ID.test(id)) throw new RangeError(`not a publish id: ${id}`);
  return id;
}

/** When the publish with this id started (ISO 8601 UTC), or undefined when `segment` is no publish id. */
export function publishIdTime(segment: string): string | undefined {
  const stamp = PUBLISH_ID.exec(segment)?.[1];
  return stamp === undefined ? undefined : `${stamp.slice(0, 4)}-${stamp.slice(4, 6)}-${stamp.slice(6, 11)}:${stamp.slice(11, 13)}:${stamp.slice(13)}`;
}

/**
 * Whether a listed release owns `key`: the objects its record names, and every file beside its
 * manifest (the SBOM, the provenance statement: one publish wrote that directory). Anything else
 * under <name>/v<version>/ was left by another publish.
 */
export function releaseOwnsKey(record: ReleaseRecord, key: string): boolean {
  const named = [record.artifact_key, record.manifest_key, record.sums_key, record.spec_key];
  const dir = record.manifest_key.slice(0, record.manifest_key.lastIndexOf('/') + 1);
  return named.includes(key) || (key.startsWith(dir) && !key.slice(dir.length).includes('/'));
}

/** An index with no releases yet. */
export function emptyReleaseIndex(name: string): ReleaseIndex {
  return { format: 1, name, releases: [], current: null, history: [] };
}

/** Validates a release index read from `where`; throws ReleaseIndexInvalidError naming the first problem. */
export function parseReleaseIndex(json: unknown, where: string): ReleaseIndex {
  const result = ReleaseIndex.safeParse(json);
  if (result.success) return result.data;
  const [issue] = result.error.issues;
  const path = issue === undefined || issue.path.length === 0 ? '(root)' : issue.path.map(String).join('.');
  throw new ReleaseIndexInvalidError(`${where}: ${path}: ${issue?.message ?? 'does not validate'}; rebuild it from the releases' manifests with imagebuild reindex --yes, or restore it from the store's versioning or a backup`, { cause: result.error });
}

/** The release with this version, if listed. */
export function findRelease(index: ReleaseIndex, version: string): ReleaseRecord | undefined {
  return index.releases.find((r) => r.version === version);
}

/** The highest version listed, if any. */
export function latestRelease(index: ReleaseIndex): ReleaseRecord | undefined {
  return [...index.releases].sort((a, b) => semver.rcompare(a.version, b.version))[0];
}

/** The highest listed version below `version`: the release a new one is compared with. */
export function previousRelease(index: ReleaseIndex, version: string): ReleaseRecord | undefined {
  return [...index.releases].filter((r) => semver.lt(r.version, version)).sort((a, b) => semver.rcompare(a.version, b.version))[0];
}

/** Resolves `current` or a version to its release; throws ReleaseNotFoundError listing what exists. */
export function resolveRelease(index: ReleaseIndex, ref: 'current' | string, where: string): ReleaseRecord {
  if (ref === 'current') {
    if (!index.current) throw new ReleaseNotFoundError(`${where}: no release is current yet; publish one first (imagebuild publish vX.Y.Z)`);
    ref = index.current.version;
  }
  const found = findRelease(index, ref);
  if (!found) {
    const listed = index.releases.map((r) => `v${r.version}`);
    throw new ReleaseNotFoundError(`${where}: no release v${ref}; published: ${listed.length > 0 ? listed.join(', ') : 'none'}`);
  }
  return found;
}

/** Adds a release (kept in semver order); a version already listed is an error, since versions are immutable. */
export function addRelease(index: ReleaseIndex, record: ReleaseRecord): ReleaseIndex {
  if (findRelease(index, record.version)) throw new VersionExistsError(`v${record.version} is already in the release index; versions are immutable: publish a new version`);
  const releases = [...index.releases, record].sort((a, b) => semver.compare(a.version, b.version));
  return { ...index, releases };
}

/** Points `current` at a listed release and records the move in the history. */
export function setCurrent(index: ReleaseIndex, version: string, stamp: Stamp, reason: string): ReleaseIndex {
  if (!findRelease(index, version)) throw new ReleaseNotFoundError(`cannot make v${version} current: it is not in the release index`);
  const change: CurrentChange = { version, set_at: stamp.at, set_by: stamp.by, reason, previous: index.current?.version ?? null };
  return {
    ...index,
    current: { version, set_at: stamp.at, set_by: stamp.by, reason },
    history: [...index.history, change].slice(-HISTORY_LIMIT),
  };
}

/** Whether `version` is a prerelease (`1.1.0-rc.1`): built and published like any release, but never made current unless asked. */
export function isPrerelease(version: string): boolean {
  return semver.prerelease(version) !== null;
}

/** Whether a plain publish of `version` moves `current` to it: a stable version above the current one (or the first stable one); a prerelease never. */
export function becomesCurrent(version: string, current: string | null): boolean {
  return !isPrerelease(version) && (current === null || semver.gt(version, current));
}

/** Removes releases from the index; refuses the current one. */
export function removeReleases(index: ReleaseIndex, versions: readonly string[]): ReleaseIndex {
  if (index.current && versions.includes(index.current.version)) {
    throw new ReleaseRefusedError(`refusing to remove v${index.current.version}: it is the current release`);
  }
  return { ...index, releases: index.releases.filter((r) => !versions.includes(r.version)) };
}
