import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The installed imagebuild package's root (holds templates/, ansible/, packer/, manifests/), found from this module's location so it works from src/ and dist/. */
export function findPackageRoot(from: string = fileURLToPath(import.meta.url)): string {
  let dir = dirname(from);
  for (;;) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && JSON.parse(readFileSync(manifest, 'utf8')).name === 'imagebuild') return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`imagebuild's package.json not found above ${from}`);
    dir = parent;
  }
}
