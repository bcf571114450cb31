import type { CompatTable } from './facts.js';

// Distribution package archives: python3's version, the EXTERNALLY-MANAGED marker (PEP 668) and libc6's glibc.
export const OS = {
  'ubuntu-24.04': { name: 'Ubuntu 24.04', python: '3.12', externallyManaged: true, glibc: '2.39', sources: ['distro-python', 'distro-glibc'] },
  'ubuntu-22.04': { name: 'Ubuntu 22.04', python: '3.10', externallyManaged: false, glibc: '2.35', sources: ['distro-python', 'distro-glibc'] },
  'debian-12': { name: 'Debian 12', python: '3.11', externallyManaged: true, glibc: '2.36', sources: ['distro-python', 'distro-glibc'] },
} satisfies CompatTable['os'];
