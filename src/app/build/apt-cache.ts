import { startAptProxy, type AptProxy } from '../../adapters/package-cache/apt-proxy.js';
import { routeAptRepositories } from '../../adapters/package-cache/apt-routes.js';
import type { BuildPlan } from '../../core/plan/plan-build.js';
import type { LayerName } from '../../core/spec/layers.js';
import { resolveVendorSources } from '../../core/spec/vendor-sources.js';
import { firstLine, ImagebuildError } from '../../errors/index.js';
import type { BuildRun } from './build-run.js';
import type { AptCacheReport } from './options.js';

/** The apt proxy a build's guests use: imagebuild's own for the length of the build, the spec's, or none. */
export type BuildAptCache = {
  /** Acquire::http::Proxy for the build VMs (the package_cache role writes it; seal removes it); "" = none. */
  readonly guestUrl: string;
  /** The same proxy as the host reaches it (mmdebstrap's downloads); "" when imagebuild runs none. */
  readonly hostUrl: string;
  /** Whether it fetches HTTPS repositories named http://HTTPS///… (imagebuild's own apt-cacher-ng): the package_cache role's package_cache_https_proxied. */
  readonly httpsProxied: boolean;
  readonly title: string;
  readonly notices: readonly string[];
  /** Stops imagebuild's own proxy (by its pid) and says what it carried; safe to call twice. */
  finish(): Promise<AptCacheReport | undefined>;
};

/**
 * The spec's vendor apt repositories, each with whether a layer this build builds installs from it. Every one is
 * routed: a guest built on cached layers still has the lower layers' sources, which any apt-get update reads.
 */
function vendorRepositories(run: BuildRun, plan: BuildPlan): { url: string; built: boolean }[] {
  const building = new Set<LayerName>(plan.layers.filter((l) => l.action === 'build').map((l) => l.layer));
  const vendor = resolveVendorSources(run.spec);
  return [
    { url: vendor.cudaRepositoryUrl, built: building.has('driver') },
    { url: vendor.containerToolkitRepositoryUrl, built: building.has('runtime') },
  ];
}

/**
 * Starts apt-cacher-ng for the build's guests, its package pool kept across builds under the cache directory, unless
 * the spec names its own proxy (cache.apt_proxy) or the build runs with --no-package-cache. The proxy listens on
 * 127.0.0.1 only and lives as long as this process: the build stops it by pid when it ends, and the adapter's
 * watchdog stops it if imagebuild is killed. A proxy that cannot start costs the build its cache, not its run.
 */
export async function openAptCache(run: BuildRun, plan: BuildPlan, options: { disabled: boolean; offline: boolean; onLine: (line: string) => void }): Promise<BuildAptCache> {
  const none = (title: string, notices: string[] = []): BuildAptCache => ({ guestUrl: '', hostUrl: '', httpsProxied: false, title, notices, finish: async () => undefined });
  if (run.spec.cache.apt_proxy !== undefined) {
    const offline = options.offline ? [`--offline: apt goes through the spec's proxy ${run.spec.cache.apt_proxy}, whose cache imagebuild does not control`] : [];
    return { ...none(`apt cache: the spec's proxy ${run.spec.cache.apt_proxy}`, offline), guestUrl: run.spec.cache.apt_proxy };
  }
  if (options.disabled) return none('apt cache: off (--no-package-cache); the build VMs download every package');
  const repositories = vendorRepositories(run, plan);
  const routes = routeAptRepositories(repositories.map((r) => r.url));
  const direct = routes.direct.filter((url) => repositories.some((r) => r.built && r.url === url));
  if (routes.unroutable !== undefined) {
    if (options.offline) throw new ImagebuildError('OFFLINE_CACHE_MISS', `--offline needs the build's apt cache, and ${routes.unroutable}`);
    return none('apt cache: off', [`apt cache off for this build: ${routes.unroutable}; the build VMs download every package`]);
  }
  let proxy: AptProxy;
  try {
    proxy = await startAptProxy({ cacheDir: run.cache.aptCache, remaps: routes.remaps, upstreamPorts: routes.upstreamPorts, offline: options.offline, onLine: options.onLine });
  } catch (error) {
    if (run.signal.aborted || options.offline) throw error;
    return none('apt cache: off', [`apt cache off for this build: ${firstLine(error)}; the build VMs download every package`]);
  }
  const directNotice = direct.length === 0 ? [] : [`apt cache: HTTPS repositories on the host's loopback are fetched by the build VMs directly, uncached: ${direct.join(', ')}`];
  const https = routes.https.filter((url) => repositories.some((r) => r.built && r.url === url));
  let finished: Promise<AptCacheReport> | undefined;
  return {
    guestUrl: proxy.guestUrl,
    hostUrl: proxy.hostUrl,
    httpsProxied: true,
    title: `apt cache: apt-cacher-ng on 127.0.0.1:${proxy.port} (pid ${proxy.pid}), pool ${run.cache.aptCache}${options.offline ? ', offline: cached files only' : ''}${https.length > 0 ? `, HTTPS repositories through it: ${https.join(', ')}` : ''}`,
    notices: directNotice,
    finish() {
      finished ??= (async () => {
        const stats = await proxy.stats().finally(() => proxy.stop());
        return { upstreamBytes: stats.upstreamBytes, servedBytes: stats.servedBytes, servedFromCacheBytes: stats.servedFromCacheBytes, direct };
      })();
      return finished;
    },
  };
}

/** One line for the build's notices: what the apt cache carried. */
export function describeAptCache(report: AptCacheReport): string {
  const mib = (bytes: number) => `${(bytes / 1_048_576).toFixed(1)} MiB`;
  return `apt cache: ${mib(report.servedBytes)} served to the build VMs, ${mib(report.upstreamBytes)} of it downloaded, ${mib(report.servedFromCacheBytes)} from the cache`;
}
