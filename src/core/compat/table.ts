import type { CompatSourceId } from './sources.js';

/** Every row names where its facts come from (ids of COMPAT_SOURCES), so a reviewer can check it. */
type Sourced = { readonly sources: readonly [CompatSourceId, ...CompatSourceId[]] };

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
} & Sourced;

export type DriverBranchType = 'long-term-support' | 'production' | 'new-feature';

export type DriverBranchFacts = {
  /** Unknown for branches NVIDIA lists only as already ended. */
  type?: DriverBranchType;
  /** YYYY-MM: the month NVIDIA gives as the branch's end of life; New Feature Branches usually have none (R615's page gave R610 one). */
  endOfLife?: string;
  /** YYYY-MM of the NVIDIA page that lists the branch as already past end of life (no date given). */
  endedBy?: string;
} & Sourced;

export type DriverSourceFacts = {
  distros: readonly ('ubuntu' | 'debian')[];
  /** Modules signed with a key Secure Boot firmware trusts out of the box (no MOK enrolment). */
  signedForSecureBoot: boolean;
} & Sourced;

export type CudaFacts = {
  /**
   * Minimum Linux x86_64 driver of the minor's GA release (CUDA release notes, Table 3). Undefined from 13.4 on,
   * where the toolkit no longer bundles a driver: the major's minor-version-compatibility minimum applies.
   */
  minDriver?: string;
} & Sourced;

export type CudaMajorFacts = {
  /** Minor-version compatibility: every toolkit of the major runs, with a limited feature set, on this driver. */
  minDriver: string;
} & Sourced;

export type CudnnFacts = {
  /** First cuDNN release with a build for each CUDA major. */
  firstForCuda: Readonly<Record<string, { version: string } & Sourced>>;
  newest: { version: string } & Sourced;
};

export type PyTorchWheelVariant = {
  /** CUDA minor the wheels are built with and bundle. */
  cuda: string;
  /** Compute capabilities the wheels ship SASS for (TORCH_CUDA_ARCH_LIST). */
  computeCapabilities: readonly string[];
  /** NCCL the wheels pin (`nvidia-nccl-cuXX==…` in their metadata); absent where no source gives it. */
  nccl?: string;
};

export type PyTorchFacts = {
  /** Python minors with published wheels. */
  python: readonly string[];
  /** Keyed by the wheel index suffix, e.g. `cu128`. */
  variants: Readonly<Record<string, PyTorchWheelVariant>>;
  /** The variant `pip install torch` gets from PyPI, where a source names it. */
  pypiDefault?: string;
} & Sourced;

export type VllmRelease = {
  from: string;
  /** Exclusive; absent means "and every later release" */
  until?: string;
  /** Exact torch version the vLLM wheels pin. */
  torch: string;
  /** CUDA variant of the default (PyPI) wheels; vLLM's compiled ops need torch of the same variant. */
  wheelCuda?: string;
  /** Newest release in the range that a source names (for `imagebuild compat`). */
  latest?: string;
} & Sourced;

export type VllmFacts = {
  /** Ordered, contiguous ranges of releases. */
  releases: readonly VllmRelease[];
  minForArchitecture: Partial<Record<GpuArchitecture, string>>;
};

export type NcclVersionReport = { version: string } & Sourced;

/** A version reported failing, and how. */
export type NcclBrokenReport = NcclVersionReport & { failure: string };

export type NcclTopology = {
  /** Words for messages, e.g. "2+ sm_120 GPUs without NVLink". */
  description: string;
  computeCapability: string;
  minGpus: number;
  /** NCCL versions reported failing on this topology. */
  broken: readonly NcclBrokenReport[];
  /** The first version reported working; older ones that are not listed as broken are unconfirmed. */
  firstGood: NcclVersionReport;
};

export type NcclFacts = {
  /** pip package of the NCCL wheel per CUDA major. */
  wheel: { packages: Readonly<Record<string, string>> } & Sourced;
  topologies: readonly NcclTopology[];
};

export type ContainerToolkitAdvisory = { fixedIn: string; cves: readonly [string, ...string[]]; what: string } & Sourced;

export type ContainerToolkitFacts = {
  advisories: readonly ContainerToolkitAdvisory[];
  newest: { version: string } & Sourced;
};

export type TensorFlowFacts = {
  /** CUDA minor of the tested build configuration. */
  cuda: string;
  cudnn: string;
  python: readonly string[];
  /** Highest compute capability the wheels ship kernels for; newer GPUs only get PTX JIT. */
  maxComputeCapability: string;
} & Sourced;

export type OsFacts = {
  name: string;
  /** The distribution's system Python minor. */
  python: string;
  /** PEP 668 EXTERNALLY-MANAGED marker: pip refuses to install into the system Python. */
  externallyManaged: boolean;
} & Sourced;

export type CompatTable = {
  gpus: Readonly<Record<string, GpuFacts>>;
  driverBranches: Readonly<Record<string, DriverBranchFacts>>;
  /** From this branch on, NVIDIA's Ubuntu packages carry no branch in their names and a pinning package picks it. */
  unbranchedDriverPackagesFrom: { branch: number } & Sourced;
  /** Where the driver can come from (layers.driver.source) and what that means. */
  driverSources: Readonly<Record<'ubuntu' | 'nvidia', DriverSourceFacts>>;
  /** Today's vendor repositories and indexes (the defaults of the spec's source fields). */
  vendorRepositories: Readonly<Record<'cuda' | 'containerToolkit' | 'pytorch', { url: string } & Sourced>>;
  cudaMajors: Readonly<Record<string, CudaMajorFacts>>;
  cuda: Readonly<Record<string, CudaFacts>>;
  cudnn: CudnnFacts;
  pytorch: Readonly<Record<string, PyTorchFacts>>;
  nccl: NcclFacts;
  vllm: VllmFacts;
  tensorflow: Readonly<Record<string, TensorFlowFacts>>;
  containerToolkit: ContainerToolkitFacts;
  os: Readonly<Record<string, OsFacts>>;
};

// Wheel arch lists (TORCH_CUDA_ARCH_LIST of PyTorch's .ci/manywheel/build_cuda.sh per release). Only 7.5 and up
// matter for the GPUs below; the pre-Turing entries of the oldest lists are carried over from the first table.
const SM_50_TO_90 = ['5.0', '6.0', '7.0', '7.5', '8.0', '8.6', '9.0'];
const SM_75_TO_120 = ['7.5', '8.0', '8.6', '9.0', '10.0', '12.0'];
const SM_70_TO_120 = ['7.0', '7.5', '8.0', '8.6', '9.0', '10.0', '12.0'];

const PY_38_TO_311 = ['3.8', '3.9', '3.10', '3.11'];
const PY_38_TO_312 = ['3.8', '3.9', '3.10', '3.11', '3.12'];
const PY_39_TO_311 = ['3.9', '3.10', '3.11'];
const PY_39_TO_312 = ['3.9', '3.10', '3.11', '3.12'];
const PY_39_TO_313 = ['3.9', '3.10', '3.11', '3.12', '3.13'];
const PY_310_TO_313 = ['3.10', '3.11', '3.12', '3.13'];
const PY_310_TO_314 = ['3.10', '3.11', '3.12', '3.13', '3.14'];
const PY_310_TO_315 = ['3.10', '3.11', '3.12', '3.13', '3.14', '3.15'];

const CU118 = { cuda: '11.8', computeCapabilities: SM_50_TO_90 };
const CU121 = { cuda: '12.1', computeCapabilities: SM_50_TO_90 };
const CU124 = { cuda: '12.4', computeCapabilities: SM_50_TO_90 };
const CU126 = { cuda: '12.6', computeCapabilities: SM_50_TO_90 };

// Rows of PyTorch <= 2.6, vLLM < 0.10, TensorFlow <= 2.19, CUDA <= 12.6 and the pre-Blackwell GPUs are carried
// over from this table's first version (2025), whose comments named the same pages; they were not re-read in
// 2026-12. Everything newer was looked up on 2026-12-05 (see sources.ts for the quoted words).
const OLDER_PYTORCH = ['pytorch-release-matrix'] as const;
const OLDER_VLLM = ['vllm-release-notes'] as const;
const TABLE_3 = ['cuda-release-notes-table-3'] as const;

export const COMPAT_TABLE = {
  gpus: {
    'rtx-5090': {
      name: 'NVIDIA GeForce RTX 5090',
      architecture: 'Blackwell',
      computeCapability: '12.0',
      memoryMiB: 32607,
      // The first driver whose open kernel modules list the card; CUDA 12.8 GA's 570.26 predates it.
      minDriver: '570.86.16',
      minCuda: '12.8',
      kernelModules: ['open'],
      peerToPeer: false,
      defaultPowerLimitW: 575,
      sources: ['nvidia-cuda-gpus', 'nvidia-arch-matrix', 'nvidia-open-gpu-kernel-modules-570.86.16'],
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
      sources: ['nvidia-cuda-gpus', 'nvidia-arch-matrix'],
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
      sources: ['nvidia-cuda-gpus', 'nvidia-arch-matrix'],
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
      sources: ['nvidia-cuda-gpus', 'nvidia-driver-install-guide-kernel-modules'],
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
      sources: ['nvidia-cuda-gpus', 'nvidia-driver-install-guide-kernel-modules'],
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
      sources: ['nvidia-cuda-gpus', 'nvidia-driver-install-guide-kernel-modules'],
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
      sources: ['nvidia-cuda-gpus', 'nvidia-driver-install-guide-kernel-modules'],
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
      sources: ['nvidia-cuda-gpus', 'nvidia-driver-install-guide-kernel-modules'],
    },
  },
  // NVIDIA's data-center driver lifecycle tables. The newest page (R620) lists only supported branches; older
  // pages give the end of life of branches it no longer lists. New Feature Branches get no end-of-life date.
  driverBranches: {
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
  },
  unbranchedDriverPackagesFrom: { branch: 590, sources: ['nvidia-driver-install-guide-590-packages', 'nvidia-driver-install-guide-ubuntu'] },
  driverSources: {
    // Canonical builds and signs the modules for each kernel; 580 is in noble-updates at 580.173.02.
    ubuntu: { distros: ['ubuntu'], signedForSecureBoot: true, sources: ['ubuntu-server-nvidia-drivers', 'ubuntu-noble-nvidia-driver-580'] },
    // DKMS builds the modules on the machine; they are not signed with a key the firmware trusts.
    nvidia: { distros: ['ubuntu', 'debian'], signedForSecureBoot: false, sources: ['nvidia-driver-install-guide-ubuntu', 'nvidia-driver-install-guide-debian', 'ubuntu-server-nvidia-drivers'] },
  },
  vendorRepositories: {
    cuda: { url: 'https://developer.download.nvidia.com/compute/cuda/repos', sources: ['nvidia-cuda-repo-ubuntu2404', 'cuda-install-guide-meta-packages'] },
    containerToolkit: { url: 'https://nvidia.github.io/libnvidia-container', sources: ['nvidia-ctk-install-guide'] },
    pytorch: { url: 'https://download.pytorch.org/whl', sources: ['pytorch-previous-versions'] },
  },
  // Minor-version compatibility: a toolkit of the major runs, with a limited feature set, on these drivers. The
  // per-minor GA minimums below are stricter and are what validate checks (over-strict but safe).
  cudaMajors: {
    '12': { minDriver: '525', sources: ['cuda-minor-version-compatibility'] },
    '13': { minDriver: '580', sources: ['cuda-minor-version-compatibility', 'cuda-13.4-release-notes'] },
  },
  // CUDA release notes, Table 3: toolkit minor and the minimum Linux x86_64 driver of its GA release.
  cuda: {
    '11.0': { minDriver: '450.51.05', sources: TABLE_3 },
    '11.1': { minDriver: '455.23', sources: TABLE_3 },
    '11.2': { minDriver: '460.27.03', sources: TABLE_3 },
    '11.3': { minDriver: '465.19.01', sources: TABLE_3 },
    '11.4': { minDriver: '470.42.01', sources: TABLE_3 },
    '11.5': { minDriver: '495.29.05', sources: TABLE_3 },
    '11.6': { minDriver: '510.39.01', sources: TABLE_3 },
    '11.7': { minDriver: '515.43.04', sources: TABLE_3 },
    '11.8': { minDriver: '520.61.05', sources: TABLE_3 },
    '12.0': { minDriver: '525.60.13', sources: TABLE_3 },
    '12.1': { minDriver: '530.30.02', sources: TABLE_3 },
    '12.2': { minDriver: '535.54.03', sources: TABLE_3 },
    '12.3': { minDriver: '545.23.06', sources: TABLE_3 },
    '12.4': { minDriver: '550.54.14', sources: TABLE_3 },
    '12.5': { minDriver: '555.42.02', sources: TABLE_3 },
    '12.6': { minDriver: '560.28.03', sources: TABLE_3 },
    '12.8': { minDriver: '570.26', sources: ['cuda-release-notes-table-3-copies', 'cudnn-support-matrix-9.17.0'] },
    '12.9': { minDriver: '575.51.03', sources: ['cuda-release-notes-table-3-copies'] },
    '13.0': { minDriver: '580.65.06', sources: ['cuda-redistrib-manifests'] },
    '13.1': { minDriver: '590.44.01', sources: ['cuda-release-notes-table-3-copies'] },
    '13.2': { minDriver: '595.45.04', sources: ['cuda-redistrib-manifests'] },
    '13.3': { minDriver: '610.43.02', sources: ['cuda-redistrib-manifests'] },
    // No driver bundled from 13.4 on: the CUDA 13 minor-version-compatibility minimum (cudaMajors) applies.
    '13.4': { sources: ['cuda-13.4-release-notes', 'cuda-redistrib-manifests'] },
    '13.5': { sources: ['cuda-13.4-release-notes'] },
  },
  cudnn: {
    firstForCuda: {
      '13': { version: '9.12.0', sources: ['cudnn-redistrib-9.12.0'] },
    },
    newest: { version: '9.28.1', sources: ['cudnn-redistrib-9.28.1'] },
  },
  // PyTorch RELEASE.md's release compatibility matrix (Python, CUDA variants with their cuDNN and NCCL), the
  // architecture tables per release, and the release announcements for which variant PyPI serves.
  pytorch: {
    '2.1': { python: PY_38_TO_311, variants: { cu118: CU118, cu121: CU121 }, sources: OLDER_PYTORCH },
    '2.2': { python: PY_38_TO_312, variants: { cu118: CU118, cu121: CU121 }, sources: OLDER_PYTORCH },
    '2.3': { python: PY_38_TO_312, variants: { cu118: CU118, cu121: CU121 }, sources: OLDER_PYTORCH },
    '2.4': { python: PY_38_TO_312, variants: { cu118: CU118, cu121: CU121, cu124: CU124 }, sources: OLDER_PYTORCH },
    '2.5': { python: PY_39_TO_313, variants: { cu118: CU118, cu121: CU121, cu124: CU124 }, sources: OLDER_PYTORCH },
    '2.6': { python: PY_39_TO_313, variants: { cu118: CU118, cu124: CU124, cu126: CU126 }, sources: OLDER_PYTORCH },
    '2.7': {
      python: PY_39_TO_313,
      variants: {
        cu118: CU118,
        cu126: { ...CU126, nccl: '2.26.2' },
        cu128: { cuda: '12.8', computeCapabilities: SM_75_TO_120, nccl: '2.26.2' },
      },
      pypiDefault: 'cu126',
      sources: ['pytorch-release-matrix', 'pytorch-arch-support', 'pytorch-torch-2.7.1-metadata', 'nccl-issue-2418'],
    },
    '2.8': {
      python: PY_39_TO_313,
      variants: {
        cu126: { ...CU126, nccl: '2.27.3' },
        cu128: { cuda: '12.8', computeCapabilities: SM_70_TO_120, nccl: '2.27.3' },
        cu129: { cuda: '12.9', computeCapabilities: SM_70_TO_120 },
      },
      sources: ['pytorch-release-matrix', 'pytorch-arch-support', 'pytorch-pr-155233'],
    },
    '2.9': {
      python: PY_310_TO_314,
      variants: {
        cu126: { ...CU126, nccl: '2.27.5' },
        cu128: { cuda: '12.8', computeCapabilities: SM_70_TO_120, nccl: '2.27.5' },
        cu129: { cuda: '12.9', computeCapabilities: SM_70_TO_120 },
        cu130: { cuda: '13.0', computeCapabilities: SM_75_TO_120, nccl: '2.27.7' },
      },
      pypiDefault: 'cu128',
      sources: ['pytorch-release-matrix', 'pytorch-arch-support', 'pytorch-2.9-build-matrix', 'pytorch-cu129-index'],
    },
    '2.10': {
      python: PY_310_TO_314,
      variants: {
        cu126: { ...CU126, nccl: '2.27.5' },
        cu128: { cuda: '12.8', computeCapabilities: SM_70_TO_120, nccl: '2.27.5' },
        cu129: { cuda: '12.9', computeCapabilities: SM_70_TO_120 },
        cu130: { cuda: '13.0', computeCapabilities: SM_75_TO_120, nccl: '2.28.9' },
      },
      pypiDefault: 'cu128',
      sources: ['pytorch-release-matrix', 'pytorch-arch-support', 'pytorch-pr-190386', 'pytorch-cu129-index'],
    },
    '2.11': {
      python: PY_310_TO_314,
      variants: {
        cu126: { ...CU126, nccl: '2.28.9' },
        cu128: { cuda: '12.8', computeCapabilities: SM_75_TO_120, nccl: '2.28.9' },
        cu129: { cuda: '12.9', computeCapabilities: SM_75_TO_120 },
        cu130: { cuda: '13.0', computeCapabilities: SM_75_TO_120, nccl: '2.28.9' },
      },
      pypiDefault: 'cu130',
      sources: ['pytorch-release-matrix', 'pytorch-arch-support', 'pytorch-pr-190386', 'pytorch-2.11-announcement', 'pytorch-cu129-index'],
    },
    // cu128 is gone from 2.12 on (pytorch/pytorch#178665).
    '2.12': {
      python: PY_310_TO_314,
      variants: {
        cu126: { ...CU126, nccl: '2.29.3' },
        cu130: { cuda: '13.0', computeCapabilities: SM_75_TO_120, nccl: '2.29.7' },
        cu132: { cuda: '13.2', computeCapabilities: SM_75_TO_120, nccl: '2.29.7' },
      },
      pypiDefault: 'cu130',
      sources: ['pytorch-release-matrix', 'pytorch-arch-support', 'pytorch-pr-190386', 'pytorch-rfc-178665'],
    },
    '2.13': {
      python: PY_310_TO_315,
      variants: {
        cu126: { ...CU126, nccl: '2.29.3' },
        cu130: { cuda: '13.0', computeCapabilities: SM_75_TO_120, nccl: '2.29.7' },
        cu132: { cuda: '13.2', computeCapabilities: SM_75_TO_120, nccl: '2.29.7' },
      },
      pypiDefault: 'cu130',
      sources: ['pytorch-release-matrix', 'pytorch-arch-support', 'pytorch-pr-190386'],
    },
    // The 2.14 RFC proposed cu132 as PyPI's default; the release kept cu130 (colabtools#6093).
    '2.14': {
      python: PY_310_TO_315,
      variants: {
        cu126: { ...CU126, nccl: '2.29.3' },
        cu130: { cuda: '13.0', computeCapabilities: SM_75_TO_120, nccl: '2.30.7' },
        cu132: { cuda: '13.2', computeCapabilities: SM_75_TO_120, nccl: '2.30.7' },
      },
      pypiDefault: 'cu130',
      sources: ['pytorch-release-matrix', 'pytorch-arch-support', 'pytorch-pr-194367', 'pytorch-2.14-announcement'],
    },
  },
  nccl: {
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
  },
  // vLLM requirements/cuda.txt of each release: the exact torch pin, and the CUDA its default wheels are built for.
  vllm: {
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
  },
  // TensorFlow "tested build configurations" and the compute capabilities its official wheels are built for
  // (.bazelrc: sm_60,sm_70,sm_80,sm_89,compute_90): no sm_100/sm_120 kernels through 2.21.
  tensorflow: {
    '2.14': { cuda: '11.8', cudnn: '8.7', python: PY_39_TO_311, maxComputeCapability: '9.0', sources: ['tensorflow-tested-builds'] },
    '2.15': { cuda: '12.2', cudnn: '8.9', python: PY_39_TO_311, maxComputeCapability: '9.0', sources: ['tensorflow-tested-builds'] },
    '2.16': { cuda: '12.3', cudnn: '8.9', python: PY_39_TO_312, maxComputeCapability: '9.0', sources: ['tensorflow-tested-builds'] },
    '2.17': { cuda: '12.3', cudnn: '8.9', python: PY_39_TO_312, maxComputeCapability: '9.0', sources: ['tensorflow-tested-builds'] },
    '2.18': { cuda: '12.5', cudnn: '9.3', python: PY_39_TO_312, maxComputeCapability: '9.0', sources: ['tensorflow-tested-builds'] },
    '2.19': { cuda: '12.5', cudnn: '9.3', python: PY_39_TO_312, maxComputeCapability: '9.0', sources: ['tensorflow-tested-builds'] },
    '2.20': { cuda: '12.5', cudnn: '9.3', python: PY_39_TO_313, maxComputeCapability: '9.0', sources: ['tensorflow-tested-builds', 'tensorflow-bazelrc-capabilities', 'tensorflow-issue-101746'] },
    '2.21': { cuda: '12.5', cudnn: '9.3', python: PY_310_TO_313, maxComputeCapability: '9.0', sources: ['tensorflow-tested-builds', 'tensorflow-bazelrc-capabilities', 'tensorflow-issue-97387'] },
  },
  // NVIDIA security bulletins: every version below `fixedIn` is exposed to the CVEs.
  containerToolkit: {
    advisories: [
      { fixedIn: '1.16.2', cves: ['CVE-2024-0132', 'CVE-2024-0133'], what: 'container escape (TOCTOU)', sources: ['cve-2024-0132'] },
      { fixedIn: '1.17.4', cves: ['CVE-2025-23359'], what: 'container escape (TOCTOU, bypass of the CVE-2024-0132 fix)', sources: ['cve-2025-23359'] },
      { fixedIn: '1.17.8', cves: ['CVE-2025-23266', 'CVE-2025-23267'], what: '"NVIDIAScape" container escape through the initialisation hooks', sources: ['cve-2025-23266'] },
      { fixedIn: '1.19.1', cves: ['CVE-2026-24260'], what: 'code execution and privilege escalation (TOCTOU)', sources: ['cve-2026-24260'] },
    ],
    newest: { version: '1.20.0', sources: ['nvidia-ctk-releases'] },
  },
  // Distribution package archives (python3 version) and their EXTERNALLY-MANAGED marker (PEP 668).
  os: {
    'ubuntu-24.04': { name: 'Ubuntu 24.04', python: '3.12', externallyManaged: true, sources: ['distro-python'] },
    'ubuntu-22.04': { name: 'Ubuntu 22.04', python: '3.10', externallyManaged: false, sources: ['distro-python'] },
    'debian-12': { name: 'Debian 12', python: '3.11', externallyManaged: true, sources: ['distro-python'] },
  },
} satisfies CompatTable;

export type GpuModel = keyof typeof COMPAT_TABLE.gpus;
export type OsKey = keyof typeof COMPAT_TABLE.os;
