import { hostname, userInfo } from 'node:os';
import semver from 'semver';
import { assertStoreKey } from '../adapters/store/keys.js';
import { openStore } from '../adapters/store/open-store.js';
import { ReleaseIndexInvalidError, ReleaseIndexMissingError, StoreAccessError, StoreConflictError, StoredJsonInvalidError, StoreNotConfiguredError } from '../errors/index.js';
import type { ArtifactStore, StoredJson, StoreObject } from '../adapters/store/types.js';
import { listLocalReleases } from '../adapters/workspace/local-releases.js';
import { outputRootOf } from '../adapters/workspace/release-layout.js';
import { parseStoredManifest, type ImageManifest } from '../core/manifest/image-manifest.js';
import { firstLine, ManifestInvalidError } from '../errors/index.js';
import { ReleaseNotFoundError } from '../errors/index.js';
import { emptyReleaseIndex, parseReleaseIndex, releaseIndexKey, type ReleaseIndex } from '../core/release/release-index.js';
import { createTransferMeter, sampleTransfer, type TransferMeter } from '../core/release/transfer-rate.js';
import type { ImageSpec } from '../core/spec/schema.js';
import { isReleaseVersion } from '../core/version/release-version.js';
import { loadSpec, type LoadedSpec } from './load-spec.js';
import { RELEASE_FILE_MAX_BYTES } from '../core/release/release-file-limits.js';

// What every release command shares: the spec, its store, the release index and the local
// output/<name>/ directory (its files are the workspace adapter's).

/** What every release command is given: where the spec is, and the environment its store credentials come from. */
export type ReleaseCommandOptions = {
  readonly specArg?: string;
  readonly cwd: string;
  readonly env?: NodeJS.ProcessEnv;
};

/** Progress of one transfer, as the CLI renders it. */
export type TransferProgress = {
  readonly phase: 'upload' | 'download' | 'hash';
  /** What is moving, e.g. the artifact's file name. */
  readonly label: string;
  readonly bytes: number;
  readonly total: number;
  /** Bytes per second over the last few seconds. */
  readonly rate: number;
  /** Seconds left at that rate; null until a rate is known. */
  readonly etaS: number | null;
  /** True on the last event of this transfer. */
  readonly done: boolean;
};

export type ReleaseSpecContext = {
  readonly loaded: LoadedSpec;
  readonly spec: ImageSpec;
  /** output/<name>/ of this spec, absolute. */
  readonly outputRoot: string;
};

/** Loads the spec and locates its output/<name>/ directory. */
export async function loadReleaseSpec(specArg: string | undefined, cwd: string): Promise<ReleaseSpecContext> {
  const loaded = await loadSpec(specArg, cwd);
  return { loaded, spec: loaded.spec, outputRoot: outputRootOf(cwd, loaded.spec) };
}

/**
 * Opens the spec's artifacts.store (StoreNotConfiguredError without one); a relative filesystem dir is resolved against `cwd`, like output.dir.
 * `createMissing` for publish alone: a missing store directory is then empty, not an error.
 */
export async function openSpecStore(context: ReleaseSpecContext, cwd: string, env: NodeJS.ProcessEnv = process.env, open: { createMissing?: boolean } = {}): Promise<ArtifactStore> {
  return openStore(context.spec.artifacts.store, { cwd, env, createMissing: open.createMissing === true });
}

/** The spec's store, or undefined when the spec names none (prune and rollback then work on output/<name>/ alone). */
export async function openSpecStoreIfConfigured(context: ReleaseSpecContext, cwd: string, env: NodeJS.ProcessEnv = process.env): Promise<ArtifactStore | undefined> {
  try {
    return await openSpecStore(context, cwd, env);
  } catch (error) {
    if (!(error instanceof StoreNotConfiguredError)) throw error;
    return undefined;
  }
}

/**
 * The release index of an image in a store, with the etag its next write is conditional on
 * (undefined: no index yet). No index is an empty one only while the store holds no release of the
 * image (no manifest under <name>/v…: the first publish creates the index before it uploads); with releases there, a
 * missing index is ReleaseIndexMissingError, and an unreadable one ReleaseIndexInvalidError — never
 * "no releases", which would let prune delete them and publish list only the new one.
 */
export async function readReleaseIndex(store: ArtifactStore, name: string, options: IndexReadOptions = {}): Promise<{ index: ReleaseIndex; etag: string | undefined }> {
  const key = releaseIndexKey(name);
  const stored = await readIndexJson(store, key);
  if (!stored) {
    const own = new Set(options.ownKeys);
    const manifests = storedManifestVersions((await store.list(releaseObjectsPrefix(name))).filter((o) => !own.has(o.key) && isStoreKey(o.key)));
    if (manifests.length > 0) {
      throw new ReleaseIndexMissingError(
        `${store.describe(key)} is missing, but the store holds ${manifests.length === 1 ? 'a release' : `${manifests.length} releases`} of ${name} (${manifests.slice(0, 5).map((v) => `v${v}`).join(', ')}${manifests.length > 5 ? ', …' : ''}); rebuild the index from their manifests with imagebuild reindex --yes`,
      );
    }
    return { index: emptyReleaseIndex(name), etag: undefined };
  }
  const index = parseReleaseIndex(stored.value, store.describe(key));
  return { index, etag: stored.etag };
}

/** How often, and how far apart, an index that is not JSON is read again before it is called corrupt. */
const TORN_READ_TRIES = 5;
const TORN_READ_PAUSE_MS = 250;

/**
 * The release index as stored JSON; an object that is not JSON at all is an invalid index, like one that does not
 * validate. A server that replaces an object in place rather than atomically (s3rver does; S3 and RGW do not) can
 * serve a torn copy while another publish writes the index: one that is not JSON is read again, a few times, before
 * it is called corrupt (seen: a concurrent publish got "Unexpected end of JSON input" from s3rver under load).
 */
export async function readIndexJson(store: ArtifactStore, key: string): Promise<StoredJson | undefined> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await store.getJson(key);
    } catch (error) {
      if (!(error instanceof StoredJsonInvalidError)) throw error;
      if (attempt < TORN_READ_TRIES) {
        await new Promise((resolve) => setTimeout(resolve, TORN_READ_PAUSE_MS));
        continue;
      }
      throw new ReleaseIndexInvalidError(`${error.message}; rebuild it from the releases' manifests with imagebuild reindex --yes, or restore it from the store's versioning or a backup`, { cause: error });
    }
  }
}

/** Whether `key` is one imagebuild could have written (a store may hold others: they are neither read, printed nor deleted). */
export function isStoreKey(key: string): boolean {
  try {
    assertStoreKey(key);
    return true;
  } catch {
    return false;
  }
}

/** What every object of an image's releases starts with: `<name>/v`. */
export function releaseObjectsPrefix(name: string): string {
  return `${name}/v`;
}

/** The versions that have a manifest among `objects` (keys under <name>/v<version>/, any publish), sorted by semver. */
export function storedManifestVersions(objects: readonly StoreObject[]): string[] {
  const versions = objects.flatMap((o) => {
    const version = /^[^/]+\/v([^/]+)\/(?:[^/]+\/)?image-manifest\.json$/.exec(o.key)?.[1];
    return version !== undefined && isReleaseVersion(version) ? [version] : [];
  });
  return [...new Set(versions)].sort(semver.compare);
}

export type IndexReadOptions = {
  /** Keys the caller wrote itself (a publish's own objects): with no index yet, they do not count as releases the index would lose. */
  readonly ownKeys?: readonly string[];
};

/**
 * Read-modify-write of the release index with a conditional write: `change` runs on the freshest
 * index, again if another writer got in between (up to 3 tries). The index is the last object any
 * release operation writes, so a reader never sees a version whose objects are incomplete.
 */
export async function updateReleaseIndex(store: ArtifactStore, name: string, options: IndexReadOptions, change: (index: ReleaseIndex) => ReleaseIndex): Promise<ReleaseIndex> {
  const key = releaseIndexKey(name);
  for (let attempt = 1; ; attempt++) {
    const { index, etag } = await readReleaseIndex(store, name, options);
    const next = parseReleaseIndex(change(index), `the updated ${store.describe(key)}`);
    try {
      await store.putJson(key, next, etag === undefined ? { ifAbsent: true } : { ifMatch: etag });
      return next;
    } catch (error) {
      if (!(error instanceof StoreConflictError) || attempt >= 3) throw error;
    }
  }
}

/** A small stored object's bytes (a manifest, SHA256SUMS, an SBOM), read whole; undefined when absent, StoreAccessError past `maxBytes`. */
export async function readStoredBytes(store: ArtifactStore, key: string, maxBytes: number, signal?: AbortSignal): Promise<Buffer | undefined> {
  const object = await store.head(key);
  if (object === undefined) return undefined;
  if (object.size > maxBytes) throw new StoreAccessError(`${store.describe(key)}: ${object.size} bytes, more than the ${maxBytes} such a file may have; refusing to read it`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of await store.getStream(key, { signal })) {
    size += (chunk as Buffer).length;
    if (size > maxBytes) throw new StoreAccessError(`${store.describe(key)}: grew past ${maxBytes} bytes while it was read; refusing it`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** A stored manifest's exact bytes and their validated reading (see readStoredManifest): a download keeps the bytes, which SHA256SUMS may cover. */
export async function readStoredManifestBytes(store: ArtifactStore, key: string, signal?: AbortSignal): Promise<{ bytes: Buffer; manifest: ImageManifest }> {
  const bytes = await readStoredBytes(store, key, RELEASE_FILE_MAX_BYTES.manifest, signal);
  if (!bytes) throw new ManifestInvalidError(`${store.describe(key)}: missing from the store although the release index lists it`);
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch (error) {
    throw new ManifestInvalidError(`${store.describe(key)}: not valid JSON (${firstLine(error)})`, { cause: error });
  }
  return { bytes, manifest: parseStoredManifest(json, store.describe(key)) };
}

/** Reads and validates a manifest from the store (fields a newer imagebuild added are dropped, known ones validated strictly); names the key on any problem. */
export async function readStoredManifest(store: ArtifactStore, key: string): Promise<ImageManifest> {
  const stored = await store.getJson(key);
  if (!stored) throw new ManifestInvalidError(`${store.describe(key)}: missing from the store although the release index lists it`);
  return parseStoredManifest(stored.value, store.describe(key));
}

/** The refusal for a version output/<name>/ does not hold, when the spec names no store: it lists what is built here. */
export async function localReleaseNotFound(outputRoot: string, version: string): Promise<ReleaseNotFoundError> {
  const built = (await listLocalReleases(outputRoot)).map((r) => `v${r.version}`);
  return new ReleaseNotFoundError(`${outputRoot}: no release v${version}; built: ${built.length > 0 ? built.join(', ') : 'none'} (the spec names no store)`);
}

/** `$USER@hostname`: who published or moved `current`, as the index records it. */
export function currentActor(env: NodeJS.ProcessEnv = process.env): string {
  let user = env.USER ?? env.LOGNAME;
  if (!user) {
    try {
      user = userInfo().username;
    } catch {
      user = 'unknown';
    }
  }
  return `${user}@${hostname()}`;
}

/** Now, as the index writes times: ISO 8601 UTC to the second. */
export function timestampOf(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Progress events of one transfer, fed raw byte counts. */
export type ProgressReporter = { update(bytes: number): void; finish(bytes: number): TransferProgress };

/** Turns raw byte counts into progress events with rate and ETA, at most every `intervalMs` (and always the last). */
export function createProgressReporter(
  phase: TransferProgress['phase'],
  label: string,
  total: number,
  onProgress: ((progress: TransferProgress) => void) | undefined,
  intervalMs = 250,
): ProgressReporter {
  let meter: TransferMeter = createTransferMeter();
  let last = -Infinity;
  const started = Date.now();
  const read = (bytes: number) => {
    const sampled = sampleTransfer(meter, Date.now(), bytes, total);
    meter = sampled.meter;
    return sampled.reading;
  };
  return {
    update(bytes) {
      const now = Date.now();
      if (now - last < intervalMs) return;
      last = now;
      const reading = read(bytes);
      onProgress?.({ phase, label, bytes, total, rate: reading.rate, etaS: reading.etaS, done: false });
    },
    finish(bytes) {
      const elapsedS = Math.max((Date.now() - started) / 1000, 1e-3);
      const event: TransferProgress = { phase, label, bytes, total, rate: bytes / elapsedS, etaS: 0, done: true };
      onProgress?.(event);
      return event;
    },
  };
}
