import { apparentBytes } from '../adapters/fs/disk-usage.js';
import type { ArtifactStore } from '../adapters/store/types.js';
import { listLocalReleases, readLocalCurrent, removeLocalRelease } from '../adapters/workspace/local-releases.js';
import { releaseLayout } from '../adapters/workspace/release-layout.js';
import { findRelease, publishIdTime, releaseIndexKey, releaseOwnsKey, releaseVersionPrefix, removeReleases, type ReleaseIndex } from '../core/release/release-index.js';
import { ReleaseIndexMissingError } from '../errors/index.js';
import { selectReleasesToPrune } from '../core/release/retention.js';
import { isReleaseVersion } from '../core/version/release-version.js';
import { isStoreKey, loadReleaseSpec, openSpecStoreIfConfigured, readReleaseIndex, releaseObjectsPrefix, updateReleaseIndex, type ReleaseCommandOptions } from './release-store.js';

export type PruneOptions = ReleaseCommandOptions & {
  /** Delete; without it, only report what would be removed. */
  readonly apply: boolean;
  /** Releases to keep; default the spec's artifacts.retention. */
  readonly keep?: number;
};

export type PrunedRelease = { readonly version: string; readonly why: string; readonly bytes: number; readonly paths: readonly string[] };

export type PruneReport = {
  readonly dryRun: boolean;
  readonly keep: number;
  readonly store: {
    readonly location: string;
    readonly current: string | null;
    readonly kept: readonly { readonly version: string; readonly why: string }[];
    readonly removed: readonly PrunedRelease[];
    /** Objects no listed release owns, per publish that left them (a failed, interrupted or raced publish), older than a day. */
    readonly orphans: readonly PrunedRelease[];
  } | null;
  readonly local: {
    readonly dir: string;
    readonly current: string | null;
    readonly kept: readonly { readonly version: string; readonly why: string }[];
    readonly removed: readonly PrunedRelease[];
  };
  readonly freedBytes: number;
};

/**
 * `imagebuild prune`: keeps the newest N releases (artifacts.retention, default 3) and the current
 * one, in the store and in output/<name>/; removes the rest only with `apply`. In the store the index
 * drops a release before its objects go, so no reader ever follows it to a missing image.
 */
export async function pruneReleases(options: PruneOptions): Promise<PruneReport> {
  const context = await loadReleaseSpec(options.specArg, options.cwd);
  const keep = options.keep ?? context.spec.artifacts.retention;
  const store = await openSpecStoreIfConfigured(context, options.cwd, options.env);
  try {
    const storeReport = store ? await pruneStore(store, context.spec.name, keep, options.apply, new Date()) : null;
    const localCurrent = (await readLocalCurrent(context.outputRoot)) ?? null;
    const local = await listLocalReleases(context.outputRoot);
    // Never delete the local copy of what either side calls current.
    const protectedVersion = localCurrent ?? storeReport?.current ?? null;
    const plan = selectReleasesToPrune(
      local.map((r) => r.version),
      protectedVersion,
      keep,
    );
    const storeCurrent = storeReport?.current;
    const kept = [...plan.keep, ...plan.remove.filter((r) => r.version === storeCurrent).map((r) => ({ version: r.version, why: 'current in the store (never pruned)' }))];
    const removed: PrunedRelease[] = [];
    for (const victim of plan.remove.filter((r) => r.version !== storeCurrent)) {
      const release = releaseLayout(context.outputRoot, context.spec.name, victim.version);
      const bytes = await apparentBytes(release.dir);
      if (options.apply) await removeLocalRelease(release);
      removed.push({ version: victim.version, why: victim.why, bytes, paths: [release.dir] });
    }
    const freedBytes = [...removed, ...(storeReport?.removed ?? []), ...(storeReport?.orphans ?? [])].reduce((sum, r) => sum + r.bytes, 0);
    return {
      dryRun: !options.apply,
      keep,
      store: storeReport,
      local: { dir: context.outputRoot, current: localCurrent, kept, removed },
      freedBytes,
    };
  } finally {
    store?.close();
  }
}

async function pruneStore(store: ArtifactStore, name: string, keep: number, apply: boolean, now: Date): Promise<NonNullable<PruneReport['store']>> {
  const { index, etag } = await readReleaseIndex(store, name);
  const objects = await store.list(releaseObjectsPrefix(name));
  if (etag === undefined && objects.length > 0) {
    // Without an index nothing in the store is provably garbage.
    throw new ReleaseIndexMissingError(
      `${store.describe(releaseIndexKey(name))} is missing, but ${objects.length} object(s) lie under ${store.describe(name)}/v…; prune deletes nothing without an index — rebuild it with imagebuild reindex --yes (or publish a release, which creates it)`,
    );
  }
  const current = index.current?.version ?? null;
  const plan = selectReleasesToPrune(
    index.releases.map((r) => r.version),
    current,
    keep,
  );
  const sizeOf = (keys: readonly string[]) => objects.filter((o) => keys.includes(o.key)).reduce((s, o) => s + o.size, 0);
  const objectsOf = (version: string) => objects.filter((o) => o.key.startsWith(releaseVersionPrefix(name, version))).map((o) => o.key);
  const removed = plan.remove.map((r) => {
    const own = objectsOf(r.version);
    return { version: r.version, why: r.why, bytes: sizeOf(own), paths: own.map((k) => store.describe(k)), keys: own };
  });
  const orphans = unfinishedPublishes(index, name, objects.map((o) => o.key), now)
    .filter((o) => !plan.remove.some((r) => r.version === o.version))
    .map((o) => ({ ...o, bytes: sizeOf(o.keys), paths: o.keys.map((k) => store.describe(k)) }));
  if (apply) {
    if (removed.length > 0) {
      const doomed = removed.map((r) => r.version);
      await updateReleaseIndex(store, name, {}, (fresh) => removeReleases(fresh, doomed));
    }
    for (const r of [...removed, ...orphans.filter((o) => o.remove)]) await store.delete(r.keys);
  }
  const strip = <T extends { keys: unknown; remove?: unknown }>({ keys: _k, remove: _r, ...rest }: T) => rest;
  return {
    location: store.location,
    current,
    kept: [...plan.keep, ...orphans.filter((o) => !o.remove).map((o) => ({ version: o.version, why: o.why }))],
    removed: removed.map(strip),
    orphans: orphans.filter((o) => o.remove).map(strip),
  };
}

// An unfinished publish younger than this may still be uploading: prune leaves it alone.
const UNFINISHED_GRACE_MS = 24 * 60 * 60 * 1000;

/**
 * Objects under <name>/v… that no listed release owns, grouped by the publish that left them: a
 * publish that failed, was interrupted or lost a race for its version. One started less than a day
 * ago (its publish id says when) may still be uploading and is kept.
 */
function unfinishedPublishes(index: ReleaseIndex, name: string, keys: readonly string[], now: Date): { version: string; why: string; keys: string[]; remove: boolean }[] {
  const owned = (key: string) => index.releases.some((r) => releaseOwnsKey(r, key));
  const groups = new Map<string, { version: string; started: string | undefined; keys: string[] }>();
  for (const key of keys) {
    // A key imagebuild could not have written (odd characters) is not ours to delete, nor to print.
    if (owned(key) || !isStoreKey(key)) continue;
    const [, version, segment] = /^[^/]+\/v([^/]+)\/(?:([^/]+)\/)?/.exec(key) ?? [];
    // Only what a publish writes: <name>/v<release version>/…; anything else in the store is not ours to delete.
    if (version === undefined || !isReleaseVersion(version) || !key.startsWith(releaseVersionPrefix(name, version))) continue;
    const started = segment === undefined ? undefined : publishIdTime(segment);
    const group = `${version}/${started === undefined ? '' : segment}`;
    const entry = groups.get(group) ?? { version, started, keys: [] };
    entry.keys.push(key);
    groups.set(group, entry);
  }
  return [...groups.values()].map(({ version, started, keys: own }) => {
    const recent = started !== undefined && now.getTime() - Date.parse(started) < UNFINISHED_GRACE_MS;
    const listed = findRelease(index, version) !== undefined;
    const what = `${listed ? 'not part of the listed release' : 'not in the release index'}: left by an unfinished publish${started === undefined ? '' : ` started ${started}`}`;
    return { version, keys: own, remove: !recent, why: recent ? `${what}, which may still be running (pruned once a day old)` : what };
  });
}
