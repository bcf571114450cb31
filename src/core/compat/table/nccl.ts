import type { CompatTable } from './facts.js';

export const NCCL = {
  wheel: { packages: { '11': 'nvidia-nccl-cu11', '12': 'nvidia-nccl-cu12', '13': 'nvidia-nccl-cu13' }, sources: ['nccl-wheels-pypi'] },
  topologies: [
    {
      description: 'two or more sm_120 GPUs without NVLink',
      computeCapability: '12.0',
      minGpus: 2,
      broken: [
        { version: '2.26.2', failure: 'hits an illegal memory access on all-reduces of 512 KiB and more', sources: ['nccl-issue-2418', 'pytorch-issue-152780'] },
        { version: '2.27.5', failure: 'fails all-reduces of 512 KiB and more in its shared-memory transport', sources: ['nccl-issue-1852'] },
      ],
      firstGood: { version: '2.31.2', sources: ['nccl-issue-2418'] },
    },
  ],
} satisfies CompatTable['nccl'];
