import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { freeProxyablePort } from '../src/adapters/package-cache/apt-proxy.js';
import type { BuildOptions } from '../src/app/build/options.js';
import { buildImage } from '../src/app/build/pipeline.js';
import { listCache, pruneCache } from '../src/app/cache-admin.js';
import { fakeBuildOptions } from './helpers/build-options.js';
import { FAKE_BIN, FAKE_BUILD_TOOLS } from './helpers/fake-tools.js';
import { processesMentioning } from './helpers/processes.js';
import { requireTools } from './helpers/require-tools.js';
import { smallDemoSpec } from './helpers/spec-builders.js';
import { makeTempDir } from './helpers/temp-dir.js';
import { serveMirror, type ServedMirror } from './vendor-mirror/serve-mirror.js';

// The build's own apt cache: a real apt-cacher-ng started and stopped by the build, the fake packer of
// test/fixtures/bin standing in for the build VM whose apt fetches a package through the proxy it was given (as the
// guest names it: 10.0.2.2), from a loopback mirror that counts what it serves.
const TEST_FILE = 'test/apt-cache-build.test.ts';
const hasTools = requireTools(TEST_FILE, ...FAKE_BUILD_TOOLS, '/usr/sbin/apt-cacher-ng', 'curl');
const DEB = 'pool/main/c/cuda-stand-in/cuda-stand-in_13.0-1_amd64.deb';

describe.skipIf(!hasTools)("the build's own apt cache (real apt-cacher-ng, fake packer)", () => {
  let work: { dir: string; cleanup: () => Promise<void> };
  let mirror: ServedMirror;
  let fetches: string;
  const savedPath = process.env.PATH;
  const cacheDir = () => join(work.dir, '.imagebuild/cache');

  beforeAll(async () => {
    work = await makeTempDir('imagebuild-apt-cache-build-');
    const root = join(work.dir, 'mirror');
    await mkdir(join(root, DEB, '..'), { recursive: true });
    await writeFile(join(root, DEB), Buffer.alloc(300_000, 'stand-in package '));
    mirror = await serveMirror(root, { port: await freeProxyablePort() });
    fetches = join(work.dir, 'apt-fetches.txt');
    process.env.PATH = `${FAKE_BIN}:${savedPath}`;
    process.env.FAKE_PACKER_APT_FETCH = `${mirror.guestUrl}/${DEB}`;
    process.env.FAKE_PACKER_APT_RECORD = fetches;
    // The driver layer's repository is the loopback mirror, as the guest names it: the proxy fetches it from 127.0.0.1.
    await writeFile(join(work.dir, 'box.yaml'), smallDemoSpec([[['layers', 'driver', 'repository'], { url: `${mirror.guestUrl}/nvidia/` }]]));
  });
  afterAll(async () => {
    process.env.PATH = savedPath;
    delete process.env.FAKE_PACKER_APT_FETCH;
    delete process.env.FAKE_PACKER_APT_RECORD;
    await mirror.stop();
    await work.cleanup();
  });
  beforeEach(() => rm(fetches, { force: true }));

  const options = (version: string, extra: Partial<BuildOptions> = {}): BuildOptions => fakeBuildOptions(work.dir, version, extra);
  const fetched = () => (existsSync(fetches) ? readFileSync(fetches, 'utf8').trim().split('\n') : []).map((line) => line.split(' '));
  // The proxy itself (its orphan watchdog, SIGKILLed when the proxy stopped, may still be on its way out).
  const proxies = () => processesMentioning(join(cacheDir(), 'apt-cache'), 'cmdline').filter((p) => p.cmdline.startsWith('/usr/sbin/apt-cacher-ng '));

  it('runs apt-cacher-ng for the build VMs, downloads a package once for all five layers, and stops it when the build ends', async () => {
    const report = await buildImage(options('1.0.0'));

    const lines = fetched();
    expect(lines.map(([unit]) => unit)).toEqual(['base', 'driver', 'runtime', 'frameworks', 'validation']);
    const proxy = lines[0]![1]!;
    expect(proxy).toMatch(/^http:\/\/10\.0\.2\.2:\d+$/);
    // The proxy is imagebuild's own, so the build VMs are told it carries HTTPS repositories too (package_cache_https_proxied).
    for (const [, via, status, httpsProxied] of lines) expect([via, status, httpsProxied]).toEqual([proxy, '200', 'true']);
    // One request reached the mirror: the other four layers' apt got the cached copy.
    expect(mirror.served().byPath.get(`/${DEB}`)).toBe(300_000);
    expect(mirror.served().requests).toBe(1);
    expect(report.aptCache?.upstreamBytes).toBeGreaterThanOrEqual(300_000);
    expect(report.aptCache?.servedFromCacheBytes).toBeGreaterThanOrEqual(4 * 300_000);
    // The runtime layer's repository is NVIDIA's (HTTPS): the proxy carries it in its HTTPS/// form, none goes direct.
    expect(report.aptCache?.direct).toEqual([]);
    expect(report.notices.filter((n) => n.includes('HTTPS repositories'))).toEqual([]);
    expect(report.notices.some((n) => /^apt cache: .* served to the build VMs/.test(n))).toBe(true);
    expect(proxies()).toEqual([]);
    // The rendered files never carry the proxy: it is a run-time value, outside every layer key.
    const [run] = readdirSync(join(cacheDir(), 'builds'));
    const rendered = readFileSync(join(cacheDir(), 'builds', run!, 'rendered', 'driver', 'vars.yml'), 'utf8');
    expect(rendered).toContain('nvidia_driver_cuda_repo_url');
    expect(rendered).not.toContain('package_cache_apt_proxy');
  });

  it('a later build whose packages were fetched before downloads nothing from the mirror, and keeps the layer keys', async () => {
    const before = mirror.served();
    const first = await buildImage(options('1.0.0'));
    const report = await buildImage(options('1.0.1', { fromLayer: 'driver' }));

    expect(fetched().map(([unit, , status]) => `${unit} ${status}`)).toEqual(['driver 200', 'runtime 200', 'frameworks 200', 'validation 200']);
    expect(mirror.served().bytes).toBe(before.bytes);
    expect(report.aptCache?.upstreamBytes).toBe(0);
    expect(report.aptCache?.servedFromCacheBytes).toBeGreaterThanOrEqual(4 * 300_000);
    expect(report.layers.map((l) => l.key)).toEqual(first.layers.map((l) => l.key));
    expect(proxies()).toEqual([]);
  });

  it('routes the loopback mirror for a build of the top layer alone: its guest still has the driver layer\'s sources', async () => {
    const report = await buildImage(options('1.0.3', { fromLayer: 'validation' }));

    expect(fetched().map(([unit, via, status]) => [unit, /^http:\/\/10\.0\.2\.2:\d+$/.test(via!), status])).toEqual([['validation', true, '200']]);
    // Neither the driver nor the runtime layer was built: no HTTPS repository was in use, none is named.
    expect(report.aptCache?.direct).toEqual([]);
    expect(report.notices.filter((n) => n.includes('HTTPS repositories'))).toEqual([]);
  });

  it('with --no-package-cache starts no proxy and gives the build VMs none', async () => {
    const report = await buildImage(options('1.0.4', { fromLayer: 'validation', noPackageCache: true }));

    expect(fetched()).toEqual([['validation', '-', '200', 'false']]);
    expect(report.aptCache).toBeUndefined();
    expect(report.layers.find((l) => l.layer === 'validation')?.action).toBe('built');
  });

  it('shows the apt cache in `cache ls` with its size, keeps it on `cache prune`, and removes it with --packages', async () => {
    const listing = await listCache({ specArg: 'box.yaml', cwd: work.dir, hostProfile: 'cpu' });
    const kept = await pruneCache({ specArg: 'box.yaml', cwd: work.dir, apply: false, keepFailed: false, hostProfile: 'cpu' });
    const dropped = await pruneCache({ specArg: 'box.yaml', cwd: work.dir, apply: true, keepFailed: false, packages: true, hostProfile: 'cpu' });

    expect(listing.aptCache?.dir).toBe(join(cacheDir(), 'apt-cache', 'pool'));
    expect(listing.aptCache?.bytes).toBeGreaterThanOrEqual(300_000);
    expect(listing.totalBytes).toBeGreaterThanOrEqual(listing.aptCache!.bytes);
    expect(kept.removed.map((r) => r.path)).not.toContain(join(cacheDir(), 'apt-cache'));
    expect(dropped.removed.find((r) => r.path === join(cacheDir(), 'apt-cache'))).toMatchObject({ why: 'apt packages cached for the build VMs (--packages)' });
    expect(existsSync(join(cacheDir(), 'apt-cache'))).toBe(false);
    expect((await listCache({ specArg: 'box.yaml', cwd: work.dir, hostProfile: 'cpu' })).aptCache).toBeNull();
  });

  it("passes the spec's own cache.apt_proxy to the build VMs instead of starting one", async () => {
    await writeFile(
      join(work.dir, 'own-proxy.yaml'),
      smallDemoSpec([
        [['layers', 'driver', 'repository'], { url: `${mirror.guestUrl}/nvidia/` }],
        [['cache', 'apt_proxy'], 'http://10.0.2.2:1'],
      ]),
    );
    const report = await buildImage(options('2.0.0', { specArg: 'own-proxy.yaml', fromLayer: 'base', untilLayer: 'base' }));

    expect(fetched().map(([unit, via]) => `${unit} ${via}`)).toEqual(['base http://10.0.2.2:1']);
    expect(report.aptCache).toBeUndefined();
    expect(proxies()).toEqual([]);
  });
});
