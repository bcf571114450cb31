import type { CompatTable } from './facts.js';

// Distribution package archives (python3 version) and their EXTERNALLY-MANAGED marker (PEP 668).
export const OS = {
  'ubuntu-24.04': { name: 'Ubuntu 24.04', python: '3.12', externallyManaged: true, sources: ['distro-python'] },
  'ubuntu-22.04': { name: 'Ubuntu 22.04', python: '3.10', externallyManaged: false, sources: ['distro-python'] },
  'debian-12': { name: 'Debian 12', python: '3.11', externallyManaged: true, sources: ['distro-python'] },
} satisfies CompatTable['os'];
