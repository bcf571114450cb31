import { serveWheelhouse, type ServedWheelhouse } from '../../adapters/package-cache/wheel-server.js';
import { hostViewUrl } from '../../adapters/package-cache/apt-routes.js';
import { manylinuxPlatforms, type WheelhouseRequest } from '../../adapters/package-cache/wheelhouse-record.js';
import { fillWheelhouse, findWheelhouse, type Wheelhouse } from '../../adapters/package-cache/wheelhouse.js';
import type { BuildPlan } from '../../core/plan/plan-build.js';
import { formatBytes } from '../../core/release/transfer-rate.js';
import { frameworksPipSet, type FrameworksPipSet } from '../../core/spec/frameworks-pip.js';
import { firstLine, ImagebuildError } from '../../errors/index.js';
import type { BuildRun } from './build-run.js';
import type { WheelhouseReport } from './options.js';

// The frameworks layer's pip wheelhouse for one build (issue 20): filled once per version set on the host (or found
// filled and verified), served to the build VM from this process while the build runs, and installed from with
// `--no-index --require-hashes`. The role gets its URL as a run-time extra var (ai_frameworks_wheelhouse_url), never
// through the rendered vars, so it is in no layer key: a hit changes how the bytes arrive, not what is built.

/** The wheelhouse a build's frameworks layer installs from, or none. */
export type BuildWheelhouse = {
  /** ai_frameworks_wheelhouse_url for the build VMs; "" = none (the role installs from the indexes). */
  readonly guestUrl: string;
  readonly title: string;
  readonly notices: readonly string[];
  /** Stops serving and says what was served; safe to call twice. */
  finish(): Promise<WheelhouseReport | undefined>;
};

/** The build VM's CPU architecture: the build VMs are x86_64 (qemu-system-x86_64), as the GPUs' hosts are. */
const GUEST_ARCH = 'x86_64';

/** The wheelhouse request of a spec's frameworks layer, as the host fetches it (10.0.2.2 indexes are its loopback). */
export function wheelhouseRequestOf(set: FrameworksPipSet): WheelhouseRequest | { unsupported: string } {
  if (set.glibc === undefined) return { unsupported: "the compatibility table does not know the guest distribution's glibc" };
  if (!/^3\.\d+$/.test(set.pythonVersion)) return { unsupported: 'the venv\'s Python version is not known' };
  return {
    requirements: [...set.requirements],
    noDeps: [...set.noDeps],
    indexUrl: hostViewUrl(set.indexUrl),
    extraIndexUrls: set.extraIndexUrls.map(hostViewUrl),
    target: { pythonVersion: set.pythonVersion, implementation: 'cp', abi: `cp${set.pythonVersion.replace('.', '')}`, platforms: manylinuxPlatforms(set.glibc, GUEST_ARCH) },
  };
}

/**
 * Fills (or finds) and serves the frameworks layer's wheelhouse when this build builds that layer. Without
 * --offline a wheelhouse that cannot be filled costs the build its cache, not its run: the role then installs from
 * the indexes as it would without one. With --offline it must already be there, verified, or the build stops.
 */
export async function openWheelhouse(run: BuildRun, plan: BuildPlan, options: { disabled: boolean; offline: boolean; onLine: (line: string) => void }): Promise<BuildWheelhouse> {
  const none = (title: string, notices: string[] = []): BuildWheelhouse => ({ guestUrl: '', title, notices, finish: async () => undefined });
  if (!plan.layers.some((l) => l.layer === 'frameworks' && l.action === 'build')) return none('pip wheelhouse: not needed (the frameworks layer is not built)');
  if (options.disabled) return none('pip wheelhouse: off (--no-package-cache); the build VM downloads every wheel');
  const request = wheelhouseRequestOf(frameworksPipSet(run.spec));
  if ('unsupported' in request) {
    if (options.offline) throw new ImagebuildError('OFFLINE_CACHE_MISS', `--offline: no pip wheelhouse for this spec: ${request.unsupported}`);
    return none('pip wheelhouse: off', [`pip wheelhouse off for this build: ${request.unsupported}; the build VM downloads every wheel`]);
  }
  let wheelhouse: Wheelhouse;
  if (options.offline) {
    const found = await findWheelhouse(run.cache.root, request);
    if (!found.wheelhouse) {
      const why = found.problem ? `the cached one fails its check (${found.problem})` : 'none was filled for this version set';
      throw new ImagebuildError('OFFLINE_CACHE_MISS', `--offline: the frameworks layer needs the pip wheelhouse of ${[...request.requirements, ...(request.noDeps ?? [])].join(' ')}, and ${why}; build once with the network to fill it`);
    }
    wheelhouse = found.wheelhouse;
  } else {
    try {
      wheelhouse = await fillWheelhouse({ cacheDir: run.cache.root, ...request, onLine: options.onLine });
    } catch (error) {
      if (run.signal.aborted) throw error;
      return none('pip wheelhouse: off', [`pip wheelhouse off for this build: ${firstLine(error)}; the build VM downloads every wheel`]);
    }
  }
  const served: ServedWheelhouse = await serveWheelhouse(wheelhouse);
  const size = wheelhouse.files.reduce((sum, file) => sum + file.bytes, 0);
  let finished: Promise<WheelhouseReport> | undefined;
  return {
    guestUrl: served.guestUrl,
    title: `pip wheelhouse ${wheelhouse.key.slice(0, 12)}: ${wheelhouse.files.length} wheels, ${formatBytes(size)}, ${wheelhouse.hit ? 'from the cache (verified, nothing downloaded)' : `${formatBytes(wheelhouse.bytesDownloaded)} downloaded`}; served on 127.0.0.1:${served.port}`,
    notices: wheelhouse.replaced ? [`pip wheelhouse ${wheelhouse.key.slice(0, 12)} was filled again: ${wheelhouse.replaced}`] : [],
    finish() {
      finished ??= served.close().then(() => ({ key: wheelhouse.key, hit: wheelhouse.hit, wheels: wheelhouse.files.length, bytesDownloaded: wheelhouse.bytesDownloaded, bytesServed: served.bytesServed() }));
      return finished;
    },
  };
}

/** One line for the build's notices: what the wheelhouse gave the frameworks layer. */
export function describeWheelhouse(report: WheelhouseReport): string {
  return `pip wheelhouse: ${formatBytes(report.bytesServed)} served to the build VM, ${formatBytes(report.bytesDownloaded)} downloaded by the host for it (${report.hit ? 'hit' : 'filled'} ${report.key.slice(0, 12)})`;
}
