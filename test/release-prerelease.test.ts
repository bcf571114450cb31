import { mkdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { publishRelease } from '../src/app/release-publish.js';
import { readReleaseIndex } from '../src/app/release-store.js';
import { openStore } from '../src/adapters/store/open-store.js';
import type { StoreSpec } from '../src/core/spec/schema.js';
import { writeLocalRelease, writeReleaseProject } from './helpers/local-release.js';
import { startReleaseCli } from './helpers/release-project.js';
import { useS3Server } from './helpers/use-s3-server.js';
import { DEMO_NAME } from './helpers/spec-builders.js';
import { useTempDir } from './helpers/temp-dir.js';

// `current` is a deliberate choice: a prerelease (v1.1.0-rc.1) is published like any release but
// never made current — what customers' `download current` fetches — unless asked with
// `publish --make-current` or `rollback --to`.

const s3 = useS3Server();

describe.each(['s3', 'filesystem'] as const)('prereleases in a %s store', (kind) => {
  const temp = useTempDir(`imagebuild-release-prerelease-${kind}-`);
  let prefixCount = 0;

  async function project() {
    const storeSpec: StoreSpec = kind === 's3' ? s3.storeSpec(`pre-${++prefixCount}`) : { kind: 'filesystem', dir: 'store' };
    if (kind === 'filesystem') await mkdir(join(temp.dir, 'store'), { recursive: true });
    const { outputRoot } = await writeReleaseProject(temp.dir, storeSpec);
    const store = await openStore(storeSpec, { cwd: temp.dir });
    const publish = (version: string, makeCurrent?: boolean) => publishRelease({ specArg: 'box.yaml', cwd: temp.dir, version, store, makeCurrent });
    const current = async () => (await readReleaseIndex(store, DEMO_NAME)).index.current;
    return { store, outputRoot, publish, current };
  }

  it('publishes a release candidate without making it current, says how to, and a later stable version moves current on', async () => {
    const { store, outputRoot, publish, current } = await project();
    for (const version of ['1.0.0', '1.1.0-rc.1', '1.1.0']) await writeLocalRelease(outputRoot, version);
    await publish('1.0.0');

    const candidate = await publish('1.1.0-rc.1');

    try {
      expect(candidate.current).toBe(false);
      expect(candidate.notices.join('\n')).toContain('current stays at v1.0.0: v1.1.0-rc.1 is a prerelease, which never becomes current unless asked; make v1.1.0-rc.1 current with imagebuild rollback --to v1.1.0-rc.1 (or publish with --make-current)');
      expect((await current())?.version).toBe('1.0.0');
      expect(await readlink(join(outputRoot, 'current'))).toBe('v1.0.0');
      expect((await readReleaseIndex(store, DEMO_NAME)).index.releases.map((r) => r.version)).toEqual(['1.0.0', '1.1.0-rc.1']);

      const stable = await publish('1.1.0');

      expect(stable.current).toBe(true);
      expect(stable.bump).toMatchObject({ from: '1.1.0-rc.1' });
      expect((await current())?.version).toBe('1.1.0');
    } finally {
      store.close();
    }
  }, 120_000);

  it('a first release that is a prerelease leaves nothing current; --make-current (CLI) and rollback --to make one current when asked', async () => {
    const { store, outputRoot, publish, current } = await project();
    for (const version of ['2.0.0-rc.1', '2.0.0-rc.2']) await writeLocalRelease(outputRoot, version);

    await publish('2.0.0-rc.1');
    const nothing = await current();
    const asked = await startReleaseCli(['publish', 'v2.0.0-rc.2', '--make-current', '--spec', 'box.yaml', '--json'], temp.dir, s3.credentialsEnv);
    const afterAsked = await current();
    const rolledBack = await startReleaseCli(['rollback', '--to', 'v2.0.0-rc.1', '--spec', 'box.yaml'], temp.dir, s3.credentialsEnv);

    try {
      expect(nothing).toBeNull();
      expect(asked.exitCode).toBe(0);
      expect(JSON.parse(asked.stdout)).toMatchObject({ version: '2.0.0-rc.2', current: true });
      expect(afterAsked).toMatchObject({ version: '2.0.0-rc.2', reason: 'publish --make-current' });
      expect(rolledBack.exitCode).toBe(0);
      expect((await current())?.version).toBe('2.0.0-rc.1');
    } finally {
      store.close();
    }
  }, 120_000);
});
