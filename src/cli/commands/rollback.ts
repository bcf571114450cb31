import { decodeBuildFlags, layerOfFlag } from '../../app/build/options.js';
import { LAYER_NAMES } from '../../core/spec/layers.js';
import { UsageError } from '../../errors/index.js';
import type { Command, FlagSpec, Invocation } from '../command.js';
import { HOST_PROFILE_FLAG, JSON_FLAG, SPEC_FLAG, stringFlag, versionArg } from '../flags.js';

/** Flags `rollback` needs for the version level, to spread into its flags. */
export const VERSION_ROLLBACK_FLAGS: Readonly<Record<string, FlagSpec>> = {
  to: { type: 'string', value: 'VERSION', help: 'version level: point `current` at this published release (store and output/<name>/current)' },
  reason: { type: 'string', value: 'TEXT', help: 'with --to: why, recorded in the release index history (default "rollback")' },
};

// The version level's half of the rollback command's description.
const VERSION_ROLLBACK_HELP =
  'With --to VERSION (version level): points `current` at that published release in the store — recording who\n' +
  '($USER@hostname), when and why in the release index — and output/<name>/current at its local copy. Refuses a\n' +
  'version that does not exist or whose gates or verification failed. Any published version may be named, a\n' +
  'prerelease too: this (or publish --make-current) is the only way a prerelease becomes current.';

/** `imagebuild rollback --to VERSION`: the version-level rollback, called by the rollback command when --to is given. */
export async function runVersionRollback({ flags, cwd, output }: Invocation): Promise<number> {
  const to = stringFlag(flags.to);
  if (to === undefined) throw new UsageError('rollback: --to needs a version, e.g. imagebuild rollback --to v1.0.1');
  const version = versionArg(to);
  const { rollbackRelease } = await import('../../app/release-rollback.js');
  const report = await rollbackRelease({ specArg: stringFlag(flags.spec), cwd, to: version, reason: stringFlag(flags.reason) });
  if (flags.json === true) {
    output.json(report);
    return 0;
  }
  if (report.store) {
    output.out(
      report.store.changed
        ? `${output.paint('green', '✔')} current is now v${report.to} in ${report.store.location} (was ${report.previous ? `v${report.previous}` : 'none'}); recorded ${report.setAt} by ${report.setBy}: ${report.reason}`
        : `${output.paint('green', '✔')} v${report.to} was already current in ${report.store.location}`,
    );
  }
  if (report.local.note) output.err(`${output.paint('yellow', 'notice:')} ${report.local.note}`);
  else output.out(`  local ${report.local.link} → v${report.to}${report.local.changed ? ` (was ${report.local.previous ? `v${report.local.previous}` : 'none'})` : ' (unchanged)'}`);
  return 0;
}

/** `imagebuild rollback`: the layer level here, the version level in runVersionRollback. */
export const rollbackCommand: Command = {
  name: 'rollback',
  usage: 'imagebuild rollback (--layer LAYER [--keep-failed] | --to VERSION [--reason TEXT]) [--spec FILE] [--json]',
  positionals: { min: 0, max: 0 },
  summary: 'layer level: drop a cached layer and those above it; version level: point `current` back to a release',
  description:
    "With --layer (layer level, for on-call): removes the current spec's cached entries of LAYER and the layers above it\n" +
    '(and the failed attempts of those layers, unless --keep-failed), leaving the layers below intact and reusable. Refused\n' +
    'while a build holds the cache lock. Lists what it removed.\n' +
    VERSION_ROLLBACK_HELP,
  flags: {
    spec: SPEC_FLAG,
    layer: { type: 'string', value: 'LAYER', help: `the lowest layer to drop: ${LAYER_NAMES.join(', ')}` },
    'keep-failed': { type: 'boolean', help: 'keep the failed attempts of those layers for debugging' },
    'host-profile': HOST_PROFILE_FLAG,
    ...VERSION_ROLLBACK_FLAGS,
    json: JSON_FLAG,
  },
  async run(invocation) {
    const { flags, cwd, output } = invocation;
    if (flags.to !== undefined && flags.layer !== undefined) throw new UsageError('rollback: give --layer (a cached layer) or --to (a release), not both');
    if (flags.to !== undefined) return runVersionRollback(invocation);
    const layer = layerOfFlag(flags.layer, '--layer');
    if (!layer) throw new UsageError('rollback: give --layer LAYER (e.g. driver) or --to VERSION (e.g. v1.0.1)');
    const { rollbackLayer } = await import('../../app/cache-admin.js');
    const result = await rollbackLayer({ specArg: stringFlag(flags.spec), cwd, layer, keepFailed: flags['keep-failed'] === true, hostProfile: decodeBuildFlags(flags, cwd).hostProfile });
    if (flags.json === true) {
      output.json(result);
      return 0;
    }
    for (const removed of result.removedLayers) output.out(`  removed ${removed.layer} ${removed.key.slice(0, 12)}`);
    for (const failed of result.removedFailed) output.out(`  removed failed attempt ${failed}`);
    const below = LAYER_NAMES[LAYER_NAMES.indexOf(layer) - 1];
    output.out(
      `${output.paint('green', '✔')} rolled back to ${below ?? 'nothing (base dropped)'}: ${result.removedLayers.length} cached layer(s) removed; the next build rebuilds from ${layer}`,
    );
    return 0;
  },
};
