import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buffer } from 'node:stream/consumers';
import { describe, expect, it } from 'vitest';
import { publishRelease } from '../../src/app/release-publish.js';
import { readReleaseIndex } from '../../src/app/release-store.js';
import { openStore } from '../../src/adapters/store/open-store.js';
import type { ArtifactStore } from '../../src/adapters/store/types.js';
import type { StoreSpec } from '../../src/core/spec/schema.js';
import { ChecksumMismatchError } from '../../src/errors/index.js';
import { writeLocalRelease, writeReleaseProject } from '../helpers/local-release.js';
import { flipByte, startReleaseCli } from '../helpers/release-project.js';
import { useS3Server } from '../helpers/use-s3-server.js';
import { DEMO_NAME } from '../helpers/spec-builders.js';
import { useTempDir } from '../helpers/temp-dir.js';

// Rule: a release in the store always matches its manifest. Publish hashes the bytes it sends and
// compares them with the manifest's SHA-256; an image that changed after its build — before publish
// started, or while it uploads — is refused with one line, and the store lists nothing new.

const s3 = useS3Server();

describe.each(['s3', 'filesystem'] as const)('publish of a changed image (%s store)', (kind) => {
  const temp = useTempDir(`imagebuild-release-integrity-${kind}-`);
  let prefixCount = 0;
  const storeSpecOf = (): StoreSpec => (kind === 's3' ? s3.storeSpec(`integrity-${++prefixCount}`) : { kind: 'filesystem', dir: 'store' });

  async function project(): Promise<{ store: ArtifactStore; outputRoot: string; storeSpec: StoreSpec }> {
    const storeSpec = storeSpecOf();
    const { outputRoot } = await writeReleaseProject(temp.dir, storeSpec);
    if (storeSpec.kind === 'filesystem') await mkdir(join(temp.dir, storeSpec.dir), { recursive: true });
    return { store: await openStore(storeSpec, { cwd: temp.dir }), outputRoot, storeSpec };
  }

  it('refuses an image edited after its build: exit 1, one line, no release listed and no image left in the store', async () => {
    const { store, outputRoot } = await project();
    const { artifactPath } = await writeLocalRelease(outputRoot, '1.0.0');
    await flipByte(artifactPath, 4096);

    const result = await startReleaseCli(['publish', 'v1.0.0', '--spec', 'box.yaml', '--json'], temp.dir, s3.credentialsEnv);

    try {
      expect(result.exitCode).toBe(1);
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
      expect(result.stderr).toMatch(/no longer matches its manifest \(SHA-256 [0-9a-f]{64}, the manifest says [0-9a-f]{64}\).*nothing was published/);
      // The index a first publish creates before it uploads stays, listing nothing.
      expect((await store.getJson(`${DEMO_NAME}/releases.json`))?.value).toMatchObject({ releases: [], current: null });
      expect((await store.list('')).map((o) => o.key)).toEqual([`${DEMO_NAME}/releases.json`]);
    } finally {
      store.close();
    }
  }, 120_000);

  it('refuses an image that changes while it uploads (after every check before the upload passed), and keeps current where it was', async () => {
    const { store, outputRoot } = await project();
    await writeLocalRelease(outputRoot, '1.0.0');
    await publishRelease({ specArg: 'box.yaml', cwd: temp.dir, version: '1.0.0', store });
    const { artifactPath } = await writeLocalRelease(outputRoot, '1.0.1', { size: 3 * 1024 * 1024 });
    const indexBefore = (await store.getJson(`${DEMO_NAME}/releases.json`))!.value;
    const objectsBefore = await store.list(`${DEMO_NAME}/`);
    // The edit lands between publish's size check and the bytes leaving: as a VM booted in place would.
    const editing: ArtifactStore = {
      ...store,
      putFile: async (key, path, options) => {
        if (path === artifactPath) await flipByte(artifactPath, 2 * 1024 * 1024);
        return store.putFile(key, path, options);
      },
      close: () => {},
    };

    const publishing = publishRelease({ specArg: 'box.yaml', cwd: temp.dir, version: '1.0.1', store: editing });

    try {
      await expect(publishing).rejects.toBeInstanceOf(ChecksumMismatchError);
      await expect(publishing).rejects.toThrow(`${join(outputRoot, 'v1.0.1', `${DEMO_NAME}-v1.0.1.qcow2`)} no longer matches its manifest`);
      expect((await store.getJson(`${DEMO_NAME}/releases.json`))!.value).toEqual(indexBefore);
      expect(await store.list(`${DEMO_NAME}/`)).toEqual(objectsBefore);
    } finally {
      store.close();
    }
  }, 120_000);

  it('uploads the SBOM and provenance statement the manifest names beside it, proved the same way: an edited one is refused and nothing is listed', async () => {
    const { store, outputRoot } = await project();
    const sbom = JSON.stringify({ bomFormat: 'CycloneDX', specVersion: '1.6', components: [] });
    const provenance = JSON.stringify({ _type: 'https://in-toto.io/Statement/v1' });
    const digest = (text: string) => createHash('sha256').update(text).digest('hex');
    const files = { sbom: { file: 'sbom.cdx.json', sha256: digest(sbom) }, provenance: { file: 'provenance.intoto.json', sha256: digest(provenance) } };
    for (const version of ['1.0.0', '1.0.1']) {
      const { dir } = await writeLocalRelease(outputRoot, version, { manifest: files });
      await writeFile(join(dir, 'sbom.cdx.json'), sbom);
      await writeFile(join(dir, 'provenance.intoto.json'), provenance);
    }
    await writeFile(join(outputRoot, 'v1.0.1', 'sbom.cdx.json'), sbom.replace('[]', '[{"name":"backdoor"}]'));

    await publishRelease({ specArg: 'box.yaml', cwd: temp.dir, version: '1.0.0', store });
    const edited = publishRelease({ specArg: 'box.yaml', cwd: temp.dir, version: '1.0.1', store });

    try {
      const { index } = await readReleaseIndex(store, DEMO_NAME);
      const dir = index.releases[0]!.manifest_key.replace(/image-manifest\.json$/, '');
      expect((await buffer(await store.getStream(`${dir}sbom.cdx.json`))).toString()).toBe(sbom);
      expect((await buffer(await store.getStream(`${dir}provenance.intoto.json`))).toString()).toBe(provenance);
      await expect(edited).rejects.toThrow(/sbom\.cdx\.json no longer matches its manifest .*nothing was published/);
      expect((await readReleaseIndex(store, DEMO_NAME)).index.releases.map((r) => r.version)).toEqual(['1.0.0']);
      expect(await store.list(`${DEMO_NAME}/v1.0.1/`)).toEqual([]);
    } finally {
      store.close();
    }
  }, 120_000);
});
