import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { FileAccessError } from '../../errors/index.js';

/** Marks a directory as written by imagebuild, so replacing it can never delete a user's own files. */
export const RENDER_MARKER = '.imagebuild-rendered';

/**
 * Writes `files` as the complete contents of `dir`, atomically: everything goes to a temporary
 * sibling first and is swapped in by rename, so a failure leaves the previous contents untouched.
 * An existing `dir` is replaced only if imagebuild wrote it (it holds the marker) or it is empty.
 */
export async function replaceDirectory(dir: string, files: readonly { path: string; content: string }[]): Promise<void> {
  if (existsSync(dir) && !existsSync(join(dir, RENDER_MARKER))) {
    if ((await readdir(dir)).length > 0) {
      throw new FileAccessError(`${dir}: exists and was not written by imagebuild; choose an empty or new --out directory`);
    }
  }
  const suffix = `${process.pid}-${randomBytes(4).toString('hex')}`;
  const staging = `${dir}.tmp-${suffix}`;
  const retired = `${dir}.old-${suffix}`;
  try {
    await mkdir(staging, { recursive: true });
    for (const file of files) {
      const target = join(staging, file.path);
      await mkdir(dirname(target), { recursive: true });
      await writeFile(target, file.content);
    }
    await writeFile(join(staging, RENDER_MARKER), 'Written by imagebuild render; the whole directory is replaced on the next render.\n');
    if (existsSync(dir)) await rename(dir, retired);
    await rename(staging, dir);
  } catch (error) {
    await rm(staging, { recursive: true, force: true });
    if (existsSync(retired) && !existsSync(dir)) await rename(retired, dir);
    throw error;
  }
  await rm(retired, { recursive: true, force: true });
}

/**
 * Fills a temporary sibling of `dir` through `fill`, then puts it in place of `dir` (created with its
 * parents): a failed fill leaves `dir` as it was and no temporary behind.
 */
export async function replaceDirectoryWith<T>(dir: string, fill: (temp: string) => Promise<T>): Promise<T> {
  const temp = `${dir}.part-${process.pid}`;
  await rm(temp, { recursive: true, force: true });
  try {
    const result = await fill(temp);
    await rm(dir, { recursive: true, force: true });
    await mkdir(dirname(dir), { recursive: true });
    await rename(temp, dir);
    return result;
  } catch (error) {
    await rm(temp, { recursive: true, force: true });
    throw error;
  }
}
