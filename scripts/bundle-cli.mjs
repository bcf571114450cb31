#!/usr/bin/env node
// Bundles the CLI (src/cli/bin.ts and everything it imports) into dist/bundle/: one module for the
// start-up path and a chunk per lazily imported command, instead of ~300 files resolved and read at
// every start. Measured by `npm run bench -- --only cli-latency`. The AWS SDK, ssh2 (native addon),
// handlebars and the CycloneDX library stay in node_modules: they load only in the commands that use
// them (the CycloneDX library's optional XML and validator plug-ins require() packages imagebuild does
// not install, which esbuild cannot resolve).
// Run by `npm run build` (and so by `npm ci`, through prepare) after tsc.
import { rm } from 'node:fs/promises';
import { build } from 'esbuild';

const outdir = new URL('../dist/bundle/', import.meta.url).pathname;
await rm(outdir, { recursive: true, force: true });
const result = await build({
  absWorkingDir: new URL('..', import.meta.url).pathname,
  entryPoints: { imagebuild: 'src/cli/bin.ts' },
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20.19',
  external: ['@aws-sdk/*', 'ssh2', 'cpu-features', 'handlebars', '@cyclonedx/cyclonedx-library'],
  // CommonJS dependencies (semver, …) call require() for Node's built-ins.
  banner: { js: "import { createRequire as __imagebuildRequire } from 'node:module'; const require = __imagebuildRequire(import.meta.url);" },
  sourcemap: 'linked',
  legalComments: 'none',
  minify: true,
  // Class and function names stay (errors and messages may print them); the source maps give the rest.
  keepNames: true,
  metafile: true,
  logLevel: 'warning',
});
const bytes = Object.values(result.metafile.outputs).reduce((sum, o) => sum + o.bytes, 0);
const files = Object.keys(result.metafile.outputs).filter((f) => f.endsWith('.js')).length;
console.log(`bundle: dist/bundle/ (${files} modules, ${(bytes / 1024 / 1024).toFixed(1)} MiB with source maps)`);
