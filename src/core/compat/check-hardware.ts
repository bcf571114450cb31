import { describeGpuFacts, smName } from './describe-facts.js';
import { compareDottedVersions, majorMinor, majorOf, parseDottedVersion } from './dotted-version.js';
import { errorAt, reportUnknownVersion, validVersion, warningAt, type CompatFinding, type StackContext } from './stack-context.js';
import { cudaMinDriver, driverAtLeast, lookupKey, newestCudaWithMinimum, runsWithoutPeerToPeer, sortedVersionKeys } from './table-queries.js';

/** Refuses an OS the table does not know. */
export function checkOsKnown({ os, stack, table }: StackContext): CompatFinding[] {
  if (os !== undefined) return [];
  return [errorAt('os', `OS ${stack.os} is not in the compatibility table; known: ${Object.keys(table.os).join(', ')}`)];
}

/** Refuses a GPU model the table does not know. */
export function checkGpuModelKnown({ gpu, stack, table }: StackContext): CompatFinding[] {
  if (gpu !== undefined) return [];
  const known = Object.keys(table.gpus).join(', ');
  return [errorAt('hardware.gpu.model', `GPU model ${stack.gpu.model} is not in the compatibility table; known: ${known}`)];
}

/** Warns that several cards without PCIe peer-to-peer run NCCL through host memory. */
export function checkPeerToPeer({ gpu, stack }: StackContext): CompatFinding[] {
  if (gpu === undefined || !runsWithoutPeerToPeer(gpu, stack.gpu.count)) return [];
  return [
    warningAt(
      'hardware.gpu.count',
      `${stack.gpu.count}x ${gpu.name} have no PCIe peer-to-peer, so NCCL runs without P2P (NCCL_P2P_DISABLE=1) through host memory; expect DDP scaling bounded by PCIe and host bandwidth`,
    ),
  ];
}

/** Refuses a driver version that is not dotted. */
export function checkDriverVersion({ driver, stack }: StackContext): CompatFinding[] {
  if (driver !== undefined) return [];
  return [
    errorAt(
      'layers.driver.nvidia_driver',
      `NVIDIA driver version ${JSON.stringify(stack.driver.version)} is not a dotted version; write it like 580.173.02`,
    ),
  ];
}

/** Refuses a driver older than the first that drives the GPU. */
export function checkDriverSupportsGpu({ gpu, driver }: StackContext): CompatFinding[] {
  if (gpu === undefined || driver === undefined || driverAtLeast(driver, gpu.minDriver)) return [];
  return [
    errorAt(
      'layers.driver.nvidia_driver',
      `NVIDIA driver ${driver} cannot drive ${describeGpuFacts(gpu)}; needs driver >= ${gpu.minDriver}`,
    ),
  ];
}

/** Refuses a kernel module flavour the GPU's architecture does not support. */
export function checkKernelModule({ gpu, stack }: StackContext): CompatFinding[] {
  const flavour = stack.driver.kernelModule;
  if (gpu === undefined || gpu.kernelModules.includes(flavour)) return [];
  return [
    errorAt(
      'layers.driver.kernel_module',
      `kernel module flavour ${flavour} does not support ${gpu.architecture}; use ${gpu.kernelModules.join(' or ')}`,
    ),
  ];
}

/** Reports a CUDA version the table does not know. */
export function checkCudaKnown({ cuda, table }: StackContext): CompatFinding[] {
  return reportUnknownVersion(cuda, {
    label: 'CUDA',
    path: 'layers.driver.cuda',
    example: '12.8.1',
    known: sortedVersionKeys(table.cuda),
  });
}

/** Refuses a CUDA that cannot compile for the GPU's compute capability. */
export function checkCudaSupportsGpu({ gpu, cuda }: StackContext): CompatFinding[] {
  const version = validVersion(cuda);
  if (gpu === undefined || version === undefined) return [];
  if (compareDottedVersions(majorMinor(version), gpu.minCuda) >= 0) return [];
  return [
    errorAt(
      'layers.driver.cuda',
      `CUDA ${majorMinor(version)} has no support for ${smName(gpu.computeCapability)} (${gpu.name}); needs CUDA >= ${gpu.minCuda}`,
    ),
  ];
}

/** Refuses a driver below CUDA's minimum; warns where CUDA names no GA minimum. */
export function checkDriverSupportsCuda({ cuda, driver, table }: StackContext): CompatFinding[] {
  if (cuda.status !== 'found' || driver === undefined) return [];
  const needed = cudaMinDriver(cuda.key, table);
  if (needed === undefined) return [];
  if (driverAtLeast(driver, needed)) {
    if (cuda.facts.minDriver !== undefined) return [];
    // No GA driver to compare with (13.4 and later bundle none): it runs, but only with minor-version compatibility's limits.
    return [
      warningAt(
        'layers.driver.cuda',
        `CUDA ${cuda.key} bundles no driver, so no GA minimum is known; on ${driver} it runs through CUDA ${majorOf(cuda.key)}'s minor-version compatibility (>= ${needed}) with a limited feature set (features that need a newer driver fail at run time); the newest CUDA with a known minimum is ${newestCudaWithMinimum(table)}`,
      ),
    ];
  }
  // Minor-version compatibility would run it with a limited feature set on an older driver of the same major;
  // the GA minimum is over-strict but safe, and the image's toolkit gets every feature.
  const basis = cuda.facts.minDriver === undefined ? `CUDA ${majorOf(cuda.key)}'s minor-version compatibility` : 'its GA release';
  return [
    errorAt(
      'layers.driver.cuda',
      `CUDA ${cuda.key} needs NVIDIA driver >= ${needed} (${basis}), spec has ${driver}; raise the driver or lower CUDA`,
    ),
  ];
}

/** Refuses a cuDNN without a build for the CUDA major; warns about cuDNN 9 on CUDA 11. */
export function checkCudnn({ cuda, stack, table }: StackContext): CompatFinding[] {
  const cudnn = stack.cudnn;
  if (cudnn === undefined) return [];
  if (parseDottedVersion(cudnn) === undefined) {
    return [errorAt('layers.driver.cudnn', `cuDNN version ${JSON.stringify(cudnn)} is not a dotted version; write it like 9.10.2`)];
  }
  const cudaVersion = validVersion(cuda);
  if (cudaVersion === undefined) return [];
  const first = lookupKey(table.cudnn.firstForCuda, String(majorOf(cudaVersion)));
  if (first !== undefined && compareDottedVersions(cudnn, first.version) < 0) {
    return [
      errorAt(
        'layers.driver.cudnn',
        `cuDNN ${cudnn} has no build for CUDA ${majorOf(cudaVersion)} (spec has CUDA ${cudaVersion}); the first cuDNN with one is ${first.version} (newest known: ${table.cudnn.newest.version})`,
      ),
    ];
  }
  if (majorOf(cudnn) < 9 || majorOf(cudaVersion) >= 12) return [];
  // cuDNN 9 targets CUDA 12; its few CUDA 11 builds lag behind and frameworks built against 9 expect CUDA 12.
  return [
    warningAt(
      'layers.driver.cudnn',
      `cuDNN ${cudnn} with CUDA ${cudaVersion}: cuDNN 9 targets CUDA 12 and has only limited CUDA 11 builds; use cuDNN 8.9 with CUDA 11, or CUDA >= 12`,
    ),
  ];
}
