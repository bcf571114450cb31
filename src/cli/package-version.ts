import { readFileSync } from 'node:fs';

/** imagebuild's own version, from its package.json. */
export function packageVersion(): string {
  const manifest: unknown = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
  return manifest && typeof manifest === 'object' && 'version' in manifest && typeof manifest.version === 'string' ? manifest.version : 'unknown';
}
