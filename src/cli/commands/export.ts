import type { ExportProgress } from '../../app/export-image.js';
import { EXPORT_FORMATS, type ExportFormat } from '../../core/manifest/image-manifest.js';
import { formatBytes, formatDuration, formatTransfer } from '../../core/release/transfer-rate.js';
import { UsageError } from '../../errors/index.js';
import type { Command } from '../command.js';
import { quoteInput, SPEC_FLAG, STORE_JSON_FLAG, stringFlag, versionArg } from '../flags.js';
import { withInterrupt } from '../interrupt.js';
import type { Output } from '../output.js';

/** `imagebuild export`. */
export const exportCommand: Command = {
  name: 'export',
  usage: 'imagebuild export <version> --format raw|raw.xz|vmdk[,…] [--bmap] [--spec FILE] [--json]',
  positionals: { min: 1, max: 1 },
  summary: 'write a built release as raw, raw.xz or vmdk (with a bmap) for bare-metal provisioning',
  description:
    "Writes the release's qcow2 (output/<name>/vX.Y.Z/) in the formats bare-metal provisioners and other hypervisors\n" +
    'take, beside it: raw (a sparse disk image: dd, Tinkerbell, MAAS ddraw), raw.xz (the same, xz-compressed on every\n' +
    'core: MAAS ddxz, Tinkerbell) and vmdk (streamOptimized: VMware, VirtualBox). Several formats: --format raw.xz,vmdk (or --format repeated).\n' +
    'With --bmap, each raw and raw.xz export also gets a block map (<file>.bmap, bmaptool from the bmap-tools package):\n' +
    '`bmaptool copy <file>.raw.xz /dev/sdX` then writes only the ranges that hold data and checks each.\n' +
    "The qcow2 is first checked against its manifest's SHA-256. Each file is made under a temporary dot name in the\n" +
    'release directory and renamed into place read-only, so a stopped export (Ctrl-C, a full disk, a kill) leaves no half\n' +
    'file under a final name; the next run removes its leftovers. Each export is recorded in image-manifest.json\n' +
    '(exports: format, file, SHA-256, size, bmap), in SHA256SUMS (`sha256sum -c SHA256SUMS` checks it) and among the\n' +
    "provenance statement's subjects; `publish` uploads the exports the manifest records beside the qcow2. An export\n" +
    'already recorded whose file still matches its SHA-256 is left as it is: re-running is a no-op. Memory stays\n' +
    'constant whatever the image size; progress goes to stderr (a redrawn line on a terminal, a plain line every few\n' +
    'seconds otherwise). The release directory needs room for the exports (a raw image takes only its data on disk).',
  flags: {
    spec: SPEC_FLAG,
    format: { type: 'string', value: 'FORMAT[,FORMAT…]', help: `what to write: ${EXPORT_FORMATS.join(', ')} (several: comma-separated, or --format repeated)`, list: true },
    bmap: { type: 'boolean', help: 'also write a bmaptool block map of each raw and raw.xz export (needs bmap-tools)' },
    json: STORE_JSON_FLAG,
  },
  async run({ positionals, flags, cwd, output }) {
    const version = versionArg(positionals[0]!);
    const formats = parseExportFormats(stringFlag(flags.format));
    const bmap = flags.bmap === true;
    if (bmap && !formats.some((f) => f === 'raw' || f === 'raw.xz')) {
      throw new UsageError(`export: --bmap maps raw images; add --format raw or raw.xz (a vmdk has no block map)`);
    }
    const asJson = flags.json === true;
    const { exportRelease } = await import('../../app/export-image.js');
    const report = await withInterrupt(output, 'stopping; no half-written export is left under its final name; run the same command again', (signal) =>
      exportRelease({ specArg: stringFlag(flags.spec), cwd, version, formats, bmap, signal, onProgress: asJson ? undefined : createExportProgressRenderer(output) }),
    );
    if (asJson) {
      output.json(report);
      return 0;
    }
    for (const notice of report.notices) output.err(`${output.paint('yellow', 'notice:')} ${notice}`);
    const width = Math.max(...report.exports.map((e) => e.format.length));
    output.out(`${output.paint('green', '✔')} exported ${report.name} v${report.version} in ${formatDuration(report.durationS)}`);
    for (const e of report.exports) {
      const status = e.status === 'unchanged' ? 'unchanged (verified)' : e.status === 'mapped' ? 'block map added' : 'written';
      output.out(`  ${e.format.padEnd(width)}  ${e.path}  ${formatBytes(e.sizeBytes)}  ${status}`);
      output.out(`  ${''.padEnd(width)}  SHA-256 ${e.sha256}`);
      if (e.bmap) output.out(`  ${''.padEnd(width)}  bmap ${e.bmap.path}`);
    }
    output.out(`  SHA256SUMS ${report.sums}`);
    output.out(`  manifest   ${report.manifest}`);
    return 0;
  },
};

/** The --format value: one or more of EXPORT_FORMATS, comma-separated, in the order they are written; anything else is a usage error naming the valid ones. */
export function parseExportFormats(value: string | undefined): ExportFormat[] {
  const valid = `valid formats: ${EXPORT_FORMATS.join(', ')} (comma-separated for several)`;
  if (value === undefined) throw new UsageError(`export: --format is required; ${valid}`);
  const names = value.split(',').map((name) => name.trim());
  const unknown = names.filter((name) => !(EXPORT_FORMATS as readonly string[]).includes(name));
  if (unknown.length > 0) {
    throw new UsageError(`export: --format ${quoteInput(value)}: unknown format ${unknown.map((name) => quoteInput(name)).join(', ')}; ${valid}`);
  }
  return EXPORT_FORMATS.filter((f) => names.includes(f));
}

// Plain progress lines (not a terminal) at most this often, as for transfers.
const PLAIN_PROGRESS_INTERVAL_MS = 5000;

/** Renders export progress on stderr: one redrawn line per step on a terminal, a plain line every few seconds otherwise. */
export function createExportProgressRenderer(output: Output, now: () => number = Date.now): (progress: ExportProgress) => void {
  let lastPlain = -Infinity;
  let drawn: string | undefined;
  return (progress) => {
    const step = `${progress.action} ${progress.file}`;
    const line = progress.action === 'map' ? `${step}${progress.done ? '  done' : ''}` : formatTransfer(step, progress);
    if (output.interactive) {
      output.err(drawn === step ? `\u001b[1A\u001b[2K${line}` : line);
      drawn = progress.done ? undefined : step;
      return;
    }
    const t = now();
    // A small file is read in one go: its done line follows at once, so its "100%, not done yet" one is left out.
    if (!progress.done && progress.bytes >= progress.total) return;
    if (progress.done || t - lastPlain >= PLAIN_PROGRESS_INTERVAL_MS) {
      lastPlain = t;
      output.err(line);
    }
  };
}
