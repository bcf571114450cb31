import { describeGpuFacts } from './describe-facts.js';
import { COMPAT_TABLE, type CompatTable, type GpuFacts } from './table.js';
import { cudaMinDriver, firstPyTorchFor, firstVllmFor, lookupKey, maxVersion } from './table-queries.js';

export type GpuMinimums = {
  driver: string;
  cuda: string;
  /** Undefined when no PyTorch in the table ships kernels for the GPU. */
  pytorch: string | undefined;
  pytorchVariant: string | undefined;
  vllm: string | undefined;
};

/** Describes a GPU model for messages, e.g. `NVIDIA GeForce RTX 5090 (Blackwell, sm_120)`; undefined if unknown. */
export function describeGpu(model: string, table: CompatTable = COMPAT_TABLE): string | undefined {
  const gpu = lookupKey(table.gpus, model);
  return gpu === undefined ? undefined : describeGpuFacts(gpu);
}

/** Computes the oldest driver, CUDA, PyTorch wheel and vLLM that can use a GPU model; undefined if unknown. */
export function minimumsFor(model: string, table: CompatTable = COMPAT_TABLE): GpuMinimums | undefined {
  const gpu = lookupKey(table.gpus, model);
  if (gpu === undefined) return undefined;
  return minimumsForGpu(gpu, table);
}

function minimumsForGpu(gpu: GpuFacts, table: CompatTable): GpuMinimums {
  const cudaDriver = cudaMinDriver(gpu.minCuda, table);
  const driver = cudaDriver !== undefined ? maxVersion(gpu.minDriver, cudaDriver) : gpu.minDriver;
  const pytorch = firstPyTorchFor(gpu, table);
  return {
    driver,
    cuda: gpu.minCuda,
    pytorch: pytorch?.minor,
    pytorchVariant: pytorch?.variant,
    vllm: pytorch === undefined ? undefined : firstVllmFor(gpu, pytorch.minor, table),
  };
}
