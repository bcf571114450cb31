import { readFile, readdir } from 'node:fs/promises';
import { parseJsonOrUndefined } from '../../core/parse-json.js';
import { firstLine, ImagebuildError } from '../../errors/index.js';
import { CacheEntry } from '../../core/plan/cache-entry.js';
import { computeLayerKey } from '../../core/plan/plan-build.js';
import { cacheLayout } from '../workspace/cache-layout.js';

export type CacheScan = { readonly entries: CacheEntry[]; readonly problems: string[] };

/** Reads every registered layer's entry.json under `<cacheDir>/layers/`; unreadable or inconsistent entries are reported, never used. */
export async function readCacheEntries(cacheDir: string): Promise<CacheScan> {
  const layout = cacheLayout(cacheDir);
  let names: string[];
  try {
    names = await readdir(layout.layers);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { entries: [], problems: [] };
    throw error;
  }
  const entries: CacheEntry[] = [];
  const problems: string[] = [];
  for (const name of names.sort()) {
    if (name.startsWith('.')) continue;
    const path = layout.layerEntry(name);
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
      problems.push(`${path}: unreadable (${firstLine(error)}); ignored`);
    }
  }
  return { entries, problems };
}

/** Reads the entry of a layer the plan reuses; a missing or damaged entry is a one-line error that says how to drop it. */
export async function readCacheEntry(cacheDir: string, key: string, layer: string): Promise<CacheEntry> {
  const path = cacheLayout(cacheDir).layerEntry(key);
  const parsed = CacheEntry.safeParse(await readFile(path, 'utf8').then(parseJsonOrUndefined, () => undefined));
  if (!parsed.success) {
    throw new ImagebuildError('CACHE_ENTRY_INVALID', `${path}: unreadable or not a valid cache entry; run \`imagebuild rollback --layer ${layer}\` to drop it`);
  }
  return parsed.data;
}
