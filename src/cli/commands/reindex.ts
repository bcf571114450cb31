import type { Command } from '../command.js';
import { STORE_JSON_FLAG, STORE_NOTE, STORE_SPEC_FLAG, stringFlag } from '../flags.js';

/** `imagebuild reindex`. */
export const reindexCommand: Command = {
  name: 'reindex',
  usage: 'imagebuild reindex [--spec FILE] [--yes] [--json]',
  positionals: { min: 0, max: 0 },
  summary: "rebuild a missing or unreadable release index (releases.json) from the manifests in the store; dry run unless --yes",
  description:
    'When the store\'s <name>/releases.json is missing or unreadable, publish, prune, list, download and rollback refuse\n' +
    'to guess (exit 1): prune would otherwise delete every release and publish list only the new one. reindex lists the\n' +
    'releases the store holds — per version, the one publish whose image-manifest.json validates and names this image\n' +
    'and version, with its image (of the manifest\'s size) and SHA256SUMS beside it — and writes a new index with --yes.\n' +
    'Who published and the history of `current` are not in the manifests: records say "unknown (index rebuilt by …)",\n' +
    'and `current` goes to the highest stable release whose gates passed (move it with rollback --to). A version with no\n' +
    'complete publish, or with two, is skipped and named. A readable index is never replaced. Images are not re-hashed\n' +
    '(download verifies every byte against the manifest).\n' +
    STORE_NOTE,
  flags: {
    spec: STORE_SPEC_FLAG,
    yes: { type: 'boolean', help: 'write the rebuilt index (default: dry run, showing what it would list)' },
    json: STORE_JSON_FLAG,
  },
  async run({ flags, cwd, output }) {
    const { reindexReleases } = await import('../../app/release-reindex.js');
    const report = await reindexReleases({ specArg: stringFlag(flags.spec), cwd, apply: flags.yes === true });
    if (flags.json === true) {
      output.json(report);
      return 0;
    }
    output.out(`${report.name} in ${report.store}: releases.json is ${report.previous}; ${report.dryRun ? 'would list' : 'listed'} ${report.releases.length} release(s)`);
    for (const r of report.releases) output.out(`  v${r.version}${r.version === report.current ? ' (current)' : ''}  ${r.manifest}`);
    for (const s of report.skipped) output.out(`  ${output.paint('yellow', 'skipped')} v${s.version}: ${s.why}`);
    output.out(report.dryRun ? 'dry run: nothing was written — run with --yes to write the index' : `${output.paint('green', '✔')} wrote the release index; current ${report.current ? `v${report.current}` : 'is none (no stable release passed its gates)'}`);
    return 0;
  },
};
