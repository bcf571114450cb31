import { existsSync } from 'node:fs';
import { readFile, rename, writeFile } from 'node:fs/promises';
import type { FigureResult, FigureRow, RowStatus } from './figure.js';
import type { MachineDescription } from './machine.js';

const HEADER = `# Benchmark results

Written by \`npm run bench -- --record\` (see [README.md](README.md) for what each figure measures and
against which baseline). Each section is one run; the newest is first and older ones are kept, so a
regression shows as a changed ratio. Ratios compare with baselines measured in the same run on the same
machine; absolute times are only comparable between runs on the same machine.
`;
const MARKER = '<!-- runs, newest first -->';

function statusText(status: RowStatus): string {
  switch (status.kind) {
    case 'met':
      return 'met';
    case 'not-met':
      return '**not met**';
    case 'info':
      return '—';
    case 'skipped':
      return `skipped: ${status.reason}`;
  }
}

function escapeCell(text: string): string {
  return text.replace(/\|/g, '\\|');
}

/** The results as a Markdown table: readable in a terminal and in RESULTS.md alike. */
export function formatTable(rows: readonly FigureRow[]): string {
  const header = ['figure', 'measured', 'baseline (same run)', 'ratio', 'goal', 'status'];
  const cells = rows.map((r) => [r.figure, r.measured, r.baseline, r.ratio, r.goal, statusText(r.status)].map(escapeCell));
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (values: readonly string[]) => `| ${values.map((v, i) => v.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...cells.map(line)].join('\n');
}

/** One dated section: machine, settings, table, notes. */
export function formatSection(machine: MachineDescription, settings: string, results: readonly FigureResult[]): string {
  const rows = results.flatMap((r) => r.rows);
  const notes = results.flatMap((r) => r.notes);
  return [
    `## ${machine.date}`,
    '',
    `Machine: ${Object.entries(machine)
      .filter(([k]) => k !== 'date')
      .map(([k, v]) => `${k} ${v}`)
      .join('; ')}.`,
    '',
    `Settings: ${settings}.`,
    '',
    formatTable(rows),
    '',
    ...notes.map((n) => `- ${n}`),
    '',
  ].join('\n');
}

/** Puts a new section at the top of RESULTS.md (below its header), keeping every earlier section. */
export async function recordResults(path: string, section: string): Promise<void> {
  const existing = existsSync(path) ? await readFile(path, 'utf8') : '';
  const at = existing.indexOf(MARKER);
  const older = at >= 0 ? existing.slice(at + MARKER.length).replace(/^\n+/, '') : existing.trim() ? `${existing.trim()}\n` : '';
  const head = at >= 0 ? existing.slice(0, at) : `${HEADER}\n`;
  const text = `${head}${MARKER}\n\n${section}${older ? `\n${older}` : ''}`;
  await writeFile(`${path}.tmp`, text);
  await rename(`${path}.tmp`, path);
}
