import type { TransferProgress } from '../app/release-store.js';
import { formatTransfer } from '../core/release/transfer-rate.js';
import type { Output } from './output.js';

// Plain progress lines (not a terminal) at most this often.
const PLAIN_PROGRESS_INTERVAL_MS = 5000;

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
