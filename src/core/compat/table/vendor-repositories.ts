import type { CompatTable } from './facts.js';

export const VENDOR_REPOSITORIES = {
  cuda: { url: 'https://developer.download.nvidia.com/compute/cuda/repos', sources: ['nvidia-cuda-repo-ubuntu2404', 'cuda-install-guide-meta-packages'] },
  containerToolkit: { url: 'https://nvidia.github.io/libnvidia-container', sources: ['nvidia-ctk-install-guide'] },
  pytorch: { url: 'https://download.pytorch.org/whl', sources: ['pytorch-previous-versions'] },
} satisfies CompatTable['vendorRepositories'];
