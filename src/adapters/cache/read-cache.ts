import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { CacheEntry } from '../../core/plan/cache-entry.js';
import { computeLayerKey } from '../../core/plan/plan-build.js';

export type CacheScan = { readonly entries: CacheEntry[]; readonly problems: string[] };

/** Reads every registered layer's entry.json under `<cacheDir>/layers/`; unreadable or inconsistent entries are reported, never used. */
export async function readCacheEntries(cacheDir: string): Promise<CacheScan> {
  const layersDir = join(cacheDir, 'layers');
  let names: string[];
  try {
    names = await readdir(layersDir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { entries: [], problems: [] };
    throw error;
  }
  const entries: CacheEntry[] = [];
  const problems: string[] = [];
  for (const name of names.sort()) {
    if (name.startsWith('.')) continue;
    const path = join(layersDir, name, 'entry.json');
    try {
      const parsed = CacheEntry.safeParse(JSON.parse(await readFile(path, 'utf8')));
      if (!parsed.success) {
        problems.push(`${path}: not a valid cache entry (${parsed.error.issues[0]?.path.join('.')}: ${parsed.error.issues[0]?.message}); ignored`);
      } else if (parsed.data.key !== name || computeLayerKey(parsed.data.inputs) !== name) {
        problems.push(`${path}: key does not match its directory or inputs; ignored`);
      } else {
        entries.push(parsed.data);
      }
    } catch (error) {
      problems.push(`${path}: unreadable (${(error as Error).message.split('\n')[0]}); ignored`);
    }
  }
  return { entries, problems };
}
