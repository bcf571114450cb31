import { join, resolve } from 'node:path';
import { dropLayers, findLeftovers } from '../adapters/cache/layer-cache.js';
import { proveLayerImage, type LayerProof } from '../adapters/cache/layer-integrity.js';
import { readCacheEntries } from '../adapters/cache/read-cache.js';
import { removeTree } from '../adapters/fs/directories.js';
import { allocatedBytes } from '../adapters/fs/disk-usage.js';
import { acquireLock } from '../adapters/fs/lock.js';
import { listVisibleNames } from '../adapters/fs/read-files.js';
import { cacheLayout } from '../adapters/workspace/cache-layout.js';
import { readManifestFile } from '../adapters/workspace/manifest-file.js';
import { aptProxyPaths } from '../adapters/package-cache/apt-proxy.js';
import { listWheelhouses } from '../adapters/package-cache/wheelhouse.js';
import { imageCacheDirectories, listCachedImages } from '../adapters/package-cache/image-cache.js';
import { MANIFEST_FILE, outputRootOf } from '../adapters/workspace/release-layout.js';
import { ManifestInvalidError } from '../errors/index.js';
import type { ImageManifest } from '../core/manifest/image-manifest.js';
import type { HostProfile } from '../core/spec/host-profile.js';
import { LAYER_NAMES, type LayerName } from '../core/spec/layers.js';
import { loadSpec } from './load-spec.js';
import { planImage } from './plan-image.js';

export type CacheListing = {
  readonly cacheDir: string;
  readonly layers: readonly {
    key: string;
    layer: LayerName;
    specName: string;
    createdAt: string;
    bytes: number;
    gate: string;
    inCurrentPlan: boolean;
  }[];
  readonly bootstraps: readonly { key: string; bytes: number }[];
  readonly failed: readonly { name: string; bytes: number }[];
  readonly builds: readonly { name: string; bytes: number }[];
  /** Host-side pip wheelhouses, keyed by the version set they hold (never part of a layer key). */
  readonly wheelhouses: readonly { key: string; bytes: number; wheels: number; requirements: readonly string[]; createdAt: string }[];
  /** Host-side container images the runtime layer loads, by reference and registry digest (never part of a layer key). */
  readonly images: readonly { ref: string; digest: string; bytes: number; createdAt: string }[];
  /** The build's apt cache (apt-cacher-ng's pool of packages and indexes, by their repository paths); null before a build ran one. */
  readonly aptCache: { readonly dir: string; readonly bytes: number } | null;
  readonly problems: readonly string[];
  readonly totalBytes: number;
};

/** Lists what the cache holds: registered layers (and whether the current spec's plan uses them), bootstraps, failed layers, build logs. */
export async function listCache(options: { specArg?: string; cwd: string; hostProfile?: HostProfile }): Promise<CacheListing> {
  const planned = await planImage({ specArg: options.specArg, version: '0.0.0', cwd: options.cwd, hostProfile: options.hostProfile });
  const cacheDir = planned.cacheDir;
  const layout = cacheLayout(cacheDir);
  const keys = new Set(planned.plan.layers.map((l) => l.key));
  const scan = await readCacheEntries(cacheDir);
  const layers = await Promise.all(
    scan.entries.map(async (e) => ({
      key: e.key,
      layer: e.layer,
      specName: e.specName,
      createdAt: e.createdAt,
      bytes: await allocatedBytes(layout.layerImage(e.key)),
      gate: gateStatus(e.gate),
      inCurrentPlan: keys.has(e.key),
    })),
  );
  layers.sort((a, b) => LAYER_NAMES.indexOf(a.layer) - LAYER_NAMES.indexOf(b.layer) || (a.createdAt < b.createdAt ? -1 : 1));
  const sized = async (dir: string) => Promise.all((await listVisibleNames(dir)).map(async (name) => ({ name, bytes: await allocatedBytes(join(dir, name)) })));
  const bootstraps = (await sized(layout.bootstrap)).map((b) => ({ key: b.name, bytes: b.bytes }));
  const failed = await sized(layout.failed);
  const builds = await sized(layout.builds);
  const wheelhouseScan = await listWheelhouses(cacheDir);
  // Every size in the listing is what the entry takes on disk (allocated blocks), as for layers.
  const wheelhouses = await Promise.all(
    wheelhouseScan.entries.map(async (w) => ({ key: w.key, bytes: await allocatedBytes(layout.wheelhouseDir(w.key)), wheels: w.wheels, requirements: [...w.requirements, ...w.noDeps], createdAt: w.createdAt })),
  );
  const imageScan = await listCachedImages(cacheDir);
  const images = await Promise.all(imageScan.entries.map(async ({ record, dir }) => ({ ref: record.ref, digest: record.digest, createdAt: record.createdAt, bytes: await allocatedBytes(dir) })));
  const aptPool = aptProxyPaths(layout.aptCache).pool;
  const aptCache = (await listVisibleNames(layout.aptCache)).length === 0 ? null : { dir: aptPool, bytes: await allocatedBytes(aptPool) };
  const totalBytes = [...layers, ...bootstraps, ...failed, ...builds, ...wheelhouses, ...images, ...(aptCache ? [aptCache] : [])].reduce((sum, x) => sum + x.bytes, 0);
  return { cacheDir, layers, bootstraps, failed, builds, wheelhouses, images, aptCache, problems: [...scan.problems, ...wheelhouseScan.problems, ...imageScan.problems], totalBytes };
}

function gateStatus(gate: unknown): string {
  if (gate && typeof gate === 'object' && 'status' in gate && typeof gate.status === 'string') {
    const validated = 'gpuValidated' in gate && gate.gpuValidated === false ? ', GPU checks skipped' : '';
    return `${gate.status}${validated}`;
  }
  return 'unknown';
}

/**
 * The names imagebuild gives what it keeps in the cache, so prune and rollback remove nothing else:
 * bootstrap images by key, failed layers as keepFailedLayer names them (`<stamp>-<layer>-<key12>-<6>`),
 * build runs as the cache layout names them (`<stamp>-v<version>`).
 */
const OWN_NAMES = {
  bootstrap: /^[0-9a-f]{64}$/,
  failed: /^\d{8}T\d{6}-([a-z]+)-[0-9a-f]{12}-[A-Za-z0-9]{6}$/,
  build: /^\d{8}T\d{6}-v[0-9A-Za-z.+-]+$/,
} as const;

export type PruneResult = { readonly dryRun: boolean; readonly removed: readonly { path: string; bytes: number; why: string }[]; readonly freedBytes: number };

/**
 * Removes what no build will use again: layers neither in the current spec's plan nor in a release
 * under the output directory, bootstraps no kept base layer sits on, failed layers (unless kept), and
 * finished builds' work directories, and what interrupted runs left (staging directories); with `packages`, the
 * package caches too (the apt cache's pool, every pip wheelhouse). Dry run unless `apply`; holds the cache lock while it deletes.
 */
export async function pruneCache(options: { specArg?: string; cwd: string; apply: boolean; keepFailed: boolean; packages?: boolean; hostProfile?: HostProfile }): Promise<PruneResult> {
  const planned = await planImage({ specArg: options.specArg, version: '0.0.0', cwd: options.cwd, hostProfile: options.hostProfile });
  const { cacheDir } = planned;
  const layout = cacheLayout(cacheDir);
  const keep = new Set(planned.plan.layers.map((l) => l.key));
  const outputDir = outputRootOf(options.cwd, planned.spec.spec);
  for (const version of await listVisibleNames(outputDir)) {
    for (const layer of (await readReleaseManifestForPrune(join(outputDir, version, MANIFEST_FILE), version))?.layers ?? []) keep.add(layer.key);
  }

  const lock = options.apply ? await acquireLock(layout.lock, 'imagebuild cache prune') : undefined;
  try {
    const scan = await readCacheEntries(cacheDir);
    const removed: { path: string; bytes: number; why: string }[] = [];
    const doom = async (path: string, why: string) => removed.push({ path, bytes: await allocatedBytes(path), why });
    const doomed = scan.entries.filter((e) => !keep.has(e.key));
    for (const entry of doomed) await doom(layout.layerDir(entry.key), `${entry.layer} layer of ${entry.specName}, used by no release and not in the current plan`);
    const keptBootstraps = new Set(scan.entries.filter((e) => keep.has(e.key)).map((e) => e.bootstrapKey).filter((k): k is string => k !== null));
    const leftovers = (await findLeftovers(cacheDir)).map((path) => join(cacheDir, path));
    for (const path of leftovers) await doom(path, 'left by an interrupted run');
    // Only names imagebuild gives: a file someone put in the cache (notes, a copied image) is not its to delete.
    for (const key of (await listVisibleNames(layout.bootstrap)).filter((name) => OWN_NAMES.bootstrap.test(name))) {
      if (!keptBootstraps.has(key) && !leftovers.includes(layout.bootstrapDir(key))) await doom(layout.bootstrapDir(key), 'bootstrap image no kept base layer uses');
    }
    if (!options.keepFailed) {
      for (const name of (await listVisibleNames(layout.failed)).filter((n) => OWN_NAMES.failed.test(n))) await doom(layout.failedDir(name), 'failed layer kept for debugging');
    }
    for (const name of (await listVisibleNames(layout.builds)).filter((n) => OWN_NAMES.build.test(n))) await doom(layout.buildRunDir(name), 'finished build directory (its logs are also in the release)');
    // The package caches are what keeps a rebuild from downloading again: dropped only when asked.
    if (options.packages === true) {
      if ((await listVisibleNames(layout.aptCache)).length > 0) await doom(layout.aptCache, 'apt packages cached for the build VMs (--packages)');
      for (const w of (await listWheelhouses(cacheDir)).entries) await doom(layout.wheelhouseDir(w.key), `pip wheelhouse of ${[...w.requirements, ...w.noDeps].join(' ')} (--packages)`);
      for (const image of await imageCacheDirectories(cacheDir)) await doom(image.path, image.why);
    }
    if (options.apply) {
      await dropLayers(cacheDir, doomed.map((e) => e.key));
      for (const item of removed) if (!item.path.startsWith(layout.layers)) await removeTree(item.path);
    }
    return { dryRun: !options.apply, removed, freedBytes: removed.reduce((sum, r) => sum + r.bytes, 0) };
  } finally {
    await lock?.release();
  }
}

export type CacheVerification = {
  readonly cacheDir: string;
  /** Every registered layer, re-hashed: `intact`, `changed` (or missing), or `unrecorded` (no digest: an older imagebuild registered it). */
  readonly layers: readonly { key: string; layer: LayerName; specName: string; status: LayerProof['status']; reason?: string }[];
  /** Entries that could not be read at all (reported by every cache reader, never used). */
  readonly problems: readonly string[];
  readonly hashedBytes: number;
  /** True when every layer is proven intact and no entry is unreadable. */
  readonly ok: boolean;
};

/**
 * Re-hashes every registered layer's image and compares it with the digest recorded when its gate
 * passed (`cache verify`). Reads only: a changed layer is reported, and dropped by the next build that
 * would reuse it; an entry without a digest is reported as unproven.
 */
export async function verifyCache(options: { specArg?: string; cwd: string }): Promise<CacheVerification> {
  const loaded = await loadSpec(options.specArg, options.cwd);
  const cacheDir = resolve(options.cwd, loaded.spec.cache.dir);
  const scan = await readCacheEntries(cacheDir);
  const layers: CacheVerification['layers'][number][] = [];
  let hashedBytes = 0;
  for (const entry of scan.entries) {
    const proof = await proveLayerImage(cacheDir, entry, { full: true });
    hashedBytes += proof.hashedBytes;
    const reason = proof.status === 'changed' ? proof.reason : proof.status === 'unrecorded' ? `no digest recorded (an older imagebuild registered it); the next build that reuses it records SHA-256 ${proof.sha256}` : undefined;
    layers.push({ key: entry.key, layer: entry.layer, specName: entry.specName, status: proof.status, ...(reason === undefined ? {} : { reason }) });
  }
  const ok = scan.problems.length === 0 && layers.every((l) => l.status === 'intact');
  return { cacheDir, layers, problems: scan.problems, hashedBytes, ok };
}

export type LayerRollback = { readonly layer: LayerName; readonly removedLayers: readonly { layer: LayerName; key: string }[]; readonly removedFailed: readonly string[] };

/** Drops the current spec's cached entries of `layer` and every layer above it, so the next build rebuilds from the layer below. */
export async function rollbackLayer(options: { specArg?: string; cwd: string; layer: LayerName; keepFailed: boolean; hostProfile?: HostProfile }): Promise<LayerRollback> {
  const planned = await planImage({ specArg: options.specArg, version: '0.0.0', cwd: options.cwd, hostProfile: options.hostProfile });
  const { cacheDir } = planned;
  const from = LAYER_NAMES.indexOf(options.layer);
  const targets = planned.plan.layers.filter((l) => LAYER_NAMES.indexOf(l.layer) >= from);
  const layout = cacheLayout(cacheDir);
  const lock = await acquireLock(layout.lock, `imagebuild rollback --layer ${options.layer}`);
  try {
    const dropped = new Set(await dropLayers(cacheDir, targets.map((t) => t.key)));
    const removedFailed: string[] = [];
    if (!options.keepFailed) {
      const doomedLayers = new Set<string>(targets.map((t) => t.layer));
      for (const name of await listVisibleNames(layout.failed)) {
        const layer = OWN_NAMES.failed.exec(name)?.[1];
        if (layer && doomedLayers.has(layer)) {
          await removeTree(layout.failedDir(name));
          removedFailed.push(name);
        }
      }
    }
    return { layer: options.layer, removedLayers: targets.filter((t) => dropped.has(t.key)).map((t) => ({ layer: t.layer, key: t.key })), removedFailed };
  } finally {
    await lock.release();
  }
}

/** The manifest of a release in output/<name>/ for cache prune: none when the entry holds no manifest; a refusal when it cannot be read. */
async function readReleaseManifestForPrune(path: string, version: string): Promise<ImageManifest | undefined> {
  try {
    return await readManifestFile(path);
  } catch (error) {
    if (!(error instanceof ManifestInvalidError)) throw error;
    // A release whose manifest cannot be read may use any layer: refuse rather than prune what it needs.
    throw new ManifestInvalidError(`${path}: unreadable or not a valid manifest, so it is unknown which cached layers ${version} uses; restore it or move the release away, then prune`, { cause: error });
  }
}
