import { createWriteStream, existsSync } from 'node:fs';
import { chmod, mkdir, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import type { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { CacheEntry } from '../../core/plan/cache-entry.js';
import { ImagebuildError } from '../../errors/index.js';
import { CACHE_ENTRY_FILE, cacheLayout } from '../workspace/cache-layout.js';

// The local side of the shared layer cache: what a push reads from `<cache>/layers/<key>/` (and the
// bootstrap image under it), and where a pull stages files before one rename puts them in place.

/** Which local directory a file of a shared entry belongs to: the layer's, or the bootstrap image's below it. */
export type SharedRoot = 'layer' | 'bootstrap';

/** One file of a registered layer as a push sends it: a POSIX path inside its root. */
export type LocalLayerFile = { readonly root: SharedRoot; readonly path: string; readonly local: string; readonly size: number };

/** A registered layer's entry and every file a push sends (the layer's directory, then its bootstrap image's), in a stable order. */
export async function readLayerForPush(cacheDir: string, key: string): Promise<{ entry: CacheEntry; files: LocalLayerFile[] }> {
  const layout = cacheLayout(cacheDir);
  const layerDir = layout.layerDir(key);
  const entry = CacheEntry.parse(
    JSON.parse(
      await readFile(layout.layerEntry(key), 'utf8').catch(() => {
        throw new ImagebuildError('CACHE_ENTRY_MISSING', `${layerDir}: no registered layer with this key to push`);
      }),
    ),
  );
  const roots: { root: SharedRoot; dir: string }[] = [{ root: 'layer', dir: layerDir }];
  if (entry.bootstrapKey) roots.push({ root: 'bootstrap', dir: layout.bootstrapDir(entry.bootstrapKey) });
  const files: LocalLayerFile[] = [];
  for (const { root, dir } of roots) {
    for (const path of await filesUnder(dir)) {
      const local = join(dir, ...path.split('/'));
      files.push({ root, path, local, size: (await stat(local)).size });
    }
  }
  return { entry, files };
}

/** Whether the local cache has a registered layer under `key` (its entry.json exists). */
export function hasRegisteredLayer(cacheDir: string, key: string): boolean {
  return existsSync(cacheLayout(cacheDir).layerEntry(key));
}

/** Where a pull of one root of a shared entry stages its files, and where they end up. */
export type PullTarget = { readonly staging: string; readonly final: string };

/** The staging and final directories of a pulled layer, or of the bootstrap image (`bootstrapKey`) it is an overlay of. */
export function pullTarget(cacheDir: string, root: SharedRoot, key: string, bootstrapKey: string | null): PullTarget {
  const layout = cacheLayout(cacheDir);
  if (root === 'layer') return { staging: layout.layerScratch('pull', key, process.pid), final: layout.layerDir(key) };
  return { staging: layout.bootstrapPull(bootstrapKey!, process.pid), final: layout.bootstrapDir(bootstrapKey!) };
}

/** Whether a pull target is already in place (a bootstrap image another layer brought). */
export function isPulled(target: PullTarget): boolean {
  return existsSync(target.final);
}

/** Removes a pull's staging directory (before it starts, or after it failed). */
export async function clearPullStaging(target: PullTarget): Promise<void> {
  await rm(target.staging, { recursive: true, force: true });
}

/** Streams one pulled file into the staging directory through `stages` (a metered stream that hashes it). */
export async function receivePulledFile(target: PullTarget, path: string, body: Readable, stages: readonly Transform[]): Promise<void> {
  const file = join(target.staging, ...path.split('/'));
  await mkdir(dirname(file), { recursive: true });
  await pipeline([body, ...stages, createWriteStream(file)]);
}

/** The staged entry.json of a pulled layer; undefined when it is not a valid cache entry. */
export async function readStagedEntry(target: PullTarget): Promise<CacheEntry | undefined> {
  const parsed = CacheEntry.safeParse(JSON.parse(await readFile(join(target.staging, CACHE_ENTRY_FILE), 'utf8')));
  return parsed.success ? parsed.data : undefined;
}

/**
 * Renames a verified staging directory into place; one that another run put there first wins, and the
 * staging copy goes. A layer's image is read-only, as a registered layer's is.
 */
export async function placePulled(target: PullTarget): Promise<void> {
  const image = join(target.staging, 'layer.qcow2');
  if (existsSync(image)) await chmod(image, 0o444);
  await mkdir(dirname(target.final), { recursive: true });
  if (existsSync(target.final)) await rm(target.staging, { recursive: true, force: true });
  else await rename(target.staging, target.final);
}

async function filesUnder(dir: string): Promise<string[]> {
  const names = await readdir(dir, { recursive: true });
  const files: string[] = [];
  for (const name of names.map(String).sort()) {
    if ((await stat(join(dir, name))).isFile()) files.push(relative(dir, join(dir, name)).split(sep).join('/'));
  }
  return files;
}
