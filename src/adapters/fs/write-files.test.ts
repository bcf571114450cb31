import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { listTree, useTempDir } from '../../../test/helpers/temp-dir.js';
import { RENDER_MARKER, replaceDirectory } from './write-files.js';

const work = useTempDir();
// Runs before useTempDir's removal (after-hooks run in reverse): a test may leave the directory read-only.
afterEach(() => chmod(work.dir, 0o755));

describe('replaceDirectory', () => {
  it('writes nested files and the marker into a new directory', async () => {
    const dir = join(work.dir, 'out');

    await replaceDirectory(dir, [{ path: 'a/b.txt', content: 'b' }, { path: 'c.txt', content: 'c' }]);

    expect(await listTree(dir)).toEqual([RENDER_MARKER, 'a', 'a/b.txt', 'c.txt']);
    expect(readFileSync(join(dir, 'a/b.txt'), 'utf8')).toBe('b');
  });

  it('replaces its own previous output completely, leaving no stale file or staging directory', async () => {
    const dir = join(work.dir, 'out');
    await replaceDirectory(dir, [{ path: 'old.txt', content: 'old' }]);

    await replaceDirectory(dir, [{ path: 'new.txt', content: 'new' }]);

    expect(await listTree(dir)).toEqual([RENDER_MARKER, 'new.txt']);
    expect(await listTree(work.dir)).toEqual(['out', `out/${RENDER_MARKER}`, 'out/new.txt']);
  });

  it('keeps the previous output when writing fails', async () => {
    const dir = join(work.dir, 'out');
    await replaceDirectory(dir, [{ path: 'keep.txt', content: 'keep' }]);

    const failing = replaceDirectory(dir, [{ path: 'x/../../../../escape\u0000.txt', content: 'bad' }]);

    await expect(failing).rejects.toThrow();
    expect(readFileSync(join(dir, 'keep.txt'), 'utf8')).toBe('keep');
    expect(await listTree(work.dir)).toEqual(['out', `out/${RENDER_MARKER}`, 'out/keep.txt']);
  });

  it('refuses a non-empty directory it did not write', async () => {
    const dir = join(work.dir, 'mine');
    await mkdir(dir);
    await writeFile(join(dir, 'data'), 'precious');

    await expect(replaceDirectory(dir, [{ path: 'a', content: 'a' }])).rejects.toThrow('exists and was not written by imagebuild');
    expect(existsSync(join(dir, 'data'))).toBe(true);
  });
});
