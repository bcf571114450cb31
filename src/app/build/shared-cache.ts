import { dirname } from 'node:path';
import { openStore } from '../../adapters/store/open-store.js';
import type { ArtifactStore } from '../../adapters/store/types.js';
import type { BuildPlan, LayerPlan } from '../../core/plan/plan-build.js';
import { formatBytes, formatTransfer } from '../../core/release/transfer-rate.js';
import { firstLine } from '../../errors/index.js';
import { pullLayerChain, pushLayer } from '../release-layer-cache.js';
import type { BuildRun } from './build-run.js';

/** The spec's shared layer cache (cache.store), opened on first use and then kept for the run. */
export type SharedCache = { readonly store: () => Promise<ArtifactStore> };

/** The shared cache of a run; opening it is deferred until a pull or push needs it. */
export function sharedCacheOf(run: BuildRun): SharedCache {
  let opened: Promise<ArtifactStore> | undefined;
  // A failed open is not remembered: the next push tries again, as a store that was briefly away may be back.
  const open = () =>
    openStore(run.spec.cache.store, { cwd: dirname(run.loaded.path), createMissing: run.spec.cache.push }).catch((error: unknown) => {
      opened = undefined;
      throw error;
    });
  return { store: () => (opened ??= open()) };
}

/** What a pull did: the step's title, notices, and whether anything arrived (then the caller plans again). */
export type PullResult = { readonly title: string; readonly pulled: readonly string[]; readonly notices: readonly string[] };

/**
 * Pulls, bottom-up, the layers the plan would build from the shared cache (each verified before it is
 * renamed into the local cache). A layer the store lacks, or one that fails its check, ends the chain:
 * it and those above it are built here. Never fails the build.
 */
export async function pullSharedLayers(run: BuildRun, shared: SharedCache, plan: BuildPlan, onLine: (line: string) => void): Promise<PullResult> {
  const wanted = plan.layers.filter((l) => l.action !== 'skip' && !l.forced);
  let result: Awaited<ReturnType<typeof pullLayerChain>>;
  try {
    result = await pullLayerChain({ store: await shared.store(), cacheDir: run.cache.root, keys: wanted.map((l) => l.key), onProgress: (p) => onLine(formatTransfer(p.label, p)) });
  } catch (error) {
    return { title: 'Shared cache unavailable; building locally', pulled: [], notices: [`shared cache: ${firstLine(error)}; building locally`] };
  }
  const notices = result.problem ? [`shared cache: ${result.problem}; building it locally`] : [];
  if (result.pulled.length === 0) return { title: `Shared cache: nothing to pull (${wanted.filter((l) => l.action === 'build').length} layer(s) not there)`, pulled: [], notices };
  const names = result.pulled.map((key) => plan.layers.find((l) => l.key === key)?.layer ?? key.slice(0, 12));
  return { title: `Pulled ${names.join(', ')} from the shared cache (${formatBytes(result.bytes)}, every file's SHA-256 checked)`, pulled: result.pulled, notices };
}

/** Pushes a layer that passed its gate to the shared cache; returns the notice to show. A failure is a notice, never a failed build. */
export async function pushSharedLayer(run: BuildRun, shared: SharedCache, layerPlan: LayerPlan): Promise<string> {
  try {
    const report = await pushLayer({ store: await shared.store(), cacheDir: run.cache.root, key: layerPlan.key });
    return `shared cache: ${layerPlan.layer} ${layerPlan.key.slice(0, 12)} ${report.status === 'pushed' ? `pushed (${report.files} files)` : 'already there'}`;
  } catch (error) {
    return `shared cache: pushing ${layerPlan.layer} ${layerPlan.key.slice(0, 12)} failed: ${firstLine(error)}; it stays in the local cache`;
  }
}
