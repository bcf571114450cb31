import { decodeBuildFlags } from '../../app/build/options.js';
import { formatBytes } from '../../core/release/transfer-rate.js';
import { UsageError } from '../../errors/index.js';
import type { Command } from '../command.js';
import { HOST_PROFILE_FLAG, JSON_FLAG, SPEC_FLAG, stringFlag } from '../flags.js';

/** `imagebuild cache`. */
export const cacheCommand: Command = {
  name: 'cache',
  usage: 'imagebuild cache <ls|prune|verify> [--spec FILE] [--yes] [--keep-failed] [--packages] [--json]',
  positionals: { min: 1, max: 1 },
  summary: 'list the layer cache, prune what no build will use again, or verify every cached layer',
  description:
    "`cache ls` lists registered layers (key, spec, age, size, gate, and whether the current spec's plan uses them),\n" +
    'bootstrap images, failed layers kept for debugging, build directories, pip wheelhouses (by the version set they hold), saved container images\n' +
    "and the build's apt cache (apt-cacher-ng's package pool), each with the space it takes on disk.\n" +
    '`cache prune` removes layers used neither by the current plan nor by a release in the output directory, bootstraps\n' +
    'no kept base layer uses, failed layers (unless --keep-failed), finished build directories and staging directories\n' +
    'a killed run left (a build removes those itself when it starts); with --packages also the package caches (the apt\n' +
    'cache, every pip wheelhouse and saved container image), which are kept otherwise. It only lists what it would remove unless --yes\n' +
    'is given, and takes the cache lock while it deletes.\n' +
    '`cache verify` re-hashes every registered layer and compares it with the SHA-256 recorded when its gate passed;\n' +
    'it prints one line per layer that changed, is missing or has no recorded digest (an older imagebuild registered it)\n' +
    'and exits 1 if there is any. It changes nothing: the next build that would reuse a changed layer drops and rebuilds it.\n' +
    'Registered layers are read-only (0444); a build proves each layer it reuses by its recorded stat (size, mtime, ctime,\n' +
    'inode) and re-hashes only a layer whose stat changed.',
  flags: {
    spec: SPEC_FLAG,
    yes: { type: 'boolean', help: 'prune: really delete (default: dry run)' },
    'keep-failed': { type: 'boolean', help: 'prune: keep failed layers' },
    packages: { type: 'boolean', help: "prune: also remove the package caches (the build's apt cache, pip wheelhouses, saved container images); the next build downloads again" },
    'host-profile': HOST_PROFILE_FLAG,
    json: JSON_FLAG,
  },
  async run({ positionals, flags, cwd, output }) {
    const action = positionals[0];
    const { listCache, pruneCache, verifyCache } = await import('../../app/cache-admin.js');
    const { displayPathOf } = await import('../../app/load-spec.js');
    if (action === 'ls') {
      const listing = await listCache({ specArg: stringFlag(flags.spec), cwd, hostProfile: decodeBuildFlags(flags, cwd).hostProfile });
      if (flags.json === true) {
        output.json(listing);
        return 0;
      }
      output.out(`cache ${displayPathOf(listing.cacheDir, cwd)}: ${formatBytes(listing.totalBytes)}`);
      if (listing.layers.length === 0) output.out('  no registered layers');
      for (const l of listing.layers) {
        output.out(`  ${l.layer.padEnd(10)} ${l.key.slice(0, 12)}  ${l.specName}  ${l.createdAt}  ${formatBytes(l.bytes).padStart(9)}  gate ${l.gate}${l.inCurrentPlan ? output.paint('green', '  (current plan)') : ''}`);
      }
      for (const b of listing.bootstraps) output.out(`  bootstrap  ${b.key.slice(0, 12)}  ${formatBytes(b.bytes)}`);
      for (const f of listing.failed) output.out(`  failed     ${f.name}  ${formatBytes(f.bytes)}`);
      for (const w of listing.wheelhouses) output.out(`  wheelhouse ${w.key.slice(0, 12)}  ${w.wheels} wheel(s)  ${formatBytes(w.bytes)}  ${w.requirements.join(' ')}`);
      for (const i of listing.images) output.out(`  image      ${i.digest.slice('sha256:'.length, 'sha256:'.length + 12)}  ${formatBytes(i.bytes)}  ${i.ref}  ${i.createdAt}`);
      if (listing.aptCache) output.out(`  apt cache  ${formatBytes(listing.aptCache.bytes)}  ${displayPathOf(listing.aptCache.dir, cwd)}`);
      if (listing.builds.length > 0) output.out(`  builds     ${listing.builds.length} director${listing.builds.length === 1 ? 'y' : 'ies'}, ${formatBytes(listing.builds.reduce((s, b) => s + b.bytes, 0))}`);
      for (const problem of listing.problems) output.err(`${output.paint('yellow', 'notice:')} ${problem}`);
      return 0;
    }
    if (action === 'prune') {
      const result = await pruneCache({ specArg: stringFlag(flags.spec), cwd, apply: flags.yes === true, keepFailed: flags['keep-failed'] === true, packages: flags.packages === true, hostProfile: decodeBuildFlags(flags, cwd).hostProfile });
      if (flags.json === true) {
        output.json(result);
        return 0;
      }
      const verb = result.dryRun ? 'would remove' : 'removed';
      for (const item of result.removed) output.out(`  ${verb} ${displayPathOf(item.path, cwd)} (${formatBytes(item.bytes)}): ${item.why}`);
      output.out(`${result.removed.length === 0 ? 'nothing to prune' : `${verb} ${result.removed.length} item(s), ${formatBytes(result.freedBytes)}`}${result.dryRun && result.removed.length > 0 ? ' — run with --yes to delete' : ''}`);
      return 0;
    }
    if (action === 'verify') {
      const result = await verifyCache({ specArg: stringFlag(flags.spec), cwd });
      if (flags.json === true) {
        output.json(result);
        return result.ok ? 0 : 1;
      }
      for (const l of result.layers) {
        if (l.status !== 'intact') output.out(`  ${l.status.padEnd(10)} ${l.layer.padEnd(10)} ${l.key.slice(0, 12)}  ${l.specName}: ${l.reason ?? ''}`);
      }
      for (const problem of result.problems) output.out(`  unreadable ${problem}`);
      const bad = result.layers.filter((l) => l.status !== 'intact').length + result.problems.length;
      output.out(`cache ${displayPathOf(result.cacheDir, cwd)}: ${result.layers.length - result.layers.filter((l) => l.status !== 'intact').length} of ${result.layers.length} layer(s) intact, ${formatBytes(result.hashedBytes)} re-hashed${bad > 0 ? `; ${bad} not proven` : ''}`);
      return result.ok ? 0 : 1;
    }
    throw new UsageError(`cache: unknown action "${action}"; valid: ls, prune, verify`);
  },
};
