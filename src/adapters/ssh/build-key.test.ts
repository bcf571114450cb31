import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { useTempDir } from '../../../test/helpers/temp-dir.js';
import { cacheLayout } from '../workspace/cache-layout.js';
import { ensureBuildKey, ensureVerifyKey, readVerifyKeyFingerprint } from './build-key.js';

describe('the cache verification key', () => {
  const temp = useTempDir('imagebuild-keys-');

  it('is made once per cache beside the build key, private to its owner, and read back without being made again', async () => {
    const cache = join(temp.dir, 'cache');
    expect(await readVerifyKeyFingerprint(cache)).toBeUndefined();
    const build = await ensureBuildKey(cache, {});

    const first = await ensureVerifyKey(cache);
    const second = await ensureVerifyKey(cache);

    expect(first.privateKeyFile).toBe(cacheLayout(cache).verifyKey);
    expect(first.publicKey).toMatch(/^ssh-ed25519 \S+ imagebuild-verify-key$/);
    expect(first.fingerprint).not.toBe(build.fingerprint);
    expect(second.fingerprint).toBe(first.fingerprint);
    expect(await readVerifyKeyFingerprint(cache)).toBe(first.fingerprint);
    expect((await stat(first.privateKeyFile)).mode & 0o077).toBe(0);
    expect((await ensureBuildKey(cache, {})).fingerprint).toBe(build.fingerprint);
  });
});
