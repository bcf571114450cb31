import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { describeFsError } from './describe-fs-error.js';

/**
 * Why imagebuild could not make files under `dir` (creating it and its parents as needed), or
 * undefined when it can: `dir` or its nearest existing ancestor must be a directory this process may
 * write to. Found before a build's first layer, not after hours of them (a file where the output
 * directory should be, a link loop, a read-only filesystem).
 */
export async function whyNotWritableDirectory(dir: string): Promise<string | undefined> {
  let path = dir;
  for (;;) {
    try {
      const found = await stat(path);
      if (!found.isDirectory()) return path === dir ? `${dir} is not a directory` : `${path} is a file, so ${dir} cannot be made below it`;
      break;
    } catch (error) {
      const { code } = error as NodeJS.ErrnoException;
      // ENOTDIR: a file further up; walk up to name it.
      if ((code === 'ENOENT' || code === 'ENOTDIR') && dirname(path) !== path) {
        path = dirname(path);
        continue;
      }
      return `${dir}: ${describeFsError(error)}`;
    }
  }
  try {
    await access(path, constants.W_OK | constants.X_OK);
  } catch (error) {
    return `${path}${path === dir ? '' : ` (where ${dir} would be made)`} is not writable: ${describeFsError(error)}`;
  }
  return undefined;
}
