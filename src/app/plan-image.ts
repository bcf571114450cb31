import { resolve } from 'node:path';
import { readCacheEntries } from '../adapters/cache/read-cache.js';
import { findPackageRoot } from '../adapters/fs/project-root.js';
import { readBuildKeyFingerprint } from '../adapters/ssh/build-key.js';
import { readToolVersions, type ToolVersion } from '../adapters/tools/tool-versions.js';
import { planBuild, type BuildPlan, type PlanOptions, type ToolVersions } from '../core/plan/plan-build.js';
import { applyHostProfile, type HostProfile } from '../core/spec/host-profile.js';
import { collectProjectFiles } from './project-files.js';
import { loadSpec, type LoadedSpec } from './load-spec.js';

export type PlanResult = {
  readonly spec: LoadedSpec;
  readonly plan: BuildPlan;
  readonly cacheDir: string;
  readonly tools: { packer: ToolVersion; ansible: ToolVersion; qemuImg: ToolVersion };
  /** Problems that did not stop planning: missing tools, corrupted cache entries. */
  readonly notices: readonly string[];
};

/** Loads the spec, the project's files, the tool versions and the cache index, and plans the build. */
export async function planImage(options: { specArg?: string; version: string; cwd: string; hostProfile?: HostProfile } & PlanOptions): Promise<PlanResult> {
  const loaded = await loadSpec(options.specArg, options.cwd);
  const spec = { ...loaded, spec: applyHostProfile(loaded.spec, options.hostProfile) };
  const cacheDir = resolve(options.cwd, spec.spec.cache.dir);
  const [project, tools, cache, buildKey] = await Promise.all([
    collectProjectFiles(findPackageRoot()),
    readToolVersions(),
    readCacheEntries(cacheDir),
    readBuildKeyFingerprint(cacheDir),
  ]);
  const versions: ToolVersions = {
    packer: tools.packer.version ?? 'missing',
    ansible: tools.ansible.version ?? 'missing',
    qemuImg: tools.qemuImg.version ?? 'missing',
  };
  const notices = [
    ...Object.values(tools)
      .filter((t) => t.version === null)
      .map((t) => `${t.tool}: ${t.error}; layer keys use "missing" for its version`),
    ...cache.problems,
    ...(buildKey === undefined ? [`${cacheDir} has no build key yet (the first build makes one); every layer is planned as a build`] : []),
  ];
  const plan = planBuild(spec.spec, options.version, project, versions, cache.entries, { ...options, buildKey });
  return { spec, plan, cacheDir, tools, notices };
}
