import { constants, existsSync } from 'node:fs';
import { chmod, copyFile, cp, mkdir, mkdtemp, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

// The file operations the app's pipelines make on their own directories (build runs, release
// staging, bootstrap images), named for what they do there.

/** Whether a file or directory exists at `path`. */
export function pathExists(path: string): boolean {
  return existsSync(path);
}

/** Creates `path` and its parents when missing; a failure names the real reason (EROFS, EACCES, ENOTDIR). */
export async function ensureDirectory(path: string): Promise<void> {
  try {
    await mkdir(path, { recursive: true });
  } catch (error) {
    // Node's recursive mkdir reports ENOENT for a parent it could not make (on a read-only filesystem, say); one level at a time tells why.
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || dirname(path) === path) throw error;
    await ensureDirectory(dirname(path));
    await mkdir(path).catch((inner: NodeJS.ErrnoException) => {
      if (inner.code !== 'EEXIST') throw inner;
    });
  }
}

/** A new private directory under the system's temporary directory, named `<prefix>XXXXXX`. */
export async function makeTempDirectory(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

/** Removes `path` and everything below it; nothing there is not an error. */
export async function removeTree(path: string): Promise<void> {
  await rm(path, { recursive: true, force: true });
}

/** Empties `path` for a fresh start: removes it and makes it again. */
export async function recreateDirectory(path: string): Promise<void> {
  await removeTree(path);
  await ensureDirectory(path);
}

/**
 * Removes the entries of `dir` named `prefix` followed by a pid (the staging leftovers of killed runs),
 * and nothing else — `v1.0.0.partial-notes` is not ours; a missing `dir` has none.
 */
export async function removeEntriesStartingWith(dir: string, prefix: string): Promise<void> {
  for (const name of existsSync(dir) ? await readdir(dir) : []) {
    if (name.startsWith(prefix) && /^\d+$/.test(name.slice(prefix.length))) await removeTree(join(dir, name));
  }
}

/** The names in `dir`; none when it does not exist. */
export async function listDirectory(dir: string): Promise<string[]> {
  return existsSync(dir) ? readdir(dir) : [];
}

/** Copies a file or a directory tree. */
export async function copyTree(from: string, to: string): Promise<void> {
  await cp(from, to, { recursive: true });
}

/** Moves `from` to `to` by rename (same filesystem), creating `to`'s parent first. */
export async function moveIntoPlace(from: string, to: string): Promise<void> {
  await mkdir(dirname(to), { recursive: true });
  await rename(from, to);
}

/**
 * A copy of `from` at `to` that shares no inode with it: a reflink (copy-on-write clone, instant) where
 * the filesystem can (btrfs, XFS), else a copy the kernel makes (no bytes through this process). Never a
 * hard link: a write through one name would change the other.
 */
export async function cloneFile(from: string, to: string): Promise<void> {
  await copyFile(from, to, constants.COPYFILE_EXCL | constants.COPYFILE_FICLONE);
}

/** Makes a file read-only for everyone (0444): a finished image, which nothing may write in place. */
export async function makeReadOnly(path: string): Promise<void> {
  await chmod(path, 0o444);
}

/** A file's size in bytes and when its content last changed (ms since the epoch). */
export async function fileSizeAndMtime(path: string): Promise<{ size: number; mtimeMs: number }> {
  const found = await stat(path);
  return { size: found.size, mtimeMs: found.mtimeMs };
}

/** The size of a file in bytes. */
export async function fileSize(path: string): Promise<number> {
  return (await stat(path)).size;
}

/** Writes a text file whole (a file of a build run's own directory, not yet published). */
export async function writeTextFile(path: string, text: string): Promise<void> {
  await writeFile(path, text);
}
