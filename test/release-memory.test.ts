import { readFile, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildImage } from '../src/app/build/pipeline.js';
import { ImageManifest, serializeManifest } from '../src/core/manifest/image-manifest.js';
import type { StoreSpec } from '../src/core/spec/schema.js';
import { FAKE_BIN, FAKE_BUILD_TOOLS } from './helpers/fake-tools.js';
import { PROJECT_ROOT } from './helpers/project-root.js';
import { readManifest, startReleaseCli, TSX_LOADER } from './helpers/release-project.js';
import { startS3Server, type TestS3Server } from './helpers/s3-server.js';
import { DEMO_NAME, smallDemoSpec } from './helpers/spec-builders.js';
import { makeTempDir } from './helpers/temp-dir.js';
import { requireTools } from './helpers/require-tools.js';
import { writeTestSigning } from './helpers/signing.js';

// Constant memory whatever the image size: a 1 GiB sparse image is hashed, published and downloaded,
// each in its own process, and each process's peak RSS may grow by at most MAX_GROWTH over what it
// had after start-up. A memory bound, not a timing assertion.

const hasBuildTools = requireTools('test/release-memory.test.ts', ...FAKE_BUILD_TOOLS);

const GIB = 1024 * 1024 * 1024;
const MIB = 1024 * 1024;
const MAX_GROWTH = 300 * MIB;

type Rss = { baselineRss: number; maxRss: number };

describe.skipIf(!hasBuildTools)('a 1 GiB sparse image in constant memory', () => {
  let s3: TestS3Server;
  let work: { dir: string; cleanup: () => Promise<void> };
  let manifest: ImageManifest;
  let hashRss: Rss;

  beforeAll(async () => {
    [s3, work] = await Promise.all([startS3Server(), makeTempDir('imagebuild-memory-')]);
    const path = process.env.PATH;
    process.env.PATH = `${FAKE_BIN}:${path}`;
    try {
      await writeFile(join(work.dir, 'box.yaml'), specWith({ kind: 'filesystem', dir: 'unused' }));
      await buildImage({ specArg: 'box.yaml', version: '1.0.0', cwd: work.dir, hostProfile: 'cpu', renderer: 'silent', skipVerify: true, signal: new AbortController().signal });
    } finally {
      process.env.PATH = path;
    }
    // The built release, its image replaced by a 1 GiB sparse file: a hole the size of a small golden image.
    const dir = join(work.dir, 'output', DEMO_NAME, 'v1.0.0');
    const built = await readManifest(join(work.dir, 'output', DEMO_NAME), '1.0.0');
    await truncate(join(dir, built.artifact), GIB);
    const hashed = await execa('node', ['--import', TSX_LOADER, join(PROJECT_ROOT, 'test/helpers/hash-file.ts'), join(dir, built.artifact)]);
    const result = JSON.parse(hashed.stdout) as Rss & { sha256: string; bytes: number };
    hashRss = result;
    manifest = ImageManifest.parse({ ...built, checksum_sha256: result.sha256, size_bytes: result.bytes });
    await writeFile(join(dir, 'image-manifest.json'), serializeManifest(manifest));
    await writeFile(join(dir, 'SHA256SUMS'), `${result.sha256}  ${built.artifact}\n`);
  });
  afterAll(async () => {
    await Promise.all([s3?.close(), work?.cleanup()]);
  });

  function specWith(store: StoreSpec): string {
    return smallDemoSpec([[['artifacts'], { store, signing: writeTestSigning(work.dir) }]]);
  }

  it('hashes it streaming', async ({ annotate }) => {
    await annotate(`sha256 of 1 GiB: peak RSS ${mib(hashRss.maxRss)} MiB, +${mib(hashRss.maxRss - hashRss.baselineRss)} MiB over start-up`);

    expect(manifest.size_bytes).toBe(GIB);
    expect(hashRss.maxRss - hashRss.baselineRss).toBeLessThan(MAX_GROWTH);
  });

  it.for(['s3', 'filesystem'] as const)('publishes it to a %s store and downloads it, verified, in bounded memory', async (kind, { annotate }) => {
    const store: StoreSpec =
      kind === 's3' ? s3.storeSpec('big') : { kind: 'filesystem', dir: 'big-store' };
    await writeFile(join(work.dir, `${kind}.yaml`), specWith(store));
    const env = { AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey };
    const measure = async (args: string[]) => {
      const rssFile = join(work.dir, `${kind}-${args[0]}.rss.json`);
      const started = Date.now();
      const result = await startReleaseCli([...args, '--spec', `${kind}.yaml`], work.dir, { ...env, IMAGEBUILD_TEST_RSS_FILE: rssFile });
      const seconds = (Date.now() - started) / 1000;
      expect(result.stderr).not.toMatch(/error/);
      expect(result.exitCode).toBe(0);
      return { rss: JSON.parse(await readFile(rssFile, 'utf8')) as Rss, seconds };
    };

    const up = await measure(['publish', 'v1.0.0']);
    const down = await measure(['download', 'v1.0.0', '--dest', `${kind}-dl`]);

    await annotate(
      `${kind}: publish ${rate(up.seconds)} MiB/s, peak RSS ${mib(up.rss.maxRss)} MiB (+${mib(up.rss.maxRss - up.rss.baselineRss)}); ` +
        `download+verify ${rate(down.seconds)} MiB/s, peak RSS ${mib(down.rss.maxRss)} MiB (+${mib(down.rss.maxRss - down.rss.baselineRss)})`,
    );
    expect(up.rss.maxRss - up.rss.baselineRss).toBeLessThan(MAX_GROWTH);
    expect(down.rss.maxRss - down.rss.baselineRss).toBeLessThan(MAX_GROWTH);
    expect(JSON.parse(await readFile(join(work.dir, `${kind}-dl`, 'image-manifest.json'), 'utf8')).checksum_sha256).toBe(manifest.checksum_sha256);
  });
});

function mib(bytes: number): string {
  return (bytes / MIB).toFixed(0);
}

function rate(seconds: number): string {
  return (GIB / MIB / seconds).toFixed(0);
}
