#!/usr/bin/env node
// Thin launcher: the CLI is bundled into dist/bundle/ (by `npm ci` through the prepare script, or
// `npm run build`); dist/cli/ is tsc's unbundled output of the same sources.
import { existsSync } from 'node:fs';
import module from 'node:module';

// Node 22.1+ keeps compiled code between runs (in $NODE_COMPILE_CACHE or the temp directory); Node 20 has no such cache.
module.enableCompileCache?.();

const bundle = new URL('../dist/bundle/imagebuild.js', import.meta.url);
const unbundled = new URL('../dist/cli/bin.js', import.meta.url);
const entry = existsSync(bundle) ? bundle : unbundled;
if (!existsSync(entry)) {
  process.stderr.write('imagebuild: dist/ is missing; run `npm ci` (or `npm run build`) in the project first\n');
  process.exit(70);
}
// Stack traces (--debug) name the TypeScript sources; maps load only then, as they cost start-up time.
if (entry === bundle && process.argv.includes('--debug')) process.setSourceMapsEnabled(true);
await import(entry.href);
