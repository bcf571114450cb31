import { dirname } from 'node:path';
import { formatBytes, formatDuration } from '../../core/release/transfer-rate.js';
import { UsageError } from '../../errors/index.js';
import type { Command } from '../command.js';
import { releaseRefArg, STORE_JSON_FLAG, STORE_NOTE, STORE_SPEC_FLAG, stringFlag } from '../flags.js';
import { withInterrupt } from '../interrupt.js';
import { createProgressRenderer } from '../transfer-progress.js';

/** `imagebuild download`. */
export const downloadCommand: Command = {
  name: 'download',
  usage: 'imagebuild download <version|current> [--dest DIR] [--spec FILE] [--allowed-signers FILE | --allow-unsigned REASON] [--limit-rate RATE] [--json]',
  positionals: { min: 1, max: 1 },
  summary: 'download a release verified against its signature and manifest, resumable, with progress',
  description:
    "Downloads a release's qcow2 with its image-manifest.json, SHA256SUMS, SHA256SUMS.sig, SBOM and provenance statement\n" +
    'into DIR (default ./<name>-vX.Y.Z/). Before the image, the small files are checked: the signature over SHA256SUMS\n' +
    'against an allowed_signers file (artifacts.signing.allowed_signers in the spec, or --allowed-signers; the SSHSIG\n' +
    'format of ssh-keygen -Y sign, namespace artifacts.signing.namespace, default imagebuild-release), then SHA256SUMS\n' +
    'against the manifest, SBOM and provenance. A bad signature is always refused (exit 1); a release without one, or\n' +
    'a download without allowed_signers to check it, is refused unless --allow-unsigned gives a reason, which\n' +
    'download.json beside the image records with what was proved. The output prints the ssh-keygen -Y verify and\n' +
    'sha256sum -c commands that check the same by hand.\n' +
    'The image streams into <file>.part and is hashed on the way; an interrupted download (Ctrl-C, a dropped link, a\n' +
    'killed process) resumes from the .part file with a ranged request when the same command runs again. Only an\n' +
    'image whose SHA-256 matches the manifest gets its final name; a mismatch removes the partial file, leaves nothing\n' +
    'under the final name and says so (exit 1). Memory stays constant whatever the image size. Progress shows bytes,\n' +
    'rate and ETA: a redrawn line on a terminal, a plain line every few seconds otherwise. A destination without room\n' +
    'for the (rest of the) image is refused before anything is written; a disk that fills meanwhile stops the download\n' +
    'with what to free, and the same command resumes it; so does any transfer that stops part-way (a dropped or stalled\n' +
    'connection: one line says how many bytes the .part keeps).\n' +
    'DIR is hostile ground: no name in it is followed as a link. A link, directory or another user\'s file at the .part\n' +
    'or final name is refused with one line naming it (never followed, replaced or reported as verified); a link to DIR\n' +
    'itself is followed only when you (or root) own it, and a DIR of another user, or one anybody may write without the\n' +
    'sticky bit, is refused. One download per release and DIR at a time: a second is refused naming the first\'s pid\n' +
    '(<image>.lock); a killed one\'s lock is taken over by the next run, which resumes.\n' +
    STORE_NOTE,
  flags: {
    spec: STORE_SPEC_FLAG,
    dest: { type: 'string', value: 'DIR', help: 'directory for the image and its manifest (default ./<name>-vX.Y.Z/)' },
    'allowed-signers': { type: 'string', value: 'FILE', help: "allowed_signers file (ssh-keygen(1) format) to check the release's signature against, over the spec's" },
    'allow-unsigned': { type: 'string', value: 'REASON', help: 'accept a release without a signature (or without allowed_signers to check it); REASON is recorded in download.json' },
    'limit-rate': { type: 'string', value: 'RATE', help: 'stay under RATE bytes per second, e.g. 50M or 500K (shared links)' },
    json: STORE_JSON_FLAG,
  },
  async run({ positionals, flags, cwd, output }) {
    const ref = releaseRefArg(positionals[0]!);
    const limitRate = parseRate(stringFlag(flags['limit-rate']));
    const allowUnsigned = stringFlag(flags['allow-unsigned']);
    if (allowUnsigned !== undefined && allowUnsigned.trim() === '') throw new UsageError('--allow-unsigned needs a reason, e.g. --allow-unsigned "lab machine, release predates signing"');
    const allowedSigners = stringFlag(flags['allowed-signers']);
    const { downloadRelease } = await import('../../app/release-download.js');
    const { describeVerdict } = await import('../../app/release-signing.js');
    const asJson = flags.json === true;
    const report = await withInterrupt(output, 'stopping; the partial download is kept; run the same command again to resume', (signal) =>
      downloadRelease({ specArg: stringFlag(flags.spec), cwd, ref, dest: stringFlag(flags.dest), limitRate, allowedSigners, allowUnsigned, signal, onProgress: asJson ? undefined : createProgressRenderer(output) }),
    );
    if (asJson) {
      output.json(report);
      return 0;
    }
    for (const notice of report.notices) output.err(`${output.paint('yellow', 'notice:')} ${notice}`);
    if (report.signature.status === 'unsigned-allowed') output.err(`${output.paint('yellow', 'warning:')} ${describeVerdict(report.signature)}`);
    const byHand = () => {
      output.out(`  ${describeVerdict(report.signature)}`);
      output.out(`  check by hand, in ${dirname(report.artifact)}:`);
      if (report.signature.status === 'verified') output.out(`    ${report.signature.command}`);
      output.out('    sha256sum -c --ignore-missing SHA256SUMS');
    };
    if (report.status === 'already-present') {
      output.out(`${output.paint('green', '✔')} ${report.artifact} is already here, verified when it was downloaded (manifest ${report.manifest})`);
      byHand();
      return 0;
    }
    output.out(`${output.paint('green', '✔')} downloaded ${report.name} v${report.version}: ${report.artifact}`);
    output.out(`  SHA-256  ${report.sha256} (verified against the manifest)`);
    output.out(`  manifest ${report.manifest}`);
    output.out(`  ${formatBytes(report.bytes)} in ${formatDuration(report.durationS)} at ${formatBytes(report.rate)}/s${report.resumedFrom > 0 ? `, resumed at ${formatBytes(report.resumedFrom)}` : ''}`);
    byHand();
    output.out(`  record   ${report.record}`);
    return 0;
  },
};

/** Parses a rate such as 50M, 500K, 1.5G or 1048576 (bytes per second, binary units). */
export function parseRate(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const match = /^(\d+(?:\.\d+)?)\s*([KMG]?)(?:i?B)?(?:\/s)?$/i.exec(text.trim());
  const value = match ? Number(match[1]) * 1024 ** ['', 'K', 'M', 'G'].indexOf(match[2]!.toUpperCase()) : Number.NaN;
  if (!Number.isFinite(value) || value < 1024) throw new UsageError(`--limit-rate "${text}" is not a rate of at least 1K; give bytes per second, e.g. 50M or 500K`);
  return Math.floor(value);
}
