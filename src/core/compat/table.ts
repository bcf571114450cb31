export type GpuArchitecture = 'Ampere' | 'Ada Lovelace' | 'Hopper' | 'Blackwell';

export type KernelModuleFlavour = 'open' | 'proprietary';

export type GpuFacts = {
  /** Exactly as `nvidia-smi --query-gpu=name --format=csv,noheader` prints it; the driver gate compares it. */
  name: string;
  architecture: GpuArchitecture;
  /** `major.minor`, e.g. "12.0" for sm_120. */
  computeCapability: string;
  /** `memory.total` as nvidia-smi reports it, in MiB. */
  memoryMiB: number;
  /** First driver branch that drives the card. */
  minDriver: string;
  /** First CUDA toolkit minor that can compile for its compute capability. */
  minCuda: string;
  kernelModules: readonly KernelModuleFlavour[];
  /** PCIe peer-to-peer between cards; without it NCCL copies through host memory. */
  peerToPeer: boolean;
  defaultPowerLimitW: number;
};

export type CudaFacts = {
  /** Minimum Linux x86_64 driver for the full toolkit of this minor (its GA release). */
  minDriver: string;
};

export type PyTorchWheelVariant = {
  /** CUDA minor the wheels are built with and bundle. */
  cuda: string;
  /** Compute capabilities the wheels ship SASS for (TORCH_CUDA_ARCH_LIST). */
  computeCapabilities: readonly string[];
};

export type PyTorchFacts = {
  /** Python minors with published wheels. */
  python: readonly string[];
  /** Keyed by the wheel index suffix, e.g. `cu128`. */
  variants: Readonly<Record<string, PyTorchWheelVariant>>;
};

export type VllmRelease = {
  from: string;
  /** Exclusive; absent means "and every later release" */
  until?: string;
  /** Exact torch version the vLLM wheels pin. */
  torch: string;
};

export type VllmFacts = {
  /** Ordered, contiguous ranges of releases. */
  releases: readonly VllmRelease[];
  minForArchitecture: Partial<Record<GpuArchitecture, string>>;
};

export type TensorFlowFacts = {
  /** CUDA minor of the tested build configuration. */
  cuda: string;
  cudnn: string;
  python: readonly string[];
  /** Highest compute capability the wheels ship kernels for; newer GPUs only get PTX JIT. */
  maxComputeCapability: string;
};

export type OsFacts = {
  name: string;
  /** The distribution's system Python minor. */
  python: string;
  /** PEP 668 EXTERNALLY-MANAGED marker: pip refuses to install into the system Python. */
  externallyManaged: boolean;
};

export type CompatTable = {
  gpus: Readonly<Record<string, GpuFacts>>;
  cuda: Readonly<Record<string, CudaFacts>>;
  pytorch: Readonly<Record<string, PyTorchFacts>>;
  vllm: VllmFacts;
  tensorflow: Readonly<Record<string, TensorFlowFacts>>;
  os: Readonly<Record<string, OsFacts>>;
};

// Wheel arch lists from PyTorch's .ci/manywheel/build_cuda.sh per release. Only 8.0 and up matter
// for the GPUs below; the pre-Turing entries are best knowledge.
const SM_50_TO_90 = ['5.0', '6.0', '7.0', '7.5', '8.0', '8.6', '9.0'];
const SM_75_TO_120 = ['7.5', '8.0', '8.6', '9.0', '10.0', '12.0'];
const SM_70_TO_120 = ['7.0', '7.5', '8.0', '8.6', '9.0', '10.0', '12.0'];
const SM_75_TO_120_CUDA13 = ['7.5', '8.0', '8.6', '9.0', '10.0', '11.0', '12.0'];

const PY_38_TO_311 = ['3.8', '3.9', '3.10', '3.11'];
const PY_38_TO_312 = ['3.8', '3.9', '3.10', '3.11', '3.12'];
const PY_39_TO_311 = ['3.9', '3.10', '3.11'];
const PY_39_TO_312 = ['3.9', '3.10', '3.11', '3.12'];
const PY_39_TO_313 = ['3.9', '3.10', '3.11', '3.12', '3.13'];
const PY_310_TO_314 = ['3.10', '3.11', '3.12', '3.13', '3.14'];

const CU118 = { cuda: '11.8', computeCapabilities: SM_50_TO_90 };
const CU121 = { cuda: '12.1', computeCapabilities: SM_50_TO_90 };
const CU124 = { cuda: '12.4', computeCapabilities: SM_50_TO_90 };
const CU126 = { cuda: '12.6', computeCapabilities: SM_50_TO_90 };

export const COMPAT_TABLE = {
  // GPU facts: NVIDIA product pages, CUDA GPU compute capability list, driver release notes (first supporting branch).
  gpus: {
    'rtx-5090': {
      name: 'NVIDIA GeForce RTX 5090',
      architecture: 'Blackwell',
      computeCapability: '12.0',
      memoryMiB: 32607,
      minDriver: '570',
      minCuda: '12.8',
      kernelModules: ['open'],
      peerToPeer: false,
      defaultPowerLimitW: 575,
    },
    'rtx-pro-6000-blackwell': {
      name: 'NVIDIA RTX PRO 6000 Blackwell Workstation Edition',
      architecture: 'Blackwell',
      computeCapability: '12.0',
      memoryMiB: 97887,
      minDriver: '570',
      minCuda: '12.8',
      kernelModules: ['open'],
      peerToPeer: true,
      defaultPowerLimitW: 600,
    },
    b200: {
      name: 'NVIDIA B200',
      architecture: 'Blackwell',
      computeCapability: '10.0',
      memoryMiB: 183359,
      minDriver: '570',
      minCuda: '12.8',
      kernelModules: ['open'],
      peerToPeer: true,
      defaultPowerLimitW: 1000,
    },
    'rtx-4090': {
      name: 'NVIDIA GeForce RTX 4090',
      architecture: 'Ada Lovelace',
      computeCapability: '8.9',
      memoryMiB: 24564,
      minDriver: '520',
      minCuda: '11.8',
      kernelModules: ['open', 'proprietary'],
      peerToPeer: false,
      defaultPowerLimitW: 450,
    },
    l40s: {
      name: 'NVIDIA L40S',
      architecture: 'Ada Lovelace',
      computeCapability: '8.9',
      memoryMiB: 46068,
      minDriver: '535',
      minCuda: '11.8',
      kernelModules: ['open', 'proprietary'],
      peerToPeer: true,
      defaultPowerLimitW: 350,
    },
    h100: {
      name: 'NVIDIA H100 80GB HBM3',
      architecture: 'Hopper',
      computeCapability: '9.0',
      memoryMiB: 81559,
      minDriver: '520',
      minCuda: '11.8',
      kernelModules: ['open', 'proprietary'],
      peerToPeer: true,
      defaultPowerLimitW: 700,
    },
    a100: {
      name: 'NVIDIA A100-SXM4-80GB',
      architecture: 'Ampere',
      computeCapability: '8.0',
      memoryMiB: 81920,
      minDriver: '450',
      minCuda: '11.0',
      kernelModules: ['open', 'proprietary'],
      peerToPeer: true,
      defaultPowerLimitW: 400,
    },
    'rtx-3090': {
      name: 'NVIDIA GeForce RTX 3090',
      architecture: 'Ampere',
      computeCapability: '8.6',
      memoryMiB: 24576,
      minDriver: '455',
      minCuda: '11.1',
      kernelModules: ['open', 'proprietary'],
      peerToPeer: false,
      defaultPowerLimitW: 350,
    },
  },
  // NVIDIA CUDA Toolkit release notes, table 3 (toolkit and minimum Linux x86_64 driver, GA release of each minor).
  cuda: {
    '11.0': { minDriver: '450.51.05' },
    '11.1': { minDriver: '455.23' },
    '11.2': { minDriver: '460.27.03' },
    '11.3': { minDriver: '465.19.01' },
    '11.4': { minDriver: '470.42.01' },
    '11.5': { minDriver: '495.29.05' },
    '11.6': { minDriver: '510.39.01' },
    '11.7': { minDriver: '515.43.04' },
    '11.8': { minDriver: '520.61.05' },
    '12.0': { minDriver: '525.60.13' },
    '12.1': { minDriver: '530.30.02' },
    '12.2': { minDriver: '535.54.03' },
    '12.3': { minDriver: '545.23.06' },
    '12.4': { minDriver: '550.54.14' },
    '12.5': { minDriver: '555.42.02' },
    '12.6': { minDriver: '560.28.03' },
    '12.8': { minDriver: '570.26' },
    '12.9': { minDriver: '575.51.03' },
    '13.0': { minDriver: '580.65.06' },
  },
  // PyTorch RELEASE.md release compatibility matrix and the get-started wheel variants.
  pytorch: {
    '2.1': { python: PY_38_TO_311, variants: { cu118: CU118, cu121: CU121 } },
    '2.2': { python: PY_38_TO_312, variants: { cu118: CU118, cu121: CU121 } },
    '2.3': { python: PY_38_TO_312, variants: { cu118: CU118, cu121: CU121 } },
    '2.4': { python: PY_38_TO_312, variants: { cu118: CU118, cu121: CU121, cu124: CU124 } },
    '2.5': { python: PY_39_TO_313, variants: { cu118: CU118, cu121: CU121, cu124: CU124 } },
    '2.6': { python: PY_39_TO_313, variants: { cu118: CU118, cu124: CU124, cu126: CU126 } },
    '2.7': {
      python: PY_39_TO_313,
      variants: { cu118: CU118, cu126: CU126, cu128: { cuda: '12.8', computeCapabilities: SM_75_TO_120 } },
    },
    '2.8': {
      python: PY_39_TO_313,
      variants: {
        cu126: CU126,
        cu128: { cuda: '12.8', computeCapabilities: SM_70_TO_120 },
        cu129: { cuda: '12.9', computeCapabilities: SM_70_TO_120 },
      },
    },
    '2.9': {
      python: PY_310_TO_314,
      variants: {
        cu126: CU126,
        cu128: { cuda: '12.8', computeCapabilities: SM_70_TO_120 },
        cu130: { cuda: '13.0', computeCapabilities: SM_75_TO_120_CUDA13 },
      },
    },
  },
  // vLLM requirements/cuda.txt (requirements-cuda.txt before 0.7) of each release: the exact torch pin.
  vllm: {
    releases: [
      { from: '0.4.3', until: '0.5.0', torch: '2.3.0' },
      { from: '0.5.0', until: '0.6.0', torch: '2.3.1' },
      { from: '0.6.0', until: '0.6.4', torch: '2.4.0' },
      { from: '0.6.4', until: '0.8.0', torch: '2.5.1' },
      { from: '0.8.0', until: '0.9.0', torch: '2.6.0' },
      { from: '0.9.0', until: '0.10.0', torch: '2.7.0' },
      { from: '0.10.0', until: '0.10.2', torch: '2.7.1' },
      { from: '0.10.2', until: '0.11.1', torch: '2.8.0' },
      // Closed at 0.13 so a newer release is reported as unchecked rather than assumed to pin 2.9.0.
      { from: '0.11.1', until: '0.13.0', torch: '2.9.0' },
    ],
    // First release whose default wheels (torch cu128) carry sm_100/sm_120 kernels.
    minForArchitecture: { Blackwell: '0.9.0' },
  },
  // TensorFlow "tested build configurations" (tensorflow.org/install/source#gpu) and the wheels' CUDA capabilities.
  tensorflow: {
    '2.14': { cuda: '11.8', cudnn: '8.7', python: PY_39_TO_311, maxComputeCapability: '9.0' },
    '2.15': { cuda: '12.2', cudnn: '8.9', python: PY_39_TO_311, maxComputeCapability: '9.0' },
    '2.16': { cuda: '12.3', cudnn: '8.9', python: PY_39_TO_312, maxComputeCapability: '9.0' },
    '2.17': { cuda: '12.3', cudnn: '8.9', python: PY_39_TO_312, maxComputeCapability: '9.0' },
    '2.18': { cuda: '12.5', cudnn: '9.3', python: PY_39_TO_312, maxComputeCapability: '9.0' },
    '2.19': { cuda: '12.5', cudnn: '9.3', python: PY_39_TO_312, maxComputeCapability: '9.0' },
    '2.20': { cuda: '12.5', cudnn: '9.3', python: PY_39_TO_313, maxComputeCapability: '9.0' },
  },
  // Distribution package archives (python3 version) and their EXTERNALLY-MANAGED marker (PEP 668).
  os: {
    'ubuntu-24.04': { name: 'Ubuntu 24.04', python: '3.12', externallyManaged: true },
    'ubuntu-22.04': { name: 'Ubuntu 22.04', python: '3.10', externallyManaged: false },
    'debian-12': { name: 'Debian 12', python: '3.11', externallyManaged: true },
  },
} satisfies CompatTable;

export type GpuModel = keyof typeof COMPAT_TABLE.gpus;
export type OsKey = keyof typeof COMPAT_TABLE.os;
