import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { open, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { buildImage } from '../src/app/build/pipeline.js';
import type { BuildReport } from '../src/app/build/options.js';
import { sharedFileKey, sharedLayerPrefix } from '../src/app/release-layer-cache.js';
import { openStore } from '../src/adapters/store/open-store.js';
import type { StoreSpec } from '../src/core/spec/schema.js';
import { startS3Server, type TestS3Server } from './helpers/s3-server.js';
import { smallDemoSpec } from './helpers/spec-builders.js';
import { makeTempDir } from './helpers/temp-dir.js';
import { FAKE_BIN, FAKE_BUILD_TOOLS, packerRuns } from './helpers/fake-tools.js';
import { requireTools } from './helpers/require-tools.js';

// The shared layer cache end to end: the build engine (fake packer, real qemu-img) of several
// "runners" — each its own cache and output directory — against one real S3-protocol server.
const hasBuildTools = requireTools('test/shared-cache.test.ts', ...FAKE_BUILD_TOOLS);

describe.skipIf(!hasBuildTools)('shared layer cache across runners', () => {
  let work: { dir: string; cleanup: () => Promise<void> };
  let s3: TestS3Server;
  let record: string;
  let sharedKey: string;
  const savedEnv = { ...process.env };
  const storeSpec = (): StoreSpec => s3.storeSpec('team');

  beforeAll(async () => {
    work = await makeTempDir('imagebuild-shared-');
    s3 = await startS3Server();
    record = join(work.dir, 'packer-runs.txt');
    sharedKey = join(work.dir, 'runner-secret-key');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', sharedKey]);
    execFileSync('chmod', ['0644', sharedKey]); // as a secret written by a CI step often is
    await writeFile(join(work.dir, 'box.yaml'), smallDemoSpec([[['cache', 'store'], storeSpec()]]));
    Object.assign(process.env, { PATH: `${FAKE_BIN}:${savedEnv.PATH}`, FAKE_PACKER_RECORD: record, AWS_ACCESS_KEY_ID: s3.accessKeyId, AWS_SECRET_ACCESS_KEY: s3.secretAccessKey });
  });
  afterAll(async () => {
    process.env = savedEnv;
    await s3.close();
    await work.cleanup();
  });
  beforeEach(async () => {
    await rm(record, { force: true });
  });

  /** A build on runner `name`: its own cache and output directories; with the shared build key unless told otherwise. */
  async function buildOn(name: string, version: string, options: { sharedKey?: boolean } = {}): Promise<BuildReport> {
    process.env.IMAGEBUILD_CACHE_DIR = join(work.dir, name, 'cache');
    process.env.IMAGEBUILD_OUTPUT_DIR = join(work.dir, name, 'output');
    if (options.sharedKey === false) delete process.env.IMAGEBUILD_BUILD_KEY_FILE;
    else process.env.IMAGEBUILD_BUILD_KEY_FILE = sharedKey;
    return buildImage({ specArg: 'box.yaml', version, cwd: work.dir, hostProfile: 'cpu', renderer: 'silent', skipVerify: true, signal: new AbortController().signal });
  }
  const localLayers = async (name: string) => (await readdir(join(work.dir, name, 'cache', 'layers'))).filter((n) => !n.startsWith('.')).sort();

  let first: BuildReport;

  it('pushes every layer that passed its gate, metadata last', async () => {
    first = await buildOn('runner-a', '1.0.0');

    const store = await openStore(storeSpec(), { cwd: work.dir });
    const entries = await Promise.all(first.layers.map((l) => store.getJson(`${sharedLayerPrefix(l.key)}metadata.json`)));
    expect(packerRuns(record)).toEqual(['build base', 'build driver', 'build runtime', 'build frameworks', 'build validation', 'build seal']);
    expect(entries.map((e) => (e?.value as { layer: string } | undefined)?.layer)).toEqual(['base', 'driver', 'runtime', 'frameworks', 'validation']);
    expect(first.notices.filter((n) => /^shared cache: \w+ [0-9a-f]{12} pushed/.test(n))).toHaveLength(5);
  });

  it('lets a fresh runner with the same build key reuse every layer: only the seal runs, and the manifest names the same layers', async () => {
    const report = await buildOn('runner-b', '1.0.0');

    const manifest = JSON.parse(readFileSync(report.manifestPath, 'utf8')) as { layers: { key: string }[] };
    expect(packerRuns(record)).toEqual(['build seal']);
    expect(report.layers.map((l) => l.action)).toEqual(['reused', 'reused', 'reused', 'reused', 'reused']);
    expect(manifest.layers.map((l) => l.key)).toEqual(first.layers.map((l) => l.key));
    expect(await localLayers('runner-b')).toEqual(first.layers.map((l) => l.key).sort());
  });

  it('gives a runner with its own build key its own layer keys: nothing it cannot log in to is pulled', async () => {
    const report = await buildOn('runner-c', '1.0.0', { sharedKey: false });

    expect(packerRuns(record)).toEqual(['build base', 'build driver', 'build runtime', 'build frameworks', 'build validation', 'build seal']);
    expect(report.layers.map((l) => l.key).some((k) => first.layers.some((f) => f.key === k))).toBe(false);
  });

  it('refuses a corrupted shared layer before it enters the cache, and builds it and those above it locally', async () => {
    const runtime = first.layers.find((l) => l.layer === 'runtime')!;
    const store = await openStore(storeSpec(), { cwd: work.dir });
    const pushId = ((await store.getJson(`${sharedLayerPrefix(runtime.key)}metadata.json`))!.value as { push_id: string }).push_id;
    const object = s3.objectFile(`team/${sharedFileKey(runtime.key, pushId, 'layer', 'layer.qcow2')}`);
    const handle = await open(object, 'r+');
    const byte = Buffer.alloc(1);
    await handle.read(byte, 0, 1, 200);
    await handle.write(Buffer.from([byte[0]! ^ 0xff]), 0, 1, 200);
    await handle.close();

    const report = await buildOn('runner-d', '1.0.0');

    expect(packerRuns(record)).toEqual(['build runtime', 'build frameworks', 'build validation', 'build seal']);
    expect(report.layers.map((l) => l.action)).toEqual(['reused', 'reused', 'built', 'built', 'built']);
    expect(report.notices.find((n) => n.includes('SHA-256'))).toMatch(/^shared cache: .*layer\.qcow2: SHA-256 [0-9a-f]{64}, expected [0-9a-f]{64}; the shared layer [0-9a-f]{12} was not used; building it locally$/);
    expect((await readdir(join(work.dir, 'runner-d', 'cache', 'layers'))).filter((n) => n.startsWith('.'))).toEqual([]);
  });

  it('never writes the S3 secret or the private build key into the runner directories', async () => {
    const privateKey = readFileSync(sharedKey, 'utf8').split('\n').slice(1, -2).join('');
    const runner = join(work.dir, 'runner-b');
    // Everything but the cache's own copy of the key (keys/build_ed25519, mode 0600, where ssh needs it).
    const grep = spawnSync('grep', ['-rlF', '--exclude=build_ed25519', '-e', s3.secretAccessKey, '-e', privateKey.slice(0, 40), runner], { encoding: 'utf8' });
    expect(grep.status).toBe(1); // 1: no match; 0 would list the files
    expect(grep.stdout).toBe('');
  });
});
