import { createInterface } from 'node:readline/promises';
import type { FlashEvent } from '../../app/flash-image.js';
import { formatBytes, formatDuration, formatTransfer } from '../../core/release/transfer-rate.js';
import { UsageError } from '../../errors/index.js';
import type { Command } from '../command.js';
import { STORE_JSON_FLAG, stringFlag } from '../flags.js';
import { withInterrupt } from '../interrupt.js';
import type { Output } from '../output.js';

/** `imagebuild flash`. */
export const flashCommand: Command = {
  name: 'flash',
  usage: 'imagebuild flash <version|image|dir> --device /dev/X [--yes] [--to-file] [--allowed-signers FILE | --allow-unsigned REASON] [--report FILE] [--spec FILE] [--json]',
  positionals: { min: 1, max: 1 },
  summary: "write a verified release onto a machine's disk, read it back and leave a report",
  description:
    "Writes a release's qcow2 onto a disk attached to this machine (the workstation's NVMe in a dock, a USB SSD) for it\n" +
    'to boot from. The source is a version (output/<name>/vX.Y.Z/, else the download directory ./<name>-vX.Y.Z/), a\n' +
    'release directory, or a qcow2 with its image-manifest.json beside it. Before a byte is written: the signature\n' +
    'over SHA256SUMS is checked against allowed_signers (artifacts.signing.allowed_signers or --allowed-signers; an\n' +
    'unsigned release needs --allow-unsigned REASON), SHA256SUMS must agree with the manifest, and the image must hash\n' +
    "to the manifest's SHA-256. The disk is refused when it is mounted (or any partition is), holds the running root\n" +
    'or swap, is used by LVM, md or device-mapper, is read-only, is a partition rather than a whole disk, or is smaller\n' +
    "than the image's virtual size; a plain file is written only with --to-file. flash prints the disk's model, serial\n" +
    'and size and asks for the serial to be typed back (the device name when it reports no serial); --yes skips that,\n' +
    'and without a terminal --yes is required. Only the image\'s data is written as data (qemu-img convert -n, O_DIRECT);\n' +
    "its zero ranges are zeroed with the disk's write-zeroes command. Then the disk is flushed, read back and compared\n" +
    "with the image over the image's virtual size (qemu-img compare), and the image hashed again. A JSON report\n" +
    '(device, model, serial, size, bytes written, duration, source SHA-256, signature verdict, compare result) is\n' +
    'written to ./flash-<serial>-<time>.json or --report FILE. Exit 0 only when the read-back is identical.',
  flags: {
    device: { type: 'string', value: '/dev/X', help: 'the whole disk to write (e.g. /dev/sdb, /dev/nvme1n1, /dev/disk/by-id/…); with --to-file, a file' },
    yes: { type: 'boolean', help: 'do not ask for the serial to be typed back (scripts; required without a terminal)' },
    'to-file': { type: 'boolean', help: 'the target is a plain file (created when missing), for a disk image or a test; never a device' },
    'allowed-signers': { type: 'string', value: 'FILE', help: "allowed_signers file (ssh-keygen(1) format) to check the release's signature against, over the spec's" },
    'allow-unsigned': { type: 'string', value: 'REASON', help: 'accept a release without a signature (or without allowed_signers to check it); REASON is recorded in the report' },
    report: { type: 'string', value: 'FILE', help: 'where the JSON report goes (default ./flash-<serial>-<UTC time>.json)' },
    spec: { type: 'string', value: 'FILE', help: 'image spec (YAML): its name, output dir and artifacts.signing; default: $IMAGEBUILD_SPEC, else the shipped demo box' },
    json: STORE_JSON_FLAG,
  },
  async run({ positionals, flags, cwd, output }) {
    const device = stringFlag(flags.device);
    if (device === undefined || device === '') throw new UsageError('flash: --device is required: the whole disk to write, e.g. --device /dev/sdb (lsblk lists them)');
    const allowUnsigned = stringFlag(flags['allow-unsigned']);
    if (allowUnsigned !== undefined && allowUnsigned.trim() === '') throw new UsageError('--allow-unsigned needs a reason, e.g. --allow-unsigned "lab machine, release predates signing"');
    const asJson = flags.json === true;
    const { flashImage } = await import('../../app/flash-image.js');
    const result = await withInterrupt(output, 'stopping; a disk written part-way will not boot: run the same command again', (signal) =>
      flashImage({
        specArg: stringFlag(flags.spec),
        cwd,
        source: positionals[0]!,
        device,
        toFile: flags['to-file'] === true,
        yes: flags.yes === true,
        ...(process.stdin.isTTY ? { confirm: askOnTerminal } : {}),
        allowedSigners: stringFlag(flags['allowed-signers']),
        allowUnsigned,
        reportPath: stringFlag(flags.report),
        signal,
        onEvent: createFlashRenderer(output, !asJson),
      }),
    );
    const { report, reportPath } = result;
    if (asJson) {
      output.json(report);
      return 0;
    }
    output.out(`${output.paint('green', '✔')} done: ${report.source.name} v${report.source.version} is on ${report.device.path}, read back identical (${formatBytes(report.compare.range_bytes)})`);
    output.out(`  wrote ${formatBytes(report.write.bytes_written)} of data, zeroed ${formatBytes(report.write.bytes_zeroed)}, in ${formatDuration(report.duration_s)}`);
    output.out(`  SHA-256 ${report.source.sha256}`);
    output.out(`  report  ${reportPath}`);
    return 0;
  },
};

/** Prints the target and asks for its serial (or name) on the terminal; the answer is checked by flash. */
async function askOnTerminal(question: { target: string; token: string; tokenIs: 'serial' | 'name' }): Promise<string> {
  const terminal = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return await terminal.question(`Everything on this disk will be overwritten:\n  ${question.target}\nType its ${question.tokenIs} (${question.token}) to go on: `);
  } finally {
    terminal.close();
  }
}

// Plain progress lines (not a terminal) at most this often, as for transfers.
const PLAIN_PROGRESS_INTERVAL_MS = 5000;

/** Renders flash events on stderr: the source and target lines always (they are what the technician confirms), progress unless `progress` is false. */
export function createFlashRenderer(output: Output, progress: boolean, now: () => number = Date.now): (event: FlashEvent) => void {
  let lastPlain = -Infinity;
  let drawn: string | undefined;
  return (event) => {
    if (event.type === 'source') return output.err(`source: ${event.line}`);
    if (event.type === 'target') return output.err(`target: ${event.line}`);
    if (event.type === 'notice') return output.err(`${output.paint('yellow', 'notice:')} ${event.message}`);
    if (!progress) return;
    const line = formatTransfer(event.action, event);
    if (output.interactive) {
      output.err(drawn === event.action ? `\u001b[1A\u001b[2K${line}` : line);
      drawn = event.done ? undefined : event.action;
      return;
    }
    const t = now();
    if (event.done || t - lastPlain >= PLAIN_PROGRESS_INTERVAL_MS) {
      lastPlain = t;
      output.err(line);
    }
  };
}
