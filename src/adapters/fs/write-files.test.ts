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

  it('replaces a file an earlier write listed even when this write no longer has it', async () => {
    const dir = join(work.dir, 'out');
    await replaceDirectory(dir, [{ path: 'gone/old.txt', content: 'old' }, { path: 'kept.txt', content: 'k' }]);

    await replaceDirectory(dir, [{ path: 'kept.txt', content: 'k2' }]);

    expect(await listTree(dir)).toEqual([RENDER_MARKER, 'kept.txt']);
  });

  it.each([
    ['a file beside its own', 'notes.txt'],
    ['a file in one of its subdirectories', 'a/notes.txt'],
    ['a directory of its own', 'mine/'],
  ])('refuses to replace its own earlier output once it holds %s, naming it, and leaves everything as it was', async (_what, added) => {
    const dir = join(work.dir, 'out');
    await replaceDirectory(dir, [{ path: 'a/b.txt', content: 'b' }, { path: 'c.txt', content: 'c' }]);
    if (added.endsWith('/')) await mkdir(join(dir, added));
    else await writeFile(join(dir, added), 'precious');
    const before = await listTree(work.dir);

    const refused = replaceDirectory(dir, [{ path: 'a/b.txt', content: 'new' }]);

    await expect(refused).rejects.toThrow(`${dir}: holds 1 file(s) imagebuild did not write there (${added.replace(/\/$/, '')}); move them out or choose another --out directory`);
    expect(await listTree(work.dir)).toEqual(before);
    expect(readFileSync(join(dir, 'a/b.txt'), 'utf8')).toBe('b');
  });

  it('a marker of an older imagebuild (no list): replaces only files this write writes, refuses anything else', async () => {
    const dir = join(work.dir, 'out');
    await mkdir(join(dir, 'a'), { recursive: true });
    await writeFile(join(dir, RENDER_MARKER), 'Written by imagebuild render; the whole directory is replaced on the next render.\n');
    await writeFile(join(dir, 'a/b.txt'), 'old');

    await replaceDirectory(dir, [{ path: 'a/b.txt', content: 'new' }]);
    await writeFile(join(dir, RENDER_MARKER), 'Written by imagebuild render; the whole directory is replaced on the next render.\n');
    await writeFile(join(dir, 'extra.txt'), 'x');
    const refused = replaceDirectory(dir, [{ path: 'a/b.txt', content: 'newer' }]);

    await expect(refused).rejects.toThrow('holds 1 file(s) imagebuild did not write there (extra.txt)');
    expect(readFileSync(join(dir, 'a/b.txt'), 'utf8')).toBe('new');
  });

  it('refuses a non-empty directory it did not write', async () => {
    const dir = join(work.dir, 'mine');
    await mkdir(dir);
    await writeFile(join(dir, 'data'), 'precious');

    await expect(replaceDirectory(dir, [{ path: 'a', content: 'a' }])).rejects.toThrow('exists and was not written by imagebuild');
    expect(existsSync(join(dir, 'data'))).toBe(true);
  });
});
