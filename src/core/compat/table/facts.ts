import type { CompatSourceId } from '../sources.js';

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
  /** The distribution's glibc (libc6) version: the newest manylinux_2_X wheel tag its pip accepts (PEP 600). */
  glibc: string;
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
