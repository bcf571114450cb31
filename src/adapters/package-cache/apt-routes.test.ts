import { describe, expect, it } from 'vitest';
import { aptProxyPaths, renderAptProxyConfig } from './apt-proxy.js';
import { remapConfigLines, routeAptRepositories } from './apt-routes.js';

describe('routeAptRepositories', () => {
  it('remaps each loopback origin the guest names 10.0.2.2 to 127.0.0.1 once, and carries HTTPS repositories in the HTTPS/// form', () => {
    const routes = routeAptRepositories([
      'http://10.0.2.2:18080/nvidia/cuda/repos/debian12/x86_64/',
      'http://10.0.2.2:18080/libnvidia-container/stable/deb/$(ARCH)',
      'https://nvidia.github.io/libnvidia-container/stable/deb/$(ARCH)',
      'https://mirror.example:8443/cuda/',
      'https://10.0.2.2:18443/cuda/',
      'http://deb.debian.org/debian',
    ]);

    expect(routes.remaps).toEqual([{ name: 'loopback18080', guestPrefix: 'http://10.0.2.2:18080/', hostPrefix: 'http://127.0.0.1:18080/' }]);
    // An HTTPS repository on another port is one more port the proxy may connect to.
    expect(routes.upstreamPorts).toEqual([18080, 8443]);
    expect(routes.https).toEqual(['https://nvidia.github.io/libnvidia-container/stable/deb/$(ARCH)', 'https://mirror.example:8443/cuda/']);
    // The host's loopback over HTTPS: no name the proxy could fetch it by and check a certificate for.
    expect(routes.direct).toEqual(['https://10.0.2.2:18443/cuda/']);
    expect(routes.unroutable).toBeUndefined();
    expect(remapConfigLines(routes.remaps)).toEqual(['Remap-loopback18080: http://10.0.2.2:18080/ ; http://127.0.0.1:18080/']);
  });

  it('says why a loopback origin above port 32767 cannot go through apt-cacher-ng', () => {
    const routes = routeAptRepositories(['http://10.0.2.2:40123/nvidia/']);

    expect(routes.remaps).toEqual([]);
    expect(routes.unroutable).toBe('http://10.0.2.2:40123/nvidia/ is on port 40123, and apt-cacher-ng cannot fetch from ports above 32767');
  });

  it('puts the remaps in the generated acng.conf', () => {
    const config = renderAptProxyConfig({
      paths: aptProxyPaths('/cache/apt-cache'),
      port: 13142,
      upstreamPorts: [18080],
      offline: false,
      remaps: routeAptRepositories(['http://10.0.2.2:18080/repo/']).remaps,
    });

    expect(config).toContain('\nAllowUserPorts: 80 443 18080\n');
    expect(config).toContain('\nRemap-loopback18080: http://10.0.2.2:18080/ ; http://127.0.0.1:18080/\n');
  });
});
