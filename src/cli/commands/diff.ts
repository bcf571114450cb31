import { formatBytes } from '../../core/release/transfer-rate.js';
import type { Command } from '../command.js';
import { releaseRefArg, STORE_JSON_FLAG, STORE_SPEC_FLAG, stringFlag } from '../flags.js';

/** `imagebuild diff`. */
export const diffCommand: Command = {
  name: 'diff',
  usage: 'imagebuild diff <from> <to> [--spec FILE] [--json]',
  positionals: { min: 2, max: 2 },
  summary: 'show what changed between two releases: OS, kernel, driver, CUDA, frameworks, packages, gates, size',
  description:
    "Compares two releases' image-manifest.json and sbom.cdx.json (versions or `current`) — the release notes\n" +
    'customer success reads: OS, kernel, NVIDIA driver, CUDA, frameworks and tool versions, each gate and the checks\n' +
    'whose results changed, GPU validation, the packages added, removed or at another version (Debian packages, the\n' +
    "frameworks venv's distributions, NVIDIA modules, container images; up to 40 per list, --json lists all), size,\n" +
    'and the semver bump the changes require (a new framework package is at least MINOR). Reads the store when the\n' +
    'spec names one, else the output directory; a release without an SBOM is compared without packages.',
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
