import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CacheEntry } from '../../core/plan/cache-entry.js';
import { cacheLayout } from '../workspace/cache-layout.js';
import { sealLayerImage } from './layer-integrity.js';
import { readCacheEntries } from './read-cache.js';

/**
 * Registers a layer whose gate passed: the image and reports are moved into a staging directory next
 * to the final one, the image is hashed and made read-only, entry.json (with that digest) is written
 * last, and one rename publishes the entry. A crash at any
 * point leaves either no entry or a complete one; a staging leftover is ignored by readers (dot name).
 *
 * The layer's bytes are new, so every cached layer built on top of this key (in any spec's chain) is
 * dropped first, deepest first: those overlays were made on the previous bytes and would silently
 * corrupt on the new ones. An entry already under this key (a rebuild by --from-layer, or one whose
 * entry.json is broken) is replaced, not kept in place of the layer just built.
 */
export async function registerLayer(cacheDir: string, entry: CacheEntry, files: { image: string; reportsDir?: string }): Promise<string> {
  const checked = CacheEntry.parse(entry);
  const layout = cacheLayout(cacheDir);
  const finalDir = layout.layerDir(checked.key);
  const staging = layout.layerScratch('staging', checked.key, process.pid);
  await rm(staging, { recursive: true, force: true });
  await mkdir(staging, { recursive: true });
  try {
    const image = join(staging, 'layer.qcow2');
    await rename(files.image, image);
    // The one time the layer's bytes are read: what its gate passed, recorded so reuse can prove them.
    const sealed = CacheEntry.parse({ ...checked, ...(await sealLayerImage(image)) });
    if (files.reportsDir && existsSync(files.reportsDir)) await cp(files.reportsDir, join(staging, 'reports'), { recursive: true });
    await writeFile(join(staging, 'entry.json'), `${JSON.stringify(sealed, null, 2)}\n`);
    await dropLayers(cacheDir, await descendantsOf(cacheDir, checked.key));
    await dropLayers(cacheDir, [checked.key]);
    await rename(staging, finalDir);
    return finalDir;
  } catch (error) {
    await rm(staging, { recursive: true, force: true });
    throw error;
  }
}

/** Removes a registered layer and every cached layer built on it (their overlays sit on its bytes); returns the keys removed, deepest first. */
export async function dropLayerAndDescendants(cacheDir: string, key: string): Promise<string[]> {
  return dropLayers(cacheDir, [...(await descendantsOf(cacheDir, key)), key]);
}

/** Keys of the registered layers built on top of `key`, directly or not, deepest first. */
async function descendantsOf(cacheDir: string, key: string): Promise<string[]> {
  const { entries } = await readCacheEntries(cacheDir);
  const found: string[] = [];
  for (let frontier = [key]; frontier.length > 0; ) {
    frontier = entries.filter((e) => e.inputs.parentKey !== null && frontier.includes(e.inputs.parentKey) && !found.includes(e.key)).map((e) => e.key);
    found.push(...frontier);
  }
  return found.reverse();
}

/**
 * Keeps a failed layer (overlay, reports, log) under `<cache>/failed/` for debugging; it is never used as
 * a parent. Best effort: it runs while a build is already failing — often for want of disk space — so a
 * part it cannot keep is left out (and removed, not left half-copied), never thrown over the failure it records.
 */
export async function keepFailedLayer(
  cacheDir: string,
  failure: { layer: string; key: string; stamp: string; workDir?: string; reportsDir?: string; logFile?: string; reason: string },
): Promise<string> {
  let dir = cacheLayout(cacheDir).failed;
  try {
    await mkdir(dir, { recursive: true });
    // mkdtemp: two failures in the same second (a quick retry) must not collide.
    dir = await mkdtemp(join(dir, `${failure.stamp}-${failure.layer}-${failure.key.slice(0, 12)}-`));
  } catch {
    return dir;
  }
  const keep = async (target: string, copy: (target: string) => Promise<void>) => {
    await copy(target).catch(() => rm(target, { recursive: true, force: true }).catch(() => undefined));
  };
  const { workDir, reportsDir, logFile } = failure;
  if (workDir && existsSync(workDir)) await keep(join(dir, 'output'), (target) => rename(workDir, target));
  if (reportsDir && existsSync(reportsDir)) await keep(join(dir, 'reports'), (target) => cp(reportsDir, target, { recursive: true }));
  if (logFile && existsSync(logFile)) await keep(join(dir, `${failure.layer}.log`), (target) => cp(logFile, target));
  await keep(join(dir, 'FAILED.txt'), (target) => writeFile(target, `${failure.reason}\n`));
  return dir;
}

/** Removes registered layers by key (rollback); returns the keys that existed. */
export async function dropLayers(cacheDir: string, keys: readonly string[]): Promise<string[]> {
  const dropped: string[] = [];
  for (const key of keys) {
    const dir = cacheLayout(cacheDir).layerDir(key);
    if (!existsSync(dir)) continue;
    // Unpublish first (rename to a dot name readers skip), then delete: a crash never leaves half an entry visible.
    const doomed = cacheLayout(cacheDir).layerScratch('drop', key, process.pid);
    await rename(dir, doomed);
    await rm(doomed, { recursive: true, force: true });
    dropped.push(key);
  }
  return dropped;
}

/**
 * What interrupted runs left in the cache: the dot-named staging, drop and pull directories of
 * layers/ and bootstrap/ (readers skip them), bootstrap staging directories, and lock temp files —
 * each named by the pid that made it. Paths relative to the cache. Only meaningful with the cache
 * lock held: then no live run owns any of them.
 */
export async function findLeftovers(cacheDir: string): Promise<string[]> {
  const names = async (dir: string) => readdir(join(cacheDir, dir)).catch(() => [] as string[]);
  const found: string[] = [];
  for (const name of await names('layers')) if (name.startsWith('.')) found.push(join('layers', name));
  for (const name of await names('bootstrap')) if (name.startsWith('.') || name.includes('.staging-')) found.push(join('bootstrap', name));
  for (const name of await names('.')) if (/^lock\.\d+\.tmp$/.test(name)) found.push(name);
  return found.sort();
}

/** Removes what findLeftovers finds (hold the cache lock); returns the paths removed, relative to the cache. */
export async function removeLeftovers(cacheDir: string): Promise<string[]> {
  const found = await findLeftovers(cacheDir);
  for (const path of found) await rm(join(cacheDir, path), { recursive: true, force: true });
  return found;
}

/** Lists the failed-layer directories kept for debugging. */
export async function listFailedLayers(cacheDir: string): Promise<string[]> {
  try {
    return (await readdir(cacheLayout(cacheDir).failed)).sort();
  } catch {
    return [];
  }
}
