import { isAbsolute, resolve } from 'node:path';

/** Settings of a filesystem store: the directory every key lives under. */
export type FilesystemStoreSettings = {
  readonly dir: string;
  /**
   * Whether a missing directory is an empty store that the first write creates (publish, a shared cache
   * that pushes). Otherwise reading a missing directory is an error: an unmounted disk or a typo in the
   * spec must not read as "no releases".
   */
  readonly createMissing: boolean;
};

/** Resolves the spec's `artifacts.store.dir` (relative to the project directory) to an absolute directory. */
export function resolveFilesystemSettings(store: { dir: string }, cwd: string, createMissing = false): FilesystemStoreSettings {
  return { dir: isAbsolute(store.dir) ? store.dir : resolve(cwd, store.dir), createMissing };
}
