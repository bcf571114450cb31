import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import {
  clearPullStaging,
  hasRegisteredLayer,
  isPulled,
  placePulled,
  pullTarget,
  readLayerForPush,
  readStagedEntry,
  receivePulledFile,
  type SharedRoot,
} from '../adapters/cache/shared-layer-files.js';
import { StoreConflictError } from '../errors/index.js';
import { createMeteredStream } from '../adapters/fs/metered-stream.js';
import type { ArtifactStore } from '../adapters/store/types.js';
import { Sha256 } from '../core/digest.js';
import { ChecksumMismatchError } from '../errors/index.js';
import { ImagebuildError } from '../errors/index.js';
import { createProgressReporter, currentActor, timestampOf, type TransferProgress } from './release-store.js';

// The shared layer cache: `<cache>/layers/<key>/` (and, for a bootstrapped base layer, the
// `<cache>/bootstrap/<key>/` image it is an overlay of) mirrored under `layer-cache/<key>/` in a
// store. The entry's metadata.json — every file's size and SHA-256 — is written after all its files
// and is what makes an entry exist for readers, so a half-uploaded entry is never seen. A pull lands
// in a dot-named staging directory, is verified file by file, and is renamed into place.


/** metadata.json of a shared layer-cache entry. */
export const SharedLayerEntry = z.strictObject({
  format: z.literal(1),
  key: Sha256,
  layer: z.string(),
  bootstrap_key: Sha256.nullable(),
  /** The push whose files this entry is: each push uploads under its own id, so two runners never mix files. */
  push_id: z.string().regex(/^[0-9A-Za-z-]+$/),
  pushed_at: z.string(),
  pushed_by: z.string(),
  files: z.array(
    z.strictObject({
      root: z.enum(['layer', 'bootstrap']),
      // Relative, inside the entry: no empty, `.` or `..` segments.
      path: z
        .string()
        .regex(/^[A-Za-z0-9._+=@/-]+$/)
        .refine((p) => p.split('/').every((s) => s !== '' && s !== '.' && s !== '..'), { error: 'not a relative path inside the entry' }),
      size: z.number().int().nonnegative(),
      sha256: Sha256,
    }),
  ),
});
export type SharedLayerEntry = z.infer<typeof SharedLayerEntry>;

export type LayerTransferOptions = {
  readonly store: ArtifactStore;
  /** The local cache directory (the spec's cache.dir, absolute). */
  readonly cacheDir: string;
  /** The layer's key (its directory name under `<cache>/layers/`). */
  readonly key: string;
  readonly onProgress?: (progress: TransferProgress) => void;
  readonly env?: NodeJS.ProcessEnv;
};

export type LayerTransferReport = { readonly key: string; readonly status: 'pushed' | 'pulled' | 'present' | 'absent'; readonly bytes: number; readonly files: number };

/** Where a layer's shared entry lives in a store; its metadata.json is `<prefix>metadata.json`. */
export function sharedLayerPrefix(key: string): string {
  return `layer-cache/${key}/`;
}

/** The store key of one file of one push of a shared entry. */
export function sharedFileKey(key: string, pushId: string, root: SharedRoot, path: string): string {
  return `${sharedLayerPrefix(key)}${pushId}/${root}/${path}`;
}

/** Pushes a registered layer to the store (data first, metadata.json last); `present` when the store already has it. */
export async function pushLayer(options: LayerTransferOptions): Promise<LayerTransferReport> {
  const { store, cacheDir, key } = options;
  const prefix = sharedLayerPrefix(key);
  if (await store.head(`${prefix}metadata.json`)) return { key, status: 'present', bytes: 0, files: 0 };
  const { entry, files: local } = await readLayerForPush(cacheDir, key);

  const now = new Date();
  const pushId = `${timestampOf(now).replace(/[-:]/g, '')}-${randomBytes(4).toString('hex')}`;
  const files: SharedLayerEntry['files'] = [];
  for (const { root, path, local: file, size } of local) {
    const progress = createProgressReporter('upload', `${key.slice(0, 12)} ${root}/${path}`, size, options.onProgress);
    // Hashed while it streams: each file is read once.
    const put = await store.putFile(sharedFileKey(key, pushId, root, path), file, { sha256: true, onProgress: (bytes) => progress.update(bytes) });
    progress.finish(put.size);
    files.push({ root, path, size: put.size, sha256: put.sha256! });
  }
  const metadata: SharedLayerEntry = { format: 1, key, layer: entry.layer, bootstrap_key: entry.bootstrapKey, push_id: pushId, pushed_at: timestampOf(now), pushed_by: currentActor(options.env), files };
  try {
    await store.putJson(`${prefix}metadata.json`, metadata, { ifAbsent: true });
  } catch (error) {
    // Another runner pushed the same key (same inputs) first: its entry is as good as ours; ours goes.
    if (!(error instanceof StoreConflictError)) throw error;
    await store.delete(files.map((f) => sharedFileKey(key, pushId, f.root, f.path)));
    return { key, status: 'present', bytes: 0, files: 0 };
  }
  return { key, status: 'pushed', bytes: files.reduce((s, f) => s + f.size, 0), files: files.length };
}

/**
 * Pulls a layer from the store into the local cache: every file verified against the SHA-256 in the
 * entry's metadata before the entry is renamed into place. `absent` when the store has no complete
 * entry, `present` when the local cache already has the layer. Pull a chain bottom-up: an overlay
 * needs its parent.
 */
export async function pullLayer(options: LayerTransferOptions): Promise<LayerTransferReport> {
  const { store, cacheDir, key } = options;
  if (hasRegisteredLayer(cacheDir, key)) return { key, status: 'present', bytes: 0, files: 0 };
  const prefix = sharedLayerPrefix(key);
  const stored = await store.getJson(`${prefix}metadata.json`);
  if (!stored) return { key, status: 'absent', bytes: 0, files: 0 };
  const parsed = SharedLayerEntry.safeParse(stored.value);
  if (!parsed.success || parsed.data.key !== key) {
    throw new ImagebuildError('SHARED_CACHE_INVALID', `${store.describe(`${prefix}metadata.json`)}: not a valid shared layer entry for ${key.slice(0, 12)}; delete it from the store`);
  }
  const metadata = parsed.data;
  const targetOf = (root: SharedRoot) => pullTarget(cacheDir, root, key, metadata.bootstrap_key);
  const roots = [...new Set(metadata.files.map((f) => f.root))];
  // The bootstrap image first: a layer must never appear without what it is an overlay of.
  roots.sort((a, b) => (a === 'bootstrap' ? -1 : b === 'bootstrap' ? 1 : 0));
  let bytes = 0;
  try {
    for (const root of roots) {
      const target = targetOf(root);
      if (root === 'bootstrap' && isPulled(target)) continue;
      await clearPullStaging(target);
      for (const file of metadata.files.filter((f) => f.root === root)) {
        const progress = createProgressReporter('download', `${key.slice(0, 12)} ${root}/${file.path}`, file.size, options.onProgress);
        const meter = createMeteredStream({ sha256: true, onBytes: (n) => progress.update(n) });
        const remote = sharedFileKey(key, metadata.push_id, root, file.path);
        await receivePulledFile(target, file.path, await store.getStream(remote), [meter]);
        const size = meter.bytes();
        progress.finish(size);
        const digest = meter.digest();
        if (size !== file.size || digest !== file.sha256) {
          throw new ChecksumMismatchError(
            `${store.describe(remote)}: ${size !== file.size ? `${size} bytes, expected ${file.size}` : `SHA-256 ${digest}, expected ${file.sha256}`}; the shared layer ${key.slice(0, 12)} was not used`,
          );
        }
        bytes += size;
      }
      if (root === 'layer') {
        const entry = await readStagedEntry(target);
        if (entry?.key !== key) throw new ImagebuildError('SHARED_CACHE_INVALID', `${store.describe(`${prefix}metadata.json`)}: its entry.json is not a cache entry for ${key.slice(0, 12)}; not used`);
      }
      await placePulled(target);
    }
  } catch (error) {
    for (const root of roots) await clearPullStaging(targetOf(root));
    throw error;
  }
  return { key, status: 'pulled', bytes, files: metadata.files.length };
}

/**
 * Pulls a chain of layers, bottom-up, until the first the store lacks or that fails its check: an
 * overlay is useless without its parent. Layers already in the local cache are skipped over.
 */
export async function pullLayerChain(options: Omit<LayerTransferOptions, 'key'> & { readonly keys: readonly string[] }): Promise<{ pulled: string[]; bytes: number; problem?: string }> {
  const pulled: string[] = [];
  let bytes = 0;
  for (const key of options.keys) {
    let report: LayerTransferReport;
    try {
      report = await pullLayer({ ...options, key });
    } catch (error) {
      if (!(error instanceof ImagebuildError)) throw error;
      return { pulled, bytes, problem: error.message };
    }
    if (report.status === 'absent') break;
    if (report.status === 'pulled') {
      pulled.push(key);
      bytes += report.bytes;
    }
  }
  return { pulled, bytes };
}
