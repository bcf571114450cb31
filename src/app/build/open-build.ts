import { removeLeftovers } from '../../adapters/cache/layer-cache.js';
import { readCacheEntries } from '../../adapters/cache/read-cache.js';
import { ensureDirectory } from '../../adapters/fs/directories.js';
import { acquireLock, type HeldLock } from '../../adapters/fs/lock.js';
import { ensureBuildKey, ensureVerifyKey } from '../../adapters/ssh/build-key.js';
import { buildDirLayout, cacheLayout } from '../../adapters/workspace/cache-layout.js';
import { readManifestFile } from '../../adapters/workspace/manifest-file.js';
import { releaseLayout, type ReleaseLayout } from '../../adapters/workspace/release-layout.js';
import type { BuildPlan } from '../../core/plan/plan-build.js';
import { encodeCanonicalJson } from '../../core/render/encode.js';
import { verifyLoginUser } from '../../core/spec/schema.js';
import { specHashOf } from '../../core/spec/spec-hash.js';
import { VersionExistsError } from '../../errors/index.js';
import { prepareImage, type PreparedImage } from '../prepare-image.js';
import type { BuildRun } from './build-run.js';
import type { BuildOptions, BuildReport } from './options.js';

/** A build that holds the cache lock and is ready to run its steps, or the report of a version already built from the same inputs. */
export type OpenedBuild =
  | { readonly status: 'unchanged'; readonly report: BuildReport }
  | { readonly status: 'open'; readonly run: BuildRun; readonly plan: BuildPlan; readonly replan: PreparedImage['replan']; readonly lock: HeldLock; readonly notices: readonly string[] };

/**
 * Plans the version; returns at once when it was built from identical inputs (writing nothing) and
 * refuses it when built from others. Otherwise takes the cache lock, clears what killed runs left,
 * makes the build key and plans again with it.
 */
export async function openBuild(options: BuildOptions, started: number): Promise<OpenedBuild> {
  const prepared = await prepareImage({
    ...options,
    onSpecLoaded: (loaded) => {
      options.onEvent?.({ type: 'start', image: loaded.spec.name, version: options.version });
      for (const warning of loaded.warnings) options.onEvent?.({ type: 'warning', message: warning, file: loaded.displayPath });
    },
  });
  const { spec, loaded } = prepared;
  const release = releaseLayout(prepared.outputRoot, spec.name, options.version);
  const specHash = specHashOf(spec);
  const unchanged = await judgeExistingVersion(release, prepared.plan, specHash, started);
  if (unchanged) return { status: 'unchanged', report: unchanged };

  const cache = cacheLayout(prepared.cacheDir);
  await ensureDirectory(cache.root);
  const lock = await acquireLock(cache.lock, `imagebuild build v${options.version} (${spec.name})`);
  try {
    const notices = [...prepared.cache.problems, ...(lock.tookOverFrom ? [`took over a stale lock of pid ${lock.tookOverFrom.pid} (${lock.tookOverFrom.command})`] : [])];
    // With the lock held no live run owns a staging directory: what is there was left by a killed one.
    const leftovers = await removeLeftovers(cache.root);
    if (leftovers.length > 0) notices.push(`removed what an interrupted run left in the cache: ${leftovers.join(', ')}`);
    // The key first: the bootstrap image's key includes it, and preflight probes KVM with that image's kernel.
    const buildKey = await ensureBuildKey(cache.root);
    // After the build key: a fresh cache's keys directory is made by renaming the build key's into place.
    const verifyKey = verifyLoginUser(spec) === undefined ? undefined : await ensureVerifyKey(cache.root);
    const keysAsPlanned = buildKey.fingerprint === prepared.buildKeyFingerprint && (verifyKey === undefined || verifyKey.fingerprint === prepared.verifyKeyFingerprint);
    const plan = keysAsPlanned ? prepared.plan : prepared.replan((await readCacheEntries(cache.root)).entries, { build: buildKey.fingerprint, verify: verifyKey?.fingerprint });
    const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '');
    const run: BuildRun = {
      loaded,
      spec,
      version: options.version,
      specHash,
      projectDir: prepared.projectDir,
      project: prepared.project,
      tools: prepared.tools,
      cache,
      dir: buildDirLayout(cache.buildDir(stamp, options.version)),
      release,
      outputRoot: prepared.outputRoot,
      stamp,
      buildKey,
      verifyKey,
      signal: options.signal,
    };
    return { status: 'open', run, plan, replan: prepared.replan, lock, notices };
  } catch (error) {
    await lock.release();
    throw error;
  }
}

/** The report of an identical earlier build of this version (same spec hash and layer keys); refuses one built from other inputs. */
async function judgeExistingVersion(release: ReleaseLayout, plan: BuildPlan, specHash: string, started: number): Promise<BuildReport | undefined> {
  const existing = await readManifestFile(release.manifest, 'move it away or restore it');
  if (!existing) return undefined;
  const builtKeys = existing.layers.map((l) => l.key);
  const plannedKeys = plan.layers.filter((l) => l.action !== 'skip').map((l) => l.key);
  if (existing.spec_hash !== specHash || encodeCanonicalJson(builtKeys) !== encodeCanonicalJson(plannedKeys)) {
    throw new VersionExistsError(`v${plan.version} already exists (${release.manifest}) and was built from different inputs; versions are immutable: build a new version`);
  }
  return {
    status: 'unchanged',
    version: plan.version,
    artifact: release.artifact,
    manifestPath: release.manifest,
    manifest: existing,
    layers: plan.layers.map((l) => ({ layer: l.layer, key: l.key, action: l.action === 'skip' ? 'skipped' : 'reused', durationS: 0 })),
    gpuValidated: existing.gpu_validated,
    notices: [`v${plan.version} was already built from identical inputs on ${existing.build_date}; nothing to do`],
    durationS: (Date.now() - started) / 1000,
  };
}

