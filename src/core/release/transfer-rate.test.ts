import { describe, expect, it } from 'vitest';
import { createTransferMeter, formatDuration, formatTransfer, sampleTransfer } from './transfer-rate.js';

describe('transfer rate', () => {
  it('measures the rate over a sliding window and derives the ETA', () => {
    let meter = createTransferMeter(2000);
    const MiB = 1024 * 1024;

    for (const [t, bytes] of [
      [0, 0],
      [1000, 10 * MiB],
      [2000, 20 * MiB],
      [3000, 60 * MiB],
    ] as const) {
      meter = sampleTransfer(meter, t, bytes, 100 * MiB).meter;
    }
    const { reading } = sampleTransfer(meter, 4000, 100 * MiB - 40 * MiB, 100 * MiB);

    // The window (2 s) covers 20 MiB at t=2000 → 60 MiB at t=4000: 20 MiB/s; 40 MiB left: 2 s.
    expect(reading.rate).toBe(20 * MiB);
    expect(reading.etaS).toBe(2);
    expect(formatTransfer('download x.qcow2', reading)).toBe('download x.qcow2  60.0 MiB / 100.0 MiB  60%  20.0 MiB/s  ETA 2s');
  });

  it('has no ETA before a rate is known, and formats long durations', () => {
    const { reading } = sampleTransfer(createTransferMeter(), 0, 0, 10);

    expect(reading.etaS).toBeNull();
    expect(formatDuration(3725)).toBe('1h02m');
    expect(formatDuration(185)).toBe('3m05s');
  });
});
