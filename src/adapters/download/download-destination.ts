import { createWriteStream } from 'node:fs';
import { mkdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { z } from 'zod';
import { ManifestInvalidError } from '../../errors/index.js';
import type { ImageManifest } from '../../core/manifest/image-manifest.js';
import { FileAccessError } from '../../errors/index.js';
import { fileSize } from '../fs/directories.js';
import type { MeteredStream } from '../fs/metered-stream.js';
import { absorbFile } from '../fs/sha256.js';
import { writeFileAtomically } from '../workspace/atomic-write.js';
import { readManifestFile, writeManifestFile } from '../workspace/manifest-file.js';
import { MANIFEST_FILE, SUMS_FILE, sumsFileText } from '../workspace/release-layout.js';

// Where `imagebuild download` puts a release: the image under its final name only once verified,
// until then a `.part` file (resumable) with a record of which image its bytes belong to.

/** Beside the .part file: which image the partial bytes belong to, so a resume never mixes two. */
export const PartRecord = z.strictObject({ name: z.string(), version: z.string(), sha256: z.string(), size_bytes: z.number().int().nonnegative() });
export type PartRecord = z.infer<typeof PartRecord>;

const WRITE_CHUNK = 4 * 1024 * 1024;

/** The files of a download directory. */
export type DownloadDestination = {
  readonly dir: string;
  /** The verified image, under the name the manifest gives it. */
  readonly artifact: string;
  readonly manifest: string;
  readonly sums: string;
  /** The image while it downloads. */
  readonly part: string;
  /** The PartRecord of the .part file. */
  readonly partRecord: string;
};

/** The layout of download directory `dir` for an image named `artifactName`. */
export function downloadDestination(dir: string, artifactName: string): DownloadDestination {
  const artifact = join(dir, artifactName);
  return { dir, artifact, manifest: join(dir, MANIFEST_FILE), sums: join(dir, SUMS_FILE), part: `${artifact}.part`, partRecord: `${artifact}.part.json` };
}

/** Creates the download directory; a one-line FileAccessError when it cannot. */
export async function createDownloadDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true }).catch((error: unknown) => {
    throw new FileAccessError(`${dir}: cannot create the download directory (${(error as NodeJS.ErrnoException).code ?? 'error'})`, { cause: error });
  });
}

/** What is already under the image's final name: its size and the manifest beside it (undefined when unreadable), or undefined when there is no such file. */
export async function inspectDownloaded(dest: DownloadDestination): Promise<{ size: number; manifest: ImageManifest | undefined } | undefined> {
  const size = await fileSize(dest.artifact).catch(() => undefined);
  if (size === undefined) return undefined;
  const manifest = await readManifestFile(dest.manifest).catch((error: unknown) => {
    // A damaged manifest proves nothing: the caller treats the image as unverified.
    if (error instanceof ManifestInvalidError) return undefined;
    throw error;
  });
  return { size, manifest };
}

/** How many bytes of an existing .part file can be kept: all of them when its record names the same image and it is not too long. */
export async function resumablePartBytes(dest: DownloadDestination, wanted: PartRecord): Promise<{ bytes: number; discarded?: 'foreign' | 'too-long' }> {
  const size = await fileSize(dest.part).catch(() => undefined);
  if (size === undefined) return { bytes: 0 };
  const recorded = await readFile(dest.partRecord, 'utf8').then(
    (text) => PartRecord.safeParse(JSON.parse(text)),
    () => undefined,
  );
  if (!recorded?.success || JSON.stringify(recorded.data) !== JSON.stringify(wanted)) return { bytes: 0, discarded: 'foreign' };
  if (size > wanted.size_bytes) return { bytes: 0, discarded: 'too-long' };
  return { bytes: size };
}

/** Starts a fresh .part file: any old one goes, and the record of which image it will hold is written first. */
export async function startPart(dest: DownloadDestination, wanted: PartRecord): Promise<void> {
  await rm(dest.part, { force: true });
  await writeFileAtomically(dest.partRecord, `${JSON.stringify(wanted)}\n`);
}

/** Feeds the first `bytes` of the .part file into `meter` (a resumed download's hash covers them too), streaming; returns the bytes read. */
export async function absorbPart(dest: DownloadDestination, bytes: number, meter: MeteredStream, onBytes: (bytes: number) => void): Promise<number> {
  return absorbFile(dest.part, meter, { bytes, onBytes });
}

/** Appends a stream (through `stages`) to the .part file. */
export async function appendToPart(dest: DownloadDestination, body: Readable, stages: readonly Transform[], signal?: AbortSignal): Promise<void> {
  await pipeline([body, ...stages, createWriteStream(dest.part, { flags: 'a', highWaterMark: WRITE_CHUNK })], { signal });
}

/** The bytes in the .part file so far (0 without one). */
export async function partBytes(dest: DownloadDestination): Promise<number> {
  return fileSize(dest.part).catch(() => 0);
}

/** Removes the .part file and its record (a download that failed verification). */
export async function discardPart(dest: DownloadDestination): Promise<void> {
  await rm(dest.part, { force: true });
  await rm(dest.partRecord, { force: true });
}

/**
 * Gives a verified .part file its final name. The manifest and SHA256SUMS first, the image's final
 * name last: were they written after it, a failure in between (a full disk, a kill) would leave a
 * verified image that the next run cannot prove is verified, and refuses. The .part stays resumable
 * until the rename.
 */
export async function completeDownload(dest: DownloadDestination, manifest: ImageManifest): Promise<void> {
  await writeManifestFile(dest.manifest, manifest);
  await writeFileAtomically(dest.sums, sumsFileText(manifest.checksum_sha256, manifest.artifact));
  await rename(dest.part, dest.artifact);
  await rm(dest.partRecord, { force: true });
}
