import { describe, expect, it } from 'vitest';
import { checkPreflight, type HostFacts, type PreflightNeeds } from './check-preflight.js';

const GIB = 1024 ** 3;
const NEEDS: PreflightNeeds = {
  disk: [
    { path: '/cache', bytes: 10 * GIB, what: 'cache (2 layer(s) to build)' },
    { path: '/out', bytes: 5 * GIB, what: 'output (flattened image)' },
  ],
  tools: [{ command: 'packer', why: 'to build layers' }],
  accelerator: 'auto',
  passthrough: [],
};
const HOST: HostFacts = {
  freeBytes: { '/cache': 100 * GIB, '/out': 100 * GIB },
  commands: { packer: true },
  kvm: { usable: true, reason: 'a kernel booted under KVM in 1.2 s' },
  pciDrivers: {},
};

describe('checkPreflight', () => {
  it('passes a host with room, tools and working KVM, choosing kvm for auto', () => {
    const result = checkPreflight(NEEDS, HOST);

    expect(result.problems).toEqual([]);
    expect(result.accelerator).toBe('kvm');
  });

  it('names the free space and the space needed when the disk is too small', () => {
    const result = checkPreflight(NEEDS, { ...HOST, freeBytes: { '/cache': 0.00003 * GIB, '/out': 100 * GIB } });

    expect(result.problems).toEqual(['disk: /cache has 0.0 GiB free; the build needs about 10.0 GiB for cache (2 layer(s) to build)']);
  });

  it('adds up needs on the same filesystem path', () => {
    const result = checkPreflight({ ...NEEDS, disk: NEEDS.disk.map((d) => ({ ...d, path: '/same' })) }, { ...HOST, freeBytes: { '/same': 12 * GIB } });

    expect(result.problems).toEqual(['disk: /same has 12.0 GiB free; the build needs about 15.0 GiB for cache (2 layer(s) to build) and output (flattened image)']);
  });

  it('adds up needs in different directories of one filesystem', () => {
    const result = checkPreflight(NEEDS, { ...HOST, freeBytes: { '/cache': 12 * GIB, '/out': 12 * GIB }, filesystems: { '/cache': '2049', '/out': '2049' } });

    expect(result.problems).toEqual(['disk: /cache has 12.0 GiB free; the build needs about 15.0 GiB for cache (2 layer(s) to build) and output (flattened image)']);
  });

  it('names a missing tool and why it is needed', () => {
    const result = checkPreflight(NEEDS, { ...HOST, commands: { packer: false } });

    expect(result.problems).toEqual(['tool: packer not found on PATH; it is needed to build layers']);
  });

  it('falls back to TCG for auto when the KVM probe fails, with a notice, and refuses an explicit kvm', () => {
    const broken = { ...HOST, kvm: { usable: false, reason: '/dev/kvm opens but a kernel did not boot under KVM within 30 s' } };

    const auto = checkPreflight(NEEDS, broken);
    const explicit = checkPreflight({ ...NEEDS, accelerator: 'kvm' }, broken);

    expect(auto.accelerator).toBe('tcg');
    expect(auto.problems).toEqual([]);
    expect(auto.notices[0]).toContain('tcg, software emulation');
    expect(explicit.problems).toEqual(['kvm: /dev/kvm opens but a kernel did not boot under KVM within 30 s; the spec or --accel asks for kvm (use --accel tcg to build with software emulation)']);
  });

  it('requires every passed-through GPU function to be bound to vfio-pci, and KVM for passthrough', () => {
    const needs = { ...NEEDS, passthrough: ['0000:01:00.0', '0000:01:00.1', '0000:21:00.0'] };

    const result = checkPreflight(needs, { ...HOST, kvm: { usable: false, reason: 'no kvm' }, pciDrivers: { '0000:01:00.0': 'vfio-pci', '0000:01:00.1': 'snd_hda_intel', '0000:21:00.0': null } });

    expect(result.problems).toEqual([
      'vfio: PCI device 0000:01:00.1 is bound to snd_hda_intel, not vfio-pci; bind it to vfio-pci (docs/gpu-host-setup.md) or build with --host-profile cpu',
      'vfio: PCI device 0000:21:00.0 is not present or has no driver; it must exist and be bound to vfio-pci (docs/gpu-host-setup.md)',
      'vfio: GPU passthrough needs KVM; this host can only use TCG (build with --host-profile cpu to skip the GPUs)',
    ]);
  });
});
