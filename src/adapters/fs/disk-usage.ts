import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';

/** Bytes a file or directory tree occupies on disk (allocated blocks, so sparse images count what they use); 0 for what cannot be read. */
export async function allocatedBytes(path: string): Promise<number> {
  try {
    const info = await stat(path);
    if (!info.isDirectory()) return info.blocks * 512;
    let total = 0;
    for (const name of await readdir(path)) total += await allocatedBytes(join(path, name));
    return total;
  } catch {
    return 0;
  }
}

/** The sum of the sizes of the files under `dir` (what a copy of it would transfer); 0 for what cannot be read. */
export async function apparentBytes(dir: string): Promise<number> {
  let total = 0;
  for (const name of await readdir(dir, { recursive: true }).catch(() => [] as string[])) {
    const info = await stat(join(dir, String(name))).catch(() => undefined);
    if (info?.isFile()) total += info.size;
  }
  return total;
}
