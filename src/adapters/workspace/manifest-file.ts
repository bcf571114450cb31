import { readFile } from 'node:fs/promises';
import { parseManifest, serializeManifest, type ImageManifest } from '../../core/manifest/image-manifest.js';
import { ManifestInvalidError } from '../../errors/index.js';
import { describeFsError } from '../fs/describe-fs-error.js';
import { writeFileAtomically } from './atomic-write.js';

/**
 * The one reader of image-manifest.json files: undefined when there is no such file; a
 * ManifestInvalidError naming the path for anything else wrong with it (unreadable, truncated, not
 * JSON, not a valid manifest). With `advice`, the error says what to do about it (`…; restore it`).
 * Callers that can do without a manifest catch that error themselves.
 */
export async function readManifestFile(path: string, advice?: string): Promise<ImageManifest | undefined> {
  const fail = (detail: string, cause: unknown, schema = false): never => {
    const problem = advice === undefined ? `${path}: ${detail}` : `${path}: ${schema ? `not a valid image manifest (${detail})` : detail}; ${advice}`;
    throw new ManifestInvalidError(problem, { cause, detail, located: true });
  };
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    // ENOTDIR: a file where a release directory would be (a note beside the releases) holds no manifest either.
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    return fail(`unreadable (${describeFsError(error)})`, error);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    return fail(`not JSON (truncated or damaged, ${text.length} bytes: ${(error as Error).message})`, error);
  }
  try {
    return parseManifest(json, path);
  } catch (error) {
    if (!(error instanceof ManifestInvalidError)) throw error;
    return fail(error.detail, error, true);
  }
}

/** The one writer of image-manifest.json files beside an image: validated, then written atomically. */
export async function writeManifestFile(path: string, manifest: ImageManifest): Promise<void> {
  await writeFileAtomically(path, serializeManifest(manifest));
}

/** Writes the manifest unless the file holds exactly its serialization already; returns that text (what SHA256SUMS covers). */
export async function settleManifestFile(path: string, manifest: ImageManifest): Promise<string> {
  const text = serializeManifest(manifest);
  if ((await readFile(path, 'utf8').catch(() => undefined)) !== text) await writeFileAtomically(path, text);
  return text;
}
