import { existsSync } from 'node:fs';
import { readdir, readFile, readlink, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { hostname, userInfo } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import semver from 'semver';
import { describeFsError } from '../adapters/fs/describe-fs-error.js';
import { openStore } from '../adapters/store/open-store.js';
import { StoreConflictError } from '../adapters/store/errors.js';
import type { ArtifactStore } from '../adapters/store/types.js';
import { ImageManifest } from '../core/manifest/image-manifest.js';
import { ManifestInvalidError } from '../core/manifest/errors.js';
import { emptyReleaseIndex, parseReleaseIndex, releaseIndexKey, type ReleaseIndex } from '../core/release/release-index.js';
import { createTransferMeter, sampleTransfer, type TransferMeter } from '../core/release/transfer-rate.js';
import type { ImageSpec } from '../core/spec/schema.js';
import { releaseDirName, versionOfReleaseDirName } from '../core/version/release-version.js';
import { FileAccessError } from '../errors.js';
import { loadSpec, type LoadedSpec } from './load-spec.js';

// What every release command shares: the spec, its store, the release index and the local
// output/<name>/ directory with its `current` link.

export const MANIFEST_FILE = 'image-manifest.json';
export const SUMS_FILE = 'SHA256SUMS';

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
  return { loaded, spec: loaded.spec, outputRoot: resolve(cwd, loaded.spec.output.dir, loaded.spec.name) };
}

/** Opens the spec's artifacts.store (StoreNotConfiguredError without one); a relative filesystem dir is resolved against `cwd`, like output.dir. */
export async function openSpecStore(context: ReleaseSpecContext, cwd: string, env: NodeJS.ProcessEnv = process.env): Promise<ArtifactStore> {
  return openStore(context.spec.artifacts.store, { cwd, env });
}

/** The release index of an image in a store, with the etag its next write is conditional on (undefined: no index yet). */
export async function readReleaseIndex(store: ArtifactStore, name: string): Promise<{ index: ReleaseIndex; etag: string | undefined }> {
  const key = releaseIndexKey(name);
  const stored = await store.getJson(key);
  if (!stored) return { index: emptyReleaseIndex(name), etag: undefined };
  const index = parseReleaseIndex(stored.value, store.describe(key));
  return { index, etag: stored.etag };
}

/**
 * Read-modify-write of the release index with a conditional write: `change` runs on the freshest
 * index, again if another writer got in between (up to 3 tries). The index is the last object any
 * release operation writes, so a reader never sees a version whose objects are incomplete.
 */
export async function updateReleaseIndex(store: ArtifactStore, name: string, change: (index: ReleaseIndex) => ReleaseIndex): Promise<ReleaseIndex> {
  const key = releaseIndexKey(name);
  for (let attempt = 1; ; attempt++) {
    const { index, etag } = await readReleaseIndex(store, name);
    const next = parseReleaseIndex(change(index), `the updated ${store.describe(key)}`);
    try {
      await store.putJson(key, next, etag === undefined ? { ifAbsent: true } : { ifMatch: etag });
      return next;
    } catch (error) {
      if (!(error instanceof StoreConflictError) || attempt >= 3) throw error;
    }
  }
}

/** Reads and validates a manifest from the store; names the key on any problem. */
export async function readStoredManifest(store: ArtifactStore, key: string): Promise<ImageManifest> {
  const stored = await store.getJson(key);
  if (!stored) throw new ManifestInvalidError(`${store.describe(key)}: missing from the store although the release index lists it`);
  return validateManifest(stored.value, store.describe(key));
}

/** Reads and validates a manifest file; undefined when the file does not exist. */
export async function readLocalManifest(path: string): Promise<ImageManifest | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ManifestInvalidError(`${path}: not JSON (${(error as Error).message})`);
  }
  return validateManifest(json, path);
}

/** A release directory in output/<name>/: `v<version>` with its manifest. */
export type LocalRelease = { readonly version: string; readonly dir: string };

/** Release directories under output/<name>/ (not staging `.partial-` ones), oldest first. */
export async function listLocalReleases(outputRoot: string): Promise<LocalRelease[]> {
  let names: string[];
  try {
    names = await readdir(outputRoot);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  return names
    .flatMap((n) => {
      const version = versionOfReleaseDirName(n);
      return version !== undefined && existsSync(join(outputRoot, n, MANIFEST_FILE)) ? [{ version, dir: join(outputRoot, n) }] : [];
    })
    .sort((a, b) => semver.compare(a.version, b.version));
}

/** The version output/<name>/current points at, if the link exists. */
export async function readLocalCurrent(outputRoot: string): Promise<string | undefined> {
  try {
    const target = await readlink(join(outputRoot, 'current'));
    return versionOfReleaseDirName(target);
  } catch {
    return undefined;
  }
}

/** Points output/<name>/current at v<version> (a relative symlink, replaced atomically by rename). */
export async function setLocalCurrent(outputRoot: string, version: string): Promise<string> {
  const link = join(outputRoot, 'current');
  const temp = join(outputRoot, `.current.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  await symlink(releaseDirName(version), temp);
  try {
    await rename(temp, link);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
  return link;
}

/** Writes a file atomically: a temporary file beside it, then one rename; on failure (a full disk) the temporary file goes too. */
export async function writeFileAtomically(path: string, content: string): Promise<void> {
  const temp = join(dirname(path), `.${randomBytes(4).toString('hex')}.tmp-${process.pid}`);
  try {
    await writeFile(temp, content);
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    throw new FileAccessError(`${path}: cannot write it: ${describeFsError(error)}`, { cause: error });
  }
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

/** Turns raw byte counts into progress events with rate and ETA, at most every `intervalMs` (and always the last). */
export function createProgressReporter(
  phase: TransferProgress['phase'],
  label: string,
  total: number,
  onProgress: ((progress: TransferProgress) => void) | undefined,
  intervalMs = 250,
): { update(bytes: number): void; finish(bytes: number): TransferProgress } {
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

function validateManifest(json: unknown, where: string): ImageManifest {
  const result = ImageManifest.safeParse(json);
  if (result.success) return result.data;
  const [issue] = result.error.issues;
  const path = issue === undefined || issue.path.length === 0 ? '(root)' : issue.path.map(String).join('.');
  throw new ManifestInvalidError(`${where}: ${path}: ${issue?.message ?? 'does not validate'}`, { cause: result.error });
}
