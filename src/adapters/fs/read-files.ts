import { createHash } from 'node:crypto';
import { readFile, readdir } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { FileAccessError } from '../../errors/index.js';
import type { TemplateSources } from '../../core/render/render-image.js';

/** Reads a text file, turning "not found"/"permission denied" into a one-line FileAccessError naming the file. */
export async function readTextFile(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new FileAccessError(`${path}: ${what} not found; check the path`, { cause: error });
    if (code === 'EISDIR') throw new FileAccessError(`${path}: is a directory, not a ${what}`, { cause: error });
    if (code === 'EACCES') throw new FileAccessError(`${path}: permission denied reading the ${what}`, { cause: error });
    throw error;
  }
}

/** Lists the files under `dir` (recursively), as sorted POSIX paths relative to `root`. */
export async function listFiles(root: string, dir: string): Promise<string[]> {
  const entries = await readdir(join(root, dir), { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => relative(root, join(e.parentPath, e.name)).split(sep).join('/'))
    .sort();
}

/** Loads every Handlebars template under templates/ and the static Packer pieces the renderer copies. */
export async function loadTemplateSources(packageRoot: string): Promise<TemplateSources> {
  const templates: Record<string, string> = {};
  for (const path of await listFiles(packageRoot, 'templates')) {
    if (path.endsWith('.hbs')) templates[path.slice('templates/'.length)] = await readFile(join(packageRoot, path), 'utf8');
  }
  const packerFiles = { 'plugins.pkr.hcl': await readFile(join(packageRoot, 'packer/plugins.pkr.hcl'), 'utf8') };
  return { templates, packerFiles };
}

/** SHA-256 of each file under the given directories (relative to `root`), keyed by its POSIX path. */
export async function digestFiles(root: string, dirs: readonly string[]): Promise<Record<string, string>> {
  // All at once: the files are small and many, and one-by-one reads left the process waiting on each.
  const paths = (await Promise.all(dirs.map((dir) => listFiles(root, dir)))).flat();
  const hashes = await Promise.all(paths.map(async (path) => createHash('sha256').update(await readFile(join(root, path))).digest('hex')));
  return Object.fromEntries(paths.map((path, i) => [path, hashes[i]!]));
}

/** Every file under `dir` as text, keyed by its POSIX path relative to `dir`, leaving out the names in `skip`. */
export async function readTree(dir: string, skip: readonly string[] = []): Promise<Record<string, string>> {
  let paths: string[];
  try {
    paths = await listFiles(dir, '.');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new FileAccessError(`${dir}: directory not found; check the path`, { cause: error });
    throw error;
  }
  const tree: Record<string, string> = {};
  for (const path of paths) if (!skip.includes(path)) tree[path] = await readFile(join(dir, path), 'utf8');
  return tree;
}

/** The names in `dir` that are not dot-named (staging and scratch entries are), sorted; none when it cannot be read. */
export async function listVisibleNames(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).filter((n) => !n.startsWith('.')).sort();
  } catch {
    return [];
  }
}
