import type { CompatTable } from './facts.js';

// Carried over from the table's first version (see table.ts).
const OLDER_VLLM = ['vllm-release-notes'] as const;

// vLLM requirements/cuda.txt of each release: the exact torch pin, and the CUDA its default wheels are built for.
export const VLLM = {
  releases: [
    { from: '0.4.3', until: '0.5.0', torch: '2.3.0', sources: OLDER_VLLM },
    { from: '0.5.0', until: '0.6.0', torch: '2.3.1', sources: OLDER_VLLM },
    { from: '0.6.0', until: '0.6.4', torch: '2.4.0', sources: OLDER_VLLM },
    { from: '0.6.4', until: '0.8.0', torch: '2.5.1', sources: OLDER_VLLM },
    { from: '0.8.0', until: '0.9.0', torch: '2.6.0', sources: OLDER_VLLM },
    { from: '0.9.0', until: '0.10.0', torch: '2.7.0', wheelCuda: 'cu128', sources: OLDER_VLLM },
    { from: '0.10.0', until: '0.10.2', torch: '2.7.1', wheelCuda: 'cu128', latest: '0.10.1.1', sources: ['vllm-release-notes'] },
    { from: '0.10.2', until: '0.11.1', torch: '2.8.0', sources: ['vllm-release-notes'] },
    { from: '0.11.1', until: '0.14.0', torch: '2.9.0', wheelCuda: 'cu129', latest: '0.13.0', sources: ['vllm-release-notes'] },
    { from: '0.14.0', until: '0.17.0', torch: '2.9.1', wheelCuda: 'cu129', latest: '0.16.0', sources: ['vllm-release-notes', 'vllm-issue-35823'] },
    { from: '0.17.0', until: '0.20.0', torch: '2.10.0', latest: '0.19.1', sources: ['vllm-release-notes'] },
    { from: '0.20.0', until: '0.27.0', torch: '2.11.0', wheelCuda: 'cu130', latest: '0.26.0', sources: ['vllm-release-notes', 'vllm-issue-42756'] },
    // No vLLM release pinned torch 2.12 (vllm-project/vllm#48155 went from 2.11.0 to 2.13.0); 0.27.0's pin was
    // not found, so it is left out. Closed at 0.30 so newer releases are reported as unchecked.
    { from: '0.27.1', until: '0.30.0', torch: '2.13.0', wheelCuda: 'cu130', latest: '0.29.0', sources: ['vllm-pr-48155', 'vllm-0.27-0.29-torch-2.13'] },
  ],
  // First release whose default wheels (torch cu128) carry sm_100/sm_120 kernels.
  minForArchitecture: { Blackwell: '0.9.0' },
} satisfies CompatTable['vllm'];
