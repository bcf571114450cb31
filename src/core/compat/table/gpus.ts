import type { CompatTable } from './facts.js';

const OPEN_ONLY = ['open'] as const;
const OPEN_OR_PROPRIETARY = ['open', 'proprietary'] as const;
const BLACKWELL = ['nvidia-cuda-gpus', 'nvidia-arch-matrix'] as const;
const BEFORE_BLACKWELL = ['nvidia-cuda-gpus', 'nvidia-driver-install-guide-kernel-modules'] as const;

/** GPU models by the spec's hardware.gpu.model. */
export const GPUS = {
  // RTX 5090's minDriver is the first driver whose open kernel modules list the card; CUDA 12.8 GA's 570.26 predates it.
  'rtx-5090': { name: 'NVIDIA GeForce RTX 5090', architecture: 'Blackwell', computeCapability: '12.0', memoryMiB: 32607, minDriver: '570.86.16', minCuda: '12.8', kernelModules: OPEN_ONLY, peerToPeer: false, defaultPowerLimitW: 575, sources: ['nvidia-cuda-gpus', 'nvidia-arch-matrix', 'nvidia-open-gpu-kernel-modules-570.86.16'] },
  'rtx-pro-6000-blackwell': { name: 'NVIDIA RTX PRO 6000 Blackwell Workstation Edition', architecture: 'Blackwell', computeCapability: '12.0', memoryMiB: 97887, minDriver: '570', minCuda: '12.8', kernelModules: OPEN_ONLY, peerToPeer: true, defaultPowerLimitW: 600, sources: BLACKWELL },
  b200: { name: 'NVIDIA B200', architecture: 'Blackwell', computeCapability: '10.0', memoryMiB: 183359, minDriver: '570', minCuda: '12.8', kernelModules: OPEN_ONLY, peerToPeer: true, defaultPowerLimitW: 1000, sources: BLACKWELL },
  'rtx-4090': { name: 'NVIDIA GeForce RTX 4090', architecture: 'Ada Lovelace', computeCapability: '8.9', memoryMiB: 24564, minDriver: '520', minCuda: '11.8', kernelModules: OPEN_OR_PROPRIETARY, peerToPeer: false, defaultPowerLimitW: 450, sources: BEFORE_BLACKWELL },
  l40s: { name: 'NVIDIA L40S', architecture: 'Ada Lovelace', computeCapability: '8.9', memoryMiB: 46068, minDriver: '535', minCuda: '11.8', kernelModules: OPEN_OR_PROPRIETARY, peerToPeer: true, defaultPowerLimitW: 350, sources: BEFORE_BLACKWELL },
  h100: { name: 'NVIDIA H100 80GB HBM3', architecture: 'Hopper', computeCapability: '9.0', memoryMiB: 81559, minDriver: '520', minCuda: '11.8', kernelModules: OPEN_OR_PROPRIETARY, peerToPeer: true, defaultPowerLimitW: 700, sources: BEFORE_BLACKWELL },
  a100: { name: 'NVIDIA A100-SXM4-80GB', architecture: 'Ampere', computeCapability: '8.0', memoryMiB: 81920, minDriver: '450', minCuda: '11.0', kernelModules: OPEN_OR_PROPRIETARY, peerToPeer: true, defaultPowerLimitW: 400, sources: BEFORE_BLACKWELL },
  'rtx-3090': { name: 'NVIDIA GeForce RTX 3090', architecture: 'Ampere', computeCapability: '8.6', memoryMiB: 24576, minDriver: '455', minCuda: '11.1', kernelModules: OPEN_OR_PROPRIETARY, peerToPeer: false, defaultPowerLimitW: 350, sources: BEFORE_BLACKWELL },
} satisfies CompatTable['gpus'];
