import { randomBytes } from 'node:crypto';
import { rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { FileAccessError } from '../../errors/index.js';
import { describeFsError } from '../fs/describe-fs-error.js';

/** Writes a file atomically: a temporary file beside it, then one rename; on failure (a full disk) the temporary file goes too. */
export async function writeFileAtomically(path: string, content: string | Uint8Array): Promise<void> {
  const temp = join(dirname(path), `.${randomBytes(4).toString('hex')}.tmp-${process.pid}`);
  try {
    await writeFile(temp, content);
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    throw new FileAccessError(`${path}: cannot write it: ${describeFsError(error)}`, { cause: error });
  }
}
