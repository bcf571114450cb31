import { describe, expect, it } from 'vitest';

import { reportCompat } from './recommend-stack.js';
import { COMPAT_TABLE, type CompatTable } from './table.js';

// The day the table was last looked up.
const TODAY = '2026-12-05';
// A month after R580's end of life (June 2028), when R620 is the only supported branch.
const AFTER_R580 = '2028-07-01';

function errorsOf(findings: readonly { severity: string }[]): unknown[] {
  return findings.filter((finding) => finding.severity === 'error');
}

describe('reportCompat', () => {
  it.each(Object.keys(COMPAT_TABLE.gpus))('recommends a stack for 4x %s that checkGpuStack accepts without an error', (model) => {
    const gpus = 4;

    const report = reportCompat(model, TODAY, gpus);

    expect(report?.recommended).toBeDefined();
    expect(errorsOf(report?.findings ?? [])).toEqual([]);
  });

  it.each(Object.keys(COMPAT_TABLE.gpus))('recommends a stack for one %s that checkGpuStack accepts without an error', (model) => {
    const gpus = 1;

    const report = reportCompat(model, TODAY, gpus);

    expect(report?.recommended).toBeDefined();
    expect(errorsOf(report?.findings ?? [])).toEqual([]);
  });

  it("recommends the demo box's stack for RTX 5090: R580, CUDA 13.0, torch 2.13.0 cu130, vLLM 0.29.0 and an NCCL 2.31.2 pin", () => {
    const model = 'rtx-5090';

    const report = reportCompat(model, TODAY, 4);

    expect(report?.recommended).toMatchObject({
      driver_branch: '580',
      driver_minimum: '580.65.06',
      cuda: '13.0',
      cudnn: '9.28.1',
      pytorch: { version: '2.13.0', cuda_variant: 'cu130', bundled_nccl: '2.29.7' },
      vllm: { version: '0.29.0', torch: '2.13.0' },
      nccl_pin: { wheel: 'nvidia-nccl-cu13', version: '2.31.2', needed_from_gpus: 2 },
      container_toolkit: '1.20.0',
    });
  });

  it('checks the RTX 5090 recommendation on 4 cards down to the one peer-to-peer warning', () => {
    const model = 'rtx-5090';

    const report = reportCompat(model, TODAY, 4);

    expect(report?.findings.map(({ severity, path }) => `${severity} ${path}`)).toEqual(['warning hardware.gpu.count']);
  });

  it('names a source for every component of the RTX 5090 recommendation', () => {
    const model = 'rtx-5090';

    const sources: Readonly<Record<string, readonly string[]>> = reportCompat(model, TODAY, 4)?.recommended?.sources ?? {};

    expect(Object.keys(sources).sort()).toEqual(['container_toolkit', 'cuda', 'cudnn', 'driver', 'nccl', 'pytorch', 'vllm']);
    expect(Object.entries(sources).filter(([, ids]) => ids.length === 0)).toEqual([]);
  });

  it.each(['b200', 'h100', 'rtx-4090', 'a100'])('recommends no NCCL pin for %s, which no NCCL report covers', (model) => {
    const gpus = 4;

    const report = reportCompat(model, TODAY, gpus);

    expect(report?.recommended?.nccl_pin).toBeNull();
  });

  it('says why it passed over newer branches and a newer PyTorch', () => {
    const model = 'rtx-5090';

    const report = reportCompat(model, TODAY, 4);

    expect(report?.notes).toEqual([
      'R620 (Long Term Support, end of life September 2029) is newer, but the table knows no released driver of it (no CUDA release shipped with it)',
      'R595 (Production, end of life March 2027, in 86 days) is newer, but it is not a Long Term Support branch',
      'PyTorch 2.14 is newer, but no vLLM release in the table pins it',
    ]);
  });

  it(`reports every driver branch, newest first, with R570 unsupported and R580 supported on ${TODAY}`, () => {
    const model = 'rtx-5090';

    const branches = reportCompat(model, TODAY, 4)?.branches ?? [];

    expect(branches.map(({ branch }) => branch)).toEqual(['620', '610', '595', '590', '580', '575', '570', '565', '560', '550', '535']);
    expect(branches.filter(({ supported }) => supported).map(({ branch }) => branch)).toEqual(['620', '595', '580']);
    expect(branches.find(({ branch }) => branch === '570')).toEqual({
      branch: '570',
      type: 'production',
      end_of_life: '2026-02',
      supported: false,
      lifecycle: 'Production, past end of life: ended February 2026',
    });
    expect(branches.find(({ branch }) => branch === '580')).toEqual({
      branch: '580',
      type: 'long-term-support',
      end_of_life: '2028-06',
      supported: true,
      lifecycle: 'Long Term Support, end of life June 2028',
    });
  });

  it(`no longer chooses R580 on ${AFTER_R580}, past its end of life, and says why there is no recommendation`, () => {
    const model = 'rtx-5090';

    const report = reportCompat(model, AFTER_R580, 4);

    // R620 is the only supported branch left, and no CUDA release in the table names a GA driver in it.
    expect(report?.branches.filter(({ supported }) => supported).map(({ branch }) => branch)).toEqual(['620']);
    expect(report?.recommended).toBeUndefined();
    expect(report?.findings).toEqual([]);
    expect(report?.notes).toEqual([
      `no supported Long Term Support branch on ${AFTER_R580} that a CUDA release in the table shipped with`,
    ]);
  });

  it(`moves to R620 on ${AFTER_R580} once a CUDA release in the table shipped with it`, () => {
    const table: CompatTable = {
      ...COMPAT_TABLE,
      cuda: { ...COMPAT_TABLE.cuda, '13.6': { minDriver: '620.10.01', sources: ['cuda-redistrib-manifests'] } },
    };

    const report = reportCompat('rtx-5090', AFTER_R580, 4, table);

    expect(report?.recommended).toMatchObject({ driver_branch: '620', driver_minimum: '620.10.01', cuda: '13.6' });
    expect(errorsOf(report?.findings ?? [])).toEqual([]);
  });

  it('returns undefined for an unknown model', () => {
    const model = 'voodoo-2';

    const report = reportCompat(model, TODAY, 4);

    expect(report).toBeUndefined();
  });

  it('returns undefined for an Object.prototype member', () => {
    const model = 'constructor';

    const report = reportCompat(model, TODAY, 4);

    expect(report).toBeUndefined();
  });
});
