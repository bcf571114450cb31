import { readFile } from 'node:fs/promises';
import { ManifestInvalidError } from '../../errors/index.js';
import { parseManifest, serializeManifest, type ImageManifest } from '../../core/manifest/image-manifest.js';
import { describeFsError } from '../fs/describe-fs-error.js';
import { writeFileAtomically } from './atomic-write.js';

/**
 * The one reader of image-manifest.json files: undefined when the file does not exist; a
 * ManifestInvalidError naming the path for anything else wrong with it (unreadable, truncated, not
 * JSON, not a valid manifest). With `advice`, the error says what to do about it (`…; restore it`).
 * Callers that can do without a manifest catch that error themselves.
 */
export async function readManifestFile(path: string, advice?: string): Promise<ImageManifest | undefined> {
  try {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      const detail = `unreadable (${describeFsError(error)})`;
      throw new ManifestInvalidError(`${path}: ${detail}`, { cause: error, detail });
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (error) {
      const detail = `not JSON (truncated or damaged, ${text.length} bytes: ${(error as Error).message})`;
      throw new ManifestInvalidError(`${path}: ${detail}`, { cause: error, detail });
    }
    return parseManifest(json, path);
  } catch (error) {
    if (advice === undefined || !(error instanceof ManifestInvalidError)) throw error;
    throw new ManifestInvalidError(`${path}: not a valid image manifest (${error.detail}); ${advice}`, { cause: error });
  }
}

/** The one writer of image-manifest.json files beside a finished image: serialized, written atomically. */
export async function writeManifestFile(path: string, manifest: ImageManifest): Promise<void> {
  await writeFileAtomically(path, serializeManifest(manifest));
}
