import { describe, expect, it } from 'vitest';
import { aptProxyPaths, parseTransferLog, proxiedSourceUrl, renderAptProxyConfig } from './apt-proxy.js';

describe('proxiedSourceUrl', () => {
  it('asks the proxy for an HTTPS repository over plain HTTP, in the HTTPS/// form', () => {
    const url = proxiedSourceUrl('https://developer.download.nvidia.com/compute/cuda/repos/ubuntu2404/x86_64/');

    expect(url).toBe('http://HTTPS///developer.download.nvidia.com/compute/cuda/repos/ubuntu2404/x86_64/');
  });

  it('addresses the proxy as the mirror when given its URL', () => {
    const https = proxiedSourceUrl('https://download.docker.com/linux/ubuntu', { via: 'http://10.0.2.2:3142/' });
    const http = proxiedSourceUrl('http://archive.ubuntu.com/ubuntu', { via: 'http://10.0.2.2:3142' });

    expect(https).toBe('http://10.0.2.2:3142/HTTPS///download.docker.com/linux/ubuntu');
    expect(http).toBe('http://10.0.2.2:3142/archive.ubuntu.com/ubuntu');
  });

  it('names the host loopback 127.0.0.1, since the proxy runs on the host, keeping the port', () => {
    const url = proxiedSourceUrl('http://10.0.2.2:8123/nvidia/repo/');

    expect(url).toBe('http://127.0.0.1:8123/nvidia/repo/');
  });

  it('leaves plain HTTP and other schemes as they are', () => {
    expect(proxiedSourceUrl('http://deb.debian.org/debian')).toBe('http://deb.debian.org/debian');
    expect(proxiedSourceUrl('file:/srv/local-repo')).toBe('file:/srv/local-repo');
  });
});

describe('parseTransferLog', () => {
  it('adds up downloads from upstream (I) and responses to clients (O), skipping errors and torn lines', () => {
    const log = [
      '1796492841|I|300434|127.0.0.1|127.0.0.1/pool/foo_1.0_amd64.deb',
      '1796492841|O|300256|127.0.0.1|127.0.0.1/pool/foo_1.0_amd64.deb',
      '1796492842|O|300256|127.0.0.1|127.0.0.1/pool/foo_1.0_amd64.deb',
      '1796492865|E|694|127.0.0.1|127.0.0.1/pool/bar.deb [HTTP error, code: 503]',
      '1796492866|O|12',
    ].join('\n');

    const stats = parseTransferLog(log);

    expect(stats).toEqual({ upstreamBytes: 300434, upstreamRequests: 1, servedBytes: 600524, servedRequests: 3, servedFromCacheBytes: 300090 });
  });

  it('reads an empty log as nothing transferred', () => {
    expect(parseTransferLog('')).toEqual({ upstreamBytes: 0, upstreamRequests: 0, servedBytes: 0, servedRequests: 0, servedFromCacheBytes: 0 });
  });
});

describe('renderAptProxyConfig', () => {
  it('binds loopback only, keeps every path under the cache directory, and serves no report page', () => {
    const paths = aptProxyPaths('/cache/apt');

    const config = renderAptProxyConfig({ paths, port: 23456, upstreamPorts: [8123, 80], offline: true, caFile: '/tmp/ca.pem' });

    expect(config).toContain('BindAddress: 127.0.0.1\nPort: 23456\n');
    expect(config).toContain('CacheDir: /cache/apt/pool\nLogDir: /cache/apt/logs\n');
    expect(config).toContain('PidFile: /cache/apt/config/apt-cacher-ng.pid\n');
    expect(config).toContain('AllowUserPorts: 80 443 8123\n');
    expect(config).toContain('Offlinemode: 1\n');
    expect(config).toContain('CAfile: /tmp/ca.pem\n');
    expect(config).not.toMatch(/^(ReportPage|LocalDirs|PassThroughPattern):/m);
  });
});
