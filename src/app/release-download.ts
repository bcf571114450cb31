import { Transform } from 'node:stream';
import { basename, join, resolve } from 'node:path';
import {
  absorbPart,
  appendToPart,
  closePart,
  completeDownload,
  discardPart,
  downloadDestination,
  inspectDownloaded,
  lockDownload,
  openPart,
  partBytes,
  prepareDownloadDir,
  type DownloadDestination,
  type OpenPart,
  type PartRecord,
  type ReleaseDocument,
  writeReleaseDocuments,
} from '../adapters/download/download-destination.js';
import { MANIFEST_FILE, releaseFilesOf, SUMS_FILE } from '../adapters/workspace/release-layout.js';
import { sha256Hex } from '../core/digest.js';
import { checkSums, parseSumsText } from '../core/release/release-sums.js';
import type { SigningSpec } from '../core/spec/schema.js';
import { checkReleaseSignature, SIGNATURE_FILE, type SignatureVerdict } from './release-signing.js';
import { freeBytes } from '../adapters/fs/free-bytes.js';
import { createMeteredStream } from '../adapters/fs/metered-stream.js';
import { ChecksumMismatchError, InterruptedError, ReleaseInconsistentError, ReleaseRefusedError } from '../errors/index.js';
import { resolveRelease, type ReleaseRecord } from '../core/release/release-index.js';
import type { ImageManifest } from '../core/manifest/image-manifest.js';
import type { ArtifactStore } from '../adapters/store/types.js';
import { formatBytes } from '../core/release/transfer-rate.js';
import { firstLine, ImagebuildError } from '../errors/index.js';
import { createProgressReporter, loadReleaseSpec, openSpecStore, readReleaseIndex, readStoredBytes, readStoredManifestBytes, type ProgressReporter, type ReleaseCommandOptions, type TransferProgress } from './release-store.js';
import { RELEASE_FILE_MAX_BYTES } from '../core/release/release-file-limits.js';

export type DownloadOptions = ReleaseCommandOptions & {
  /** `current` or a canonical version without the leading v. */
  readonly ref: string;
  /** Directory for the image and its manifest; default ./<name>-v<version>/. */
  readonly dest?: string;
  /** Bytes per second to stay under (a shared link); unlimited when absent. */
  readonly limitRate?: number;
  /** An allowed_signers file to check the release's signature against, over the spec's artifacts.signing.allowed_signers. */
  readonly allowedSigners?: string;
  /** Accept a release with no signature, or no allowed_signers to check one against, for this reason (recorded). */
  readonly allowUnsigned?: string;
  readonly onProgress?: (progress: TransferProgress) => void;
  readonly signal?: AbortSignal;
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
  /** What was proved of the release's signature (SHA256SUMS.sig), or why it was accepted without. */
  readonly signature: SignatureVerdict;
  /** The record of this download beside the image (download.json): release, digests, signature verdict. */
  readonly record: string;
  readonly notices: readonly string[];
};

/**
 * `imagebuild download <version|current>`: fetches a release's manifest, then its image into a
 * `.part` file (resuming one left by an interrupted run with a ranged GET), hashes it on the way
 * (the existing prefix first when resuming), and gives it its final name only when the SHA-256
 * matches the manifest. A mismatch removes the partial file: nothing stays under the final name.
 * The destination is hostile ground (see download-destination.ts): nothing there is followed as a
 * link, and one process at a time downloads a release into it (`<image>.lock`).
 */
export async function downloadRelease(options: DownloadOptions): Promise<DownloadReport> {
  const started = Date.now();
  const context = await loadReleaseSpec(options.specArg, options.cwd);
  const { spec } = context;
  const store = await openSpecStore(context, options.cwd, options.env);
  try {
    const { index } = await readReleaseIndex(store, spec.name);
    const record = resolveRelease(index, options.ref, store.location);
    const { bytes: manifestBytes, manifest } = await readStoredManifestBytes(store, record.manifest_key, options.signal);
    if (manifest.version !== record.version || manifest.checksum_sha256 !== record.sha256 || manifest.size_bytes !== record.size_bytes) {
      throw new ReleaseInconsistentError(`${store.describe(record.manifest_key)} disagrees with the release index about v${record.version} (version, SHA-256 or size); refusing to download`);
    }
    // The small files first (fail fast, before gigabytes): the signature over SHA256SUMS, then each file proved against it and the manifest.
    const { documents, verdict } = await fetchReleaseDocuments(store, record, manifest, manifestBytes, {
      signing: spec.artifacts.signing,
      allowedSigners: options.allowedSigners === undefined ? undefined : resolve(options.cwd, options.allowedSigners),
      allowUnsigned: options.allowUnsigned,
      signal: options.signal,
    });
    const dest = downloadDestination(resolve(options.cwd, options.dest ?? `${spec.name}-v${record.version}`), manifest.artifact);
    await prepareDownloadDir(dest.dir);
    const report = (status: DownloadReport['status'], bytesFetched: number, resumedFrom: number, notices: string[]): DownloadReport => ({
      name: spec.name,
      version: record.version,
      status,
      artifact: dest.artifact,
      manifest: dest.manifest,
      sha256: manifest.checksum_sha256,
      bytes: manifest.size_bytes,
      resumedFrom,
      durationS: (Date.now() - started) / 1000,
      rate: bytesFetched / Math.max((Date.now() - started) / 1000, 1e-3),
      signature: verdict,
      record: join(dest.dir, DOWNLOAD_RECORD_FILE),
      notices,
    });

    // One downloader of this release into this directory: a second would append to the same .part.
    const lock = await lockDownload(dest, `imagebuild download v${record.version}`);
    try {
      const notices: string[] = [];
      if (lock.tookOverFrom) notices.push(`a download killed earlier (pid ${lock.tookOverFrom.pid}) left ${basename(dest.lock)}; it is no longer running, so this one took over`);
      const existing = await inspectDownloaded(dest);
      if (existing) {
        // The final name is only ever given after verification; a matching manifest beside it proves which image it is.
        if (existing.size === manifest.size_bytes && existing.manifestSha256 === sha256Hex(manifestBytes)) {
          await writeReleaseDocuments(dest, documents);
          return report('already-present', 0, 0, notices);
        }
        const beside = existing.manifestVersion !== undefined && existing.manifestVersion !== record.version ? ` (the ${basename(dest.manifest)} beside it is v${existing.manifestVersion}'s)` : '';
        throw new ReleaseRefusedError(`${dest.artifact} already exists and is not the verified image of v${record.version}${beside}; move it away or choose another --dest`);
      }

      const wanted: PartRecord = { name: spec.name, version: record.version, sha256: manifest.checksum_sha256, size_bytes: manifest.size_bytes };
      // Refuse up front an image that cannot fit, rather than fill the disk and stop part-way (before a fresh .part is created).
      const ensureRoom = async (kept: number) => {
        const needed = manifest.size_bytes - kept;
        const free = await freeBytes(dest.dir);
        if (free >= needed) return;
        throw new ImagebuildError(
          'NO_SPACE',
          `${dest.dir}: ${formatBytes(free)} free, but ${kept > 0 ? 'the rest of ' : ''}v${record.version} needs ${formatBytes(needed)}; free space there (or choose another --dest), then run the same command again`,
        );
      };
      const part = await openPart(dest, wanted, ensureRoom);
      try {
        if (part.discarded === 'foreign') notices.push(`${basename(dest.part)} belongs to another image or has no record; starting over`);
        if (part.discarded === 'too-long') notices.push(`${basename(dest.part)} is longer than the image; starting over`);
        if (part.discarded === 'shared') notices.push(`${basename(dest.part)} has another link or others may write it, so its bytes prove nothing; starting over`);
        return await fetchIntoPart(options, store, { record, manifest, documents, dest, part, notices, report });
      } finally {
        await closePart(part);
      }
    } finally {
      await lock.release();
    }
  } finally {
    store.close();
  }
}

type FetchPlan = {
  readonly record: ReleaseRecord;
  readonly manifest: ImageManifest;
  readonly documents: readonly ReleaseDocument[];
  readonly dest: DownloadDestination;
  readonly part: OpenPart;
  readonly notices: string[];
  readonly report: (status: DownloadReport['status'], bytesFetched: number, resumedFrom: number, notices: string[]) => DownloadReport;
};

/**
 * Fills the open .part with the rest of the image, hashing the kept prefix first, and gives it its final
 * name only when size and SHA-256 match. A stream that stops (a dropped link, a stalled server the
 * store gives up on, a full disk, Ctrl-C) keeps the .part and says how to resume; a mismatch removes it.
 */
async function fetchIntoPart(options: DownloadOptions, store: ArtifactStore, { record, manifest, documents, dest, part, notices, report }: FetchPlan): Promise<DownloadReport> {
  let offset = part.kept;

  let progress: ProgressReporter | undefined;
  const meter = createMeteredStream({ sha256: true, onBytes: (bytes) => progress?.update(bytes) });
  if (offset > 0) {
    // Resuming: the bytes already on disk must enter the hash too; read them once, streaming, through the file being appended to.
    const hashing = createProgressReporter('hash', `${basename(dest.part)} (resumed part)`, offset, options.onProgress);
    offset = await absorbPart(part, offset, meter, (bytes) => hashing.update(bytes));
    hashing.finish(offset);
  }

  const fetchStart = offset;
  if (offset < manifest.size_bytes) {
    progress = createProgressReporter('download', manifest.artifact, manifest.size_bytes, options.onProgress);
    const body = await store.getStream(record.artifact_key, { start: offset, signal: options.signal });
    try {
      await appendToPart(part, body, [...(options.limitRate ? [throttle(options.limitRate)] : []), meter], options.signal);
    } catch (error) {
      throw await stoppedError(error, { options, record, manifest, dest, part });
    }
    offset = await partBytes(part);
    progress.finish(offset);
  }

  const actual = meter.digest();
  if (offset !== manifest.size_bytes || actual !== manifest.checksum_sha256) {
    await discardPart(dest, part);
    throw new ChecksumMismatchError(
      `${dest.artifact}: verification failed: ${offset !== manifest.size_bytes ? `${offset} bytes, expected ${manifest.size_bytes}` : `SHA-256 ${actual}, expected ${manifest.checksum_sha256}`}; the partial download was removed and nothing was written under ${basename(dest.artifact)} — run the command again, and if it fails the same way the stored image is damaged`,
    );
  }
  await completeDownload(dest, part, documents);
  if (fetchStart > 0) notices.push(`resumed an interrupted download at ${formatBytes(fetchStart)} (${fetchStart} bytes)`);
  return report('downloaded', offset - fetchStart, fetchStart, notices);
}


/**
 * The small files of a release beside its image, fetched and proved before the image: the manifest's
 * exact bytes, the SBOM and provenance statement it names (each must have the SHA-256 it records), and
 * SHA256SUMS, which must list the image, those files and (where it lists it) the manifest with the
 * same digests. What is written into the destination is then what `sha256sum -c` checks there.
 */
async function fetchReleaseDocuments(
  store: ArtifactStore,
  record: ReleaseRecord,
  manifest: ImageManifest,
  manifestBytes: Buffer,
  trust: { signing: SigningSpec | undefined; allowedSigners: string | undefined; allowUnsigned: string | undefined; signal: AbortSignal | undefined },
): Promise<{ documents: ReleaseDocument[]; verdict: SignatureVerdict }> {
  const { signal } = trust;
  const dir = record.manifest_key.slice(0, record.manifest_key.lastIndexOf('/'));
  const refuse = `refusing to download v${record.version}`;
  const sumsBytes = await readStoredBytes(store, record.sums_key, RELEASE_FILE_MAX_BYTES.sums, signal);
  if (sumsBytes === undefined) throw new ReleaseInconsistentError(`${store.describe(record.sums_key)}: missing, but the release index lists it; ${refuse}`);
  const signatureKey = `${dir}/${SIGNATURE_FILE}`;
  const signatureBytes = await readStoredBytes(store, signatureKey, RELEASE_FILE_MAX_BYTES.signature, signal);
  const verdict = await checkReleaseSignature({
    sums: sumsBytes,
    signature: signatureBytes,
    signing: trust.signing,
    ...(trust.allowedSigners === undefined ? {} : { allowedSigners: trust.allowedSigners }),
    ...(trust.allowUnsigned === undefined ? {} : { allowUnsigned: trust.allowUnsigned }),
    what: `v${record.version} in ${store.location}`,
  });
  const documents: ReleaseDocument[] = [{ name: MANIFEST_FILE, bytes: manifestBytes }];
  for (const file of [manifest.sbom, manifest.provenance]) {
    if (file === undefined) continue;
    const key = `${dir}/${file.file}`;
    const bytes = await readStoredBytes(store, key, RELEASE_FILE_MAX_BYTES.document, signal);
    if (bytes === undefined) throw new ReleaseInconsistentError(`${store.describe(key)}: missing, but the release's manifest names it; ${refuse}`);
    const actual = sha256Hex(bytes);
    if (actual !== file.sha256) throw new ChecksumMismatchError(`${store.describe(key)}: SHA-256 ${actual}, but the manifest says ${file.sha256}; ${refuse}`);
    documents.push({ name: file.file, bytes });
  }
  const where = store.describe(record.sums_key);
  const sums = parseSumsText(sumsBytes.toString('utf8'), where);
  const coversManifest = sums.some((s) => s.name === MANIFEST_FILE);
  checkSums(sums, [...releaseFilesOf(manifest), ...(coversManifest ? [{ name: MANIFEST_FILE, sha256: sha256Hex(manifestBytes) }] : [])], where);
  documents.push({ name: SUMS_FILE, bytes: sumsBytes });
  if (signatureBytes !== undefined) documents.push({ name: SIGNATURE_FILE, bytes: signatureBytes });
  documents.push({ name: DOWNLOAD_RECORD_FILE, bytes: Buffer.from(downloadRecordText(record, manifest, verdict)) });
  return { documents, verdict };
}

/** What a download leaves beside the image to say what it proved: the release, its digests, the signature verdict (with --allow-unsigned's reason). */
export const DOWNLOAD_RECORD_FILE = 'download.json';

function downloadRecordText(record: ReleaseRecord, manifest: ImageManifest, verdict: SignatureVerdict): string {
  const files = releaseFilesOf(manifest).map((f) => ({ file: f.name, sha256: f.sha256 }));
  return `${JSON.stringify({ format: 1, name: manifest.name, version: record.version, verified_at: new Date().toISOString(), files, signature: verdict }, null, 2)}\n`;
}

/**
 * The one line for a download whose stream stopped part-way, whatever stopped it — Ctrl-C, a full disk,
 * a dropped connection, or a store error such as a stalled server's idle timeout — with the bytes kept
 * and how to resume: the .part stays.
 */
async function stoppedError(error: unknown, at: Omit<FetchPlan, 'notices' | 'report' | 'documents'> & { readonly options: DownloadOptions }): Promise<ImagebuildError> {
  const { options, record, manifest, dest, part } = at;
  const have = await partBytes(part).catch(() => 0);
  const interrupted = options.signal?.aborted === true || error instanceof InterruptedError;
  const full = (error as NodeJS.ErrnoException).code === 'ENOSPC';
  const why = interrupted ? 'interrupted' : full ? `${dest.dir} is full (ENOSPC)` : firstLine(error);
  const then = full ? `free at least ${formatBytes(manifest.size_bytes - have)} there, then run the same command again` : 'run the same command again';
  return new ImagebuildError(
    interrupted ? 'INTERRUPTED' : full ? 'NO_SPACE' : 'DOWNLOAD_INTERRUPTED',
    `download of v${record.version} stopped at ${have} of ${manifest.size_bytes} bytes (${why}); ${then} to resume from ${basename(dest.part)}`,
    { cause: error },
  );
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

