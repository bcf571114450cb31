import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { freeProxyablePort } from '../src/adapters/package-cache/apt-proxy.js';
import type { BuildOptions } from '../src/app/build/options.js';
import { buildImage } from '../src/app/build/pipeline.js';
import { listCache, pruneCache } from '../src/app/cache-admin.js';
import { ImagebuildError } from '../src/errors/index.js';
import { fakeBuildOptions } from './helpers/build-options.js';
import { FAKE_BIN, FAKE_BUILD_TOOLS } from './helpers/fake-tools.js';
import { processesMentioning } from './helpers/processes.js';
import { requireTools } from './helpers/require-tools.js';
import { smallDemoSpec, type ManifestChanges } from './helpers/spec-builders.js';
import { REGISTRY_TOOLS, startRegistry, type TestRegistry } from './helpers/registry.js';
import { makeTempDir } from './helpers/temp-dir.js';
import { buildPypiMirror, type PypiMirror } from './vendor-mirror/pypi-mirror.js';
import { serveMirror, type ServedMirror } from './vendor-mirror/serve-mirror.js';

// The build's package caches end to end but for the VM (issue 20): the build fills the frameworks layer's pip
// wheelhouse with the host's real pip from the hermetic PyPI stand-in mirror and serves it while the layer builds; a
// real apt-cacher-ng carries the "guest's" apt. The fake packer of test/fixtures/bin stands in for the build VM: it
// fetches a package through the apt proxy and every wheel of the wheelhouse it was given, as the guest names them
// (10.0.2.2). The mirror counts what it serves: a rebuild whose packages were fetched before costs it nothing.
const TEST_FILE = 'test/package-cache-build.test.ts';
const hasTools = requireTools(TEST_FILE, ...FAKE_BUILD_TOOLS, '/usr/sbin/apt-cacher-ng', 'curl', 'python3', 'gcc', ...REGISTRY_TOOLS);
const DEB = 'nvidia/pool/main/c/cuda-stand-in/cuda-stand-in_13.0-1_amd64.deb';

describe.skipIf(!hasTools)("the build's package caches: pip wheelhouse, container images and --offline (real pip, skopeo, docker-registry and apt-cacher-ng, fake packer)", { timeout: 120_000 }, () => {
  let work: { dir: string; cleanup: () => Promise<void> };
  let pypi: PypiMirror;
  let mirror: ServedMirror;
  let wheelFetches: string;
  let imageFetches: string;
  let registry: TestRegistry;
  let imageRef: string;
  const savedPath = process.env.PATH;
  const cacheDir = () => join(work.dir, '.imagebuild/cache');

  /** The demo spec against the mirror: its driver repository and both pip indexes, as a build guest names them. */
  const spec = (changes: ManifestChanges = []) => {
    const { pytorchIndexUrl, pypiIndexUrl } = pypi.indexUrls(mirror.guestUrl);
    return smallDemoSpec([
      [['layers', 'driver', 'repository'], { url: `${mirror.guestUrl}/nvidia/` }],
      [['layers', 'frameworks', 'pytorch', 'index_url'], pytorchIndexUrl],
      [['layers', 'frameworks', 'pip'], { index_url: pypiIndexUrl }],
      [['layers', 'runtime', 'images'], [imageRef]],
      ...changes,
    ]);
  };
  const options = (version: string, extra: Partial<BuildOptions> = {}): BuildOptions => fakeBuildOptions(work.dir, version, extra);
  const wheelLines = () => (existsSync(wheelFetches) ? readFileSync(wheelFetches, 'utf8').trim().split('\n') : []).map((line) => line.split(' '));
  const proxies = () => processesMentioning(join(cacheDir(), 'apt-cache'), 'cmdline').filter((p) => p.cmdline.startsWith('/usr/sbin/apt-cacher-ng '));
  const registered = () => listCache({ cwd: work.dir, specArg: 'box.yaml' }).then((listing) => listing.layers.map((l) => l.key).sort());

  beforeAll(async () => {
    work = await makeTempDir('imagebuild-package-cache-build-');
    pypi = await buildPypiMirror({ dir: join(work.dir, 'www') });
    await mkdir(join(pypi.dir, DEB, '..'), { recursive: true });
    await writeFile(join(pypi.dir, DEB), Buffer.alloc(200_000, 'stand-in package '));
    // On a port apt-cacher-ng can fetch from (it mishandles ports above 32767).
    mirror = await serveMirror(pypi.dir, { port: await freeProxyablePort() });
    wheelFetches = join(work.dir, 'wheel-fetches.txt');
    imageFetches = join(work.dir, 'image-fetches.txt');
    registry = await startRegistry();
    imageRef = `${registry.guestName}/imagebuild/stand-in:1.0`;
    await registry.push('imagebuild/stand-in:1.0', 'a stand-in image');
    process.env.FAKE_PACKER_IMAGE_REFS = imageRef;
    process.env.FAKE_PACKER_IMAGE_RECORD = imageFetches;
    process.env.PATH = `${FAKE_BIN}:${savedPath}`;
    process.env.FAKE_PACKER_APT_FETCH = `${mirror.guestUrl}/${DEB}`;
    process.env.FAKE_PACKER_APT_RECORD = join(work.dir, 'apt-fetches.txt');
    process.env.FAKE_PACKER_WHEELHOUSE_RECORD = wheelFetches;
    await writeFile(join(work.dir, 'box.yaml'), spec());
  }, 120_000);
  afterAll(async () => {
    process.env.PATH = savedPath;
    delete process.env.FAKE_PACKER_APT_FETCH;
    delete process.env.FAKE_PACKER_APT_RECORD;
    delete process.env.FAKE_PACKER_WHEELHOUSE_RECORD;
    delete process.env.FAKE_PACKER_IMAGE_REFS;
    delete process.env.FAKE_PACKER_IMAGE_RECORD;
    await registry?.stop();
    await mirror.stop();
    await work.cleanup();
  });
  beforeEach(async () => {
    await rm(wheelFetches, { force: true });
    await rm(imageFetches, { force: true });
  });
  const imageLines = () => (existsSync(imageFetches) ? readFileSync(imageFetches, 'utf8').trim().split('\n') : []).map((line) => line.split(' '));

  it("fills the frameworks layer's wheelhouse on the host once and serves it to that layer's build only", async () => {
    const report = await buildImage(options('1.0.0'));

    expect(wheelLines().map(([unit, url, status]) => [unit, url === '-' ? '-' : 'wheelhouse', status])).toEqual([
      ['base', '-', '-'],
      ['driver', '-', '-'],
      ['runtime', '-', '-'],
      ['frameworks', 'wheelhouse', '200'],
      ['validation', '-', '-'],
    ]);
    expect(wheelLines()[3]![1]).toMatch(/^http:\/\/10\.0\.2\.2:\d+$/);
    // torch, its NCCL pin, vLLM and the spec's NCCL (the demo box has no TensorFlow).
    expect(report.wheelhouse).toMatchObject({ hit: false, wheels: 4 });
    expect(report.wheelhouse?.bytesDownloaded).toBeGreaterThan(0);
    // The "guest" fetched every wheel: what the host downloaded, served once.
    expect(report.wheelhouse?.bytesServed).toBe(report.wheelhouse?.bytesDownloaded);
    expect(report.notices).toContain(`pip wheelhouse: ${formatKiB(report.wheelhouse!.bytesServed)} served to the build VM, ${formatKiB(report.wheelhouse!.bytesDownloaded)} downloaded by the host for it (filled ${report.wheelhouse!.key.slice(0, 12)})`);
    // The rendered files never carry the wheelhouse: a run-time value, outside every layer key.
    const [run] = readdirSync(join(cacheDir(), 'builds'));
    expect(readFileSync(join(cacheDir(), 'builds', run!, 'rendered', 'frameworks', 'vars.yml'), 'utf8')).not.toContain('wheelhouse');
    // Nothing serves it once the build is over.
    await expect(fetch(wheelLines()[3]![1]!.replace('10.0.2.2', '127.0.0.1'))).rejects.toThrow();
    expect((await listCache({ cwd: work.dir, specArg: 'box.yaml' })).wheelhouses.map((w) => w.key)).toEqual([report.wheelhouse!.key]);
    // The runtime layer loaded the spec's image from the image cache, checked against the SHA-256 it recorded.
    expect(imageLines().map(([unit, url, status]) => [unit, url === '-' ? '-' : 'cache', status])).toEqual([['runtime', 'cache', '200']]);
    expect(report.imageCache).toMatchObject({ images: [{ ref: imageRef, hit: false }] });
    expect(report.imageCache?.bytesServed).toBe(report.imageCache?.bytesDownloaded);
    expect((await listCache({ cwd: work.dir, specArg: 'box.yaml' })).images.map((i) => i.ref)).toEqual([imageRef]);
  });

  it('rebuilds the frameworks layer of a new version from the filled wheelhouse and the apt cache: 0 bytes from the mirror', async () => {
    await writeFile(join(work.dir, 'box.yaml'), spec([[['layers', 'frameworks', 'gate', 'matmul_size'], 2048]]));
    const before = mirror.served();

    const report = await buildImage(options('1.1.0'));

    expect(report.layers.map((l) => [l.layer, l.action])).toEqual([['base', 'reused'], ['driver', 'reused'], ['runtime', 'reused'], ['frameworks', 'built'], ['validation', 'built']]);
    expect(report.wheelhouse).toMatchObject({ hit: true, bytesDownloaded: 0 });
    expect(report.wheelhouse?.bytesServed).toBeGreaterThan(0);
    expect(wheelLines().find(([unit]) => unit === 'frameworks')?.[2]).toBe('200');
    const after = mirror.served();
    expect([after.requests - before.requests, after.bytes - before.bytes]).toEqual([0, 0]);
  });

  it('builds --offline with the mirror unreachable: the apt cache serves only what it holds, the wheelhouse is the filled one', async () => {
    await writeFile(join(work.dir, 'box.yaml'), spec([[['layers', 'frameworks', 'gate', 'matmul_size'], 1024]]));
    await mirror.stop();

    const report = await buildImage(options('1.2.0', { offline: true }));

    expect(report.layers.filter((l) => l.action === 'built').map((l) => l.layer)).toEqual(['frameworks', 'validation']);
    expect(report.wheelhouse).toMatchObject({ hit: true, bytesDownloaded: 0 });
    // The "guest's" apt got the package from the cache (200) with the mirror gone; the proxy fetched nothing upstream.
    const apt = readFileSync(process.env.FAKE_PACKER_APT_RECORD!, 'utf8').trim().split('\n').slice(-2);
    expect(apt.map((line) => line.split(' ').filter((_, i) => i !== 1))).toEqual([['frameworks', '200', 'true'], ['validation', '200', 'true']]);
    expect(report.aptCache?.upstreamBytes).toBe(0);
    expect(proxies()).toEqual([]);
  });

  it('builds a runtime-layer change --offline with the registry gone: the saved image is loaded', async () => {
    await writeFile(join(work.dir, 'box.yaml'), spec([[['layers', 'runtime', 'docker_default_shm_size'], '16G']]));
    await registry.stop();

    const report = await buildImage(options('1.2.1', { offline: true }));

    expect(report.layers.filter((l) => l.action === 'built').map((l) => l.layer)).toEqual(['runtime', 'frameworks', 'validation']);
    expect(report.imageCache).toMatchObject({ images: [{ ref: imageRef, hit: true }], bytesDownloaded: 0 });
    expect(imageLines()).toEqual([['runtime', expect.stringMatching(/^http:\/\/10\.0\.2\.2:\d+$/), '200']]);
  });

  it('refuses --offline when an image was never saved, before any layer is built', async () => {
    await writeFile(join(work.dir, 'box.yaml'), spec([[['layers', 'runtime', 'images'], [imageRef, `${registry.guestName}/imagebuild/other:2.0`]]]));
    const layersBefore = await registered();

    const error = await buildImage(options('1.2.2', { offline: true })).then(() => undefined, (e: unknown) => e);

    expect((error as ImagebuildError).code).toBe('OFFLINE_CACHE_MISS');
    expect((error as Error).message).toBe(`--offline: the runtime layer needs the container image ${registry.guestName}/imagebuild/other:2.0, and it was never saved; build once with the network to save it`);
    expect(imageLines()).toEqual([]);
    expect(await registered()).toEqual(layersBefore);
  });

  it('refuses --offline when the version set was never filled, before any layer is built', async () => {
    await writeFile(join(work.dir, 'box.yaml'), spec([[['layers', 'frameworks', 'nccl', 'version'], '2.30.7']]));
    const layersBefore = await registered();

    const error = await buildImage(options('1.3.0', { offline: true })).then(() => undefined, (e: unknown) => e);

    expect(error).toBeInstanceOf(ImagebuildError);
    expect((error as ImagebuildError).code).toBe('OFFLINE_CACHE_MISS');
    expect((error as Error).message).toMatch(/^--offline: the frameworks layer needs the pip wheelhouse of torch==2\.13\.0\+cu130 vllm==0\.29\.0 nvidia-nccl-cu13==2\.30\.7, and none was filled for this version set; build once with the network to fill it$/);
    expect(wheelLines()).toEqual([]);
    expect(await registered()).toEqual(layersBefore);
    expect(existsSync(join(work.dir, 'output/vault-cube-demo-box/v1.3.0'))).toBe(false);
    expect(proxies()).toEqual([]);
  });

  it('builds without a wheelhouse with --no-package-cache: the frameworks layer gets none', async () => {
    await writeFile(join(work.dir, 'box.yaml'), spec([[['layers', 'frameworks', 'gate', 'matmul_size'], 512]]));

    const report = await buildImage(options('1.4.0', { noPackageCache: true }));

    expect(report.wheelhouse).toBeUndefined();
    expect(wheelLines().find(([unit]) => unit === 'frameworks')).toEqual(['frameworks', '-', '-']);
  });

  it('lists every package cache in `cache ls` and removes them only with `cache prune --packages`', async () => {
    const listing = await listCache({ cwd: work.dir, specArg: 'box.yaml' });
    const kept = await pruneCache({ specArg: 'box.yaml', cwd: work.dir, apply: false, keepFailed: false });
    const dropped = await pruneCache({ specArg: 'box.yaml', cwd: work.dir, apply: true, keepFailed: false, packages: true });

    expect(listing.images.map((i) => i.ref)).toEqual([imageRef]);
    expect(listing.images[0]!.bytes).toBeGreaterThan(0);
    expect(listing.wheelhouses).toHaveLength(1);
    expect(listing.aptCache?.bytes).toBeGreaterThan(0);
    expect(kept.removed.filter((r) => /apt-cache|wheelhouses|images/.test(r.path))).toEqual([]);
    expect(dropped.removed.map((r) => r.why)).toEqual(expect.arrayContaining([`container image ${imageRef} (--packages)`, expect.stringMatching(/^pip wheelhouse of /), 'apt packages cached for the build VMs (--packages)']));
    const after = await listCache({ cwd: work.dir, specArg: 'box.yaml' });
    expect([after.images, after.wheelhouses, after.aptCache]).toEqual([[], [], null]);
  });
});

/** formatBytes for the stand-ins' sizes (KiB). */
function formatKiB(bytes: number): string {
  return `${(bytes / 1024).toFixed(1)} KiB`;
}
