import { randomBytes } from 'node:crypto';
import { join, resolve } from 'node:path';
import { fileSize, removeTree } from '../adapters/fs/directories.js';
import type { ArtifactStore } from '../adapters/store/types.js';
import { setLocalCurrent, settleReleaseFiles } from '../adapters/workspace/local-releases.js';
import { writeFileAtomically } from '../adapters/workspace/atomic-write.js';
import { readManifestFile } from '../adapters/workspace/manifest-file.js';
import { releaseLayout, type ReleaseLayout } from '../adapters/workspace/release-layout.js';
import { sha256Hex } from '../core/digest.js';
import { diffSbomPackages } from '../core/sbom/sbom-packages.js';
import { localSbomPackages, storedSbomPackages } from './release-sbom.js';
import { SIGNATURE_FILE, signPublishedSums } from './release-signing.js';
import type { ImageManifest } from '../core/manifest/image-manifest.js';
import { printableText } from '../core/printable-text.js';
import { checkVersionBump, classifyManifestChanges, classifyPackageChanges, classifySpecChanges, type BumpCheck, type VersionChange } from '../core/release/bump-policy.js';
import { ChecksumMismatchError, ReleaseNotFoundError, ReleaseRefusedError } from '../errors/index.js';
import { addRelease, becomesCurrent, emptyReleaseIndex, findRelease, isPrerelease, previousRelease, publishIdOf, releaseIndexKey, releaseKeys, releaseVersionPrefix, setCurrent, type ReleaseIndex, type ReleaseRecord } from '../core/release/release-index.js';
import { specHashOf, specIdentity, specIdentityText } from '../core/spec/spec-hash.js';
import { applyHostProfile } from '../core/spec/host-profile.js';
import type { ImageSpec } from '../core/spec/schema.js';
import { FileAccessError, firstLine, ReleaseIndexMissingError, StoreAccessError, StoreConflictError, VersionExistsError } from '../errors/index.js';
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
  /** Make this version current whatever it is (a prerelease, or lower than the current one); by default only a stable version newer than `current` becomes current. */
  readonly makeCurrent?: boolean;
  readonly onProgress?: (progress: TransferProgress) => void;
  readonly signal?: AbortSignal;
  /** A private key file to sign SHA256SUMS with, over $IMAGEBUILD_SIGNING_KEY and the spec's artifacts.signing. */
  readonly signingKey?: string;
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
  /** Whether `current` now points at this version (a stable version above the current one, or --make-current). */
  readonly current: boolean;
  readonly specStored: boolean;
  /** The fingerprint of the key that signed SHA256SUMS (SHA256:…), or null: published unsigned. */
  readonly signedBy: string | null;
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
  // The SBOM and provenance statement the manifest names travel with it, proved like the image.
  const releaseFiles = [local.sbom, local.provenance, ...(local.exports ?? []).flatMap((e) => [{ file: e.file, sha256: e.sha256 }, ...(e.bmap === undefined ? [] : [e.bmap])])].flatMap((f) =>
    f === undefined ? [] : [{ ...f, path: join(release.dir, f.file) }],
  );
  for (const file of releaseFiles) {
    if ((await fileSize(file.path).catch(() => undefined)) === undefined) {
      throw new FileAccessError(`${file.path}: missing, but the manifest names it; the release directory is damaged — rebuild it under a new version`);
    }
  }

  const store = options.store ?? (await openSpecStore(context, options.cwd, options.env, { createMissing: true }));
  try {
    const notices: string[] = [];
    const { index, etag: indexEtag } = await readReleaseIndex(store, spec.name);
    refuseListed(store, index, options.version);
    // The first publish of an image creates its (empty) index before it uploads anything, with a
    // conditional put: of two first publishes racing, one creates it and both then update it like any
    // later publish. An index missing at the final write therefore means it was lost, never "in flight".
    if (indexEtag === undefined) await createEmptyIndex(store, spec.name);

    const canonicalSpec = canonicalSpecOf(spec, local.spec_hash);
    if (canonicalSpec === undefined) {
      notices.push(`the spec changed since v${options.version} was built (its hash differs from the manifest's spec_hash); published without spec.json, so the next bump check compares manifests only`);
    }
    // An override already in the manifest (given to the build, or to an earlier attempt of this publish) stands.
    // The reason is recorded where every reader shows it: printable from the start, the same in manifest and index.
    const override = options.allowBumpMismatch === undefined ? local.version_override : printableText(options.allowBumpMismatch);
    const bump = await checkBump(store, index, release, local, canonicalSpec, override);
    if (bump.override) notices.push(`bump mismatch overridden: ${bump.override}`);
    const manifest: ImageManifest = bump.override ? { ...local, version_override: bump.override } : local;

    // What the store receives describes itself exactly, settled (and signed) before the first byte goes up:
    // the manifest's bytes, SHA256SUMS listing every file and the manifest, and with a key its signature.
    const described = await settleReleaseFiles(release, manifest);
    const signature = await signPublishedSums(described.sumsText, {
      signing: spec.artifacts.signing,
      env: options.env ?? process.env,
      keyFile: options.signingKey === undefined ? undefined : resolve(options.cwd, options.signingKey),
      version: options.version,
      notices,
    });
    // A signature beside SHA256SUMS is this publish's, or none (an earlier attempt's would claim what this one did not sign).
    if (signature !== undefined) await writeFileAtomically(join(release.dir, SIGNATURE_FILE), signature.armored);
    else await removeTree(join(release.dir, SIGNATURE_FILE));

    // Every object of this publish goes under a directory of its own (its publish id): a second runner
    // publishing the same version at once writes elsewhere, whatever conditional headers the server
    // ignores, and the index — one conditional write — lists exactly one publisher's objects.
    const stamp = { at: timestampOf(new Date()), by: currentActor(options.env) };
    const keys = releaseKeys(spec.name, options.version, local.artifact, publishIdOf(stamp.at, randomBytes(4).toString('hex')));
    const unfinished = (await store.list(releaseVersionPrefix(spec.name, options.version))).length;
    if (unfinished > 0) {
      notices.push(`${unfinished} object(s) of an unfinished earlier publish of v${options.version} remain under ${store.describe(releaseVersionPrefix(spec.name, options.version).slice(0, -1))}/; imagebuild prune --yes removes them`);
    }
    const written: string[] = [];
    const discard = async () => store.delete(written).catch(() => undefined);
    try {
      // 1. The image, proved as it leaves: hashed on the way (the file is read once), compared with the manifest.
      const progress = createProgressReporter('upload', local.artifact, local.size_bytes, options.onProgress);
      written.push(keys.artifact);
      const sent = await store.putFile(keys.artifact, artifactPath, { ifAbsent: true, sha256: true, signal: options.signal, onProgress: (bytes) => progress.update(bytes) });
      const uploaded = progress.finish(sent.size);
      if (sent.sha256 !== local.checksum_sha256 || sent.size !== local.size_bytes) {
        throw new ChecksumMismatchError(
          `${artifactPath} no longer matches its manifest (${sent.size !== local.size_bytes ? `${sent.size} bytes sent, the manifest says ${local.size_bytes}` : `SHA-256 ${sent.sha256 ?? 'unknown'}, the manifest says ${local.checksum_sha256}`}): the image changed after it was built; the upload was deleted and nothing was published — rebuild it under a new version`,
        );
      }

      // 2. What describes it: SHA256SUMS, the spec, the SBOM and provenance beside the manifest (readers
      // find them in the manifest's directory), the manifest last. Readers find it only through the index.
      written.push(keys.sums);
      await putProved(store, keys.sums, release.sums, sha256Hex(described.sumsText), options.signal);
      if (signature !== undefined) {
        const key = `${keys.dir}/${SIGNATURE_FILE}`;
        written.push(key);
        await putProved(store, key, join(release.dir, SIGNATURE_FILE), sha256Hex(signature.armored), options.signal);
      }
      if (canonicalSpec !== undefined) {
        written.push(keys.spec);
        await store.putJson(keys.spec, canonicalSpec, { ifAbsent: true });
      }
      for (const file of releaseFiles) {
        const key = `${keys.dir}/${file.file}`;
        written.push(key);
        const put = await store.putFile(key, file.path, { ifAbsent: true, sha256: true, signal: options.signal });
        if (put.sha256 !== file.sha256) {
          throw new ChecksumMismatchError(`${file.path} no longer matches its manifest (SHA-256 ${put.sha256 ?? 'unknown'}, the manifest says ${file.sha256}): it changed after the build; the upload was deleted and nothing was published — rebuild it under a new version`);
        }
      }
      written.push(keys.manifest);
      await putProved(store, keys.manifest, release.manifest, sha256Hex(described.manifestText), options.signal);

      // 3. The index, with `current`, last: the one write that claims the version.
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
      const change = (fresh: ReleaseIndex) => {
        refuseListed(store, fresh, options.version, ' meanwhile');
        const added = addRelease(fresh, record);
        if (options.makeCurrent === true) return setCurrent(added, options.version, stamp, 'publish --make-current');
        return becomesCurrent(options.version, fresh.current?.version ?? null) ? setCurrent(added, options.version, stamp, 'publish') : added;
      };
      try {
        await updateReleaseIndex(store, spec.name, { ownKeys: written }, change);
      } catch (error) {
        const outcome = await indexOutcomeAfter(store, spec.name, record, written, error);
        if (outcome.keep) written.length = 0;
        if (outcome.error !== undefined) throw outcome.error;
        notices.push(`the index write reported a failure (${firstLine(error)}), but the index lists this publish of v${options.version}`);
      }
      // Listed: from here on these objects are a release's (a failed read below must not delete them).
      const ours = written.splice(0);
      // A server that ignores If-Match lets a concurrent index write (another publish, a rollback) replace
      // ours: read it back, and list this publish again while it is missing (a few times).
      const readBack = async () =>
        (
          await readReleaseIndex(store, spec.name).catch((error: unknown) => {
            throw new StoreAccessError(`v${options.version} was listed, but the release index could not be read back (${firstLine(error)}); its objects are kept — run imagebuild list to check it`, { cause: error });
          })
        ).index;
      let after = await readBack();
      for (let again = 0; again < 3 && findRelease(after, options.version) === undefined; again++) {
        try {
          await updateReleaseIndex(store, spec.name, { ownKeys: ours }, change);
        } catch (error) {
          if (error instanceof VersionExistsError) await store.delete(ours).catch(() => undefined);
          throw error;
        }
        notices.push(`a concurrent index write replaced this publish's (the store ignores If-Match); v${options.version} was listed again`);
        after = await readBack();
      }
      const listed = findRelease(after, options.version);
      if (listed === undefined) {
        await store.delete(ours).catch(() => undefined);
        throw new StoreAccessError(
          `v${options.version} was listed, but concurrent index writes replaced the listing 4 times (the store ignores If-Match); this publish's objects were deleted — run the same publish again when the store is quiet`,
        );
      }
      if (listed.manifest_key !== record.manifest_key) {
        await store.delete(ours).catch(() => undefined);
        throw new VersionExistsError(
          `v${options.version} was published meanwhile by ${listed.published_by} (${listed.published_at}) and the store did not refuse this publish's index write; this publish's objects were deleted — versions are immutable: publish a new version`,
        );
      }
      const madeCurrent = after.current?.version === options.version;
      if (madeCurrent) await setLocalCurrent(outputRoot, options.version);
      else {
        const stays = after.current ? `current stays at v${after.current.version}` : 'nothing is current yet';
        const why = isPrerelease(options.version) ? `v${options.version} is a prerelease, which never becomes current unless asked` : 'a higher version is current';
        notices.push(`${stays}: ${why}; make v${options.version} current with imagebuild rollback --to v${options.version} (or publish with --make-current)`);
      }

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
        signedBy: signature?.fingerprint ?? null,
        notices,
      };
    } finally {
      // Nothing of a publish that did not get listed stays behind (unless the index may list it after all).
      if (written.length > 0) await discard();
    }
  } finally {
    if (options.store === undefined) store.close();
  }
}

/** Uploads a small file of the release (refusing an existing key), proving on the way that its bytes are the ones settled. */
async function putProved(store: ArtifactStore, key: string, path: string, sha256: string, signal: AbortSignal | undefined): Promise<void> {
  const put = await store.putFile(key, path, { ifAbsent: true, sha256: true, signal });
  if (put.sha256 !== sha256) {
    throw new ChecksumMismatchError(`${path} changed while it was published (SHA-256 ${put.sha256 ?? 'unknown'}, expected ${sha256}); the upload was deleted and nothing was published — run the same publish again`);
  }
}

/** Writes an empty release index unless one exists (a racing first publish may have written it: that one stands). */
async function createEmptyIndex(store: ArtifactStore, name: string): Promise<void> {
  try {
    await store.putJson(releaseIndexKey(name), emptyReleaseIndex(name), { ifAbsent: true });
  } catch (error) {
    if (!(error instanceof StoreConflictError)) throw error;
  }
}

/**
 * After a failed index write, what became of this publish: refused (another publisher listed the
 * version, or the write lost every try) — its objects go; listed after all (the write reached the
 * server, its answer did not reach us) — a success; unknown (the index cannot be read back) — its
 * objects stay, and the error says how to find out.
 */
async function indexOutcomeAfter(store: ArtifactStore, name: string, record: ReleaseRecord, ownKeys: readonly string[], error: unknown): Promise<{ keep: boolean; error?: unknown }> {
  if (error instanceof VersionExistsError || error instanceof ReleaseIndexMissingError) return { keep: false, error };
  const listed = await readReleaseIndex(store, name, { ownKeys }).then(
    ({ index }) => findRelease(index, record.version)?.manifest_key === record.manifest_key,
    () => undefined,
  );
  if (listed === true) return { keep: true };
  if (listed === false) {
    return {
      keep: false,
      error: new StoreAccessError(
        `v${record.version} was uploaded, but the release index could not be updated (${firstLine(error)}); nothing was listed and this publish's objects were deleted — run the same publish again`,
        { cause: error },
      ),
    };
  }
  const dir = record.manifest_key.slice(0, record.manifest_key.lastIndexOf('/'));
  return {
    keep: true,
    error: new StoreAccessError(
      `the release index update for v${record.version} failed (${firstLine(error)}) and the index could not be read back, so it may list this publish; its objects under ${store.describe(dir)}/ are kept — run imagebuild list: if v${record.version} is not listed, run the same publish again`,
      { cause: error },
    ),
  };
}

/**
 * The checks `build --publish` runs before building: the store is reachable, the version is not in
 * it, and the spec's changes since the previous release (when it stored its spec) fit the bump.
 * The full check against the built image's manifest runs again at publish.
 */
export async function checkPublishable(options: ReleaseCommandOptions & { version: string; allowBumpMismatch?: string }): Promise<PublishPreflight> {
  const context = await loadReleaseSpec(options.specArg, options.cwd);
  const store = await openSpecStore(context, options.cwd, options.env, { createMissing: true });
  try {
    const { index } = await readReleaseIndex(store, context.spec.name);
    refuseListed(store, index, options.version);
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

/** Refuses a version the index lists: versions are immutable. */
function refuseListed(store: ArtifactStore, index: ReleaseIndex, version: string, when = ''): void {
  const listed = findRelease(index, version);
  if (listed) {
    throw new VersionExistsError(`v${version} was${when} published in ${store.location} (${listed.published_at} by ${listed.published_by}); versions are immutable: publish a new version`);
  }
}

async function checkBump(store: ArtifactStore, index: ReleaseIndex, release: ReleaseLayout, manifest: ImageManifest, canonicalSpec: unknown, override: string | undefined): Promise<BumpCheck> {
  const previous = previousRelease(index, manifest.version);
  if (!previous) return checkVersionBump({ from: null, to: manifest.version, changes: [] });
  const previousManifest = await readStoredManifest(store, previous.manifest_key);
  const previousSpec = previous.spec_key && canonicalSpec !== undefined ? (await store.getJson(previous.spec_key))?.value : undefined;
  // What the images hold, package by package (a new framework package is at least MINOR), where both SBOMs can be read.
  const [before, after] = await Promise.all([storedSbomPackages(store, previous.manifest_key, previousManifest), localSbomPackages(release.dir, manifest)]);
  const packages = 'packages' in before && 'packages' in after ? classifyPackageChanges(diffSbomPackages(before.packages, after.packages)) : [];
  const changes = [...classifyManifestChanges(previousManifest, manifest), ...packages, ...(previousSpec === undefined ? [] : classifySpecChanges(previousSpec, canonicalSpec))];
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

