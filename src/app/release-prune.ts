import { apparentBytes } from '../adapters/fs/disk-usage.js';
import type { ArtifactStore } from '../adapters/store/types.js';
import { listLocalReleases, readLocalCurrent, removeLocalRelease } from '../adapters/workspace/local-releases.js';
import { releaseLayout } from '../adapters/workspace/release-layout.js';
import { removeReleases } from '../core/release/release-index.js';
import { selectReleasesToPrune } from '../core/release/retention.js';
import { loadReleaseSpec, openSpecStoreIfConfigured, readReleaseIndex, updateReleaseIndex, type ReleaseCommandOptions } from './release-store.js';

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
    /** Objects of versions the index does not list: left by an interrupted publish. */
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
    const storeReport = store ? await pruneStore(store, context.spec.name, keep, options.apply) : null;
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

async function pruneStore(store: ArtifactStore, name: string, keep: number, apply: boolean): Promise<NonNullable<PruneReport['store']>> {
  const { index } = await readReleaseIndex(store, name);
  const current = index.current?.version ?? null;
  const plan = selectReleasesToPrune(
    index.releases.map((r) => r.version),
    current,
    keep,
  );
  const objects = await store.list(`${name}/v`);
  const objectsOf = (version: string) => objects.filter((o) => o.key.startsWith(`${name}/v${version}/`));
  const removed = plan.remove.map((r) => {
    const own = objectsOf(r.version);
    return { version: r.version, why: r.why, bytes: own.reduce((s, o) => s + o.size, 0), paths: own.map((o) => store.describe(o.key)) };
  });
  const listed = new Set(index.releases.map((r) => r.version));
  const orphanVersions = [...new Set(objects.map((o) => /^[^/]+\/v([^/]+)\//.exec(o.key)?.[1]).filter((v): v is string => v !== undefined && !listed.has(v)))];
  const orphans = orphanVersions.map((version) => {
    const own = objectsOf(version);
    return { version, why: 'not in the release index: left by an interrupted publish', bytes: own.reduce((s, o) => s + o.size, 0), paths: own.map((o) => store.describe(o.key)) };
  });
  if (apply) {
    if (removed.length > 0) {
      const doomed = removed.map((r) => r.version);
      await updateReleaseIndex(store, name, (fresh) => removeReleases(fresh, doomed));
    }
    for (const r of [...removed, ...orphans]) await store.delete(objectsOf(r.version).map((o) => o.key));
  }
  return { location: store.location, current, kept: plan.keep, removed, orphans };
}
