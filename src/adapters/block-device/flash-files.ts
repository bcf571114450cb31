import { constants } from 'node:fs';
import { open, readFile, stat } from 'node:fs/promises';
import { describeFsError } from '../fs/describe-fs-error.js';
import { FileAccessError } from '../../errors/index.js';
import { fileIdOf } from './target-facts.js';

// The plain files flash reads (a release's small files, the image's identity) and the file it may
// write to with --to-file.

/** A small file's exact bytes; undefined when absent; FileAccessError past `maxBytes` or unreadable. */
export async function readSmallFile(path: string, maxBytes: number): Promise<Buffer | undefined> {
  try {
    const size = (await stat(path)).size;
    if (size > maxBytes) throw new FileAccessError(`${path}: ${size} bytes, more than the ${maxBytes} such a file may have; refusing to read it`);
    return await readFile(path);
  } catch (error) {
    if (error instanceof FileAccessError) throw error;
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new FileAccessError(`${path}: unreadable (${describeFsError(error)})`, { cause: error });
  }
}

/** A file's size and dev:ino (to tell it from the target). */
export async function fileIdentity(path: string): Promise<{ sizeBytes: number; fileId: string }> {
  try {
    const stats = await stat(path);
    if (!stats.isFile()) throw new FileAccessError(`${path}: not a plain file; give a qcow2 image, a release directory or a version`);
    return { sizeBytes: stats.size, fileId: fileIdOf(stats) };
  } catch (error) {
    if (error instanceof FileAccessError) throw error;
    throw new FileAccessError(`${path}: ${describeFsError(error)}`, { cause: error });
  }
}

/**
 * Readies a --to-file target to hold `sizeBytes`: a missing file is created (O_EXCL: never through a
 * link put there since it was found missing) as a sparse file of that size, which reads as zeros; an
 * existing one is grown to that size when smaller and never shrunk. Returns whether it reads as zeros.
 */
export async function prepareFileTarget(path: string, sizeBytes: number, existed: boolean): Promise<{ zeroed: boolean }> {
  // An existing file is the one the user named (through a link, if they named a link): qemu-img opens the same path.
  const flags = existed ? constants.O_RDWR : constants.O_RDWR | constants.O_CREAT | constants.O_EXCL;
  let handle;
  try {
    handle = await open(path, flags, 0o644);
  } catch (error) {
    throw new FileAccessError(`${path}: cannot ${existed ? 'open' : 'create'} the target file (${describeFsError(error)})`, { cause: error });
  }
  try {
    const size = (await handle.stat()).size;
    if (size < sizeBytes) await handle.truncate(sizeBytes);
    return { zeroed: !existed };
  } finally {
    await handle.close();
  }
}
