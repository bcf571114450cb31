import { resolve } from 'node:path';
import { readCacheEntries, type CacheScan } from '../adapters/cache/read-cache.js';
import { findPackageRoot } from '../adapters/fs/project-root.js';
import { loadTemplateSources } from '../adapters/fs/read-files.js';
import { readBuildKeyFingerprint, readVerifyKeyFingerprint } from '../adapters/ssh/build-key.js';
import { readToolVersions, type ToolVersion } from '../adapters/tools/tool-versions.js';
import { outputRootOf } from '../adapters/workspace/release-layout.js';
import { planBuild, type BuildPlan, type CachedLayer, type PlanOptions, type ProjectFiles, type ToolVersions } from '../core/plan/plan-build.js';
import { renderImage, type RenderedFile } from '../core/render/render-image.js';
import { applyHostProfile, type HostProfile } from '../core/spec/host-profile.js';
import type { ImageSpec } from '../core/spec/schema.js';
import { collectProjectFiles } from '../adapters/fs/project-files.js';
import { loadSpec, type LoadedSpec } from './load-spec.js';

export type PrepareOptions = PlanOptions & {
  readonly specArg?: string;
  readonly version: string;
  readonly cwd: string;
  readonly hostProfile?: HostProfile;
  /** Where ansible/ and the guest programs are taken from; defaults to the installed package. */
  readonly projectDir?: string;
  /** Told as soon as the spec is loaded, before the slower reads (tools, cache, project files). */
  readonly onSpecLoaded?: (loaded: LoadedSpec) => void;
};

/** Everything a plan is made from, and the plan: what `plan` shows and `build` starts from. */
export type PreparedImage = {
  readonly loaded: LoadedSpec;
  /** The spec with the host profile applied. */
  readonly spec: ImageSpec;
  readonly projectDir: string;
  readonly project: ProjectFiles;
  readonly cacheDir: string;
  /** output/<name>/ of the spec, absolute. */
  readonly outputRoot: string;
  /** Each tool as probed, with why a version could not be read. */
  readonly toolProbes: { readonly packer: ToolVersion; readonly ansible: ToolVersion; readonly qemuImg: ToolVersion };
  /** The versions that go into layer keys (`missing` for a tool not found). */
  readonly tools: ToolVersions;
  readonly cache: CacheScan;
  /** The cache's build key, read, never made here: planning must write nothing. */
  readonly buildKeyFingerprint: string | undefined;
  /** The cache's verification key, read, never made here (a base layer input when a user has verify_login). */
  readonly verifyKeyFingerprint: string | undefined;
  readonly plan: BuildPlan;
  /** Plans again from the cache as it is now (after the build key was made or layers were pulled). */
  readonly replan: (entries: readonly CachedLayer[], keys: CacheKeys) => BuildPlan;
};

/** Fingerprints of the cache's keys that are layer inputs (undefined: not made yet). */
export type CacheKeys = { readonly build: string | undefined; readonly verify: string | undefined };

/** Loads the spec, the project's files, the tool versions and the cache index, and plans the build. */
export async function prepareImage(options: PrepareOptions): Promise<PreparedImage> {
  const loaded = await loadSpec(options.specArg, options.cwd);
  options.onSpecLoaded?.(loaded);
  const spec = applyHostProfile(loaded.spec, options.hostProfile);
  const projectDir = options.projectDir ?? findPackageRoot();
  const cacheDir = resolve(options.cwd, spec.cache.dir);
  const [project, toolProbes, cache, buildKeyFingerprint, verifyKeyFingerprint] = await Promise.all([
    collectProjectFiles(projectDir),
    readToolVersions(),
    readCacheEntries(cacheDir),
    readBuildKeyFingerprint(cacheDir),
    readVerifyKeyFingerprint(cacheDir),
  ]);
  const tools: ToolVersions = {
    packer: toolProbes.packer.version ?? 'missing',
    ansible: toolProbes.ansible.version ?? 'missing',
    qemuImg: toolProbes.qemuImg.version ?? 'missing',
  };
  const replan = (entries: readonly CachedLayer[], keys: CacheKeys) =>
    planBuild(spec, options.version, project, tools, entries, { fromLayer: options.fromLayer, untilLayer: options.untilLayer, buildKey: keys.build, verifyKey: keys.verify });
  return {
    loaded,
    spec,
    projectDir,
    project,
    cacheDir,
    outputRoot: outputRootOf(options.cwd, spec),
    toolProbes,
    tools,
    cache,
    buildKeyFingerprint,
    verifyKeyFingerprint,
    plan: replan(cache.entries, { build: buildKeyFingerprint, verify: verifyKeyFingerprint }),
    replan,
  };
}

/** The one render entry point: a spec's build files for a Packer version (undefined: the newest the templates know). */
export async function renderSpec(spec: ImageSpec, packerVersion: string | undefined): Promise<RenderedFile[]> {
  return renderImage(spec, await loadTemplateSources(findPackageRoot()), packerVersion === undefined ? {} : { packerVersion });
}
