// How a build guest's apt repositories reach the host's apt-cacher-ng, which it names as Acquire::http::Proxy.

/** QEMU user networking's address for the host's loopback, as a build guest sees it. */
export const GUEST_HOST = '10.0.2.2';
/** apt-cacher-ng 3.7.4 neither binds nor fetches from ports above this one (see freeProxyablePort). */
export const HIGHEST_PROXYABLE_PORT = 32_767;

/** A URL as the host reaches it: the guest's 10.0.2.2 is the host's 127.0.0.1 (same port); other URLs are unchanged. */
export function hostViewUrl(url: string): string {
  const parsed = new URL(url);
  if (parsed.hostname !== GUEST_HOST) return url;
  parsed.hostname = '127.0.0.1';
  return parsed.toString().replace(/\/$/, url.endsWith('/') ? '/' : '');
}

/** A Remap- rule of apt-cacher-ng: requests under `guestPrefix` are fetched from `hostPrefix` and filed under `name`. */
export type AptRemap = { readonly name: string; readonly guestPrefix: string; readonly hostPrefix: string };

/** How the proxy serves a build's repositories. */
export type AptRoutes = {
  /** One rule per origin on the host's loopback (a mirror on 127.0.0.1 that the guest names 10.0.2.2). */
  readonly remaps: readonly AptRemap[];
  /** The loopback origins' ports, which the proxy must be allowed to connect to. */
  readonly upstreamPorts: readonly number[];
  /**
   * HTTPS repositories the proxy fetches itself: the guest names them http://HTTPS///host/path during the build (the
   * package_cache role's copy of its sources), apt-cacher-ng speaks TLS upstream and checks the certificate; apt
   * still checks each repository's signed InRelease.
   */
  readonly https: readonly string[];
  /** HTTPS repositories the proxy cannot carry (on the guest's name for the host's loopback): fetched by the guest directly, uncached. */
  readonly direct: readonly string[];
  /** Why the proxy cannot carry these repositories at all (a loopback origin on a port it cannot reach), if so. */
  readonly unroutable?: string;
};

/**
 * Routes the apt repositories a build's guest names. Plain-HTTP repositories elsewhere (deb.debian.org, a site
 * mirror) go through the proxy as they are. A repository on 10.0.2.2 is the host's own loopback, where the proxy
 * (on the host) cannot go by that name: a Remap- rule sends those requests to 127.0.0.1 on the same port, without
 * changing what the guest's sources.list says, and files them under a name of their own (loopback<port>), as
 * apt-cacher-ng drops the port from the host it files a download under.
 */
export function routeAptRepositories(urls: readonly string[]): AptRoutes {
  const remaps = new Map<string, AptRemap>();
  const https = new Set<string>();
  const httpsPorts = new Set<number>();
  const direct = new Set<string>();
  let unroutable: string | undefined;
  for (const url of urls) {
    const parsed = new URL(url);
    if (parsed.protocol === 'https:') {
      if (parsed.hostname === GUEST_HOST) direct.add(url);
      else {
        https.add(url);
        if (parsed.port) httpsPorts.add(Number(parsed.port));
      }
      continue;
    }
    if (parsed.protocol !== 'http:' || parsed.hostname !== GUEST_HOST) continue;
    const port = Number(parsed.port || '80');
    if (port > HIGHEST_PROXYABLE_PORT) {
      unroutable ??= `${url} is on port ${port}, and apt-cacher-ng cannot fetch from ports above ${HIGHEST_PROXYABLE_PORT}`;
      continue;
    }
    remaps.set(parsed.host, { name: `loopback${port}`, guestPrefix: `http://${parsed.host}/`, hostPrefix: `http://127.0.0.1:${port}/` });
  }
  const all = [...remaps.values()];
  return {
    remaps: all,
    upstreamPorts: [...new Set([...all.map((remap) => Number(new URL(remap.hostPrefix).port)), ...httpsPorts])],
    https: [...https],
    direct: [...direct],
    ...(unroutable === undefined ? {} : { unroutable }),
  };
}

/** The acng.conf lines of `remaps`. */
export function remapConfigLines(remaps: readonly AptRemap[]): string[] {
  return remaps.map((remap) => `Remap-${remap.name}: ${remap.guestPrefix} ; ${remap.hostPrefix}`);
}
