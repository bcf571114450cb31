import { createHash, type Hash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { z } from 'zod';
import { serializeManifest } from '../core/manifest/image-manifest.js';
import { ChecksumMismatchError, ReleaseInconsistentError, ReleaseRefusedError } from '../core/release/errors.js';
import { resolveRelease } from '../core/release/release-index.js';
import { formatBytes } from '../core/release/transfer-rate.js';
import { freeBytes } from '../adapters/fs/free-bytes.js';
import { FileAccessError, ImagebuildError } from '../errors.js';
import {
  createProgressReporter,
  loadReleaseSpec,
  MANIFEST_FILE,
  openSpecStore,
  readLocalManifest,
  readReleaseIndex,
  readStoredManifest,
  SUMS_FILE,
  writeFileAtomically,
  type TransferProgress,
} from './release-store.js';

export type DownloadOptions = {
  readonly specArg?: string;
  readonly cwd: string;
  /** `current` or a canonical version without the leading v. */
  readonly ref: string;
  /** Directory for the image and its manifest; default ./<name>-v<version>/. */
  readonly dest?: string;
  /** Bytes per second to stay under (a shared link); unlimited when absent. */
  readonly limitRate?: number;
  readonly onProgress?: (progress: TransferProgress) => void;
  readonly signal?: AbortSignal;
  readonly env?: NodeJS.ProcessEnv;
};

export type DownloadReport = {
  readonly name: string;
  readonly version: string;
  readonly status: 'downloaded' | 'already-present';
  readonly artifact: string;
  readonly manifest: string;
  readonly sha256: string;
  readonly bytes: number;
  /** Bytes already in the .part file from an interrupted download (0 for a fresh one). */
  readonly resumedFrom: number;
  readonly durationS: number;
  /** Average rate of the bytes fetched in this run, bytes per second. */
  readonly rate: number;
  readonly notices: readonly string[];
};

// Beside the .part file: which image the partial bytes belong to, so a resume never mixes two.
const PartRecord = z.strictObject({ name: z.string(), version: z.string(), sha256: z.string(), size_bytes: z.number().int().nonnegative() });

const WRITE_CHUNK = 4 * 1024 * 1024;

/**
 * `imagebuild download <version|current>`: fetches a release's manifest, then its image into a
 * `.part` file (resuming one left by an interrupted run with a ranged GET), hashes it on the way
 * (the existing prefix first when resuming), and gives it its final name only when the SHA-256
 * matches the manifest. A mismatch removes the partial file: nothing stays under the final name.
 */
export async function downloadRelease(options: DownloadOptions): Promise<DownloadReport> {
  const started = Date.now();
  const context = await loadReleaseSpec(options.specArg, options.cwd);
  const { spec } = context;
  const store = await openSpecStore(context, options.cwd, options.env);
  try {
    const { index } = await readReleaseIndex(store, spec.name);
    const record = resolveRelease(index, options.ref, store.location);
    const manifest = await readStoredManifest(store, record.manifest_key);
    if (manifest.version !== record.version || manifest.checksum_sha256 !== record.sha256 || manifest.size_bytes !== record.size_bytes) {
      throw new ReleaseInconsistentError(`${store.describe(record.manifest_key)} disagrees with the release index about v${record.version} (version, SHA-256 or size); refusing to download`);
    }
    const dest = resolve(options.cwd, options.dest ?? `${spec.name}-v${record.version}`);
    await mkdir(dest, { recursive: true }).catch((error: unknown) => {
      throw new FileAccessError(`${dest}: cannot create the download directory (${(error as NodeJS.ErrnoException).code ?? 'error'})`, { cause: error });
    });
    const finalPath = join(dest, manifest.artifact);
    const manifestPath = join(dest, MANIFEST_FILE);
    const report = (status: DownloadReport['status'], bytesFetched: number, resumedFrom: number, notices: string[]): DownloadReport => ({
      name: spec.name,
      version: record.version,
      status,
      artifact: finalPath,
      manifest: manifestPath,
      sha256: manifest.checksum_sha256,
      bytes: manifest.size_bytes,
      resumedFrom,
      durationS: (Date.now() - started) / 1000,
      rate: bytesFetched / Math.max((Date.now() - started) / 1000, 1e-3),
      notices,
    });

    const existing = await stat(finalPath).catch(() => undefined);
    if (existing) {
      // The final name is only ever given after verification; a matching manifest beside it proves which image it is.
      const besides = await readLocalManifest(manifestPath).catch(() => undefined);
      if (existing.size === manifest.size_bytes && besides?.checksum_sha256 === manifest.checksum_sha256) return report('already-present', 0, 0, []);
      throw new ReleaseRefusedError(`${finalPath} already exists and is not the verified image of v${record.version}; move it away or choose another --dest`);
    }

    const partPath = `${finalPath}.part`;
    const recordPath = `${partPath}.json`;
    const notices: string[] = [];
    const wanted = { name: spec.name, version: record.version, sha256: manifest.checksum_sha256, size_bytes: manifest.size_bytes };
    let offset = await usablePartSize(partPath, recordPath, wanted, notices);
    // Refuse up front an image that cannot fit, rather than fill the disk and stop part-way.
    const needed = manifest.size_bytes - offset;
    const free = await freeBytes(dest);
    if (free < needed) {
      throw new ImagebuildError(
        'NO_SPACE',
        `${dest}: ${formatBytes(free)} free, but ${offset > 0 ? 'the rest of ' : ''}v${record.version} needs ${formatBytes(needed)}; free space there (or choose another --dest), then run the same command again`,
        1,
      );
    }
    if (offset === 0) {
      await rm(partPath, { force: true });
      await writeFileAtomically(recordPath, `${JSON.stringify(wanted)}\n`);
    }

    const hash = createHash('sha256');
    if (offset > 0) {
      // Resuming: the bytes already on disk must enter the hash too; read them once, streaming.
      const hashing = createProgressReporter('hash', `${basename(partPath)} (resumed part)`, offset, options.onProgress);
      let hashed = 0;
      for await (const chunk of createReadStream(partPath, { highWaterMark: WRITE_CHUNK, end: offset - 1 })) {
        hash.update(chunk as Buffer);
        hashed += (chunk as Buffer).length;
        hashing.update(hashed);
      }
      hashing.finish(hashed);
      offset = hashed;
    }

    const fetchStart = offset;
    if (offset < manifest.size_bytes) {
      const progress = createProgressReporter('download', manifest.artifact, manifest.size_bytes, options.onProgress);
      const body = await store.getStream(record.artifact_key, { start: offset, signal: options.signal });
      const stages = [body, ...(options.limitRate ? [throttle(options.limitRate)] : []), hashing(hash, (n) => progress.update(fetchStart + n))];
      try {
        await pipeline([...stages, createWriteStream(partPath, { flags: 'a', highWaterMark: WRITE_CHUNK })], { signal: options.signal });
      } catch (error) {
        const have = await stat(partPath).then((s) => s.size, () => 0);
        if (error instanceof ImagebuildError) throw error;
        const interrupted = options.signal?.aborted === true;
        const full = (error as NodeJS.ErrnoException).code === 'ENOSPC';
        const why = interrupted ? 'interrupted' : full ? `${dest} is full (ENOSPC)` : (error as Error).message.split('\n')[0];
        const then = full ? `free at least ${formatBytes(manifest.size_bytes - have)} there, then run the same command again` : 'run the same command again';
        throw new ImagebuildError(
          interrupted ? 'INTERRUPTED' : full ? 'NO_SPACE' : 'DOWNLOAD_INTERRUPTED',
          `download of v${record.version} stopped at ${have} of ${manifest.size_bytes} bytes (${why}); ${then} to resume from ${basename(partPath)}`,
          interrupted ? 130 : 1,
          { cause: error },
        );
      }
      offset = await stat(partPath).then((s) => s.size);
      progress.finish(offset);
    }

    const actual = hash.digest('hex');
    if (offset !== manifest.size_bytes || actual !== manifest.checksum_sha256) {
      await rm(partPath, { force: true });
      await rm(recordPath, { force: true });
      throw new ChecksumMismatchError(
        `${finalPath}: verification failed: ${offset !== manifest.size_bytes ? `${offset} bytes, expected ${manifest.size_bytes}` : `SHA-256 ${actual}, expected ${manifest.checksum_sha256}`}; the partial download was removed and nothing was written under ${basename(finalPath)} — run the command again, and if it fails the same way the stored image is damaged`,
      );
    }
    // The manifest and SHA256SUMS first, the image's final name last: were they written after it, a
    // failure in between (a full disk, a kill) would leave a verified image that the next run cannot
    // prove is verified, and refuses. The .part stays resumable until the rename.
    await writeFileAtomically(manifestPath, serializeManifest(manifest));
    await writeFileAtomically(join(dest, SUMS_FILE), `${manifest.checksum_sha256}  ${manifest.artifact}\n`);
    await rename(partPath, finalPath);
    await rm(recordPath, { force: true });
    if (fetchStart > 0) notices.push(`resumed an interrupted download at ${formatBytes(fetchStart)} (${fetchStart} bytes)`);
    return report('downloaded', offset - fetchStart, fetchStart, notices);
  } finally {
    store.close();
  }
}

/** How many bytes of an existing .part file can be kept: all of them when its record names the same image and it is not too long. */
async function usablePartSize(partPath: string, recordPath: string, wanted: z.infer<typeof PartRecord>, notices: string[]): Promise<number> {
  const size = await stat(partPath).then((s) => s.size, () => undefined);
  if (size === undefined) return 0;
  const recorded = await readFile(recordPath, 'utf8').then(
    (text) => PartRecord.safeParse(JSON.parse(text)),
    () => undefined,
  );
  if (!recorded?.success || JSON.stringify(recorded.data) !== JSON.stringify(wanted)) {
    notices.push(`${basename(partPath)} belongs to another image or has no record; starting over`);
    return 0;
  }
  if (size > wanted.size_bytes) {
    notices.push(`${basename(partPath)} is longer than the image; starting over`);
    return 0;
  }
  return size;
}

function hashing(hash: Hash, onBytes: (bytes: number) => void): Transform {
  let bytes = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      bytes += chunk.length;
      onBytes(bytes);
      callback(null, chunk);
    },
  });
}

/** Holds the stream to `bytesPerSecond` on average: each chunk waits until the budget allows it. */
function throttle(bytesPerSecond: number): Transform {
  const started = Date.now();
  let bytes = 0;
  // Large chunks (a filesystem store reads 4 MiB at a time) go on in slices, each at its due time: a
  // smooth rate and progress, rather than a burst after a long pause.
  const slice = Math.max(4096, Math.min(64 * 1024, Math.floor(bytesPerSecond / 10)));
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      const next = (at: number) => {
        if (at >= chunk.length) return callback();
        const piece = chunk.subarray(at, at + slice);
        bytes += piece.length;
        const wait = started + (bytes / bytesPerSecond) * 1000 - Date.now();
        const push = () => {
          this.push(piece);
          next(at + piece.length);
        };
        if (wait > 0) setTimeout(push, wait);
        else push();
      };
      next(0);
    },
  });
}

