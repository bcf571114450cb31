import { chmod, stat } from 'node:fs/promises';
import { CacheEntry, type LayerImageStat } from '../../core/plan/cache-entry.js';
import { firstLine } from '../../errors/index.js';
import { describeFsError } from '../fs/describe-fs-error.js';
import { sha256File } from '../fs/sha256.js';
import { cacheLayout } from '../workspace/cache-layout.js';
import { writeFileAtomically } from '../workspace/atomic-write.js';

// A cached layer is the bytes its gate passed: entry.json records layer.qcow2's SHA-256 when the layer
// is registered, and the file is made read-only. Before a build reuses the layer its stat is compared
// with the one recorded beside the digest — equal, no byte is read; different (edited, copied, booted
// in place, restored from a backup), the bytes are hashed again and must match.

/** Registered files are read-only: a VM booted on one by mistake, or an editor, fails instead of changing it. */
const READ_ONLY = 0o444;

/** What proving a cached layer's image found. */
export type LayerProof =
  /** The bytes are those recorded; `hashedBytes` is 0 when the stat alone proved it. */
  | { readonly status: 'intact'; readonly hashedBytes: number }
  /** The entry had no digest (an older imagebuild wrote it); `sha256` is the digest of the bytes as they are now. */
  | { readonly status: 'unrecorded'; readonly hashedBytes: number; readonly sha256: string }
  /** The bytes are not those the gate passed, or the file is gone: `reason` says which, in one line. */
  | { readonly status: 'changed'; readonly hashedBytes: number; readonly reason: string };

/** Hashes a layer image about to be registered and makes it read-only; returns what entry.json records of it. */
export async function sealLayerImage(image: string): Promise<{ imageSha256: string; imageStat: LayerImageStat }> {
  const imageSha256 = await sha256File(image);
  // chmod before the stat: it changes ctime, which the stat records.
  await chmod(image, READ_ONLY);
  return { imageSha256, imageStat: await readImageStat(image) };
}

/**
 * Proves a registered layer's image is the bytes recorded in its entry. `full` re-hashes even when the
 * stat is unchanged (`cache verify`); otherwise an unchanged stat is proof enough and nothing is read.
 */
export async function proveLayerImage(cacheDir: string, entry: CacheEntry, options: { full?: boolean } = {}): Promise<LayerProof> {
  const image = cacheLayout(cacheDir).layerImage(entry.key);
  let now: LayerImageStat;
  try {
    now = await readImageStat(image);
  } catch (error) {
    return { status: 'changed', hashedBytes: 0, reason: `${image}: cannot be read (${describeFsError(error)})` };
  }
  if (options.full !== true && entry.imageSha256 !== undefined && entry.imageStat !== undefined && sameStat(entry.imageStat, now)) {
    return { status: 'intact', hashedBytes: 0 };
  }
  let sha256: string;
  try {
    sha256 = await sha256File(image);
  } catch (error) {
    return { status: 'changed', hashedBytes: 0, reason: firstLine(error) };
  }
  if (entry.imageSha256 === undefined) return { status: 'unrecorded', hashedBytes: now.size, sha256 };
  if (sha256 !== entry.imageSha256) {
    return { status: 'changed', hashedBytes: now.size, reason: `${image}: SHA-256 ${sha256}, but its gate passed ${entry.imageSha256}` };
  }
  return { status: 'intact', hashedBytes: now.size };
}

/**
 * Records in entry.json (atomically) the digest of a registered layer's image as it now is, and its
 * stat, after making it read-only: after a proof by re-hashing, for an entry without a digest, and
 * after imagebuild itself rewrote the image's header (its parent moved).
 */
export async function recordLayerImage(cacheDir: string, entry: CacheEntry, imageSha256: string): Promise<CacheEntry> {
  const layout = cacheLayout(cacheDir);
  const image = layout.layerImage(entry.key);
  await chmod(image, READ_ONLY);
  const updated = CacheEntry.parse({ ...entry, imageSha256, imageStat: await readImageStat(image) });
  await writeFileAtomically(layout.layerEntry(entry.key), `${JSON.stringify(updated, null, 2)}\n`);
  return updated;
}

/**
 * Lets imagebuild itself rewrite a registered image (re-pointing an overlay at its moved parent): the
 * file is writable for the duration of `change`, then re-hashed, read-only again and recorded.
 */
export async function rewriteLayerImage(cacheDir: string, entry: CacheEntry, change: (image: string) => Promise<void>): Promise<CacheEntry> {
  const image = cacheLayout(cacheDir).layerImage(entry.key);
  await chmod(image, 0o644);
  try {
    await change(image);
  } finally {
    await chmod(image, READ_ONLY);
  }
  return recordLayerImage(cacheDir, entry, await sha256File(image));
}

async function readImageStat(image: string): Promise<LayerImageStat> {
  const found = await stat(image, { bigint: true });
  return { size: Number(found.size), mtimeNs: String(found.mtimeNs), ctimeNs: String(found.ctimeNs), ino: String(found.ino) };
}

function sameStat(a: LayerImageStat, b: LayerImageStat): boolean {
  return a.size === b.size && a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs && a.ino === b.ino;
}
