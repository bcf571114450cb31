import { constants, createReadStream, createWriteStream, type Stats } from 'node:fs';
import { lstat, mkdir, open, readFile, readlink, rename, rm, stat, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { z } from 'zod';
import { sha256Hex } from '../../core/digest.js';
import { parseStoredManifest } from '../../core/manifest/image-manifest.js';
import { DownloadDestinationUnsafeError, FileAccessError, ImagebuildError } from '../../errors/index.js';
import { describeFsError } from '../fs/describe-fs-error.js';
import { acquireLock, type HeldLock } from '../fs/lock.js';
import type { MeteredStream } from '../fs/metered-stream.js';
import { writeFileAtomically } from '../workspace/atomic-write.js';
import { MANIFEST_FILE, SUMS_FILE } from '../workspace/release-layout.js';

// Where `imagebuild download` puts a release: the image under its final name only once verified,
// until then a `.part` file (resumable) with a record of which image its bytes belong to.
//
// The destination is hostile ground (a shared directory, a default name anyone can predict): no name in
// it is ever followed as a link. The .part is created with O_EXCL (or, to resume, opened with O_NOFOLLOW
// and proved to be a regular file of this user with one link), every byte goes through that one open
// file, and the final name is given by renaming the .part only after checking that the name still
// leads to that file. Whatever else is found at the .part or final name (a link, a directory, another
// user's file) is neither followed nor removed: the download refuses, naming it.

/** Beside the .part file: which image the partial bytes belong to, so a resume never mixes two. */
export const PartRecord = z.strictObject({ name: z.string(), version: z.string(), sha256: z.string(), size_bytes: z.number().int().nonnegative() });
export type PartRecord = z.infer<typeof PartRecord>;

const WRITE_CHUNK = 4 * 1024 * 1024;
const PART_MODE = 0o644;
const STICKY = 0o1000;

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
  /** Held while one process downloads this image here: one downloader per destination and release. */
  readonly lock: string;
};

/** The .part file this process writes through: one open file from first byte to rename. */
export type OpenPart = {
  readonly handle: FileHandle;
  /** Bytes kept from an interrupted download (0 for a fresh .part). */
  readonly kept: number;
  /** Why an existing .part was not kept, when one was there. */
  readonly discarded?: 'foreign' | 'too-long' | 'shared';
  readonly dev: number;
  readonly ino: number;
};

/** The layout of download directory `dir` for an image named `artifactName`. */
export function downloadDestination(dir: string, artifactName: string): DownloadDestination {
  const artifact = join(dir, artifactName);
  return { dir, artifact, manifest: join(dir, MANIFEST_FILE), sums: join(dir, SUMS_FILE), part: `${artifact}.part`, partRecord: `${artifact}.part.json`, lock: `${artifact}.lock` };
}

const myUid = (): number | undefined => process.getuid?.();
/** Owned by this user, or by root (whom nobody here can defend against anyway). */
const trustedOwner = (stats: Stats): boolean => myUid() === undefined || stats.uid === myUid() || stats.uid === 0;

/** What is at a path, in words, for an error: "a symbolic link to /x", "a directory", "a file of uid 1001". */
async function describeEntry(path: string, stats: Stats): Promise<string> {
  if (stats.isSymbolicLink()) return `a symbolic link (to ${await readlink(path).catch(() => '?')})`;
  if (stats.isDirectory()) return 'a directory';
  if (!stats.isFile()) return 'a special file (FIFO, socket or device)';
  if (myUid() !== undefined && stats.uid !== myUid()) return `a file owned by uid ${stats.uid}, not this user (uid ${myUid()})`;
  return 'a file';
}

async function lstatOrUndefined(path: string): Promise<Stats | undefined> {
  try {
    return await lstat(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new FileAccessError(`${path}: cannot inspect it: ${describeFsError(error)}`, { cause: error });
  }
}

function unsafe(path: string, what: string, advice: string): DownloadDestinationUnsafeError {
  return new DownloadDestinationUnsafeError(`${path}: ${what} is there, not a file this download wrote; imagebuild neither follows nor replaces it: ${advice}`);
}

/**
 * Creates the download directory (and its parents) and proves it is a directory this user controls: a
 * link there is followed only when this user (or root) owns it; a directory another user owns, or one
 * anybody may write without the sticky bit, is refused — whoever controls it could swap the image after
 * it is verified.
 */
export async function prepareDownloadDir(dir: string): Promise<void> {
  // 0o755, not umask's default: under umask 0 a new directory anybody may write would be refused just below.
  await mkdir(dir, { recursive: true, mode: 0o755 }).catch((error: unknown) => {
    throw new FileAccessError(`${dir}: cannot create the download directory (${describeFsError(error)})`, { cause: error });
  });
  const entry = await lstatOrUndefined(dir);
  if (entry === undefined) throw new FileAccessError(`${dir}: the download directory vanished as it was created; run the command again`);
  if (entry.isSymbolicLink() && !trustedOwner(entry)) {
    throw new DownloadDestinationUnsafeError(
      `${dir}: a symbolic link (to ${await readlink(dir).catch(() => '?')}) owned by uid ${entry.uid} is there; imagebuild does not download through another user's link: name the directory itself with --dest`,
    );
  }
  const target = entry.isSymbolicLink()
    ? await stat(dir).catch((error: unknown) => {
        throw new FileAccessError(`${dir}: cannot follow the link to the download directory: ${describeFsError(error)}`, { cause: error });
      })
    : entry;
  if (!target.isDirectory()) throw new FileAccessError(`${dir}: not a directory; choose another --dest`);
  if (!trustedOwner(target)) {
    throw new DownloadDestinationUnsafeError(`${dir}: the directory belongs to uid ${target.uid}, not this user; whoever owns it could replace the image after it is verified: choose a --dest of your own`);
  }
  if ((target.mode & 0o002) !== 0 && (target.mode & STICKY) === 0) {
    throw new DownloadDestinationUnsafeError(`${dir}: anybody may write to this directory (mode ${(target.mode & 0o7777).toString(8)}, no sticky bit), so anybody could replace the image: choose a --dest of your own`);
  }
}

/** Takes the lock of this image in this directory; a second downloader of the same release here is refused with LockHeldError naming the holder's pid. */
export async function lockDownload(dest: DownloadDestination, command: string): Promise<HeldLock> {
  return acquireLock(dest.lock, command).catch((error: unknown) => {
    if (error instanceof ImagebuildError) throw error;
    throw new FileAccessError(`${dest.lock}: cannot take the download's lock there: ${describeFsError(error)}; choose a --dest this user may write`, { cause: error });
  });
}

/**
 * What is already under the image's final name: its size and the manifest beside it (undefined when
 * unreadable or not a plain file), or undefined when there is nothing. A link, a directory or another
 * user's file there is refused (DownloadDestinationUnsafeError): never "already present".
 */
export async function inspectDownloaded(dest: DownloadDestination): Promise<{ size: number; manifestSha256: string | undefined; manifestVersion: string | undefined } | undefined> {
  const entry = await lstatOrUndefined(dest.artifact);
  if (entry === undefined) return undefined;
  if (!entry.isFile() || (myUid() !== undefined && entry.uid !== myUid())) {
    throw unsafe(dest.artifact, await describeEntry(dest.artifact, entry), 'remove it, or choose another --dest');
  }
  const manifestEntry = await lstatOrUndefined(dest.manifest);
  // A manifest that is a link, or damaged, proves nothing: the caller treats the image as unverified.
  if (!manifestEntry?.isFile()) return { size: entry.size, manifestSha256: undefined, manifestVersion: undefined };
  const bytes = await readFile(dest.manifest).catch((error: unknown) => {
    throw new FileAccessError(`${dest.manifest}: unreadable (${describeFsError(error)})`, { cause: error });
  });
  let manifestVersion: string | undefined;
  try {
    manifestVersion = parseStoredManifest(JSON.parse(bytes.toString('utf8')), dest.manifest).version;
  } catch {
    manifestVersion = undefined;
  }
  return { size: entry.size, manifestSha256: sha256Hex(bytes), manifestVersion };
}

/** The .part's record, read without following a link (a link or anything unreadable reads as no record). */
async function readPartRecord(path: string): Promise<PartRecord | undefined> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    if (!(await handle.stat()).isFile()) return undefined;
    const parsed = PartRecord.safeParse(JSON.parse(await handle.readFile('utf8')));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  } finally {
    await handle?.close();
  }
}

/**
 * Opens the .part file to write the image through: an existing one is kept (resumed) only when it is a
 * regular file of this user with no other link, nobody else may write it, its record names the same
 * image and it is not too long; otherwise this user's .part is replaced by a fresh one, created with
 * O_EXCL. A link, directory or other user's file at the .part name is refused. `ensureRoom(kept)` runs
 * once it is known how many bytes stay and before anything is written (it throws to refuse).
 */
export async function openPart(dest: DownloadDestination, wanted: PartRecord, ensureRoom: (kept: number) => Promise<void> = async () => {}): Promise<OpenPart> {
  const entry = await lstatOrUndefined(dest.part);
  if (entry !== undefined) {
    if (!entry.isFile() || (myUid() !== undefined && entry.uid !== myUid())) {
      throw unsafe(dest.part, await describeEntry(dest.part, entry), 'remove it (it holds no bytes of this download), or choose another --dest');
    }
    const handle = await open(dest.part, constants.O_RDWR | constants.O_APPEND | constants.O_NOFOLLOW | constants.O_NONBLOCK).catch(async (error: unknown) => {
      // Replaced between the lstat and the open (ELOOP: by a link).
      const now = await lstatOrUndefined(dest.part);
      if (now && !now.isFile()) throw unsafe(dest.part, await describeEntry(dest.part, now), 'remove it, or choose another --dest');
      throw new FileAccessError(`${dest.part}: cannot open it to resume: ${describeFsError(error)}`, { cause: error });
    });
    const opened = await handle.stat();
    if (opened.ino !== entry.ino || opened.dev !== entry.dev || !opened.isFile()) {
      await handle.close();
      throw unsafe(dest.part, 'a file that changed while it was opened', 'another process is writing there; choose another --dest');
    }
    const recorded = await readPartRecord(dest.partRecord);
    const discarded =
      opened.nlink !== 1 || (opened.mode & 0o022) !== 0
        ? 'shared'
        : recorded === undefined || JSON.stringify(recorded) !== JSON.stringify(wanted)
          ? 'foreign'
          : opened.size > wanted.size_bytes
            ? 'too-long'
            : undefined;
    if (discarded === undefined) {
      await ensureRoom(opened.size).catch(async (error: unknown) => {
        await handle.close();
        throw error;
      });
      return { handle, kept: opened.size, dev: opened.dev, ino: opened.ino };
    }
    await handle.close();
    await ensureRoom(0);
    // This user's own .part, of another image (or writable by others): only this name goes, never a link's target.
    await unlink(dest.part).catch((error: unknown) => {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw new FileAccessError(`${dest.part}: cannot remove it to start over: ${describeFsError(error)}`, { cause: error });
    });
    return { ...(await createPart(dest, wanted)), discarded };
  }
  await ensureRoom(0);
  return createPart(dest, wanted);
}

async function createPart(dest: DownloadDestination, wanted: PartRecord): Promise<OpenPart> {
  // The record first: a .part never exists without the record of which image it holds.
  await writeFileAtomically(dest.partRecord, `${JSON.stringify(wanted)}\n`);
  const handle = await open(dest.part, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_APPEND | constants.O_NOFOLLOW, PART_MODE).catch(async (error: unknown) => {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
      const now = await lstatOrUndefined(dest.part);
      throw unsafe(dest.part, now ? await describeEntry(dest.part, now) : 'something', 'another process created it meanwhile; choose another --dest');
    }
    throw new FileAccessError(`${dest.part}: cannot create it: ${describeFsError(error)}`, { cause: error });
  });
  const created = await handle.stat();
  return { handle, kept: 0, dev: created.dev, ino: created.ino };
}

/** Feeds the first `bytes` of the open .part into `meter` (a resumed download's hash covers them too), streaming; returns the bytes read. */
export async function absorbPart(part: OpenPart, bytes: number, meter: MeteredStream, onBytes: (bytes: number) => void): Promise<number> {
  if (bytes === 0) return 0;
  let read = 0;
  // By descriptor, not FileHandle.createReadStream: a handle's stream with autoClose off keeps a reference that makes close() wait forever.
  for await (const chunk of createReadStream('', { fd: part.handle.fd, start: 0, end: bytes - 1, highWaterMark: WRITE_CHUNK, autoClose: false })) {
    meter.absorb(chunk as Buffer);
    read += (chunk as Buffer).length;
    onBytes(read);
  }
  return read;
}

/** Appends a stream (through `stages`) to the open .part. */
export async function appendToPart(part: OpenPart, body: Readable, stages: readonly Transform[], signal?: AbortSignal): Promise<void> {
  await pipeline([body, ...stages, createWriteStream('', { fd: part.handle.fd, highWaterMark: WRITE_CHUNK, autoClose: false })], { signal });
}

/** The bytes in the open .part so far. */
export async function partBytes(part: OpenPart): Promise<number> {
  return (await part.handle.stat()).size;
}

/** Closes the .part (it stays on disk, resumable). Safe to call twice. */
export async function closePart(part: OpenPart): Promise<void> {
  await part.handle.close().catch(() => undefined);
}

/** Whether `path` still names the open .part (not a link or another file put there meanwhile). */
async function namesPart(path: string, part: OpenPart): Promise<boolean> {
  const entry = await lstatOrUndefined(path);
  return entry !== undefined && entry.isFile() && entry.dev === part.dev && entry.ino === part.ino;
}

/** Removes the .part and its record (a download that failed verification); a name that no longer leads to this download's file is left alone. */
export async function discardPart(dest: DownloadDestination, part: OpenPart): Promise<void> {
  if (await namesPart(dest.part, part)) await rm(dest.part, { force: true });
  await closePart(part);
  await rm(dest.partRecord, { force: true });
}

/** A small file of a release (manifest, SHA256SUMS, SBOM, provenance, signature): its plain file name and exact bytes. */
export type ReleaseDocument = { readonly name: string; readonly bytes: Uint8Array };

/** Writes a release's small files into the destination, each atomically (a rename replaces whatever, link or file, had the name). */
export async function writeReleaseDocuments(dest: DownloadDestination, documents: readonly ReleaseDocument[]): Promise<void> {
  for (const document of documents) await writeFileAtomically(join(dest.dir, document.name), document.bytes);
}

/**
 * Gives the verified .part its final name. The manifest and SHA256SUMS first, the image's final name
 * last: were they written after it, a failure in between (a full disk, a kill) would leave a verified
 * image that the next run cannot prove is verified, and refuses. The .part is synced, then renamed only
 * while its name still leads to the file this process wrote, and the final name is checked to lead to
 * it afterwards; the .part stays resumable until the rename.
 */
export async function completeDownload(dest: DownloadDestination, part: OpenPart, documents: readonly ReleaseDocument[]): Promise<void> {
  await part.handle.datasync();
  await writeReleaseDocuments(dest, documents);
  if (!(await namesPart(dest.part, part))) {
    const now = await lstatOrUndefined(dest.part);
    throw unsafe(dest.part, now ? await describeEntry(dest.part, now) : 'nothing', 'the file this download wrote was moved or replaced while it downloaded; remove what is there and run the command again');
  }
  const there = await lstatOrUndefined(dest.artifact);
  if (there !== undefined) throw unsafe(dest.artifact, await describeEntry(dest.artifact, there), 'it appeared while the image downloaded; remove it and run the command again to use the verified .part');
  await rename(dest.part, dest.artifact).catch((error: unknown) => {
    throw new FileAccessError(`${dest.artifact}: cannot rename the verified ${dest.part} to it: ${describeFsError(error)}`, { cause: error });
  });
  if (!(await namesPart(dest.artifact, part))) {
    // Swapped between the rename and now: whatever is there is not what was verified.
    const now = await lstatOrUndefined(dest.artifact);
    throw unsafe(dest.artifact, now ? await describeEntry(dest.artifact, now) : 'nothing', 'the verified image was replaced as it got its name; nothing there is verified');
  }
  await closePart(part);
  await rm(dest.partRecord, { force: true });
}
