import semver from 'semver';
import type { ArtifactStore, StoreObject } from '../adapters/store/types.js';
import { rebuildReleaseIndex, type FoundRelease } from '../core/release/rebuild-index.js';
import { parseReleaseIndex, publishIdTime, releaseIndexKey, releaseKeys, type ReleaseIndex } from '../core/release/release-index.js';
import { firstLine, ImagebuildError, ReleaseRefusedError } from '../errors/index.js';
import {
  currentActor,
  isStoreKey,
  loadReleaseSpec,
  openSpecStore,
  readIndexJson,
  readStoredManifest,
  releaseObjectsPrefix,
  timestampOf,
  type ReleaseCommandOptions,
} from './release-store.js';

export type ReindexOptions = ReleaseCommandOptions & {
  /** Write the rebuilt index; without it, only report what it would list. */
  readonly apply: boolean;
};

export type ReindexReport = {
  readonly name: string;
  readonly store: string;
  readonly dryRun: boolean;
  /** What was there before: no releases.json, or one that does not parse or validate. */
  readonly previous: 'missing' | 'unreadable';
  /** What the rebuilt index lists, oldest first. */
  readonly releases: readonly { readonly version: string; readonly manifest: string; readonly published_at: string }[];
  /** Versions with objects in the store that the index does not list, and why. */
  readonly skipped: readonly { readonly version: string; readonly why: string }[];
  readonly current: string | null;
  readonly index: ReleaseIndex;
};

/**
 * `imagebuild reindex`: rebuilds a missing or unreadable releases.json from the manifests in the
 * store. A version is listed when exactly one publish of it is complete: its manifest validates and
 * names this image and version, and its image (of the manifest's size) and SHA256SUMS are beside it.
 * A readable index is never replaced (it holds the history of `current` that manifests do not).
 */
export async function reindexReleases(options: ReindexOptions): Promise<ReindexReport> {
  const context = await loadReleaseSpec(options.specArg, options.cwd);
  const { name } = context.spec;
  const store = await openSpecStore(context, options.cwd, options.env);
  try {
    const key = releaseIndexKey(name);
    const before = await readIndexJson(store, key).then(
      (stored) => (stored === undefined ? { state: 'missing' as const } : { state: 'stored' as const, stored }),
      (error: unknown) => ({ state: 'unreadable' as const, error }),
    );
    let etag: string | undefined;
    if (before.state === 'stored') {
      etag = before.stored.etag;
      try {
        const index = parseReleaseIndex(before.stored.value, store.describe(key));
        throw new ReleaseRefusedError(`${store.describe(key)} is readable and lists ${index.releases.length} release(s); reindex only rebuilds a missing or unreadable index (a readable one holds the history of current)`);
      } catch (error) {
        if (error instanceof ReleaseRefusedError) throw error;
      }
    } else if (before.state === 'unreadable' && !(before.error instanceof ImagebuildError && before.error.code === 'RELEASE_INDEX_INVALID')) {
      throw before.error;
    }

    const objects = await store.list(releaseObjectsPrefix(name));
    const { found, skipped } = await findReleases(store, name, objects);
    const stamp = { at: timestampOf(new Date()), by: currentActor(options.env) };
    const index = rebuildReleaseIndex(name, found, stamp);
    if (options.apply) {
      // No index: a conditional create. An unreadable one: replaced only if it is still the one read (when it had an etag).
      await store.putJson(key, index, before.state === 'missing' ? { ifAbsent: true } : etag === undefined ? {} : { ifMatch: etag });
    }
    return {
      name,
      store: store.location,
      dryRun: !options.apply,
      previous: before.state === 'missing' ? 'missing' : 'unreadable',
      releases: index.releases.map((r) => ({ version: r.version, manifest: store.describe(r.manifest_key), published_at: r.published_at })),
      skipped,
      current: index.current?.version ?? null,
      index,
    };
  } finally {
    store.close();
  }
}

type Candidate = { readonly version: string; readonly publishId: string | undefined; readonly manifestKey: string };

/** Every complete publish per version in `objects`; versions with none, or with more than one, are skipped with the reason. */
async function findReleases(store: ArtifactStore, name: string, objects: readonly StoreObject[]): Promise<{ found: FoundRelease[]; skipped: { version: string; why: string }[] }> {
  const sizes = new Map(objects.map((o) => [o.key, o.size]));
  const versions = new Map<string, Candidate[]>();
  for (const { key } of objects) {
    if (!isStoreKey(key)) continue;
    const match = /^[^/]+\/v([^/]+)\/(?:([^/]+)\/)?([^/]+)$/.exec(key);
    if (!match || !key.startsWith(`${name}/v`)) continue;
    const [, version, publishId, file] = match as unknown as [string, string, string | undefined, string];
    if (semver.valid(version) !== version) continue;
    const list = versions.get(version) ?? [];
    if (file === 'image-manifest.json') list.push({ version, publishId, manifestKey: key });
    versions.set(version, list);
  }
  const found: FoundRelease[] = [];
  const skipped: { version: string; why: string }[] = [];
  for (const [version, candidates] of [...versions].sort(([a], [b]) => semver.compare(a, b))) {
    const complete: FoundRelease[] = [];
    const problems: string[] = [];
    for (const candidate of candidates) {
      const checked = await checkCandidate(store, name, candidate, sizes);
      if (typeof checked === 'string') problems.push(checked);
      else complete.push(checked);
    }
    if (complete.length === 1) found.push(complete[0]!);
    else if (complete.length > 1) {
      skipped.push({ version, why: `${complete.length} complete publishes (${complete.map((c) => store.describe(c.keys.dir)).join(', ')}); keep one (delete the others' objects), then run reindex again` });
    } else {
      skipped.push({ version, why: problems.length > 0 ? problems.join('; ') : 'no image-manifest.json: an unfinished publish (imagebuild prune --yes removes it)' });
    }
  }
  return { found, skipped };
}

/** A complete publish, or why it is not one. */
async function checkCandidate(store: ArtifactStore, name: string, candidate: Candidate, sizes: ReadonlyMap<string, number>): Promise<FoundRelease | string> {
  let manifest;
  try {
    manifest = await readStoredManifest(store, candidate.manifestKey);
  } catch (error) {
    return firstLine(error);
  }
  const where = store.describe(candidate.manifestKey);
  if (manifest.name !== name || manifest.version !== candidate.version) return `${where} describes ${manifest.name} v${manifest.version}, not ${name} v${candidate.version}`;
  const keys = releaseKeys(name, candidate.version, manifest.artifact, candidate.publishId);
  const size = sizes.get(keys.artifact);
  if (size !== manifest.size_bytes) return `${store.describe(keys.artifact)}: ${size === undefined ? 'missing' : `${size} bytes, the manifest says ${manifest.size_bytes}`}`;
  if (!sizes.has(keys.sums)) return `${store.describe(keys.sums)}: missing`;
  return { keys, manifest, specStored: sizes.has(keys.spec), publishedAt: candidate.publishId === undefined ? null : (publishIdTime(candidate.publishId) ?? null) };
}
