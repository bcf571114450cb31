import type { CompatTable } from './facts.js';

// NVIDIA's data-center driver lifecycle tables. The newest page (R620) lists only supported branches; older
// pages give the end of life of branches it no longer lists. New Feature Branches get no end-of-life date.
export const DRIVER_BRANCHES = {
  '535': { type: 'long-term-support', endOfLife: '2026-06', sources: ['nvidia-driver-lifecycle-615'] },
  '550': { endedBy: '2025-08', sources: ['nvidia-driver-lifecycle-580'] },
  '560': { endedBy: '2025-08', sources: ['nvidia-driver-lifecycle-580'] },
  '565': { endedBy: '2025-08', sources: ['nvidia-driver-lifecycle-580'] },
  '570': { type: 'production', endOfLife: '2026-02', sources: ['nvidia-driver-lifecycle-580'] },
  '575': { endedBy: '2025-08', sources: ['nvidia-driver-lifecycle-580'] },
  // The R580-era page said August 2028; the R615 and R620 pages say June 2028.
  '580': { type: 'long-term-support', endOfLife: '2028-06', sources: ['nvidia-driver-lifecycle-620', 'nvidia-driver-lifecycle-615'] },
  '590': { type: 'new-feature', sources: ['nvidia-unix-drivers'] },
  '595': { type: 'production', endOfLife: '2027-03', sources: ['nvidia-driver-lifecycle-620'] },
  '610': { type: 'new-feature', endOfLife: '2026-08', sources: ['nvidia-driver-lifecycle-615'] },
  '620': { type: 'long-term-support', endOfLife: '2029-09', sources: ['nvidia-driver-lifecycle-620'] },
} satisfies CompatTable['driverBranches'];

export const UNBRANCHED_DRIVER_PACKAGES_FROM = { branch: 590, sources: ['nvidia-driver-install-guide-590-packages', 'nvidia-driver-install-guide-ubuntu'] } satisfies CompatTable['unbranchedDriverPackagesFrom'];

export const DRIVER_SOURCES = {
  // Canonical builds and signs the modules for each kernel; 580 is in noble-updates at 580.173.02.
  ubuntu: { distros: ['ubuntu'], signedForSecureBoot: true, sources: ['ubuntu-server-nvidia-drivers', 'ubuntu-noble-nvidia-driver-580'] },
  // DKMS builds the modules on the machine; they are not signed with a key the firmware trusts.
  nvidia: { distros: ['ubuntu', 'debian'], signedForSecureBoot: false, sources: ['nvidia-driver-install-guide-ubuntu', 'nvidia-driver-install-guide-debian', 'ubuntu-server-nvidia-drivers'] },
} satisfies CompatTable['driverSources'];
