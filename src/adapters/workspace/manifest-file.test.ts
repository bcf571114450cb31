import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { useTempDir } from '../../../test/helpers/temp-dir.js';
import { testManifest } from '../../../test/helpers/test-manifest.js';
import { ManifestInvalidError } from '../../errors/index.js';
import { readManifestFile, writeManifestFile } from './manifest-file.js';

const work = useTempDir('imagebuild-manifest-file-');

async function rejection(run: () => Promise<unknown>): Promise<Error> {
  return run().then(
    () => {
      throw new Error('expected readManifestFile to refuse the file');
    },
    (error: unknown) => error as Error,
  );
}

describe('readManifestFile, the one reader of image-manifest.json', () => {
  it('reads back what writeManifestFile wrote', async () => {
    const path = join(work.dir, 'image-manifest.json');
    await writeManifestFile(path, testManifest());

    expect(await readManifestFile(path)).toEqual(testManifest());
  });

  it('finds no manifest where there is no file, and none under a file that is not a directory (a note beside the releases)', async () => {
    await writeFile(join(work.dir, 'notes.txt'), 'not a release\n');

    expect(await readManifestFile(join(work.dir, 'v9.9.9', 'image-manifest.json'))).toBeUndefined();
    expect(await readManifestFile(join(work.dir, 'notes.txt', 'image-manifest.json'))).toBeUndefined();
  });

  it('names the file once and the problem, and with advice says what to do', async () => {
    const truncated = join(work.dir, 'truncated.json');
    const wrongType = join(work.dir, 'wrong-type.json');
    await writeFile(truncated, '{"name": "vau');
    await writeFile(wrongType, JSON.stringify({ ...testManifest(), size_bytes: 'big' }));

    const plain = await rejection(() => readManifestFile(wrongType));
    const advised = await rejection(() => readManifestFile(wrongType, 'move it away or restore it'));
    const notJson = await rejection(() => readManifestFile(truncated, 'move it away or restore it'));

    expect(plain).toBeInstanceOf(ManifestInvalidError);
    expect(plain.message).toMatch(new RegExp(`^${wrongType}: size_bytes: `));
    expect(advised.message).toMatch(new RegExp(`^${wrongType}: not a valid image manifest \\(size_bytes: .*\\); move it away or restore it$`));
    expect(notJson.message).toMatch(new RegExp(`^${truncated}: not JSON \\(truncated or damaged, 13 bytes: .*\\); move it away or restore it$`));
    expect([plain, advised, notJson].map((e) => e.message.split('image-manifest.json').length)).toEqual([1, 1, 1]);
  });
});
