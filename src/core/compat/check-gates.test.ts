import { describe, expect, it } from 'vitest';
import { checkGates, type GateDemands } from './check-gates.js';

const DEMO: GateDemands = {
  gpu: { model: 'rtx-5090', count: 4 },
  diskSizeGib: 200,
  base: { minRootFsGib: 180 },
  driver: { minMemoryMib: 32000 },
  validation: { soakDuration: '24h', sampleIntervalS: 5, minGpuUtilizationPct: 90 },
};

const paths = (demands: GateDemands) => checkGates(demands).map((f) => `${f.severity} ${f.path}`);

describe('checkGates', () => {
  it('passes gates a machine can pass and that measure something', () => {
    expect(checkGates(DEMO)).toEqual([]);
    expect(checkGates({ ...DEMO, driver: { minMemoryMib: 32607 }, base: { minRootFsGib: 199 }, validation: { ...DEMO.validation, soakDuration: '10s' } })).toEqual([]);
  });

  it.each([
    ['more GPU memory than the model has', { driver: { minMemoryMib: 32608 } }, 'layers.driver.gate.min_memory_mib', 'expects 32608 MiB per GPU, but a NVIDIA GeForce RTX 5090 has 32607 MiB (nvidia-smi memory.total), so no machine passes this gate; at most 32607'],
    ['more GPU memory than another model has', { gpu: { model: 'rtx-4090', count: 1 }, driver: { minMemoryMib: 32000 } }, 'layers.driver.gate.min_memory_mib', 'at most 24564'],
    ['a root filesystem as large as the disk', { base: { minRootFsGib: 200 } }, 'layers.base.gate.min_root_fs_gib', 'give less than 200, or a larger disk'],
    ['a root filesystem larger than the disk', { base: { minRootFsGib: 500 } }, 'layers.base.gate.min_root_fs_gib', 'expects a root filesystem of 500 GiB on a 200 GiB disk'],
    ['a 0 s soak', { validation: { ...DEMO.validation, soakDuration: '0s' } }, 'layers.validation.gate.soak_duration', '"0s" is no soak at all, so its temperature and throttling checks prove nothing; give at least 10s (2 × sample_interval_s), e.g. "24h"'],
    ['a 0 h soak', { validation: { ...DEMO.validation, soakDuration: '0h' } }, 'layers.validation.gate.soak_duration', '"0h" is no soak at all'],
    ['a soak shorter than two samples', { validation: { ...DEMO.validation, soakDuration: '1m', sampleIntervalS: 60 } }, 'layers.validation.gate.soak_duration', '"1m" takes fewer than 2 samples at sample_interval_s 60, so the soak\'s temperature rests on no measurement; give at least 2m, or a shorter sample_interval_s'],
    ['a utilisation floor of 0 %', { validation: { ...DEMO.validation, minGpuUtilizationPct: 0 } }, 'layers.validation.gate.min_gpu_utilization_pct', '0 accepts an idle GPU, so the check proves nothing; give 1-100'],
  ] satisfies [string, Partial<GateDemands>, string, string][])('refuses %s, naming the field and what would be valid', (_what, change, path, message) => {
    const findings = checkGates({ ...DEMO, ...change });

    expect(findings).toEqual([{ severity: 'error', path, message: expect.stringContaining(message) }]);
  });

  it('knows no memory of a model missing from the table, and leaves that to the schema', () => {
    expect(paths({ ...DEMO, gpu: { model: 'not-a-gpu', count: 1 }, driver: { minMemoryMib: 10 ** 9 } })).toEqual([]);
  });

  it('does not ask for utilisation on an image without GPUs', () => {
    expect(paths({ ...DEMO, gpu: { model: 'rtx-5090', count: 0 }, validation: { ...DEMO.validation, minGpuUtilizationPct: 0 } })).toEqual([]);
  });
});
