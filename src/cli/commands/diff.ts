import { formatBytes } from '../../core/release/transfer-rate.js';
import type { Command } from '../command.js';
import { releaseRefArg, STORE_JSON_FLAG, STORE_SPEC_FLAG, stringFlag } from '../flags.js';

/** `imagebuild diff`. */
export const diffCommand: Command = {
  name: 'diff',
  usage: 'imagebuild diff <from> <to> [--spec FILE] [--json]',
  positionals: { min: 2, max: 2 },
  summary: 'show what changed between two releases: OS, kernel, driver, CUDA, frameworks, gates, size',
  description:
    "Compares two releases' image-manifest.json (versions or `current`) — the release notes customer success reads:\n" +
    'OS, kernel, NVIDIA driver, CUDA, frameworks and tool versions, each gate and the checks whose results changed,\n' +
    'GPU validation, size, and the semver bump the image changes require. Reads the store when the spec names one,\n' +
    'else the output directory.',
  flags: { spec: STORE_SPEC_FLAG, json: STORE_JSON_FLAG },
  async run({ positionals, flags, cwd, output }) {
    const [from, to] = positionals.map(releaseRefArg);
    const { diffStoredReleases } = await import('../../app/release-list.js');
    const { formatReleaseDiff } = await import('../../core/release/diff-releases.js');
    const result = await diffStoredReleases({ specArg: stringFlag(flags.spec), cwd, from: from!, to: to! });
    if (flags.json === true) {
      output.json(result);
      return 0;
    }
    for (const line of formatReleaseDiff(result, formatBytes)) output.out(line);
    return 0;
  },
};
