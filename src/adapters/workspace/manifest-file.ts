import { readFile } from 'node:fs/promises';
import { ManifestInvalidError } from '../../core/manifest/errors.js';
import { parseManifest, type ImageManifest } from '../../core/manifest/image-manifest.js';
import { describeFsError } from '../fs/describe-fs-error.js';

/**
 * The one reader of image-manifest.json files: undefined when the file does not exist; a
 * ManifestInvalidError naming the path for anything else that is wrong with it (unreadable, truncated,
 * not JSON, not a valid manifest). Callers that can do without a manifest catch that error themselves.
 */
export async function readManifestFile(path: string): Promise<ImageManifest | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ManifestInvalidError(`${path}: unreadable (${describeFsError(error)})`, { cause: error });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ManifestInvalidError(`${path}: not JSON, truncated or damaged (${text.length} bytes: ${(error as Error).message})`, { cause: error });
  }
  return parseManifest(json, path);
}
