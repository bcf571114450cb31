import { existsSync } from 'node:fs';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../../src/adapters/store/open-store.js';
import type { ArtifactStore } from '../../src/adapters/store/types.js';
import { StoreAccessError, StoreConflictError, StoreSettingsInvalidError } from '../../src/errors/index.js';
import { makePublishedRelease, runCli } from '../helpers/fault-harness.js';
import { startS3Server, type TestS3Server } from '../helpers/s3-server.js';
import { makeTempDir, type TempDir } from '../helpers/temp-dir.js';

// Rule 7 of issue 17, store side: a store location is what it says. An S3 prefix whose segments a
// path-normalising server would resolve elsewhere (`..`, `.`, empty, a leading /) is refused when the
// store is opened; a filesystem store whose directory is missing (an unmounted disk, a typo) is an
// error for every reader, never "no releases" — only a publish creates it.

/** The error `promise` rejects with (fails the test when it resolves). */
async function failureOf(promise: Promise<unknown>): Promise<Error> {
  return promise.then(
    () => {
      throw new Error('expected a failure');
    },
    (error: unknown) => error as Error,
  );
}

const s3Spec = (prefix: string) => ({ kind: 's3' as const, bucket: 'images', prefix, region: 'us-east-1', force_path_style: true, endpoint: 'http://127.0.0.1:9' });

describe('S3 prefixes', () => {
  it.each([
    ['..', 'has a ".." segment'],
    ['team/../other', 'has a ".." segment'],
    ['team/..', 'has a ".." segment'],
    ['./team', 'has a "." segment'],
    ['team/./x', 'has a "." segment'],
    ['team//x', 'has an empty segment (//)'],
    ['/team', 'starts with /'],
    ['//', 'starts with /'],
  ])('refuses %s when the store is opened, in one line naming it (exit 2)', async (prefix, why) => {
    const error = await failureOf(openStore(s3Spec(prefix), { cwd: '/', env: {} }));

    expect(error).toBeInstanceOf(StoreSettingsInvalidError);
    expect((error as StoreSettingsInvalidError).exitCode).toBe(2);
    expect(error.message).toBe(`S3 store prefix "${prefix}" ${why}; use /-separated names without . or .. segments, e.g. images/demo-box`);
  });

  it.each([
    ['team', 's3://images/team/'],
    ['team/images/', 's3://images/team/images/'],
    ['v1..2/a.b/.hidden', 's3://images/v1..2/a.b/.hidden/'],
    ['', 's3://images/'],
  ])('accepts %s', async (prefix, location) => {
    const store = await openStore(s3Spec(prefix), { cwd: '/', env: {} });
    store.close();

    expect(store.location).toBe(location);
  });
});

describe('a filesystem store whose directory is missing', () => {
  let temp: TempDir;
  let reader: ArtifactStore;
  let publisher: ArtifactStore;
  const missing = () => join(temp.dir, 'unmounted', 'releases');

  beforeAll(async () => {
    temp = await makeTempDir('imagebuild-store-missing-');
    reader = await openStore({ kind: 'filesystem', dir: 'unmounted/releases' }, { cwd: temp.dir });
    publisher = await openStore({ kind: 'filesystem', dir: 'unmounted/releases' }, { cwd: temp.dir, createMissing: true });
  });
  afterAll(async () => {
    await temp.cleanup();
  });

  it.each([
    ['getJson', () => reader.getJson('box/releases.json')],
    ['head', () => reader.head('box/v1.0.0/box.qcow2')],
    ['list', () => reader.list('box/')],
    ['list of everything', () => reader.list('')],
    ['getStream', () => reader.getStream('box/v1.0.0/box.qcow2')],
    ['copy', () => reader.copy('box/a', 'box/b')],
  ] as const)('is an error for %s that names the directory', async (_name, read) => {
    const error = await failureOf(read());

    expect(error).toBeInstanceOf(StoreAccessError);
    expect(error.message).toBe(`${missing()}: the store's directory does not exist; is its disk mounted, and is the spec's store dir right? (the first publish creates it)`);
    expect(existsSync(missing())).toBe(false);
  });

  it('is an empty store for a store opened to create it, and its first write creates it', async () => {
    const index = await publisher.getJson('box/releases.json');
    const listed = await publisher.list('box/');

    await publisher.putJson('box/releases.json', { n: 1 }, { ifAbsent: true });

    expect(index).toBeUndefined();
    expect(listed).toEqual([]);
    expect((await reader.getJson('box/releases.json'))?.value).toEqual({ n: 1 });
    expect(await reader.list('other/')).toEqual([]);
  });

  it('is an error when the path is a file', async () => {
    await writeFile(join(temp.dir, 'a-file'), 'not a directory');
    const store = await openStore({ kind: 'filesystem', dir: 'a-file' }, { cwd: temp.dir });

    const error = await failureOf(store.list('box/'));

    expect(error.message).toBe(`${join(temp.dir, 'a-file')}: the store's directory is not a directory; fix the spec's store dir`);
  });
});

describe('copy', () => {
  let s3: TestS3Server;
  let temp: TempDir;
  const savedEnv = { ...process.env };

  beforeAll(async () => {
    [s3, temp] = await Promise.all([startS3Server(), makeTempDir('imagebuild-store-copy-')]);
    Object.assign(process.env, s3.env);
  });
  afterAll(async () => {
    process.env = savedEnv;
    await Promise.all([s3.close(), temp.cleanup()]);
  });

  const backends = [
    { kind: 's3', open: () => openStore(s3.storeSpec('team'), { cwd: temp.dir, env: s3.env }) },
    { kind: 'filesystem', open: () => openStore({ kind: 'filesystem', dir: 'store' }, { cwd: temp.dir, createMissing: true }) },
  ] as const;

  describe.each(backends)('in a $kind store', ({ kind, open }) => {
    let store: ArtifactStore;
    beforeAll(async () => {
      store = await open();
    });
    afterAll(() => store.close());

    it('copies an object byte for byte, refuses an existing target with ifAbsent, and names a missing source', async () => {
      const source = join(temp.dir, `${kind}-source.bin`);
      await writeFile(source, Buffer.from('the image bytes'));
      await store.putFile('box/staging/box.qcow2', source);

      const copied = await store.copy('box/staging/box.qcow2', 'box/v1.0.0/box.qcow2', { ifAbsent: true });
      const again = await failureOf(store.copy('box/staging/box.qcow2', 'box/v1.0.0/box.qcow2', { ifAbsent: true }));
      const missing = await failureOf(store.copy('box/staging/none.qcow2', 'box/v1.0.1/box.qcow2'));

      expect(copied).toEqual({ size: 15 });
      expect(Buffer.concat(await (await store.getStream('box/v1.0.0/box.qcow2')).toArray()).toString()).toBe('the image bytes');
      expect(again).toBeInstanceOf(StoreConflictError);
      expect(again.message).toBe(`${store.describe('box/v1.0.0/box.qcow2')} already exists; it is not replaced`);
      expect(missing).toBeInstanceOf(StoreAccessError);
      expect(missing.message).toMatch(new RegExp(`^${store.describe('box/staging/none.qcow2').replaceAll('.', '\\.')}: cannot copy it to .*box/v1\\.0\\.1/box\\.qcow2`));
      expect(await store.head('box/v1.0.1/box.qcow2')).toBeUndefined();
    });
  });

  it('gives a filesystem copy its own file: never a hard link that a change to one release would change in the other', async () => {
    const store = await openStore({ kind: 'filesystem', dir: 'store' }, { cwd: temp.dir });
    const root = join(temp.dir, 'store');

    const [from, to] = await Promise.all([stat(join(root, 'box/staging/box.qcow2')), stat(join(root, 'box/v1.0.0/box.qcow2'))]);
    await writeFile(join(root, 'box/staging/box.qcow2'), 'changed');

    expect(to.ino).not.toBe(from.ino);
    expect(to.nlink).toBe(1);
    expect(await readFile(join(root, 'box/v1.0.0/box.qcow2'), 'utf8')).toBe('the image bytes');
    store.close();
  });
});

describe('the CLI with a filesystem store whose directory is missing', () => {
  let temp: TempDir;

  beforeAll(async () => {
    temp = await makeTempDir('imagebuild-store-missing-cli-');
    await makePublishedRelease(temp.dir, 64 * 1024, { kind: 'filesystem', dir: 'mnt/releases' });
  });
  afterAll(async () => {
    await temp.cleanup();
  });

  it.each([
    ['list', ['list']],
    ['download', ['download', 'current', '--dest', 'dl']],
    ['rollback', ['rollback', '--to', 'v1.0.0']],
    ['prune', ['prune', '--yes']],
  ])('refuses %s with one line naming the directory (exit 1), not "no releases"', async (_name, args) => {
    const result = await runCli([...args, '--spec', 'box.yaml'], temp.dir);

    expect(result.exitCode).toBe(1);
    expect(result.stderr.trim()).toBe(`error: ${join(temp.dir, 'mnt/releases')}: the store's directory does not exist; is its disk mounted, and is the spec's store dir right? (the first publish creates it)`);
    expect(existsSync(join(temp.dir, 'mnt'))).toBe(false);
  });

  it('lets the first publish create it, after which list finds the release', async () => {
    const published = await runCli(['publish', 'v1.0.0', '--spec', 'box.yaml'], temp.dir);
    const listed = await runCli(['list', '--spec', 'box.yaml'], temp.dir);

    expect(published.exitCode, published.stderr).toBe(0);
    expect(listed.exitCode, listed.stderr).toBe(0);
    expect(listed.stdout).toMatch(/^\* v1\.0\.0 /m);
  });

  it('refuses an S3 prefix with a .. segment before any request (exit 2)', async () => {
    await mkdir(join(temp.dir, 'escape'), { recursive: true });
    const spec = (await readFile(join(temp.dir, 'box.yaml'), 'utf8')).replace(/store:\n(\s+)kind: filesystem\n\s+dir: mnt\/releases/, 'store:\n$1kind: s3\n$1bucket: images\n$1prefix: team/../other\n$1endpoint: http://127.0.0.1:9');
    await writeFile(join(temp.dir, 'escape', 'box.yaml'), spec);

    const result = await runCli(['list', '--spec', 'escape/box.yaml'], temp.dir);

    expect(spec).toContain('prefix: team/../other');
    expect(result.exitCode).toBe(2);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toContain('team/../other');
  });
});
