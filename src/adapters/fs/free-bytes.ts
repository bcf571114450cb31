import { existsSync } from 'node:fs';
import { statfs } from 'node:fs/promises';
import { dirname } from 'node:path';

/** Free bytes (for an unprivileged writer) on the filesystem holding `path`, or its nearest existing ancestor. */
export async function freeBytes(path: string): Promise<number> {
  let dir = path;
  while (!existsSync(dir) && dirname(dir) !== dir) dir = dirname(dir);
  const stats = await statfs(dir);
  return stats.bavail * stats.bsize;
}
