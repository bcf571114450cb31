import { join } from 'node:path';
import { bootstrapBaseImage } from '../../adapters/bootstrap/bootstrap-image.js';
import { moveIntoPlace, pathExists, recreateDirectory, removeTree, writeTextFile } from '../../adapters/fs/directories.js';
import type { BuildPlan } from '../../core/plan/plan-build.js';
import type { BuildRun } from './build-run.js';

/** The bootstrap image directory the base layer is an overlay of (its kernel boots every build VM); undefined for installer and cloud-image sources. */
export function bootstrapDirOf(run: BuildRun, plan: BuildPlan): string | undefined {
  const key = plan.layers[0]!.inputs.bootstrapKey;
  return key === undefined ? undefined : run.cache.bootstrapDir(key);
}

/**
 * Makes the bootstrap image the base layer builds on (mmdebstrap into a disk image) unless the cache
 * has it or the base layer is reused. `hostProxy` is the build's own apt cache as the host reaches it ("" = none):
 * mmdebstrap downloads through it, so the packages land in the same pool the build VMs use. Built in a pid-named staging directory and renamed into place.
 * Returns the step's title.
 */
export async function ensureBootstrap(run: BuildRun, plan: BuildPlan, hostProxy: string, onLine: (line: string) => void): Promise<string> {
  const source = run.spec.os.source;
  const key = plan.layers[0]!.inputs.bootstrapKey;
  if (source.kind !== 'bootstrap' || key === undefined) return 'Bootstrap: not needed';
  const dir = run.cache.bootstrapDir(key);
  if (pathExists(run.cache.bootstrapImage(key))) return `Bootstrap: reused ${dir}`;
  if (plan.layers[0]!.action !== 'build') return 'Bootstrap: not needed (base layer reused)';
  const staging = run.cache.bootstrapScratch(key, process.pid);
  await recreateDirectory(staging);
  try {
    const result = await bootstrapBaseImage({
      workDir: staging,
      suite: source.suite,
      mirror: source.mirror,
      securityMirror: source.security_mirror,
      components: source.components,
      include: source.include,
      hostname: run.spec.os.hostname,
      diskSizeGiB: run.spec.os.disk_size_gib,
      buildPublicKey: run.buildKey.publicKey,
      aptProxy: run.spec.cache.apt_proxy,
      ...(hostProxy ? { hostProxy } : {}),
      onLine,
    });
    await writeTextFile(join(staging, 'bootstrap.json'), `${JSON.stringify({ key, rootUuid: result.rootUuid, durationS: result.durationS }, null, 2)}\n`);
    await moveIntoPlace(staging, dir);
    return `Bootstrap: ${source.suite} root filesystem into a ${run.spec.os.disk_size_gib} GiB image in ${result.durationS.toFixed(0)} s`;
  } catch (error) {
    await removeTree(staging);
    throw error;
  }
}
