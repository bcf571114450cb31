import type { CompatTable } from './facts.js';

// NVIDIA security bulletins: every version below `fixedIn` is exposed to the CVEs.
export const CONTAINER_TOOLKIT = {
  advisories: [
    { fixedIn: '1.16.2', cves: ['CVE-2024-0132', 'CVE-2024-0133'], what: 'container escape (TOCTOU)', sources: ['cve-2024-0132'] },
    { fixedIn: '1.17.4', cves: ['CVE-2025-23359'], what: 'container escape (TOCTOU, bypass of the CVE-2024-0132 fix)', sources: ['cve-2025-23359'] },
    { fixedIn: '1.17.8', cves: ['CVE-2025-23266', 'CVE-2025-23267'], what: '"NVIDIAScape" container escape through the initialisation hooks', sources: ['cve-2025-23266'] },
    { fixedIn: '1.19.1', cves: ['CVE-2026-24260'], what: 'code execution and privilege escalation (TOCTOU)', sources: ['cve-2026-24260'] },
  ],
  newest: { version: '1.20.0', sources: ['nvidia-ctk-releases'] },
} satisfies CompatTable['containerToolkit'];
