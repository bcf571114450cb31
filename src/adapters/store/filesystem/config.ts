import { isAbsolute, resolve } from 'node:path';

/** Settings of a filesystem store: the directory every key lives under. */
export type FilesystemStoreSettings = { readonly dir: string };

/** Resolves the spec's `artifacts.store.dir` (relative to the project directory) to an absolute directory. */
export function resolveFilesystemSettings(store: { dir: string }, cwd: string): FilesystemStoreSettings {
  return { dir: isAbsolute(store.dir) ? store.dir : resolve(cwd, store.dir) };
}
