import { formatBytes } from '../../core/release/transfer-rate.js';
import { UsageError } from '../../errors/index.js';
import type { Command } from '../command.js';
import { STORE_JSON_FLAG, STORE_SPEC_FLAG, stringFlag } from '../flags.js';

/** `imagebuild prune`. */
export const pruneCommand: Command = {
  name: 'prune',
  usage: 'imagebuild prune [--spec FILE] [--keep N] [--yes] [--json]',
  positionals: { min: 0, max: 0 },
  summary: 'remove releases beyond the newest N (artifacts.retention) from the store and output/; dry run unless --yes',
  description:
    'Keeps the newest N releases by version (the spec\'s artifacts.retention, default 3, or --keep) and always the\n' +
    'current one, in the store and in output/<name>/; lists the rest, and deletes them only with --yes. In the store a\n' +
    'release leaves the index before its objects are deleted, so no reader follows it to a missing image. Objects no\n' +
    'listed release names (left by a failed, killed or raced publish) are removed too once they are a day old; a\n' +
    'younger one may be a publish still uploading and is kept.',
  flags: {
    spec: STORE_SPEC_FLAG,
    keep: { type: 'string', value: 'N', help: "releases to keep (default: the spec's artifacts.retention)" },
    yes: { type: 'boolean', help: 'really delete (default: dry run)' },
    json: STORE_JSON_FLAG,
  },
  async run({ flags, cwd, output }) {
    const keepText = stringFlag(flags.keep);
    const keep = keepText === undefined ? undefined : Number(keepText);
    if (keep !== undefined && (!Number.isInteger(keep) || keep < 1 || keep > 100)) throw new UsageError(`--keep "${keepText}" is not a count; give a whole number from 1 to 100`);
    const { pruneReleases } = await import('../../app/release-prune.js');
    const report = await pruneReleases({ specArg: stringFlag(flags.spec), cwd, apply: flags.yes === true, keep });
    if (flags.json === true) {
      output.json(report);
      return 0;
    }
    const verb = report.dryRun ? 'would remove' : 'removed';
    const show = (where: string, kept: readonly { version: string; why: string }[], removed: readonly { version: string; why: string; bytes: number }[]) => {
      output.out(`${where}:`);
      for (const k of kept) output.out(`  keep   v${k.version}  (${k.why})`);
      for (const r of removed) output.out(`  ${report.dryRun ? 'would remove' : 'removed'} v${r.version}  ${formatBytes(r.bytes)}  (${r.why})`);
    };
    if (report.store) {
      show(`store ${report.store.location}`, report.store.kept, [...report.store.removed, ...report.store.orphans]);
    } else {
      output.out('store: none (the spec names no artifacts.store)');
    }
    show(`local ${report.local.dir}`, report.local.kept, report.local.removed);
    const count = report.local.removed.length + (report.store ? report.store.removed.length + report.store.orphans.length : 0);
    output.out(
      count === 0
        ? `nothing to prune (keeping the newest ${report.keep} and the current release)`
        : `${verb} ${count} release(s), ${formatBytes(report.freedBytes)}${report.dryRun ? ' — run with --yes to delete' : ''}`,
    );
    return 0;
  },
};
