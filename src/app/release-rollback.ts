import { readLocalCurrent, setLocalCurrent } from '../adapters/workspace/local-releases.js';
import { readManifestFile } from '../adapters/workspace/manifest-file.js';
import { currentLinkPath, releaseLayout } from '../adapters/workspace/release-layout.js';
import type { ImageManifest } from '../core/manifest/image-manifest.js';
import { printableText } from '../core/printable-text.js';
import { ReleaseRefusedError } from '../errors/index.js';
import { resolveRelease, setCurrent } from '../core/release/release-index.js';
import {
  currentActor,
  loadReleaseSpec,
  localReleaseNotFound,
  openSpecStoreIfConfigured,
  readReleaseIndex,
  readStoredManifest,
  timestampOf,
  updateReleaseIndex,
  type ReleaseCommandOptions,
} from './release-store.js';

export type VersionRollbackOptions = ReleaseCommandOptions & {
  /** The release to make current: a canonical version without the leading v. */
  readonly to: string;
  /** Why, for the index's history; default "rollback". */
  readonly reason?: string;
};

export type VersionRollbackReport = {
  readonly name: string;
  readonly to: string;
  /** What was current before (in the store when there is one, else locally). */
  readonly previous: string | null;
  readonly setAt: string;
  readonly setBy: string;
  readonly reason: string;
  readonly store: { readonly location: string; readonly changed: boolean } | null;
  readonly local: { readonly link: string; readonly previous: string | null; readonly changed: boolean; readonly note: string | null };
};

/**
 * Version-level rollback: points `current` at an earlier (or any other) published release in the
 * store — recording who and when in the index's history — and the output/<name>/current link at its
 * local copy. Refuses a version that does not exist or whose gates or verification failed.
 */
export async function rollbackRelease(options: VersionRollbackOptions): Promise<VersionRollbackReport> {
  const context = await loadReleaseSpec(options.specArg, options.cwd);
  const { spec, outputRoot } = context;
  // Recorded in the index, where every reader gets it printable: the same text here and there.
  const reason = printableText(options.reason?.trim() || 'rollback');
  const stamp = { at: timestampOf(new Date()), by: currentActor(options.env) };
  const store = await openSpecStoreIfConfigured(context, options.cwd, options.env);
  try {
    const release = releaseLayout(outputRoot, spec.name, options.to);
    const localManifest = await readManifestFile(release.manifest);
    let previous: string | null = null;
    let storeResult: VersionRollbackReport['store'] = null;
    if (store) {
      const { index } = await readReleaseIndex(store, spec.name);
      const record = resolveRelease(index, options.to, store.location);
      if (record.gate_status === 'failed') throw new ReleaseRefusedError(`v${options.to} failed its gates (release index of ${store.location}); it cannot be made current`);
      refuseFailed(await readStoredManifest(store, record.manifest_key), store.describe(record.manifest_key));
      previous = index.current?.version ?? null;
      const changed = previous !== options.to;
      if (changed) await updateReleaseIndex(store, spec.name, {}, (fresh) => setCurrent(fresh, options.to, stamp, reason));
      storeResult = { location: store.location, changed };
    } else {
      if (!localManifest) throw await localReleaseNotFound(outputRoot, options.to);
      previous = (await readLocalCurrent(outputRoot)) ?? null;
    }

    const localPrevious = (await readLocalCurrent(outputRoot)) ?? null;
    const link = currentLinkPath(outputRoot);
    let local: VersionRollbackReport['local'];
    if (localManifest) {
      refuseFailed(localManifest, release.manifest);
      if (localPrevious !== options.to) await setLocalCurrent(outputRoot, options.to);
      local = { link, previous: localPrevious, changed: localPrevious !== options.to, note: null };
    } else {
      local = {
        link,
        previous: localPrevious,
        changed: false,
        note: `v${options.to} is not in ${outputRoot}; the local current link is unchanged (imagebuild download v${options.to} fetches it)`,
      };
    }
    return { name: spec.name, to: options.to, previous, setAt: stamp.at, setBy: stamp.by, reason, store: storeResult, local };
  } finally {
    store?.close();
  }
}

function refuseFailed(manifest: ImageManifest, where: string): void {
  const failed = manifest.layers.find((l) => l.gate.status !== 'passed');
  if (failed) throw new ReleaseRefusedError(`${where}: the ${failed.layer} gate failed; a failed release cannot be made current`);
  if (manifest.verify?.status === 'failed') throw new ReleaseRefusedError(`${where}: the verification boot failed; a failed release cannot be made current`);
}
