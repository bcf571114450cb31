// Rate and ETA of a transfer from timed byte counts. A sliding window keeps the rate responsive
// (a stalled network shows up within seconds) without the jitter of the last chunk alone.

/** Samples of (time, bytes) over the last window, oldest first. */
export type TransferMeter = { readonly windowMs: number; readonly samples: readonly { readonly t: number; readonly bytes: number }[] };

/** What a progress display shows. */
export type TransferReading = {
  readonly bytes: number;
  readonly total: number;
  /** Bytes per second over the window; 0 until two samples exist. */
  readonly rate: number;
  /** Seconds left at the current rate; null when unknown (no rate yet). */
  readonly etaS: number | null;
};

/** A meter with no samples; `windowMs` is how far back the rate looks. */
export function createTransferMeter(windowMs = 5000): TransferMeter {
  return { windowMs, samples: [] };
}

/** Adds a sample (time in ms from any fixed origin, bytes transferred so far) and returns the new meter with its reading. */
export function sampleTransfer(meter: TransferMeter, nowMs: number, bytes: number, total: number): { meter: TransferMeter; reading: TransferReading } {
  const samples = [...meter.samples, { t: nowMs, bytes }];
  // Keep one sample older than the window so the rate always spans at least the window.
  while (samples.length > 2 && samples[1]!.t <= nowMs - meter.windowMs) samples.shift();
  const first = samples[0]!;
  const elapsedS = (nowMs - first.t) / 1000;
  const rate = elapsedS > 0 ? Math.max(0, (bytes - first.bytes) / elapsedS) : 0;
  const etaS = rate > 0 ? Math.max(0, (total - bytes) / rate) : bytes >= total ? 0 : null;
  return { meter: { windowMs: meter.windowMs, samples }, reading: { bytes, total, rate, etaS } };
}

/** Bytes in IEC units: 1.5 GiB. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}

/** Seconds as 1h02m, 3m05s or 42s. */
export function formatDuration(seconds: number): string {
  const s = Math.round(seconds);
  if (s >= 3600) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  if (s >= 60) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${s}s`;
}

/** One progress line: `label  1.2 GiB / 50.0 GiB  2%  112.4 MiB/s  ETA 7m15s`. */
export function formatTransfer(label: string, reading: TransferReading): string {
  const pct = reading.total > 0 ? Math.floor((reading.bytes / reading.total) * 100) : 100;
  const eta = reading.etaS === null ? 'ETA --' : `ETA ${formatDuration(reading.etaS)}`;
  return `${label}  ${formatBytes(reading.bytes)} / ${formatBytes(reading.total)}  ${pct}%  ${formatBytes(reading.rate)}/s  ${eta}`;
}
