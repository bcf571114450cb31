import type { CompatTable } from './table/facts.js';
import { CONTAINER_TOOLKIT } from './table/container-toolkit.js';
import { CUDA, CUDA_MAJORS, CUDNN } from './table/cuda.js';
import { DRIVER_BRANCHES, DRIVER_SOURCES, UNBRANCHED_DRIVER_PACKAGES_FROM } from './table/driver.js';
import { GPUS } from './table/gpus.js';
import { NCCL } from './table/nccl.js';
import { OS } from './table/os.js';
import { PYTORCH } from './table/pytorch.js';
import { TENSORFLOW } from './table/tensorflow.js';
import { VENDOR_REPOSITORIES } from './table/vendor-repositories.js';
import { VLLM } from './table/vllm.js';

export type {
  CompatTable,
  ContainerToolkitAdvisory,
  ContainerToolkitFacts,
  CudaFacts,
  CudaMajorFacts,
  CudnnFacts,
  DriverBranchFacts,
  DriverBranchType,
  DriverSourceFacts,
  GpuArchitecture,
  GpuFacts,
  KernelModuleFlavour,
  NcclBrokenReport,
  NcclFacts,
  NcclTopology,
  NcclVersionReport,
  OsFacts,
  PyTorchFacts,
  PyTorchWheelVariant,
  TensorFlowFacts,
  VllmFacts,
  VllmRelease,
} from './table/facts.js';

// One data module per component under table/, each row with its sources. Rows of PyTorch <= 2.6, vLLM < 0.10,
// TensorFlow <= 2.19, CUDA <= 12.6 and the pre-Blackwell GPUs are carried over from this table's first version
// (2025), whose comments named the same pages; they were not re-read in 2026-12. Everything newer was looked up
// on 2026-12-05 (see sources.ts for the quoted words).
export const COMPAT_TABLE = {
  gpus: GPUS,
  driverBranches: DRIVER_BRANCHES,
  unbranchedDriverPackagesFrom: UNBRANCHED_DRIVER_PACKAGES_FROM,
  driverSources: DRIVER_SOURCES,
  vendorRepositories: VENDOR_REPOSITORIES,
  cudaMajors: CUDA_MAJORS,
  cuda: CUDA,
  cudnn: CUDNN,
  pytorch: PYTORCH,
  nccl: NCCL,
  vllm: VLLM,
  tensorflow: TENSORFLOW,
  containerToolkit: CONTAINER_TOOLKIT,
  os: OS,
} satisfies CompatTable;

export type GpuModel = keyof typeof COMPAT_TABLE.gpus;
export type OsKey = keyof typeof COMPAT_TABLE.os;
