import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { FileAccessError } from '../../errors/index.js';

/**
 * Marks a directory as written by imagebuild and lists the files it wrote there, so replacing it can
 * never delete a user's own files: anything else found in it makes the next replace refuse.
 */
export const RENDER_MARKER = '.imagebuild-rendered';

/** The marker's first line; a marker without it (imagebuild before the list) lists nothing. */
const MARKER_HEADER = '# Written by imagebuild render: exactly the files listed below. The next render replaces them and refuses if anything else is here.';

/**
 * Writes `files` as the complete contents of `dir`, atomically: everything goes to a temporary
 * sibling first and is swapped in by rename, so a failure leaves the previous contents untouched.
 * An existing `dir` is replaced only if it is empty or holds nothing but the files imagebuild listed
 * in its marker when it wrote them (a marker of an older imagebuild, without a list: nothing but
 * files this write writes); otherwise it is refused, naming what it would have deleted.
 */
export async function replaceDirectory(dir: string, files: readonly { path: string; content: string }[]): Promise<void> {
  if (existsSync(dir)) await refuseForeignEntries(dir, files.map((f) => f.path));
  const suffix = `${process.pid}-${randomBytes(4).toString('hex')}`;
  const staging = `${dir}.tmp-${suffix}`;
  const retired = `${dir}.old-${suffix}`;
  try {
    await mkdir(staging, { recursive: true });
    for (const file of files) {
      const target = join(staging, file.path);
      await mkdir(dirname(target), { recursive: true });
      await writeFile(target, file.content);
    }
    await writeFile(join(staging, RENDER_MARKER), `${[MARKER_HEADER, ...files.map((f) => f.path)].join('\n')}\n`);
    if (existsSync(dir)) await rename(dir, retired);
    await rename(staging, dir);
  } catch (error) {
    await rm(staging, { recursive: true, force: true });
    if (existsSync(retired) && !existsSync(dir)) await rename(retired, dir);
    throw error;
  }
  await rm(retired, { recursive: true, force: true });
}

/** Throws, naming them, when `dir` holds entries imagebuild did not write there (per its marker) and that `next` will not write either. */
async function refuseForeignEntries(dir: string, next: readonly string[]): Promise<void> {
  const entries = await entriesUnder(dir);
  if (entries.length === 0) return;
  const marker = await readFile(join(dir, RENDER_MARKER), 'utf8').catch(() => undefined);
  if (marker === undefined) {
    throw new FileAccessError(`${dir}: exists and was not written by imagebuild; choose an empty or new --out directory`);
  }
  const lines = marker.split('\n');
  const written = lines[0] === MARKER_HEADER ? lines.slice(1).filter(Boolean) : next;
  const known = new Set([RENDER_MARKER]);
  for (const path of written) {
    for (let part = path; part !== '.' && part !== ''; part = dirname(part)) known.add(part);
  }
  const foreign = entries.filter((entry) => !known.has(entry)).sort();
  if (foreign.length > 0) {
    const named = foreign.slice(0, 3).join(', ') + (foreign.length > 3 ? `, +${foreign.length - 3} more` : '');
    throw new FileAccessError(`${dir}: holds ${foreign.length} file(s) imagebuild did not write there (${named}); move them out or choose another --out directory — a render replaces the whole directory`);
  }
}

/** Every entry below `dir` as a relative POSIX path; links are entries, never followed (readdir's recursive mode follows them). */
async function entriesUnder(dir: string, prefix = ''): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(join(dir, prefix), { withFileTypes: true })) {
    const path = prefix === '' ? entry.name : `${prefix}/${entry.name}`;
    found.push(path);
    if (entry.isDirectory()) found.push(...(await entriesUnder(dir, path)));
  }
  return found;
}

/**
 * Fills a temporary sibling of `dir` through `fill`, then puts it in place of `dir` (created with its
 * parents): a failed fill leaves `dir` as it was and no temporary behind.
 */
export async function replaceDirectoryWith<T>(dir: string, fill: (temp: string) => Promise<T>): Promise<T> {
  const temp = `${dir}.part-${process.pid}`;
  await rm(temp, { recursive: true, force: true });
  try {
    const result = await fill(temp);
    await rm(dir, { recursive: true, force: true });
    await mkdir(dirname(dir), { recursive: true });
    await rename(temp, dir);
    return result;
  } catch (error) {
    await rm(temp, { recursive: true, force: true });
    throw error;
  }
}
