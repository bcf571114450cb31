#!/usr/bin/env node
// Thin launcher: the CLI lives in dist/ (built by `npm ci` through the prepare script).
import { existsSync } from 'node:fs';

const entry = new URL('../dist/cli/bin.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write('imagebuild: dist/cli/bin.js is missing; run `npm ci` (or `npm run build`) in the project first\n');
  process.exit(70);
}
await import(entry.href);
