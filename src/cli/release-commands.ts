import { formatBytes, formatDuration, formatTransfer } from '../core/release/transfer-rate.js';
import { stringFlag, versionArg } from './flags.js';
import { UsageError } from '../errors.js';
import type { TransferProgress } from '../app/release-store.js';
import type { Command, FlagSpec, Invocation } from './commands.js';
import type { Output } from './output.js';

// Release commands: publish, list, download, diff, prune, and the version-level rollback. Every
// app module (and through it the AWS SDK) is imported inside run(), so `validate` and `plan` never load them.

const SPEC_FLAG: FlagSpec = {
  type: 'string',
  value: 'FILE',
  help: 'image spec (YAML) naming artifacts.store; default: $IMAGEBUILD_SPEC, else the shipped manifests/vault-cube-demo-box.yaml',
};
const JSON_FLAG: FlagSpec = { type: 'boolean', help: 'print the result as JSON on stdout (no progress output)' };
const STORE_NOTE =
  'The store is the spec\'s artifacts.store: S3 (bucket, prefix, region, endpoint; AWS_REGION, AWS_ENDPOINT_URL and\n' +
  'AWS_PROFILE override; credentials from the AWS SDK\'s default chain, never printed) or a directory (filesystem).';

// Plain progress lines (not a terminal) at most this often.
const PLAIN_PROGRESS_INTERVAL_MS = 5000;

const publish: Command = {
  name: 'publish',
  usage: 'imagebuild publish <version> [--spec FILE] [--allow-bump-mismatch REASON] [--json]',
  summary: "upload a built release to the spec's store: image, manifest, then the release index and current",
  description:
    'Publishes output/<name>/vX.Y.Z/ to the store in an order that keeps it atomic for readers: the qcow2 first\n' +
    '(multipart, 8 parts in flight, a checksum per part, retries with backoff), then image-manifest.json, SHA256SUMS\n' +
    'and the spec, then the release index with `current` last. A version already in the store is refused: versions\n' +
    'are immutable. The bump is checked against the previous release by the semver rule — OS or architecture change:\n' +
    'MAJOR; new framework or capability: at least MINOR; fixes, driver patches, security updates: PATCH — and a\n' +
    'mismatch is refused with the change that demands the bump, unless --allow-bump-mismatch gives a reason (recorded\n' +
    'in the manifest). `current` moves to the new version unless a higher one is already published. The image is not\n' +
    're-hashed: its SHA-256 comes from the manifest.\n' +
    STORE_NOTE,
  flags: {
    spec: SPEC_FLAG,
    'allow-bump-mismatch': { type: 'string', value: 'REASON', help: 'publish although the bump does not fit the changes; REASON is recorded in the manifest and index' },
    json: JSON_FLAG,
  },
  positionals: { min: 1, max: 1 },
  async run({ positionals, flags, cwd, output }) {
    const version = versionArg(positionals[0]!);
    const reason = stringFlag(flags['allow-bump-mismatch']);
    if (reason !== undefined && reason.trim() === '') throw new UsageError('--allow-bump-mismatch needs a reason, e.g. --allow-bump-mismatch "hotfix branch for customer X"');
    const { publishRelease } = await import('../app/release-publish.js');
    const asJson = flags.json === true;
    const report = await withInterrupt(output, 'the upload stops; nothing is listed in the release index until a publish completes', (signal) =>
      publishRelease({ specArg: stringFlag(flags.spec), cwd, version, allowBumpMismatch: reason, signal, onProgress: asJson ? undefined : createProgressRenderer(output) }),
    );
    if (asJson) {
      output.json(report);
      return 0;
    }
    const bump = report.bump.actual === 'initial' ? 'first release' : `${report.bump.actual.toUpperCase()} bump from v${report.bump.from}`;
    output.out(`${output.paint('green', '✔')} published ${report.name} v${report.version} to ${report.store} (${bump}) in ${formatDuration(report.durationS)}, ${formatBytes(report.bytes)} at ${formatBytes(report.rate)}/s`);
    output.out(`  image    ${report.artifact}`);
    output.out(`  manifest ${report.manifest}`);
    output.out(`  current  ${report.current ? `v${report.version}` : 'unchanged (a higher version is current)'}`);
    for (const change of report.bump.changes) output.out(`  ${output.paint('dim', `${change.subject}: ${change.from ?? '(none)'} → ${change.to ?? '(none)'} (${change.demands.toUpperCase()}, ${change.reason})`)}`);
    for (const notice of report.notices) output.err(`${output.paint('yellow', 'notice:')} ${notice}`);
    return 0;
  },
};

const list: Command = {
  name: 'list',
  usage: 'imagebuild list [--spec FILE] [--json]',
  summary: 'list the published releases: version, date, size, driver/CUDA/frameworks, which is current',
  description:
    "Reads the store's release index and each release's image-manifest.json (validated on read) and lists them newest\n" +
    'first; `*` marks the current release. The facts shown (driver, CUDA, frameworks) were read from the built image.\n' +
    STORE_NOTE,
  flags: { spec: SPEC_FLAG, json: JSON_FLAG },
  positionals: { min: 0, max: 0 },
  async run({ flags, cwd, output }) {
    const { listReleases } = await import('../app/release-list.js');
    const listing = await listReleases({ specArg: stringFlag(flags.spec), cwd });
    if (flags.json === true) {
      output.json(listing);
      return 0;
    }
    const current = listing.current ? `current v${listing.current.version}, set ${listing.current.set_at} by ${listing.current.set_by} (${listing.current.reason})` : 'nothing current yet';
    output.out(`${output.paint('bold', listing.name)} releases in ${listing.store}: ${current}`);
    if (listing.releases.length === 0) {
      output.out('  no releases published yet (imagebuild publish vX.Y.Z)');
      return 0;
    }
    const rows = listing.releases.map((r) => [
      `${r.current ? '*' : ' '} v${r.version}`,
      r.published_at.slice(0, 10),
      formatBytes(r.size_bytes),
      r.nvidia_driver ?? '-',
      r.cuda_version ?? '-',
      r.frameworks ? (Object.entries(r.frameworks).filter(([, v]) => v !== null).map(([k, v]) => `${k} ${v}`).join(', ') || '-') : '-',
      r.problem ? `manifest problem: ${r.problem}` : `${r.gate_status}${r.gpu_validated ? ', GPU-validated' : ', GPU checks skipped'}${r.version_override ? ', bump overridden' : ''}`,
    ]);
    const header = ['  VERSION', 'PUBLISHED', 'SIZE', 'DRIVER', 'CUDA', 'FRAMEWORKS', 'GATES'];
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
    const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
    output.out(output.paint('dim', line(header)));
    for (const row of rows) output.out(row[0]!.startsWith('*') ? output.paint('green', line(row)) : line(row));
    return 0;
  },
};

const download: Command = {
  name: 'download',
  usage: 'imagebuild download <version|current> [--dest DIR] [--spec FILE] [--limit-rate RATE] [--json]',
  summary: 'download a release verified against its manifest, resumable, with progress',
  description:
    "Downloads a release's qcow2 and its image-manifest.json (and SHA256SUMS) into DIR (default ./<name>-vX.Y.Z/).\n" +
    'The image streams into <file>.part and is hashed on the way; an interrupted download (Ctrl-C, a dropped link, a\n' +
    'killed process) resumes from the .part file with a ranged request when the same command runs again. Only an\n' +
    'image whose SHA-256 matches the manifest gets its final name; a mismatch removes the partial file, leaves nothing\n' +
    'under the final name and says so (exit 1). Memory stays constant whatever the image size. Progress shows bytes,\n' +
    'rate and ETA: a redrawn line on a terminal, a plain line every few seconds otherwise. A destination without room\n' +
    'for the (rest of the) image is refused before anything is written; a disk that fills meanwhile stops the download\n' +
    'with what to free, and the same command resumes it.\n' +
    STORE_NOTE,
  flags: {
    spec: SPEC_FLAG,
    dest: { type: 'string', value: 'DIR', help: 'directory for the image and its manifest (default ./<name>-vX.Y.Z/)' },
    'limit-rate': { type: 'string', value: 'RATE', help: 'stay under RATE bytes per second, e.g. 50M or 500K (shared links)' },
    json: JSON_FLAG,
  },
  positionals: { min: 1, max: 1 },
  async run({ positionals, flags, cwd, output }) {
    const ref = positionals[0] === 'current' ? 'current' : versionArg(positionals[0]!);
    const limitRate = parseRate(stringFlag(flags['limit-rate']));
    const { downloadRelease } = await import('../app/release-download.js');
    const asJson = flags.json === true;
    const report = await withInterrupt(output, 'the partial download is kept; run the same command again to resume', (signal) =>
      downloadRelease({ specArg: stringFlag(flags.spec), cwd, ref, dest: stringFlag(flags.dest), limitRate, signal, onProgress: asJson ? undefined : createProgressRenderer(output) }),
    );
    if (asJson) {
      output.json(report);
      return 0;
    }
    for (const notice of report.notices) output.err(`${output.paint('yellow', 'notice:')} ${notice}`);
    if (report.status === 'already-present') {
      output.out(`${output.paint('green', '✔')} ${report.artifact} is already here, verified when it was downloaded (manifest ${report.manifest})`);
      return 0;
    }
    output.out(`${output.paint('green', '✔')} downloaded ${report.name} v${report.version}: ${report.artifact}`);
    output.out(`  SHA-256  ${report.sha256} (verified against the manifest)`);
    output.out(`  manifest ${report.manifest}`);
    output.out(`  ${formatBytes(report.bytes)} in ${formatDuration(report.durationS)} at ${formatBytes(report.rate)}/s${report.resumedFrom > 0 ? `, resumed at ${formatBytes(report.resumedFrom)}` : ''}`);
    return 0;
  },
};

const diff: Command = {
  name: 'diff',
  usage: 'imagebuild diff <from> <to> [--spec FILE] [--json]',
  summary: 'show what changed between two releases: OS, kernel, driver, CUDA, frameworks, gates, size',
  description:
    "Compares two releases' image-manifest.json (versions or `current`) — the release notes customer success reads:\n" +
    'OS, kernel, NVIDIA driver, CUDA, frameworks and tool versions, each gate and the checks whose results changed,\n' +
    'GPU validation, size, and the semver bump the image changes require. Reads the store when the spec names one,\n' +
    'else the output directory.',
  flags: { spec: SPEC_FLAG, json: JSON_FLAG },
  positionals: { min: 2, max: 2 },
  async run({ positionals, flags, cwd, output }) {
    const [from, to] = positionals.map((p) => (p === 'current' ? 'current' : versionArg(p)));
    const { diffStoredReleases } = await import('../app/release-list.js');
    const { formatReleaseDiff } = await import('../core/release/diff-releases.js');
    const result = await diffStoredReleases({ specArg: stringFlag(flags.spec), cwd, from: from!, to: to! });
    if (flags.json === true) {
      output.json(result);
      return 0;
    }
    for (const line of formatReleaseDiff(result, formatBytes)) output.out(line);
    return 0;
  },
};

const prune: Command = {
  name: 'prune',
  usage: 'imagebuild prune [--spec FILE] [--keep N] [--yes] [--json]',
  summary: 'remove releases beyond the newest N (artifacts.retention) from the store and output/; dry run unless --yes',
  description:
    'Keeps the newest N releases by version (the spec\'s artifacts.retention, default 3, or --keep) and always the\n' +
    'current one, in the store and in output/<name>/; lists the rest, and deletes them only with --yes. In the store a\n' +
    'release leaves the index before its objects are deleted, so no reader follows it to a missing image. Objects of\n' +
    'versions the index does not list (an interrupted publish) are removed too — do not prune while publishing.',
  flags: {
    spec: SPEC_FLAG,
    keep: { type: 'string', value: 'N', help: "releases to keep (default: the spec's artifacts.retention)" },
    yes: { type: 'boolean', help: 'really delete (default: dry run)' },
    json: JSON_FLAG,
  },
  positionals: { min: 0, max: 0 },
  async run({ flags, cwd, output }) {
    const keepText = stringFlag(flags.keep);
    const keep = keepText === undefined ? undefined : Number(keepText);
    if (keep !== undefined && (!Number.isInteger(keep) || keep < 1 || keep > 100)) throw new UsageError(`--keep "${keepText}" is not a count; give a whole number from 1 to 100`);
    const { pruneReleases } = await import('../app/release-prune.js');
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

/** The release commands, for the lead to add to COMMANDS. */
export const RELEASE_COMMANDS: readonly Command[] = [publish, list, download, diff, prune];
export { publish as publishCommand, list as listCommand, download as downloadCommand, diff as diffCommand, prune as pruneCommand };

/** Flags `rollback` needs for the version level, to spread into its flags. */
export const VERSION_ROLLBACK_FLAGS: Readonly<Record<string, FlagSpec>> = {
  to: { type: 'string', value: 'VERSION', help: 'version level: point `current` at this published release (store and output/<name>/current)' },
  reason: { type: 'string', value: 'TEXT', help: 'with --to: why, recorded in the release index history (default "rollback")' },
};

/** Help text for `rollback --to`, to append to the rollback command's description. */
export const VERSION_ROLLBACK_HELP =
  'With --to VERSION (version level): points `current` at that published release in the store — recording who\n' +
  '($USER@hostname), when and why in the release index — and output/<name>/current at its local copy. Refuses a\n' +
  'version that does not exist or whose gates or verification failed.';

/** `imagebuild rollback --to VERSION`: the version-level rollback, called by the rollback command when --to is given. */
export async function runVersionRollback({ flags, cwd, output }: Invocation): Promise<number> {
  const to = stringFlag(flags.to);
  if (to === undefined) throw new UsageError('rollback: --to needs a version, e.g. imagebuild rollback --to v1.0.1');
  const version = versionArg(to);
  const { rollbackRelease } = await import('../app/release-rollback.js');
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

/** Renders transfer progress on stderr: one redrawn line on a terminal, a plain line every few seconds otherwise. */
export function createProgressRenderer(output: Output, now: () => number = Date.now): (progress: TransferProgress) => void {
  let lastPlain = -Infinity;
  let drawn: string | undefined;
  return (progress) => {
    const verb = progress.phase === 'upload' ? 'upload' : progress.phase === 'download' ? 'download' : 'hash';
    const line = formatTransfer(`${verb} ${progress.label}`, { bytes: progress.bytes, total: progress.total, rate: progress.rate, etaS: progress.etaS });
    if (output.interactive) {
      // Cursor up and clear: redraw the same line while the same transfer runs.
      output.err(drawn === progress.label ? `\u001b[1A\u001b[2K${line}` : line);
      drawn = progress.done ? undefined : progress.label;
      return;
    }
    const t = now();
    if (progress.done || t - lastPlain >= PLAIN_PROGRESS_INTERVAL_MS) {
      lastPlain = t;
      output.err(line);
    }
  };
}

/** Runs a transfer with Ctrl-C/SIGTERM wired to an AbortSignal, saying what happens to the partial work. */
async function withInterrupt<T>(output: Output, whatHappens: string, run: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    output.err(`${signal}: stopping; ${whatHappens}`);
    controller.abort();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    return await run(controller.signal);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** Parses a rate such as 50M, 500K, 1.5G or 1048576 (bytes per second, binary units). */
export function parseRate(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const match = /^(\d+(?:\.\d+)?)\s*([KMG]?)(?:i?B)?(?:\/s)?$/i.exec(text.trim());
  const value = match ? Number(match[1]) * 1024 ** ['', 'K', 'M', 'G'].indexOf(match[2]!.toUpperCase()) : Number.NaN;
  if (!Number.isFinite(value) || value < 1024) throw new UsageError(`--limit-rate "${text}" is not a rate of at least 1K; give bytes per second, e.g. 50M or 500K`);
  return Math.floor(value);
}

