import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach } from 'vitest';

export type TempDir = { dir: string; cleanup: () => Promise<void> };

/** A fresh temporary directory, removed by the returned cleanup. */
export async function makeTempDir(prefix = 'imagebuild-test-'): Promise<TempDir> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/**
 * A fresh temporary directory for each test of the enclosing file or describe block, removed after it.
 * Read `.dir` inside a test or hook: it names that test's directory.
 */
export function useTempDir(prefix?: string): { readonly dir: string } {
  let current: TempDir | undefined;
  beforeEach(async () => {
    current = await makeTempDir(prefix);
  });
  afterEach(async () => {
    await current?.cleanup();
    current = undefined;
  });
  return {
    get dir(): string {
      if (!current) throw new Error('useTempDir: read .dir inside a test or hook');
      return current.dir;
    },
  };
}

/** Every path under `dir`, recursively, sorted; [] when `dir` does not exist. */
export async function listTree(dir: string): Promise<string[]> {
  try {
    const entries = await readdir(dir, { recursive: true });
    return entries.map(String).sort();
  } catch {
    return [];
  }
}
