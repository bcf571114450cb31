import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readdir, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildImage } from '../src/app/build/pipeline.js';
import { downloadRelease } from '../src/app/release-download.js';
import { pullLayer, pushLayer, sharedFileKey, sharedLayerPrefix } from '../src/app/release-layer-cache.js';
import { diffStoredReleases, listReleases } from '../src/app/release-list.js';
import { checkPublishable, publishRelease } from '../src/app/release-publish.js';
import { pruneReleases } from '../src/app/release-prune.js';
import { readReleaseIndex } from '../src/app/release-store.js';
import { openStore } from '../src/adapters/store/open-store.js';
import type { ArtifactStore } from '../src/adapters/store/types.js';
import type { StoreSpec } from '../src/core/spec/schema.js';
import { BumpMismatchError } from '../src/errors/index.js';
import { VersionExistsError } from '../src/errors/index.js';
import { FAKE_BIN, FAKE_BUILD_TOOLS } from './helpers/fake-tools.js';
import { deriveRelease, flipByte, readManifest, sha256Of, startReleaseCli } from './helpers/release-project.js';
import { waitForSize } from './helpers/wait.js';
import { startS3Server, type TestS3Server } from './helpers/s3-server.js';
import { DEMO_NAME, smallDemoSpec } from './helpers/spec-builders.js';
import { makeTempDir } from './helpers/temp-dir.js';
import { requireTools } from './helpers/require-tools.js';
import { TEST_SIGNER, writeTestSigning } from './helpers/signing.js';

// Releases end to end against a real S3-protocol server (s3rver on 127.0.0.1) and a filesystem
// store, with release directories made by the real build engine (fake packer, real qemu-img).

const hasBuildTools = requireTools('test/release.test.ts', ...FAKE_BUILD_TOOLS);

const MIB = 1024 * 1024;

let s3: TestS3Server;
const savedEnv = { ...process.env };
/** Everything every release CLI process printed, for the credentials check. */
const transcripts: string[] = [];

beforeAll(async () => {
  s3 = await startS3Server();
  // The SDK's default credential chain reads the environment, for in-process calls as for the CLI.
  Object.assign(process.env, credentialsEnv());
  delete process.env.AWS_ENDPOINT_URL;
  delete process.env.AWS_REGION;
});
afterAll(async () => {
  process.env = savedEnv;
  await s3.close();
});

function credentialsEnv(): Record<string, string> {
  return s3.credentialsEnv;
}

type Kind = 's3' | 'filesystem';

describe.skipIf(!hasBuildTools).each<Kind>(['s3', 'filesystem'])('releases in a %s store', (kind) => {
  let work: { dir: string; cleanup: () => Promise<void> };
  let outputRoot: string;
  let storeSpec: StoreSpec;
  let store: ArtifactStore;
  const key = (rest: string) => `${DEMO_NAME}/${rest}`;
  /** The file holding a stored object's bytes on this machine (to corrupt it). */
  const storedFile = (k: string) => (kind === 's3' ? s3.objectFile(`${kind}-team/${k}`) : join(work.dir, 'release-store', k));
  const run = async (command: string, ...args: string[]) => {
    const result = await startReleaseCli([command, '--spec', 'box.yaml', ...args], work.dir, credentialsEnv());
    transcripts.push(result.stdout, result.stderr);
    return result;
  };
  const options = { specArg: 'box.yaml' } as const;
  const specText = (changes: [readonly (string | number)[], unknown][] = []) =>
    smallDemoSpec([[['artifacts'], { store: storeSpec, retention: 3, signing: writeTestSigning(work.dir) }], ...changes]);

  beforeAll(async () => {
    work = await makeTempDir(`imagebuild-release-${kind}-`);
    outputRoot = join(work.dir, 'output', DEMO_NAME);
    storeSpec =
      kind === 's3'
        ? s3.storeSpec(`${kind}-team`)
        : { kind: 'filesystem', dir: 'release-store' };
    await writeFile(join(work.dir, 'box.yaml'), specText());
    // The first publish creates a filesystem store's directory; this test opens the store before it.
    if (kind === 'filesystem') await mkdir(join(work.dir, 'release-store'), { recursive: true });
    const path = process.env.PATH;
    process.env.PATH = `${FAKE_BIN}:${path}`;
    try {
      await buildImage({ specArg: 'box.yaml', version: '1.0.0', cwd: work.dir, hostProfile: 'cpu', renderer: 'silent', skipVerify: true, signal: new AbortController().signal });
    } finally {
      process.env.PATH = path;
    }
    store = await openStore(storeSpec, { cwd: work.dir, createMissing: true });
  });
  afterAll(async () => {
    store.close();
    await work.cleanup();
  });

  it('publishes the first release: image, then manifest, then the index with current, and links output/<name>/current', async () => {
    let indexWrites = 0;
    const { store: recording, calls } = recordingStore(store, async (call) => {
      // When the index is written (after the empty one a first publish creates), everything it points at must already be complete.
      if (call === `putJson ${key('releases.json')}` && indexWrites++ > 0) {
        const uploaded = (await store.list(key('v1.0.0/'))).map((o) => o.key.split('/').at(-1));
        expect(uploaded.sort()).toEqual(['SHA256SUMS', 'SHA256SUMS.sig', `${DEMO_NAME}-v1.0.0.qcow2`, 'image-manifest.json', 'provenance.intoto.json', 'sbom.cdx.json', 'spec.json'].sort());
      }
    });
    const progress: number[] = [];

    const report = await publishRelease({ ...options, cwd: work.dir, version: '1.0.0', store: recording, onProgress: (p) => progress.push(p.bytes) });

    const { index } = await readReleaseIndex(store, DEMO_NAME);
    const dir = index.releases[0]!.manifest_key.replace(/\/image-manifest\.json$/, '');
    expect(dir).toMatch(new RegExp(`^${key('v1\\.0\\.0')}/\\d{8}T\\d{6}Z-[0-9a-f]{8}$`));
    expect(calls.filter((c) => c.startsWith('put'))).toEqual([
      `putJson ${key('releases.json')}`,
      `putFile ${dir}/${DEMO_NAME}-v1.0.0.qcow2`,
      `putFile ${dir}/SHA256SUMS`,
      `putFile ${dir}/SHA256SUMS.sig`,
      `putJson ${dir}/spec.json`,
      `putFile ${dir}/sbom.cdx.json`,
      `putFile ${dir}/provenance.intoto.json`,
      `putFile ${dir}/image-manifest.json`,
      `putJson ${key('releases.json')}`,
    ]);
    expect(report).toMatchObject({ version: '1.0.0', current: true, specStored: true, bump: { actual: 'initial' }, signedBy: expect.stringMatching(/^SHA256:/) });
    expect(progress.at(-1)).toBe((await readManifest(outputRoot, '1.0.0')).size_bytes);
    expect(index.current).toMatchObject({ version: '1.0.0', reason: 'publish' });
    expect(index.releases.map((r) => [r.version, r.gate_status, r.sha256])).toEqual([['1.0.0', 'passed', (await readManifest(outputRoot, '1.0.0')).checksum_sha256]]);
    expect(await readlink(join(outputRoot, 'current'))).toBe('v1.0.0');
  });

  it('refuses a version the store already lists', async () => {
    const objects = await store.list(key('v1.0.0/'));

    const again = publishRelease({ ...options, cwd: work.dir, version: '1.0.0' });

    await expect(again).rejects.toBeInstanceOf(VersionExistsError);
    await expect(again).rejects.toThrow(/v1\.0\.0 was published in .* by .*; versions are immutable/);
    expect(await store.list(key('v1.0.0/'))).toEqual(objects);
  });

  it('lists nothing new while a publish is incomplete, leaves none of its objects, and the next publish of that version works', async () => {
    await deriveRelease(outputRoot, '1.0.0', '1.0.1', () => ({ kernel: '6.8.0-60-generic' }));
    const { store: failing } = recordingStore(store, async (call) => {
      if (/^put(?:File|Json) .*\/v1\.0\.1\/.*\/image-manifest\.json$/.test(call)) throw new Error('network cable pulled');
    });

    const interrupted = publishRelease({ ...options, cwd: work.dir, version: '1.0.1', store: failing });

    await expect(interrupted).rejects.toThrow('network cable pulled');
    expect((await listReleases({ ...options, cwd: work.dir })).releases.map((r) => r.version)).toEqual(['1.0.0']);
    expect(await store.list(key('v1.0.1/'))).toEqual([]);

    const report = await publishRelease({ ...options, cwd: work.dir, version: '1.0.1' });

    expect(report.notices).toEqual([]);
    expect(report.bump).toMatchObject({ from: '1.0.0', actual: 'patch', required: 'patch' });
    expect((await readReleaseIndex(store, DEMO_NAME)).index.current?.version).toBe('1.0.1');
  });

  it('refuses a bump that does not fit the changes, naming the change, and records an override', async () => {
    await deriveRelease(outputRoot, '1.0.1', '1.0.2', (m) => ({ frameworks: { ...m.frameworks, vllm: '0.11.0' } }));
    await deriveRelease(outputRoot, '1.0.1', '1.1.0', (m) => ({ frameworks: { ...m.frameworks, vllm: '0.11.0' } }));
    await deriveRelease(outputRoot, '1.1.0', '2.0.0', () => ({ kernel: '6.8.0-61-generic' }));
    await deriveRelease(outputRoot, '1.1.0', '1.1.1', () => ({ os: 'Ubuntu 26.04 LTS' }));

    const patchForMinor = publishRelease({ ...options, cwd: work.dir, version: '1.0.2' });
    await expect(patchForMinor).rejects.toBeInstanceOf(BumpMismatchError);
    await expect(publishRelease({ ...options, cwd: work.dir, version: '1.0.2' })).rejects.toThrow(
      /v1\.0\.1 → v1\.0\.2 is a PATCH bump, but frameworks\.vllm 0\.10\.1 → 0\.11\.0: MINOR .*publish it as v1\.1\.0/,
    );
    const minor = await publishRelease({ ...options, cwd: work.dir, version: '1.1.0' });
    await expect(publishRelease({ ...options, cwd: work.dir, version: '2.0.0' })).rejects.toThrow(/is a MAJOR bump, but only an OS distro\/release or architecture change/);
    await expect(publishRelease({ ...options, cwd: work.dir, version: '1.1.1' })).rejects.toThrow(/os Ubuntu 24\.04\.3 LTS → Ubuntu 26\.04 LTS: MAJOR \(OS release change\).*publish it as v2\.0\.0/);
    const overridden = await publishRelease({ ...options, cwd: work.dir, version: '1.1.1', allowBumpMismatch: 'customer pinned to 1.x; approved by ops' });

    const stored = (await store.getJson((await readReleaseIndex(store, DEMO_NAME)).index.releases.find((r) => r.version === '1.1.1')!.manifest_key))!.value as { version_override?: string };
    expect(minor.bump).toMatchObject({ actual: 'minor', required: 'minor' });
    expect(overridden.bump).toMatchObject({ actual: 'patch', required: 'major', override: 'customer pinned to 1.x; approved by ops' });
    expect(stored.version_override).toBe('customer pinned to 1.x; approved by ops');
    expect((await readManifest(outputRoot, '1.1.1')).version_override).toBe('customer pinned to 1.x; approved by ops');
    expect((await readReleaseIndex(store, DEMO_NAME)).index.releases.find((r) => r.version === '1.1.1')?.bump.override).toBe('customer pinned to 1.x; approved by ops');
    await rm(join(outputRoot, 'v1.0.2'), { recursive: true });
    await rm(join(outputRoot, 'v2.0.0'), { recursive: true });
  });

  it('lists releases newest first with their facts and the current one marked (CLI)', async () => {
    const text = await run('list');
    const json = await run('list', '--json');

    const listing = JSON.parse(json.stdout) as { current: { version: string }; releases: { version: string; current: boolean; frameworks: { vllm: string }; problem: string | null }[] };
    expect(text.exitCode).toBe(0);
    expect(text.stdout).toMatch(/^\* v1\.1\.1 +\d{4}-\d\d-\d\d +384\.0 KiB +570\.172\.08 +12\.8\.1 +pytorch 2\.7\.1\+cu128, tensorflow 2\.19\.0, vllm 0\.11\.0 +passed, GPU checks skipped, bump overridden$/m);
    expect(text.stdout).toContain('current v1.1.1');
    expect(listing.releases.map((r) => [r.version, r.current])).toEqual([
      ['1.1.1', true],
      ['1.1.0', false],
      ['1.0.1', false],
      ['1.0.0', false],
    ]);
    expect(listing.releases.every((r) => r.problem === null)).toBe(true);
  });

  it('diffs two releases as release notes, text and JSON', async () => {
    const text = await run('diff', 'v1.0.0', 'v1.1.0');
    const diff = await diffStoredReleases({ ...options, cwd: work.dir, from: '1.0.0', to: 'current' });

    expect(text.exitCode).toBe(0);
    expect(text.stdout).toMatch(/^ {2}kernel +6\.8\.0-45-generic → 6\.8\.0-60-generic$/m);
    expect(text.stdout).toMatch(/^ {2}frameworks\.vllm +0\.10\.1 → 0\.11\.0$/m);
    expect(text.stdout).toContain('semver: a MINOR bump; the image changes alone require MINOR');
    expect(diff.fields.filter((f) => f.changed).map((f) => f.field)).toEqual(['os', 'kernel', 'frameworks.vllm']);
    expect(diff.bump).toMatchObject({ actual: 'minor', required: 'major' });
  });

  it('downloads a release with progress, verified against its manifest, with the manifest beside it (CLI)', async () => {
    const result = await run('download', 'v1.0.0', '--dest', 'dl');
    const current = await run('download', 'current');

    const manifest = await readManifest(outputRoot, '1.0.0');
    expect(result.exitCode).toBe(0);
    expect(result.stderr).toMatch(new RegExp(`^download ${manifest.artifact}  384\\.0 KiB / 384\\.0 KiB  100%  .*/s  ETA 0s$`, 'm'));
    expect(result.stdout).toContain('(verified against the manifest)');
    expect(await sha256Of(join(work.dir, 'dl', manifest.artifact))).toBe(manifest.checksum_sha256);
    expect(JSON.parse(await readFile(join(work.dir, 'dl/image-manifest.json'), 'utf8'))).toEqual(manifest);
    // What customers check by hand, with the tools they have: the signature, then every file SHA256SUMS lists.
    expect(result.stdout).toContain(`signature verified: SHA256SUMS.sig by ${TEST_SIGNER} (SHA256:`);
    const command = /^ {4}(ssh-keygen -Y verify .*)$/m.exec(result.stdout)?.[1];
    expect(command).toContain(`-I ${TEST_SIGNER} -n imagebuild-release -s SHA256SUMS.sig < SHA256SUMS`);
    expect(execFileSync('sh', ['-c', command!], { cwd: join(work.dir, 'dl'), encoding: 'utf8' })).toContain(`Good "imagebuild-release" signature for ${TEST_SIGNER}`);
    expect(execFileSync('sha256sum', ['--strict', '-c', 'SHA256SUMS'], { cwd: join(work.dir, 'dl'), encoding: 'utf8' }).trim().split('\n')).toEqual(
      [manifest.artifact, 'sbom.cdx.json', 'provenance.intoto.json', 'image-manifest.json'].map((f) => `${f}: OK`),
    );
    expect(JSON.parse(await readFile(join(work.dir, 'dl/download.json'), 'utf8'))).toMatchObject({ version: '1.0.0', signature: { status: 'verified', principal: TEST_SIGNER } });
    expect(current.exitCode).toBe(0);
    expect(existsSync(join(work.dir, `${DEMO_NAME}-v1.1.1`, `${DEMO_NAME}-v1.1.1.qcow2`))).toBe(true);
  });

  it('resumes a download whose process was killed mid-way, and verifies the whole image', async () => {
    const big = await deriveRelease(outputRoot, '1.1.1', '1.2.0', () => ({}), 48 * MIB);
    await publishRelease({ ...options, cwd: work.dir, version: '1.2.0' });
    const part = join(work.dir, 'big', `${big.artifact}.part`);

    const child = startReleaseCli(['download', 'v1.2.0', '--spec', 'box.yaml', '--dest', 'big', '--limit-rate', '16M'], work.dir, credentialsEnv());
    const partial = await waitForSize(part, 4 * MIB, 30_000);
    child.kill('SIGKILL');
    const killed = await child;
    transcripts.push(killed.stdout, killed.stderr);

    expect(killed.signal).toBe('SIGKILL');
    expect(partial).toBeLessThan(big.size_bytes);
    expect(existsSync(join(work.dir, 'big', big.artifact))).toBe(false);

    const resumed = await run('download', 'v1.2.0', '--dest', 'big');

    expect(resumed.exitCode).toBe(0);
    expect(resumed.stderr).toMatch(/^hash .*\.part \(resumed part\) /m);
    expect(resumed.stdout).toMatch(/resumed at \d/);
    expect(await sha256Of(join(work.dir, 'big', big.artifact))).toBe(big.checksum_sha256);
    expect((await readdir(join(work.dir, 'big'))).sort()).toEqual(['SHA256SUMS', 'SHA256SUMS.sig', big.artifact, 'download.json', 'image-manifest.json', 'provenance.intoto.json', 'sbom.cdx.json'].sort());
  });

  it('detects a corrupted stored image: no file under the final name, and says so', async () => {
    const artifactKey = (await readReleaseIndex(store, DEMO_NAME)).index.releases.find((r) => r.version === '1.0.1')!.artifact_key;
    await flipByte(storedFile(artifactKey), 1000);

    try {
      const result = await run('download', 'v1.0.1', '--dest', 'corrupt');

      expect(result.exitCode).toBe(1);
      expect(result.stderr).toMatch(/verification failed: SHA-256 [0-9a-f]{64}, expected [0-9a-f]{64}; the partial download was removed and nothing was written under vault-cube-demo-box-v1\.0\.1\.qcow2/);
      expect(await readdir(join(work.dir, 'corrupt'))).toEqual([]);
    } finally {
      await flipByte(storedFile(artifactKey), 1000);
    }
  });

  it('rolls current back to an earlier release in the store and locally, recording who and when (CLI)', async () => {
    const before = Date.now();

    const result = await run('rollback', '--to', 'v1.0.1', '--reason', 'vllm regression in 1.2.0');
    const missing = await run('rollback', '--to', 'v9.9.9');

    const { index } = await readReleaseIndex(store, DEMO_NAME);
    const last = index.history.at(-1)!;
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain('current is now v1.0.1');
    expect(index.current?.version).toBe('1.0.1');
    expect(last).toMatchObject({ version: '1.0.1', previous: '1.2.0', set_by: `${process.env.USER ?? 'tester'}@${hostname()}`, reason: 'vllm regression in 1.2.0' });
    expect(Date.parse(last.set_at)).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000);
    expect(await readlink(join(outputRoot, 'current'))).toBe('v1.0.1');
    expect(missing.exitCode).toBe(2);
    expect(missing.stderr).toMatch(/no release v9\.9\.9; published: v1\.0\.0, v1\.0\.1, v1\.1\.0, v1\.1\.1, v1\.2\.0/);
  });

  it('refuses to make a release current whose gates failed', async () => {
    const stored = (await store.getJson(key('releases.json')))!;
    const index = stored.value as { releases: { version: string; gate_status: string }[] };
    await store.putJson(key('releases.json'), { ...index, releases: index.releases.map((r) => (r.version === '1.1.0' ? { ...r, gate_status: 'failed' } : r)) });

    try {
      const result = await run('rollback', '--to', 'v1.1.0');

      expect(result.exitCode).toBe(2);
      expect(result.stderr).toContain('v1.1.0 failed its gates');
      expect((await readReleaseIndex(store, DEMO_NAME)).index.current?.version).toBe('1.0.1');
    } finally {
      await store.putJson(key('releases.json'), stored.value);
    }
  });

  it('prunes beyond the newest 3, never the current one: a dry run first, then --yes', async () => {
    const dryRun = await pruneReleases({ ...options, cwd: work.dir, apply: false });
    const storedBefore = await store.list(`${DEMO_NAME}/v1.0.0/`);

    const applied = await run('prune', '--yes');

    expect(dryRun.store?.removed.map((r) => r.version)).toEqual(['1.0.0']);
    expect(dryRun.store?.kept.map((r) => r.version)).toEqual(['1.2.0', '1.1.1', '1.1.0', '1.0.1']);
    expect(dryRun.local.removed.map((r) => r.version)).toEqual(['1.0.0']);
    expect(storedBefore.length).toBe(7);
    expect(applied.exitCode).toBe(0);
    expect(applied.stdout).toMatch(/removed v1\.0\.0 .*older than the newest 3/);
    expect(applied.stdout).toMatch(/keep {3}v1\.0\.1 {2}\(current \(never pruned\)\)/);
    expect(await store.list(`${DEMO_NAME}/v1.0.0/`)).toEqual([]);
    expect((await readReleaseIndex(store, DEMO_NAME)).index.releases.map((r) => r.version)).toEqual(['1.0.1', '1.1.0', '1.1.1', '1.2.0']);
    expect(existsSync(join(outputRoot, 'v1.0.0'))).toBe(false);
    expect(existsSync(join(outputRoot, 'v1.0.1'))).toBe(true);
  });

  it('shares layer-cache entries: pushed data first and metadata last, pulled only when every SHA-256 matches', async () => {
    const cacheDir = join(work.dir, '.imagebuild/cache');
    const keys = (await readManifest(outputRoot, '1.0.1')).layers.map((l) => l.key);
    const otherCache = join(work.dir, 'other-cache');
    await mkdir(otherCache, { recursive: true });

    const pushed = await Promise.all(keys.map((k) => pushLayer({ store, cacheDir, key: k })));
    const again = await pushLayer({ store, cacheDir, key: keys[0]! });
    const pulled = await pullLayer({ store, cacheDir: otherCache, key: keys[0]! });

    expect(pushed.map((p) => p.status)).toEqual(keys.map(() => 'pushed'));
    expect(again.status).toBe('present');
    expect(pulled).toMatchObject({ status: 'pulled', files: pushed[0]!.files });
    for (const file of ['entry.json', 'layer.qcow2']) {
      expect(await sha256Of(join(otherCache, 'layers', keys[0]!, file))).toBe(await sha256Of(join(cacheDir, 'layers', keys[0]!, file)));
    }

    // A corrupted remote file is caught before the entry exists locally.
    const pushId = ((await store.getJson(`${sharedLayerPrefix(keys[1]!)}metadata.json`))!.value as { push_id: string }).push_id;
    const remoteImage = sharedFileKey(keys[1]!, pushId, 'layer', 'layer.qcow2');
    await flipByte(storedFile(remoteImage), 10);
    await expect(pullLayer({ store, cacheDir: otherCache, key: keys[1]! })).rejects.toThrow(/SHA-256 [0-9a-f]{64}, expected [0-9a-f]{64}; the shared layer .* was not used/);
    expect((await readdir(join(otherCache, 'layers'))).sort()).toEqual([keys[0]!]);
    await flipByte(storedFile(remoteImage), 10);

    // A runner that lost the race to push the same key keeps nothing of its own push.
    const raced = await pushLayer({ store: { ...store, head: async () => undefined }, cacheDir, key: keys[0]! });
    const firstPush = ((await store.getJson(`${sharedLayerPrefix(keys[0]!)}metadata.json`))!.value as { push_id: string }).push_id;
    expect(raced.status).toBe('present');
    expect((await store.list(sharedLayerPrefix(keys[0]!))).filter((o) => !o.key.includes(firstPush) && !o.key.endsWith('/metadata.json'))).toEqual([]);

    // An entry whose metadata was never written (an interrupted push) does not exist for readers.
    await store.delete([`${sharedLayerPrefix(keys[2]!)}metadata.json`]);
    expect((await pullLayer({ store, cacheDir: otherCache, key: keys[2]! })).status).toBe('absent');
  });

  it('checks before a build that the version is free and the spec change fits the bump', async () => {
    await writeFile(join(work.dir, 'no-vllm.yaml'), specText([[['layers', 'frameworks', 'vllm'], undefined]]));

    const free = await checkPublishable({ ...options, cwd: work.dir, version: '1.2.1' });
    const taken = checkPublishable({ ...options, cwd: work.dir, version: '1.2.0' });
    const removal = checkPublishable({ specArg: 'no-vllm.yaml', cwd: work.dir, version: '1.3.0' });

    expect(free).toMatchObject({ previous: '1.2.0', changes: [] });
    await expect(taken).rejects.toBeInstanceOf(VersionExistsError);
    await expect(removal).rejects.toThrow(/spec layers\.frameworks\.vllm \{.*\} → \(none\): MAJOR \(framework vllm removed .*publish it as v2\.0\.0/);
  });

  it('downloads in-process with a progress callback that carries rate and ETA', async () => {
    const events: { bytes: number; rate: number; etaS: number | null; done: boolean }[] = [];

    const report = await downloadRelease({ ...options, cwd: work.dir, ref: '1.1.0', dest: 'inproc', onProgress: (p) => events.push(p) });
    const again = await downloadRelease({ ...options, cwd: work.dir, ref: '1.1.0', dest: 'inproc' });

    expect(report.status).toBe('downloaded');
    expect(events.at(-1)).toMatchObject({ bytes: report.bytes, done: true, etaS: 0 });
    expect(events.at(-1)!.rate).toBeGreaterThan(0);
    expect(again.status).toBe('already-present');
  });

  it('never shows the credentials in any output, nor writes them into any file', async () => {
    const files = await readTree(kind === 's3' ? [work.dir, s3.dir] : [work.dir]);

    const leaks = [...transcripts, ...files.map((f) => f.text)].filter((text) => text.includes(s3.secretAccessKey) || text.includes(s3.accessKeyId));

    expect(transcripts.length).toBeGreaterThan(10);
    expect(files.length).toBeGreaterThan(20);
    expect(leaks).toEqual([]);
  });
});

/** A store that records each call (`putFile <key>`, …) and runs `before` ahead of it. */
function recordingStore(store: ArtifactStore, before: (call: string) => Promise<void>): { store: ArtifactStore; calls: string[] } {
  const calls: string[] = [];
  const wrap =
    <A extends unknown[], R>(name: string, fn: (key: string, ...rest: A) => Promise<R>) =>
    async (key: string, ...rest: A): Promise<R> => {
      calls.push(`${name} ${key}`);
      await before(`${name} ${key}`);
      return fn(key, ...rest);
    };
  return {
    calls,
    store: {
      ...store,
      putFile: wrap('putFile', store.putFile),
      putJson: wrap('putJson', store.putJson),
      getJson: wrap('getJson', store.getJson),
      head: wrap('head', store.head),
      close: () => {},
    },
  };
}

async function readTree(dirs: readonly string[]): Promise<{ path: string; text: string }[]> {
  const out: { path: string; text: string }[] = [];
  for (const dir of dirs) {
    for (const name of (await readdir(dir, { recursive: true }).catch(() => [])).map(String)) {
      const path = join(dir, name);
      try {
        const bytes = readFileSync(path);
        if (bytes.length < 8 * MIB) out.push({ path, text: bytes.toString('latin1') });
      } catch {
        // a directory or a vanished file
      }
    }
  }
  return out;
}
