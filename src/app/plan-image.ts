import type { ToolVersion } from '../adapters/tools/tool-versions.js';
import type { BuildPlan, PlanOptions } from '../core/plan/plan-build.js';
import type { HostProfile } from '../core/spec/host-profile.js';
import type { LoadedSpec } from './load-spec.js';
import { prepareImage } from './prepare-image.js';

export type PlanResult = {
  readonly spec: LoadedSpec;
  readonly plan: BuildPlan;
  readonly cacheDir: string;
  readonly tools: { packer: ToolVersion; ansible: ToolVersion; qemuImg: ToolVersion };
  /** Problems that did not stop planning: missing tools, corrupted cache entries. */
  readonly notices: readonly string[];
};

/** `imagebuild plan`: the build's plan and what could make it differ from the build's own (missing tools, cache problems, no build key yet). */
export async function planImage(options: { specArg?: string; version: string; cwd: string; hostProfile?: HostProfile } & PlanOptions): Promise<PlanResult> {
  const prepared = await prepareImage(options);
  const notices = [
    ...Object.values(prepared.toolProbes)
      .filter((t) => t.version === null)
      .map((t) => `${t.tool}: ${t.error}; layer keys use "missing" for its version`),
    ...prepared.cache.problems,
    ...(prepared.buildKeyFingerprint === undefined ? [`${prepared.cacheDir} has no build key yet (the first build makes one); every layer is planned as a build`] : []),
  ];
  return { spec: { ...prepared.loaded, spec: prepared.spec }, plan: prepared.plan, cacheDir: prepared.cacheDir, tools: prepared.toolProbes, notices };
}
