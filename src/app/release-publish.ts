import { join } from 'node:path';
import semver from 'semver';
import { fileSize } from '../adapters/fs/directories.js';
import type { ArtifactStore } from '../adapters/store/types.js';
import { ensureReleaseSums, setLocalCurrent } from '../adapters/workspace/local-releases.js';
import { readManifestFile, writeManifestFile } from '../adapters/workspace/manifest-file.js';
import { artifactFileName, releaseLayout } from '../adapters/workspace/release-layout.js';
import { serializeManifest, type ImageManifest } from '../core/manifest/image-manifest.js';
import { checkVersionBump, classifyManifestChanges, classifySpecChanges, type BumpCheck, type VersionChange } from '../core/release/bump-policy.js';
import { ChecksumMismatchError, ReleaseNotFoundError, ReleaseRefusedError } from '../errors/index.js';
import { addRelease, findRelease, previousRelease, releaseKeys, setCurrent, type ReleaseIndex, type ReleaseRecord } from '../core/release/release-index.js';
import { specHashOf, specIdentity, specIdentityText } from '../core/spec/spec-hash.js';
import { applyHostProfile } from '../core/spec/host-profile.js';
import type { ImageSpec } from '../core/spec/schema.js';
import { FileAccessError, VersionExistsError } from '../errors/index.js';
import {
  createProgressReporter,
  currentActor,
  loadReleaseSpec,
  openSpecStore,
  readReleaseIndex,
  readStoredManifest,
  timestampOf,
  updateReleaseIndex,
  type ReleaseCommandOptions,
  type TransferProgress,
} from './release-store.js';

export type PublishOptions = ReleaseCommandOptions & {
  /** Canonical version without the leading v. */
  readonly version: string;
  /** Publish although the bump does not match the changes; the reason is recorded in the manifest (version_override) and the index. A version_override already in the manifest counts as given. */
  readonly allowBumpMismatch?: string;
  readonly onProgress?: (progress: TransferProgress) => void;
  readonly signal?: AbortSignal;
  /** An open store to publish to instead of the spec's (left open): for `build --publish` callers and tests. */
  readonly store?: ArtifactStore;
};

export type PublishReport = {
  readonly name: string;
  readonly version: string;
  readonly store: string;
  readonly artifact: string;
  readonly manifest: string;
  readonly bytes: number;
  readonly durationS: number;
  /** Average upload rate of the image, bytes per second. */
  readonly rate: number;
  readonly bump: BumpCheck;
  /** Whether `current` now points at this version (it does unless a higher version is already published). */
  readonly current: boolean;
  readonly specStored: boolean;
  readonly notices: readonly string[];
};

/** What a pre-build check found: the version is free in the store, and the spec-level bump check passed. */
export type PublishPreflight = { readonly store: string; readonly previous: string | null; readonly changes: readonly VersionChange[]; readonly notices: readonly string[] };

/**
 * `imagebuild publish vX.Y.Z` (and `build --publish` after a build): uploads a built release to the
 * spec's store — the image, then its manifest, SHA256SUMS and spec, then the release index with
 * `current` last — after refusing a version the store already has and checking the semver bump
 * against the previous release. The image is hashed as it uploads (read once) and must match its
 * manifest's SHA-256, or the upload is deleted and nothing is listed.
 */
export async function publishRelease(options: PublishOptions): Promise<PublishReport> {
  const started = Date.now();
  const context = await loadReleaseSpec(options.specArg, options.cwd);
  const { spec, outputRoot } = context;
  const release = releaseLayout(outputRoot, spec.name, options.version);
  const local = await readManifestFile(release.manifest);
  if (!local) {
    throw new ReleaseNotFoundError(`v${options.version} is not built: ${release.manifest} does not exist; run imagebuild build v${options.version} first`);
  }
  if (local.version !== options.version || local.name !== spec.name) {
    throw new ReleaseRefusedError(`${release.manifest} describes ${local.name} v${local.version}, not ${spec.name} v${options.version}`);
  }
  if (local.stand_ins) {
    throw new ReleaseRefusedError(
      `v${options.version} was built against imagebuild's test stand-ins (${local.stand_ins.slice(0, 3).join(', ')}${local.stand_ins.length > 3 ? `, +${local.stand_ins.length - 3} more` : ''}); such an image is never published`,
    );
  }
  if (local.verify?.status === 'failed') {
    throw new ReleaseRefusedError(`v${options.version} failed its verification boot (${local.verify.problems.join('; ') || 'see the manifest'}); a failed image is never published`);
  }
  const artifactPath = join(release.dir, local.artifact);
  const size = await fileSize(artifactPath).catch(() => undefined);
  if (size !== local.size_bytes) {
    throw new FileAccessError(`${artifactPath}: ${size === undefined ? 'missing' : `${size} bytes, but the manifest says ${local.size_bytes}`}; the release directory is damaged — rebuild it under a new version`);
  }

  const store = options.store ?? (await openSpecStore(context, options.cwd, options.env));
  try {
    const notices: string[] = [];
    const keys = releaseKeys(spec.name, options.version, local.artifact);
    const { index } = await readReleaseIndex(store, spec.name);
    await refuseExisting(store, index, options.version, keys.manifest);

    const canonicalSpec = canonicalSpecOf(spec, local.spec_hash);
    if (canonicalSpec === undefined) {
      notices.push(`the spec changed since v${options.version} was built (its hash differs from the manifest's spec_hash); published without spec.json, so the next bump check compares manifests only`);
    }
    // An override already in the manifest (given to the build, or to an earlier attempt of this publish) stands.
    const bump = await checkBump(store, index, local, canonicalSpec, options.allowBumpMismatch ?? local.version_override);
    if (bump.override) notices.push(`bump mismatch overridden: ${bump.override}`);
    const manifest: ImageManifest = bump.override ? { ...local, version_override: bump.override } : local;
    if (bump.override && bump.override !== local.version_override) await writeManifestFile(release.manifest, manifest);

    // 1. The image. A leftover of an interrupted publish of this version (not in the index, no manifest) is replaced.
    const leftover = await store.head(keys.artifact);
    if (leftover) notices.push(`replaced ${store.describe(keys.artifact)}, left by an interrupted publish of v${options.version}`);
    const progress = createProgressReporter('upload', local.artifact, local.size_bytes, options.onProgress);
    // The bytes are proved as they leave: hashed on the way (the file is read once), compared with the manifest.
    const sent = await store.putFile(keys.artifact, artifactPath, { ifAbsent: !leftover, sha256: true, signal: options.signal, onProgress: (bytes) => progress.update(bytes) });
    const uploaded = progress.finish(sent.size);
    if (sent.sha256 !== local.checksum_sha256 || sent.size !== local.size_bytes) {
      await store.delete([keys.artifact]);
      throw new ChecksumMismatchError(
        `${artifactPath} no longer matches its manifest (${sent.size !== local.size_bytes ? `${sent.size} bytes sent, the manifest says ${local.size_bytes}` : `SHA-256 ${sent.sha256 ?? 'unknown'}, the manifest says ${local.checksum_sha256}`}): the image changed after it was built; the upload was deleted and nothing was published — rebuild it under a new version`,
      );
    }

    // 2. What describes it. The manifest is the release record; readers find it only through the index.
    const sumsPath = await ensureReleaseSums(release, manifest.checksum_sha256, manifest.artifact);
    await store.putFile(keys.sums, sumsPath, {});
    if (canonicalSpec !== undefined) await store.putJson(keys.spec, canonicalSpec);
    await store.putJson(keys.manifest, JSON.parse(serializeManifest(manifest)), { ifAbsent: true });

    // 3. The index, with `current`, last.
    const stamp = { at: timestampOf(new Date()), by: currentActor(options.env) };
    const record: ReleaseRecord = {
      version: options.version,
      published_at: stamp.at,
      published_by: stamp.by,
      manifest_key: keys.manifest,
      artifact_key: keys.artifact,
      sums_key: keys.sums,
      spec_key: canonicalSpec === undefined ? null : keys.spec,
      size_bytes: manifest.size_bytes,
      sha256: manifest.checksum_sha256,
      gate_status: 'passed',
      gpu_validated: manifest.gpu_validated,
      bump: { from: bump.from, actual: bump.actual, required: bump.required, override: bump.override },
    };
    let madeCurrent = false;
    await updateReleaseIndex(store, spec.name, (fresh) => {
      const added = addRelease(fresh, record);
      madeCurrent = fresh.current === null || semver.gt(options.version, fresh.current.version);
      return madeCurrent ? setCurrent(added, options.version, stamp, 'publish') : added;
    });
    if (madeCurrent) await setLocalCurrent(outputRoot, options.version);
    else notices.push(`current stays at a higher version; make v${options.version} current with imagebuild rollback --to v${options.version}`);

    return {
      name: spec.name,
      version: options.version,
      store: store.location,
      artifact: store.describe(keys.artifact),
      manifest: store.describe(keys.manifest),
      bytes: manifest.size_bytes,
      durationS: (Date.now() - started) / 1000,
      rate: uploaded.rate,
      bump,
      current: madeCurrent,
      specStored: canonicalSpec !== undefined,
      notices,
    };
  } finally {
    if (options.store === undefined) store.close();
  }
}

/**
 * The checks `build --publish` runs before building: the store is reachable, the version is not in
 * it, and the spec's changes since the previous release (when it stored its spec) fit the bump.
 * The full check against the built image's manifest runs again at publish.
 */
export async function checkPublishable(options: ReleaseCommandOptions & { version: string; allowBumpMismatch?: string }): Promise<PublishPreflight> {
  const context = await loadReleaseSpec(options.specArg, options.cwd);
  const store = await openSpecStore(context, options.cwd, options.env);
  try {
    const { index } = await readReleaseIndex(store, context.spec.name);
    await refuseExisting(store, index, options.version, releaseKeys(context.spec.name, options.version, artifactFileName(context.spec.name, options.version)).manifest);
    const previous = previousRelease(index, options.version);
    const notices: string[] = [];
    if (!previous) return { store: store.location, previous: null, changes: [], notices };
    const previousSpec = previous.spec_key ? (await store.getJson(previous.spec_key))?.value : undefined;
    if (previousSpec === undefined) {
      notices.push(`v${previous.version} was published without its spec; the bump is checked after the build, against its manifest`);
      return { store: store.location, previous: previous.version, changes: [], notices };
    }
    const changes = classifySpecChanges(previousSpec, specIdentity(context.spec));
    checkVersionBump({ from: previous.version, to: options.version, changes, override: options.allowBumpMismatch });
    return { store: store.location, previous: previous.version, changes, notices };
  } finally {
    store.close();
  }
}

async function refuseExisting(store: ArtifactStore, index: ReleaseIndex, version: string, manifestKey: string): Promise<void> {
  const listed = findRelease(index, version);
  if (listed) {
    throw new VersionExistsError(`v${version} is already published in ${store.location} (${listed.published_at} by ${listed.published_by}); versions are immutable: publish a new version`);
  }
  // The index is the truth for readers, but s3rver ignores conditional writes: check the manifest explicitly too.
  if (await store.head(manifestKey)) {
    throw new VersionExistsError(`${store.describe(manifestKey)} already exists although the release index does not list v${version}; versions are immutable: publish a new version (imagebuild prune --yes removes such leftovers)`);
  }
}

async function checkBump(store: ArtifactStore, index: ReleaseIndex, manifest: ImageManifest, canonicalSpec: unknown, override: string | undefined): Promise<BumpCheck> {
  const previous = previousRelease(index, manifest.version);
  if (!previous) return checkVersionBump({ from: null, to: manifest.version, changes: [] });
  const previousManifest = await readStoredManifest(store, previous.manifest_key);
  const previousSpec = previous.spec_key && canonicalSpec !== undefined ? (await store.getJson(previous.spec_key))?.value : undefined;
  const changes = [...classifyManifestChanges(previousManifest, manifest), ...(previousSpec === undefined ? [] : classifySpecChanges(previousSpec, canonicalSpec))];
  return checkVersionBump({ from: previous.version, to: manifest.version, changes, override });
}

/** The spec as it was hashed for the manifest (under either host profile), when its hash proves it is the one the image was built from. */
function canonicalSpecOf(spec: ImageSpec, specHash: string): unknown {
  for (const profile of ['gpu', 'cpu'] as const) {
    const profiled = applyHostProfile(spec, profile);
    if (specHashOf(profiled) === specHash) return JSON.parse(specIdentityText(profiled)) as unknown;
  }
  return undefined;
}

