import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { findPackageRoot } from '../fs/project-root.js';

/** imagebuild's own version, from its package.json (found from this module, bundled or not). */
export function packageVersion(): string {
  const manifest: unknown = JSON.parse(readFileSync(join(findPackageRoot(), 'package.json'), 'utf8'));
  return manifest && typeof manifest === 'object' && 'version' in manifest && typeof manifest.version === 'string' ? manifest.version : 'unknown';
}
