import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { buffer } from 'node:stream/consumers';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { publishRelease } from '../src/app/release-publish.js';
import { readReleaseIndex } from '../src/app/release-store.js';
import { openStore } from '../src/adapters/store/open-store.js';
import type { ArtifactStore } from '../src/adapters/store/types.js';
import { testSigningPair } from './helpers/signing.js';
import type { StoreSpec } from '../src/core/spec/schema.js';
import { writeLocalRelease, writeReleaseProject } from './helpers/local-release.js';
import { sha256Of, startReleaseCli } from './helpers/release-project.js';
import { useS3Server } from './helpers/use-s3-server.js';
import { DEMO_NAME } from './helpers/spec-builders.js';
import { useTempDir } from './helpers/temp-dir.js';

// Old clients keep working: a manifest in the store with fields a newer imagebuild added is read by
// list, diff, rollback, download and the next publish's bump check, which drop what they do not know
// and validate the rest as strictly as ever; fields added to releases.json are read past and kept.

const s3 = useS3Server();

describe.each(['s3', 'filesystem'] as const)('stored manifests from a newer imagebuild (%s store)', (kind) => {
  const temp = useTempDir(`imagebuild-release-compat-${kind}-`);
  const cli = (...args: string[]) => startReleaseCli([...args, '--spec', 'box.yaml'], temp.dir, s3.credentialsEnv);

  it('list, diff, rollback, download and publish read them; a known field that is wrong is still refused', async () => {
    const storeSpec: StoreSpec = kind === 's3' ? s3.storeSpec('compat') : { kind: 'filesystem', dir: 'store' };
    if (kind === 'filesystem') await mkdir(join(temp.dir, 'store'), { recursive: true });
    const { outputRoot } = await writeReleaseProject(temp.dir, storeSpec);
    const store = await openStore(storeSpec, { cwd: temp.dir });
    const built: Record<string, string> = {};
    for (const version of ['1.0.0', '1.0.1']) {
      built[version] = (await writeLocalRelease(outputRoot, version)).manifest.checksum_sha256;
      await publishRelease({ specArg: 'box.yaml', cwd: temp.dir, version, store });
    }
    const { index } = await readReleaseIndex(store, DEMO_NAME);
    for (const record of index.releases) {
      const manifest = (await store.getJson(record.manifest_key))!.value as Record<string, unknown> & { host: Record<string, unknown>; layers: { gate: Record<string, unknown> }[] };
      await store.putJson(record.manifest_key, { ...manifest, attestation: { kind: 'sigstore' }, host: { ...manifest.host, cpu_model: 'EPYC' }, layers: manifest.layers.map((l) => ({ ...l, cache_hits: 3, gate: { ...l.gate, runner: 'gpu-01' } })) });
      await resign(store, record.manifest_key, record.sums_key);
    }
    // The index too: fields a newer imagebuild added are read past and kept by every write.
    const stored = (await store.getJson(`${DEMO_NAME}/releases.json`))!.value as { releases: Record<string, unknown>[] };
    await store.putJson(`${DEMO_NAME}/releases.json`, { ...stored, mirrors: ['s3://eu/images'], releases: stored.releases.map((r) => ({ ...r, signature: 'bundle' })) });
    await writeLocalRelease(outputRoot, '1.0.2');

    const list = await cli('list', '--json');
    const diff = await cli('diff', 'v1.0.0', 'v1.0.1');
    const rollback = await cli('rollback', '--to', 'v1.0.0');
    const download = await cli('download', 'v1.0.1', '--dest', 'dl', '--json');
    const publish = await cli('publish', 'v1.0.2', '--json');

    try {
      expect(list.exitCode).toBe(0);
      expect((JSON.parse(list.stdout) as { releases: { problem: string | null }[] }).releases.map((r) => r.problem)).toEqual([null, null]);
      expect(diff.exitCode).toBe(0);
      expect(rollback.exitCode).toBe(0);
      expect(download.exitCode, download.stderr).toBe(0);
      expect(await sha256Of(join(temp.dir, 'dl', `${DEMO_NAME}-v1.0.1.qcow2`))).toBe(built['1.0.1']);
      expect(publish.exitCode, publish.stderr).toBe(0);
      const after = (await store.getJson(`${DEMO_NAME}/releases.json`))!.value as { mirrors: string[]; releases: { version: string; signature?: string }[] };
      expect(after.mirrors).toEqual(['s3://eu/images']);
      expect(after.releases.map((r) => [r.version, r.signature])).toEqual([['1.0.0', 'bundle'], ['1.0.1', 'bundle'], ['1.0.2', undefined]]);

      const broken = index.releases[0]!;
      const manifest = (await store.getJson(broken.manifest_key))!.value as Record<string, unknown>;
      await store.putJson(broken.manifest_key, { ...manifest, os: 42 });
      const refused = await cli('list', '--json');
      expect((JSON.parse(refused.stdout) as { releases: { version: string; problem: string | null }[] }).releases.find((r) => r.version === '1.0.0')?.problem).toMatch(/image-manifest\.json: os: /);
    } finally {
      store.close();
    }
  }, 240_000);
});

/**
 * What the newer imagebuild that wrote such a manifest also writes: SHA256SUMS with the manifest's new
 * digest, signed again (with the test projects' key), so the release is consistent and signed.
 */
async function resign(store: ArtifactStore, manifestKey: string, sumsKey: string): Promise<void> {
  const manifestSha = createHash('sha256').update(await buffer(await store.getStream(manifestKey))).digest('hex');
  const sums = (await buffer(await store.getStream(sumsKey))).toString().replace(/^[0-9a-f]{64}(?= {2}image-manifest\.json$)/m, manifestSha);
  const dir = await mkdtemp(join(tmpdir(), 'imagebuild-resign-'));
  try {
    await writeFile(join(dir, 'SHA256SUMS'), sums);
    execFileSync('ssh-keygen', ['-q', '-Y', 'sign', '-f', testSigningPair().key, '-n', 'imagebuild-release', join(dir, 'SHA256SUMS')]);
    await store.delete([sumsKey, `${sumsKey}.sig`]);
    await store.putFile(sumsKey, join(dir, 'SHA256SUMS'));
    await store.putFile(`${sumsKey}.sig`, join(dir, 'SHA256SUMS.sig'));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
