import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { useTempDir } from '../../../test/helpers/temp-dir.js';
import { FileAccessError } from '../../errors/index.js';
import { sha256File } from './sha256.js';

const work = useTempDir('imagebuild-sha256-');

async function sha256sum(path: string): Promise<string> {
  const { stdout } = await execa('sha256sum', [path]);
  return stdout.split(' ')[0] ?? '';
}

describe('sha256File', () => {
  it('matches sha256sum on a multi-chunk file and reports progress up to its size', async () => {
    const path = join(work.dir, 'data.bin');
    const size = 9 * 1024 * 1024 + 123;
    await writeFile(path, randomBytes(size));
    const progress: number[] = [];

    const digest = await sha256File(path, { onProgress: (bytes) => progress.push(bytes) });

    expect(digest).toBe(await sha256sum(path));
    expect(progress.length).toBeGreaterThan(1);
    expect(progress.at(-1)).toBe(size);
  });

  it('matches sha256sum on an empty file', async () => {
    const path = join(work.dir, 'empty');
    await writeFile(path, '');

    const digest = await sha256File(path);

    expect(digest).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(digest).toBe(await sha256sum(path));
  });

  it('throws FileAccessError for a missing file', async () => {
    const path = join(work.dir, 'missing');

    const error = await sha256File(path).catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(FileAccessError);
    expect((error as Error).message).toBe(`${path}: cannot read to checksum it (ENOENT)`);
  });
});
