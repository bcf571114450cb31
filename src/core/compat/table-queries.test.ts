import { describe, expect, it } from 'vitest';

import { driverBranchOf, gpuFactsOf, hasUnbranchedDriverPackages, ncclWheelForVariant, osFactsOf, runsWithoutPeerToPeer } from './table-queries.js';

// The facts render reads from the table; the golden files hold what they render to.
describe('table queries render shares with the checks', () => {
  it('looks GPUs and OSes up by their own keys only', () => {
    const known = [gpuFactsOf('rtx-5090')?.name, osFactsOf('debian-12')?.python];

    const prototypeMembers = [gpuFactsOf('constructor'), osFactsOf('toString')];

    expect(known).toEqual(['NVIDIA GeForce RTX 5090', '3.11']);
    expect(prototypeMembers).toEqual([undefined, undefined]);
  });

  it.each([
    { driver: '580.173.02', branch: '580', unbranched: false },
    { driver: '590.44.01', branch: '590', unbranched: true },
    { driver: '620', branch: '620', unbranched: true },
  ])('driver $driver is of branch $branch, unbranched packages: $unbranched', ({ driver, branch, unbranched }) => {
    const facts = [driverBranchOf(driver), hasUnbranchedDriverPackages(driver)];

    expect(facts).toEqual([branch, unbranched]);
  });

  it('names the NCCL wheel by the CUDA major of a wheel variant, and none for a major the table lacks', () => {
    const variants = ['cu118', 'cu126', 'cu130', 'cu99'];

    const wheels = variants.map((variant) => ncclWheelForVariant(variant));

    expect(wheels).toEqual(['nvidia-nccl-cu11', 'nvidia-nccl-cu12', 'nvidia-nccl-cu13', undefined]);
  });

  it.each([
    { model: 'rtx-5090', count: 4, withoutP2p: true },
    { model: 'rtx-5090', count: 1, withoutP2p: false },
    { model: 'h100', count: 4, withoutP2p: false },
    { model: 'voodoo-2', count: 4, withoutP2p: false },
  ])('$count x $model runs NCCL without peer-to-peer: $withoutP2p', ({ model, count, withoutP2p }) => {
    const runs = runsWithoutPeerToPeer(gpuFactsOf(model), count);

    expect(runs).toBe(withoutP2p);
  });
});
