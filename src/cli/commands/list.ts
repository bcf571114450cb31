import { formatBytes } from '../../core/release/transfer-rate.js';
import type { Command } from '../command.js';
import { STORE_JSON_FLAG, STORE_NOTE, STORE_SPEC_FLAG, stringFlag } from '../flags.js';

/** `imagebuild list`. */
export const listCommand: Command = {
  name: 'list',
  usage: 'imagebuild list [--spec FILE] [--json]',
  positionals: { min: 0, max: 0 },
  summary: 'list the published releases: version, date, size, driver/CUDA/frameworks, which is current',
  description:
    "Reads the store's release index and each release's image-manifest.json (validated on read) and lists them newest\n" +
    'first; `*` marks the current release. The facts shown (driver, CUDA, frameworks) were read from the built image.\n' +
    STORE_NOTE,
  flags: { spec: STORE_SPEC_FLAG, json: STORE_JSON_FLAG },
  async run({ flags, cwd, output }) {
    const { listReleases } = await import('../../app/release-list.js');
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
