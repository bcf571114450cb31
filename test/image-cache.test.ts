import { appendFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256Hex } from '../src/core/digest.js';
import { imageCacheDirectories, listCachedImages, saveImage, serveImages, type CachedImage } from '../src/adapters/package-cache/image-cache.js';
import { ToolFailedError } from '../src/errors/index.js';
import { REGISTRY_TOOLS, startRegistry, type TestRegistry } from './helpers/registry.js';
import { requireTools } from './helpers/require-tools.js';
import { makeTempDir, type TempDir } from './helpers/temp-dir.js';

// The runtime layer's container image cache (issue 20) against a real registry (Debian's docker-registry) with the
// real skopeo: saved once as a docker-archive keyed by the registry's digest, a hit copies nothing, a moved tag is a
// new entry, --offline takes what was saved, and the build VM's download is checked against the recorded SHA-256.
const hasTools = requireTools('test/image-cache.test.ts', ...REGISTRY_TOOLS, 'tar');

describe.skipIf(!hasTools)('container image cache (real docker-registry and skopeo)', { timeout: 60_000 }, () => {
  let work: TempDir;
  let registry: TestRegistry;
  let cacheDir: string;
  let ref: string;
  let digest: string;
  let cold: CachedImage;

  const saved = async (input: Parameters<typeof saveImage>[0]): Promise<CachedImage> => {
    const result = await saveImage(input);
    if ('missing' in result) throw new Error(result.missing);
    return result;
  };

  beforeAll(async () => {
    work = await makeTempDir('imagebuild-image-cache-');
    registry = await startRegistry();
    cacheDir = join(work.dir, 'cache');
    // As a build VM names it: the host reaches 10.0.2.2 as its own loopback.
    ref = `${registry.guestName}/imagebuild/stand-in:1.0`;
    digest = await registry.push('imagebuild/stand-in:1.0', 'first');
    cold = await saved({ cacheDir, ref });
  }, 60_000);
  afterAll(async () => {
    await registry?.stop();
    await work?.cleanup();
  });

  it('saves an image once as a docker-archive tagged with the reference, keyed by the registry digest', async () => {
    const { stdout } = await execa('tar', ['-xOf', cold.archive, 'manifest.json']);

    expect(cold.hit).toBe(false);
    expect(cold.record).toMatchObject({ ref, digest, bytes: cold.bytesDownloaded });
    expect(cold.dir).toBe(join(cacheDir, 'images', digest.slice('sha256:'.length)));
    expect(JSON.parse(stdout)[0].RepoTags).toEqual([ref]);
    expect((await listCachedImages(cacheDir)).entries.map((e) => [e.record.ref, e.record.digest])).toEqual([[ref, digest]]);
  });

  it('copies nothing on a hit, and saves again when the archive changed on disk', async () => {
    const hit = await saved({ cacheDir, ref });
    await appendFile(cold.archive, 'tampered');
    const again = await saved({ cacheDir, ref });

    expect([hit.hit, hit.bytesDownloaded]).toEqual([true, 0]);
    expect(again.hit).toBe(false);
    expect(again.notice).toMatch(/saved again, .*image\.tar: \d+ bytes, the record says \d+$/);
    expect(again.record.sha256).toBe(cold.record.sha256);
  });

  it('keeps a tag that moved upstream as a new entry, and --offline takes the newest for the reference', async () => {
    const moved = await registry.push('imagebuild/stand-in:1.0', 'second');
    const fresh = await saved({ cacheDir, ref });
    const offline = await saved({ cacheDir, ref, offline: true });

    expect(moved).not.toBe(digest);
    expect(fresh.record.digest).toBe(moved);
    expect((await listCachedImages(cacheDir)).entries.map((e) => e.record.digest)).toEqual([digest, moved]);
    expect([offline.hit, offline.record.digest]).toEqual([true, moved]);
  });

  it('says what is missing offline, and an unknown image online is the tool failure it is', async () => {
    const missing = await saveImage({ cacheDir, ref: `${registry.guestName}/imagebuild/never:1.0`, offline: true });
    const unknown = await saveImage({ cacheDir, ref: `${registry.guestName}/imagebuild/never:1.0` }).catch((error: unknown) => error);

    expect(missing).toEqual({ missing: `${registry.guestName}/imagebuild/never:1.0 was never saved` });
    expect(unknown).toBeInstanceOf(ToolFailedError);
    expect((unknown as Error).message).toMatch(/^skopeo inspect docker:\/\/127\.0\.0\.1:\d+\/imagebuild\/never:1\.0: /);
    expect((unknown as Error).message).not.toContain('\n');
  });

  it("serves each saved image under the SHA-256 of its reference with a checksum file, as the container_runtime role fetches it", async () => {
    const image = await saved({ cacheDir, ref, offline: true });
    const server = await serveImages([image]);
    try {
      const name = `${sha256Hex(ref)}.tar`;
      const archive = Buffer.from(await (await fetch(`${server.hostUrl}/images/${name}`)).arrayBuffer());
      const sums = await (await fetch(`${server.hostUrl}/images/${name}.sha256`)).text();

      expect(archive.equals(await readFile(image.archive))).toBe(true);
      expect(sums).toBe(`${image.record.sha256}  ${name}\n`);
      expect(server.bytesServed()).toBe(image.record.bytes);
      expect((await fetch(`${server.hostUrl}/images/${sha256Hex('other:1')}.tar`)).status).toBe(404);
    } finally {
      await server.close();
    }
  });

  it('uses the copy saved before when the registry cannot be asked, and says so', async () => {
    await registry.stop();

    const fallback = await saved({ cacheDir, ref });

    expect(fallback.hit).toBe(true);
    expect(fallback.notice).toMatch(/^10\.0\.2\.2:\d+\/imagebuild\/stand-in:1\.0: the registry could not be asked \(.+\); the copy saved before is used$/);
    expect((await imageCacheDirectories(cacheDir)).map((d) => d.why)).toEqual([`container image ${ref} (--packages)`, `container image ${ref} (--packages)`]);
  });
});
