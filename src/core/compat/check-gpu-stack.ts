import { COMPAT_SOURCES, type CompatSourceId } from './sources.js';
import { compareDottedVersions, majorMinor, majorOf, parseDottedVersion } from './dotted-version.js';
import {
  COMPAT_TABLE,
  type CompatTable,
  type CudaFacts,
  type DriverBranchFacts,
  type GpuFacts,
  type KernelModuleFlavour,
  type OsFacts,
  type PyTorchFacts,
  type TensorFlowFacts,
  type VllmRelease,
} from './table.js';

export type GpuStack = {
  /** Key of COMPAT_TABLE.os, e.g. 'ubuntu-24.04'. */
  os: string;
  /** model = key of COMPAT_TABLE.gpus. */
  gpu: { model: string; count: number };
  driver: { version: string; kernelModule: KernelModuleFlavour };
  /** Toolkit version, e.g. '12.8.1'. */
  cuda: string;
  cudnn?: string;
  /** version defaults to the OS's system Python. */
  python: { version?: string; venv?: string };
  pytorch?: { version: string; cudaVariant: string };
  tensorflow?: { version: string };
  vllm?: { version: string };
  /** An NCCL wheel installed over the one torch pins. */
  nccl?: { version: string };
  /** NVIDIA Container Toolkit version. */
  containerToolkit?: string;
};

/** What the checks need from outside the spec; the core reads no clock. */
export type CompatOptions = {
  /** YYYY-MM-DD the image is built or validated on: driver branches past end of life by then are warned about. */
  today?: string;
};

export type CompatFinding = { severity: 'error' | 'warning'; path: string; message: string };

export type GpuMinimums = {
  driver: string;
  cuda: string;
  /** Undefined when no PyTorch in the table ships kernels for the GPU. */
  pytorch: string | undefined;
  pytorchVariant: string | undefined;
  vllm: string | undefined;
};

type CompatPath =
  | 'os'
  | 'hardware.gpu.model'
  | 'hardware.gpu.count'
  | 'layers.driver.nvidia_driver'
  | 'layers.driver.kernel_module'
  | 'layers.driver.cuda'
  | 'layers.driver.cudnn'
  | 'layers.frameworks.python.version'
  | 'layers.frameworks.python.venv'
  | 'layers.frameworks.pytorch.version'
  | 'layers.frameworks.pytorch.cuda_variant'
  | 'layers.frameworks.tensorflow.version'
  | 'layers.frameworks.vllm.version'
  | 'layers.frameworks.nccl.version'
  | 'layers.runtime.container_toolkit';

type VersionLookup<T> =
  | { status: 'absent' }
  | { status: 'malformed'; version: string }
  | { status: 'found'; version: string; key: string; facts: T }
  | { status: 'older' | 'newer' | 'gap'; version: string };

type StackContext = {
  stack: GpuStack;
  table: CompatTable;
  today: string | undefined;
  os: OsFacts | undefined;
  gpu: GpuFacts | undefined;
  /** Undefined when the spec's driver version is malformed. */
  driver: string | undefined;
  cuda: VersionLookup<CudaFacts>;
  /** major.minor of the spec's Python, else of the OS's system Python. */
  python: string | undefined;
  pytorch: VersionLookup<PyTorchFacts>;
  tensorflow: VersionLookup<TensorFlowFacts>;
  vllm: VersionLookup<VllmRelease>;
};

type StackCheck = (context: StackContext) => CompatFinding[];

// Order is the order findings are reported in: hardware, then driver layer, then frameworks.
const STACK_CHECKS: readonly StackCheck[] = [
  checkOsKnown,
  checkGpuModelKnown,
  checkPeerToPeer,
  checkDriverVersion,
  checkDriverSupportsGpu,
  checkDriverBranchLifecycle,
  checkKernelModule,
  checkCudaKnown,
  checkCudaSupportsGpu,
  checkDriverSupportsCuda,
  checkCudnn,
  checkPythonVersion,
  checkPythonVenv,
  checkPyTorchKnown,
  checkPyTorchPython,
  checkPyTorchVariantAvailable,
  checkPyTorchSupportsGpu,
  checkPyTorchVariantDriver,
  checkNcclPin,
  checkNcclOnTopology,
  checkTensorFlowKnown,
  checkTensorFlowPython,
  checkTensorFlowSupportsGpu,
  checkTensorFlowCuda,
  checkVllmKnown,
  checkVllmTorchPin,
  checkVllmWheelCuda,
  checkVllmSupportsGpu,
  checkContainerToolkit,
];

/** Checks a GPU stack against the compatibility table; returns every finding, in a stable order. */
export function checkGpuStack(stack: GpuStack, options: CompatOptions = {}, table: CompatTable = COMPAT_TABLE): CompatFinding[] {
  const context = resolveStack(stack, table, options.today);
  return STACK_CHECKS.flatMap((check) => check(context));
}

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

function firstPyTorchFor(gpu: GpuFacts, table: CompatTable): { minor: string; variant: string } | undefined {
  for (const minor of sortedVersionKeys(table.pytorch)) {
    const variant = variantsShippingFor(table.pytorch[minor], gpu)[0];
    if (variant !== undefined) return { minor, variant };
  }
  return undefined;
}

function firstVllmFor(gpu: GpuFacts, pytorchMinor: string, table: CompatTable): string | undefined {
  // vLLM runs on the torch it pins, so it can use the GPU only from the first pin new enough for it.
  const release = table.vllm.releases.find(
    (candidate) => compareDottedVersions(majorMinor(candidate.torch), pytorchMinor) >= 0,
  );
  if (release === undefined) return undefined;
  const forArchitecture = table.vllm.minForArchitecture[gpu.architecture];
  return forArchitecture === undefined ? release.from : maxVersion(release.from, forArchitecture);
}

function resolveStack(stack: GpuStack, table: CompatTable, today: string | undefined): StackContext {
  const os = lookupKey(table.os, stack.os);
  const specPython = stack.python.version;
  let python: string | undefined;
  if (specPython === undefined) python = os?.python;
  else if (parseDottedVersion(specPython) !== undefined) python = majorMinor(specPython);
  return {
    stack,
    table,
    today,
    os,
    gpu: lookupKey(table.gpus, stack.gpu.model),
    driver: parseDottedVersion(stack.driver.version) === undefined ? undefined : stack.driver.version,
    cuda: lookupMinor(table.cuda, stack.cuda),
    python,
    pytorch: lookupMinor(table.pytorch, stack.pytorch?.version),
    tensorflow: lookupMinor(table.tensorflow, stack.tensorflow?.version),
    vllm: lookupVllmRelease(table.vllm.releases, stack.vllm?.version),
  };
}

function checkOsKnown({ os, stack, table }: StackContext): CompatFinding[] {
  if (os !== undefined) return [];
  return [error('os', `OS ${stack.os} is not in the compatibility table; known: ${Object.keys(table.os).join(', ')}`)];
}

function checkGpuModelKnown({ gpu, stack, table }: StackContext): CompatFinding[] {
  if (gpu !== undefined) return [];
  const known = Object.keys(table.gpus).join(', ');
  return [error('hardware.gpu.model', `GPU model ${stack.gpu.model} is not in the compatibility table; known: ${known}`)];
}

function checkPeerToPeer({ gpu, stack }: StackContext): CompatFinding[] {
  if (gpu === undefined || gpu.peerToPeer || stack.gpu.count <= 1) return [];
  return [
    warning(
      'hardware.gpu.count',
      `${stack.gpu.count}x ${gpu.name} have no PCIe peer-to-peer, so NCCL runs without P2P (NCCL_P2P_DISABLE=1) through host memory; expect DDP scaling bounded by PCIe and host bandwidth`,
    ),
  ];
}

function checkDriverVersion({ driver, stack }: StackContext): CompatFinding[] {
  if (driver !== undefined) return [];
  return [
    error(
      'layers.driver.nvidia_driver',
      `NVIDIA driver version ${JSON.stringify(stack.driver.version)} is not a dotted version; write it like 580.173.02`,
    ),
  ];
}

function checkDriverSupportsGpu({ gpu, driver }: StackContext): CompatFinding[] {
  if (gpu === undefined || driver === undefined || driverAtLeast(driver, gpu.minDriver)) return [];
  return [
    error(
      'layers.driver.nvidia_driver',
      `NVIDIA driver ${driver} cannot drive ${describeGpuFacts(gpu)}; needs driver >= ${gpu.minDriver}`,
    ),
  ];
}

function checkKernelModule({ gpu, stack }: StackContext): CompatFinding[] {
  const flavour = stack.driver.kernelModule;
  if (gpu === undefined || gpu.kernelModules.includes(flavour)) return [];
  return [
    error(
      'layers.driver.kernel_module',
      `kernel module flavour ${flavour} does not support ${gpu.architecture}; use ${gpu.kernelModules.join(' or ')}`,
    ),
  ];
}

function checkCudaKnown({ cuda, table }: StackContext): CompatFinding[] {
  return reportUnknownVersion(cuda, {
    label: 'CUDA',
    path: 'layers.driver.cuda',
    example: '12.8.1',
    known: sortedVersionKeys(table.cuda),
  });
}

function checkCudaSupportsGpu({ gpu, cuda }: StackContext): CompatFinding[] {
  const version = validVersion(cuda);
  if (gpu === undefined || version === undefined) return [];
  if (compareDottedVersions(majorMinor(version), gpu.minCuda) >= 0) return [];
  return [
    error(
      'layers.driver.cuda',
      `CUDA ${majorMinor(version)} has no support for ${smName(gpu.computeCapability)} (${gpu.name}); needs CUDA >= ${gpu.minCuda}`,
    ),
  ];
}

function checkDriverSupportsCuda({ cuda, driver, table }: StackContext): CompatFinding[] {
  if (cuda.status !== 'found' || driver === undefined) return [];
  const needed = cudaMinDriver(cuda.key, table);
  if (needed === undefined) return [];
  if (driverAtLeast(driver, needed)) {
    if (cuda.facts.minDriver !== undefined) return [];
    // No GA driver to compare with (13.4 and later bundle none): it runs, but only with minor-version compatibility's limits.
    return [
      warning(
        'layers.driver.cuda',
        `CUDA ${cuda.key} bundles no driver, so no GA minimum is known; on ${driver} it runs through CUDA ${majorOf(cuda.key)}'s minor-version compatibility (>= ${needed}) with a limited feature set (features that need a newer driver fail at run time); the newest CUDA with a known minimum is ${newestCudaWithMinimum(table)}`,
      ),
    ];
  }
  // Minor-version compatibility would run it with a limited feature set on an older driver of the same major;
  // the GA minimum is over-strict but safe, and the image's toolkit gets every feature.
  const basis = cuda.facts.minDriver === undefined ? `CUDA ${majorOf(cuda.key)}'s minor-version compatibility` : 'its GA release';
  return [
    error(
      'layers.driver.cuda',
      `CUDA ${cuda.key} needs NVIDIA driver >= ${needed} (${basis}), spec has ${driver}; raise the driver or lower CUDA`,
    ),
  ];
}

function checkDriverBranchLifecycle({ driver, today, table }: StackContext): CompatFinding[] {
  if (driver === undefined || today === undefined) return [];
  const branch = String(majorOf(driver));
  const facts = lookupKey(table.driverBranches, branch);
  const others = supportedBranches(today, table)
    .filter(({ branch: candidate }) => candidate !== branch)
    .map(({ branch: b, facts: f }) => `R${b} (${describeBranchType(f.type)}, end of life ${formatMonth(f.endOfLife)})`);
  // A table with no other supported branch on that date is out of date, not a reason for an empty list.
  const supported = others.length > 0 ? others.join(', ') : `none other in the compatibility table on ${today} (src/core/compat/table.ts needs an update)`;
  const path = 'layers.driver.nvidia_driver';
  if (facts === undefined) {
    return [warning(path, `driver branch R${branch} is not in the lifecycle table, so its support status is unknown; supported branches on ${today}: ${supported}`)];
  }
  const state = branchState(facts, today);
  if (state.status === 'ended') {
    return [warning(path, `driver branch R${branch} is past end of life (${state.when}) on ${today} and gets no security fixes; supported branches: ${supported}`)];
  }
  if (facts.type === 'new-feature') {
    return [warning(path, `driver branch R${branch} is a New Feature Branch: short-lived, with no end-of-life commitment; for an image prefer a supported branch: ${supported}`)];
  }
  if (state.status === 'ending') {
    return [warning(path, `driver branch R${branch} reaches end of life in ${formatMonth(facts.endOfLife)} (${plural(state.days, 'day')} after ${today}); plan the move to one of: ${supported}`)];
  }
  return [];
}

function checkCudnn({ cuda, stack, table }: StackContext): CompatFinding[] {
  const cudnn = stack.cudnn;
  if (cudnn === undefined) return [];
  if (parseDottedVersion(cudnn) === undefined) {
    return [error('layers.driver.cudnn', `cuDNN version ${JSON.stringify(cudnn)} is not a dotted version; write it like 9.10.2`)];
  }
  const cudaVersion = validVersion(cuda);
  if (cudaVersion === undefined) return [];
  const first = lookupKey(table.cudnn.firstForCuda, String(majorOf(cudaVersion)));
  if (first !== undefined && compareDottedVersions(cudnn, first.version) < 0) {
    return [
      error(
        'layers.driver.cudnn',
        `cuDNN ${cudnn} has no build for CUDA ${majorOf(cudaVersion)} (spec has CUDA ${cudaVersion}); the first cuDNN with one is ${first.version} (newest known: ${table.cudnn.newest.version})`,
      ),
    ];
  }
  if (majorOf(cudnn) < 9 || majorOf(cudaVersion) >= 12) return [];
  // cuDNN 9 targets CUDA 12; its few CUDA 11 builds lag behind and frameworks built against 9 expect CUDA 12.
  return [
    warning(
      'layers.driver.cudnn',
      `cuDNN ${cudnn} with CUDA ${cudaVersion}: cuDNN 9 targets CUDA 12 and has only limited CUDA 11 builds; use cuDNN 8.9 with CUDA 11, or CUDA >= 12`,
    ),
  ];
}

function checkPythonVersion({ stack }: StackContext): CompatFinding[] {
  const version = stack.python.version;
  if (version === undefined || parseDottedVersion(version) !== undefined) return [];
  return [
    error(
      'layers.frameworks.python.version',
      `Python version ${JSON.stringify(version)} is not a dotted version; write it like 3.12`,
    ),
  ];
}

function checkPythonVenv({ os, stack }: StackContext): CompatFinding[] {
  // Without a pip-installed framework nothing goes into the system Python, so PEP 668 does not bite.
  const installsWithPip = stack.pytorch !== undefined || stack.tensorflow !== undefined || stack.vllm !== undefined;
  if (os === undefined || !os.externallyManaged || !installsWithPip || stack.python.venv !== undefined) return [];
  return [
    error(
      'layers.frameworks.python.venv',
      `${os.name} refuses pip install into the system Python (PEP 668); set layers.frameworks.python.venv, e.g. /opt/ai/venv`,
    ),
  ];
}

function checkPyTorchKnown({ pytorch, table }: StackContext): CompatFinding[] {
  return reportUnknownVersion(pytorch, {
    label: 'PyTorch',
    path: 'layers.frameworks.pytorch.version',
    example: '2.7.1',
    known: sortedVersionKeys(table.pytorch),
  });
}

function checkPyTorchPython({ pytorch, python, table }: StackContext): CompatFinding[] {
  if (pytorch.status !== 'found' || python === undefined || pytorch.facts.python.includes(python)) return [];
  return [pythonUnsupported(python, 'PyTorch', pytorch.key, pytorch.facts.python, table.pytorch)];
}

function checkPyTorchVariantAvailable({ pytorch, stack }: StackContext): CompatFinding[] {
  const variant = stack.pytorch?.cudaVariant;
  if (pytorch.status !== 'found' || variant === undefined || Object.hasOwn(pytorch.facts.variants, variant)) return [];
  return [
    error(
      'layers.frameworks.pytorch.cuda_variant',
      `PyTorch ${pytorch.key} has no ${variant} wheels; available: ${Object.keys(pytorch.facts.variants).join(', ')}`,
    ),
  ];
}

function checkPyTorchSupportsGpu({ pytorch, gpu, stack, table }: StackContext): CompatFinding[] {
  if (pytorch.status !== 'found' || gpu === undefined) return [];
  const shipping = variantsShippingFor(pytorch.facts, gpu);
  if (shipping.length === 0) {
    const first = firstPyTorchFor(gpu, table);
    const needs =
      first === undefined
        ? 'no PyTorch in the compatibility table ships them'
        : `needs PyTorch >= ${first.minor} with ${first.variant} wheels`;
    return [
      error(
        'layers.frameworks.pytorch.version',
        `PyTorch ${pytorch.key} wheels ship no kernels for ${smName(gpu.computeCapability)} (${gpu.name}); ${needs}`,
      ),
    ];
  }
  const variant = stack.pytorch?.cudaVariant;
  if (variant === undefined || !Object.hasOwn(pytorch.facts.variants, variant) || shipping.includes(variant)) return [];
  return [
    error(
      'layers.frameworks.pytorch.cuda_variant',
      `PyTorch ${pytorch.key} ${variant} wheels ship no kernels for ${smName(gpu.computeCapability)} (${gpu.name}); use ${shipping.join(' or ')}`,
    ),
  ];
}

function checkPyTorchVariantDriver({ pytorch, driver, gpu, stack, table }: StackContext): CompatFinding[] {
  const variantName = stack.pytorch?.cudaVariant;
  if (pytorch.status !== 'found' || driver === undefined || variantName === undefined) return [];
  const variant = lookupKey(pytorch.facts.variants, variantName);
  const needed = variant === undefined ? undefined : cudaMinDriver(variant.cuda, table);
  if (variant === undefined || needed === undefined || driverAtLeast(driver, needed)) return [];
  // The wheels bundle their CUDA runtime, so the system toolkit does not matter here, but the driver does.
  const usable = Object.entries(pytorch.facts.variants)
    .filter(([, candidate]) => {
      const candidateDriver = cudaMinDriver(candidate.cuda, table);
      const runsOnGpu = gpu === undefined || shipsKernelsFor(candidate.computeCapabilities, gpu.computeCapability);
      return runsOnGpu && candidateDriver !== undefined && driverAtLeast(driver, candidateDriver);
    })
    .map(([name]) => name);
  const fix = usable.length === 0 ? 'raise the driver' : `raise the driver or use ${usable.join(' or ')}`;
  return [
    error(
      'layers.frameworks.pytorch.cuda_variant',
      `PyTorch ${variantName} wheels bundle CUDA ${variant.cuda} and need NVIDIA driver >= ${needed}, spec has ${driver}; ${fix}`,
    ),
  ];
}

function checkTensorFlowKnown({ tensorflow, table }: StackContext): CompatFinding[] {
  return reportUnknownVersion(tensorflow, {
    label: 'TensorFlow',
    path: 'layers.frameworks.tensorflow.version',
    example: '2.19.0',
    known: sortedVersionKeys(table.tensorflow),
  });
}

function checkTensorFlowPython({ tensorflow, python, table }: StackContext): CompatFinding[] {
  if (tensorflow.status !== 'found' || python === undefined || tensorflow.facts.python.includes(python)) return [];
  return [pythonUnsupported(python, 'TensorFlow', tensorflow.key, tensorflow.facts.python, table.tensorflow)];
}

function checkTensorFlowSupportsGpu({ tensorflow, gpu }: StackContext): CompatFinding[] {
  if (tensorflow.status !== 'found' || gpu === undefined) return [];
  const shipped = tensorflow.facts.maxComputeCapability;
  if (compareDottedVersions(gpu.computeCapability, shipped) <= 0) return [];
  const sm = smName(gpu.computeCapability);
  // A warning, not an error: a spec may carry TensorFlow for CPU work; the frameworks gate counts its GPUs and fails.
  return [
    warning(
      'layers.frameworks.tensorflow.version',
      `TensorFlow ${tensorflow.key} wheels ship kernels up to ${smName(shipped, 'compute')} and none for ${sm} (${gpu.name}): the first GPU op fails at run time ("not built with CUDA kernel binaries compatible with compute capability ${gpu.computeCapability}", then CUDA_ERROR_INVALID_PTX), it does not fall back to an empty device list; the frameworks gate will fail on this GPU, so leave TensorFlow out or build it for ${sm} yourself`,
    ),
  ];
}

function checkTensorFlowCuda({ tensorflow, cuda, table }: StackContext): CompatFinding[] {
  const cudaVersion = validVersion(cuda);
  if (tensorflow.status !== 'found' || cudaVersion === undefined) return [];
  const cudaMajor = majorOf(cudaVersion);
  if (majorOf(tensorflow.facts.cuda) === cudaMajor) return [];
  const matching = sortedVersionKeys(table.tensorflow).filter(
    (minor) => majorOf(table.tensorflow[minor]?.cuda ?? '0') === cudaMajor,
  );
  const alternative = matching.length === 0 ? '' : `use TensorFlow ${formatSpan(matching)} (tested with CUDA ${cudaMajor}) or `;
  return [
    warning(
      'layers.frameworks.tensorflow.version',
      `TensorFlow ${tensorflow.key} was tested with CUDA ${tensorflow.facts.cuda}, spec has CUDA ${cudaVersion}; ${alternative}install tensorflow[and-cuda], which brings its own CUDA libraries`,
    ),
  ];
}

function checkVllmKnown({ vllm, table }: StackContext): CompatFinding[] {
  const releases = table.vllm.releases;
  const last = releases.at(-1);
  return reportUnknownVersion(vllm, {
    label: 'vLLM',
    path: 'layers.frameworks.vllm.version',
    example: '0.10.1.1',
    known: releases.map((release) => describeRelease(release)),
    oldest: releases[0]?.from,
    newest: last === undefined ? undefined : lastCoveredVersion(last),
  });
}

function checkVllmTorchPin({ vllm, pytorch, table }: StackContext): CompatFinding[] {
  const torch = validVersion(pytorch);
  if (vllm.status !== 'found' || torch === undefined) return [];
  const pin = vllm.facts.torch;
  if (compareDottedVersions(pin, torch) === 0) return [];
  const builtForSpec = table.vllm.releases
    .filter((release) => compareDottedVersions(release.torch, torch) === 0)
    .map((release) => describeRelease(release));
  const fix =
    builtForSpec.length === 0
      ? `use PyTorch ${pin} (no vLLM in the compatibility table pins ${torch})`
      : `use PyTorch ${pin} or a vLLM built for ${torch} (${builtForSpec.join(', ')})`;
  return [error('layers.frameworks.vllm.version', `vLLM ${vllm.version} pins torch ${pin}, spec has ${torch}; ${fix}`)];
}

function checkVllmWheelCuda({ vllm, stack }: StackContext): CompatFinding[] {
  const variant = stack.pytorch?.cudaVariant;
  if (vllm.status !== 'found' || variant === undefined) return [];
  const wheelCuda = vllm.facts.wheelCuda;
  if (wheelCuda === undefined || wheelCuda === variant) return [];
  // vLLM's compiled ops link against the CUDA libraries torch brings; a torch of another CUDA build breaks them.
  return [
    error(
      'layers.frameworks.pytorch.cuda_variant',
      `vLLM ${vllm.version}'s wheels are built for torch ${vllm.facts.torch}+${wheelCuda}, spec has ${variant}; use cuda_variant ${wheelCuda}`,
    ),
  ];
}

function checkNcclPin({ pytorch, stack }: StackContext): CompatFinding[] {
  const pinned = stack.nccl?.version;
  if (pinned === undefined) return [];
  const path = 'layers.frameworks.nccl.version';
  if (!/^\d{1,9}\.\d{1,9}\.\d{1,9}$/.test(pinned)) {
    return [error(path, `NCCL version ${JSON.stringify(pinned)} is not a full version; write it like 2.31.2 (the nvidia-nccl wheel is pinned exactly)`)];
  }
  const variantName = stack.pytorch?.cudaVariant;
  const variant = pytorch.status === 'found' && variantName !== undefined ? lookupKey(pytorch.facts.variants, variantName) : undefined;
  const bundled = variant?.nccl;
  if (bundled === undefined || compareDottedVersions(pinned, bundled) >= 0) return [];
  return [
    warning(
      path,
      `NCCL ${pinned} is older than the ${bundled} that torch ${stack.pytorch?.version ?? ''}+${variantName ?? ''} bundles; a pin is meant to move NCCL forward past a known bug, so check that the older one is what you want`,
    ),
  ];
}

function checkNcclOnTopology({ pytorch, gpu, stack, table }: StackContext): CompatFinding[] {
  if (gpu === undefined) return [];
  const topology = table.nccl.topologies.find(
    (candidate) => candidate.computeCapability === gpu.computeCapability && stack.gpu.count >= candidate.minGpus,
  );
  if (topology === undefined) return [];
  const pinned = stack.nccl?.version;
  const variantName = stack.pytorch?.cudaVariant;
  const variant = pytorch.status === 'found' && variantName !== undefined ? lookupKey(pytorch.facts.variants, variantName) : undefined;
  const effective = pinned ?? variant?.nccl;
  const where = pinned !== undefined ? 'layers.frameworks.nccl.version' : 'layers.frameworks.pytorch.version';
  const origin = pinned !== undefined ? `NCCL ${pinned} (pinned)` : `torch ${stack.pytorch?.version ?? ''}+${variantName ?? ''} bundles NCCL ${effective ?? ''}`;
  const fix = `pin layers.frameworks.nccl.version to ${topology.firstGood.version} or later (the first version reported working there, ${sourceUrl(topology.firstGood)})`;
  if (effective === undefined) {
    // A wheel without kernels for the GPU is refused by its own check; its NCCL is beside the point.
    if (stack.pytorch === undefined || pytorch.status !== 'found' || variant === undefined) return [];
    if (!shipsKernelsFor(variant.computeCapabilities, gpu.computeCapability)) return [];
    return [
      warning(
        where,
        `the NCCL that torch ${pytorch.key} ${variantName} bundles is not in the compatibility table, and ${topology.description} need a working one; ${fix}`,
      ),
    ];
  }
  if (!/^\d{1,9}(\.\d{1,9}){2}$/.test(effective)) return [];
  const broken = topology.broken.find((report) => compareDottedVersions(report.version, effective) === 0);
  if (broken !== undefined) {
    return [
      error(
        where,
        `${origin}, which ${broken.failure} on ${stack.gpu.count}x ${gpu.name} (${topology.description}, ${sourceUrl(broken)}), so DDP's gradient all-reduce fails; ${fix}`,
      ),
    ];
  }
  if (compareDottedVersions(effective, topology.firstGood.version) >= 0) return [];
  return [
    warning(
      where,
      `${origin}, which no source confirms on ${topology.description} (${topology.broken.map((report) => report.version).join(' and ')} crash there); ${fix}`,
    ),
  ];
}

function checkContainerToolkit({ stack, table }: StackContext): CompatFinding[] {
  const version = stack.containerToolkit;
  if (version === undefined) return [];
  const path = 'layers.runtime.container_toolkit';
  if (parseDottedVersion(version) === undefined) {
    return [error(path, `NVIDIA Container Toolkit version ${JSON.stringify(version)} is not a dotted version; write it like ${table.containerToolkit.newest.version}`)];
  }
  const exposed = table.containerToolkit.advisories.filter((advisory) => compareDottedVersions(version, advisory.fixedIn) < 0);
  const last = exposed.at(-1);
  if (last === undefined) return [];
  const advisories = exposed.map((advisory) => `${advisory.cves.join('/')} (${advisory.what}; fixed in ${advisory.fixedIn}, ${sourceUrl(advisory)})`);
  return [
    error(path, `NVIDIA Container Toolkit ${version} is exposed to ${advisories.join('; ')}; use >= ${last.fixedIn} (newest known: ${table.containerToolkit.newest.version})`),
  ];
}

function checkVllmSupportsGpu({ vllm, gpu, table }: StackContext): CompatFinding[] {
  const version = validVersion(vllm);
  if (gpu === undefined || version === undefined) return [];
  const minimum = table.vllm.minForArchitecture[gpu.architecture];
  if (minimum === undefined || compareDottedVersions(version, minimum) >= 0) return [];
  return [
    error(
      'layers.frameworks.vllm.version',
      `vLLM ${version} has no kernels for ${describeGpuFacts(gpu)}; needs vLLM >= ${minimum}`,
    ),
  ];
}

function pythonUnsupported(
  python: string,
  framework: string,
  minor: string,
  supported: readonly string[],
  entries: Readonly<Record<string, { python: readonly string[] }>>,
): CompatFinding {
  const supporting = sortedVersionKeys(entries).filter((key) => entries[key]?.python.includes(python));
  const alternative = supporting.length === 0 ? '' : ` or ${framework} ${formatSpan(supporting)}`;
  return error(
    'layers.frameworks.python.version',
    `Python ${python} is not supported by ${framework} ${minor} (wheels for ${formatSpan(supported)}); use Python ${formatSpan(supported)}${alternative}`,
  );
}

type UnknownVersionReport = {
  label: string;
  path: CompatPath;
  example: string;
  known: readonly string[];
  /** Defaults to the first and last of `known`. */
  oldest?: string | undefined;
  newest?: string | undefined;
};

function reportUnknownVersion<T>(lookup: VersionLookup<T>, report: UnknownVersionReport): CompatFinding[] {
  const { label, path, example, known } = report;
  const oldest = report.oldest ?? known[0];
  const newest = report.newest ?? known.at(-1);
  switch (lookup.status) {
    case 'absent':
    case 'found':
      return [];
    case 'malformed':
      return [error(path, `${label} version ${JSON.stringify(lookup.version)} is not a dotted version; write it like ${example}`)];
    case 'older':
      return [error(path, `${label} ${lookup.version} is older than the compatibility table; use ${label} >= ${oldest}`)];
    case 'newer':
      // A release newer than the table is likely fine; refusing it would block upgrades until the table catches up.
      return [
        warning(path, `${label} ${lookup.version} is not in the compatibility table (newest known: ${newest}); cannot check it`),
      ];
    case 'gap':
      return [error(path, `${label} ${lookup.version} is not in the compatibility table; known: ${known.join(', ')}`)];
  }
}

function lookupMinor<T>(entries: Readonly<Record<string, T>>, version: string | undefined): VersionLookup<T> {
  if (version === undefined) return { status: 'absent' };
  if (parseDottedVersion(version) === undefined) return { status: 'malformed', version };
  const key = majorMinor(version);
  const facts = lookupKey(entries, key);
  if (facts !== undefined) return { status: 'found', version, key, facts };
  const known = sortedVersionKeys(entries);
  return { status: classifyMissing(key, known[0], known.at(-1)), version };
}

function lookupVllmRelease(releases: readonly VllmRelease[], version: string | undefined): VersionLookup<VllmRelease> {
  if (version === undefined) return { status: 'absent' };
  if (parseDottedVersion(version) === undefined) return { status: 'malformed', version };
  const release = releases.find(
    (candidate) =>
      compareDottedVersions(version, candidate.from) >= 0 &&
      (candidate.until === undefined || compareDottedVersions(version, candidate.until) < 0),
  );
  if (release !== undefined) return { status: 'found', version, key: release.from, facts: release };
  const last = releases.at(-1);
  return { status: classifyMissing(version, releases[0]?.from, last?.until ?? last?.from), version };
}

function classifyMissing(version: string, oldest: string | undefined, newest: string | undefined): 'older' | 'newer' | 'gap' {
  if (oldest !== undefined && compareDottedVersions(version, oldest) < 0) return 'older';
  if (newest !== undefined && compareDottedVersions(version, newest) >= 0) return 'newer';
  return 'gap';
}

function validVersion<T>(lookup: VersionLookup<T>): string | undefined {
  return lookup.status === 'absent' || lookup.status === 'malformed' ? undefined : lookup.version;
}

function variantsShippingFor(facts: PyTorchFacts | undefined, gpu: GpuFacts): string[] {
  if (facts === undefined) return [];
  return Object.entries(facts.variants)
    .filter(([, variant]) => shipsKernelsFor(variant.computeCapabilities, gpu.computeCapability))
    .sort(([, a], [, b]) => compareDottedVersions(a.cuda, b.cuda))
    .map(([name]) => name);
}

// CUDA runs SASS built for X.y on any X.z with z >= y (same major), so sm_86 wheels drive sm_89 cards;
// across majors (sm_90 → sm_120) it does not.
/** Whether wheels built for `shipped` compute capabilities run on a GPU of `computeCapability` (same major, not newer). */
export function shipsKernelsFor(shipped: readonly string[], computeCapability: string): boolean {
  return shipped.some(
    (candidate) =>
      majorOf(candidate) === majorOf(computeCapability) && compareDottedVersions(candidate, computeCapability) <= 0,
  );
}

// A bare branch such as 570 stands for apt's nvidia-driver-570(-open), which installs the newest release of
// that branch, so it is compared only as far as it is written.
function driverAtLeast(driver: string, minimum: string): boolean {
  const precision = driver.split('.').length;
  const truncatedMinimum = minimum.split('.').slice(0, precision).join('.');
  return compareDottedVersions(driver, truncatedMinimum) >= 0;
}

function describeGpuFacts(gpu: GpuFacts): string {
  return `${gpu.name} (${gpu.architecture}, ${smName(gpu.computeCapability)})`;
}

function smName(computeCapability: string, prefix: 'sm' | 'compute' = 'sm'): string {
  return `${prefix}_${computeCapability.replace('.', '')}`;
}

function describeRelease(release: VllmRelease): string {
  return release.until === undefined ? `>= ${release.from}` : `${release.from}–${lastCoveredVersion(release)}`;
}

// Ranges end at an exclusive `until`; for messages, name the last release inside: 0.10.2 → 0.10.1, 0.8.0 → 0.7.x.
function lastCoveredVersion(release: VllmRelease): string {
  if (release.until === undefined) return 'later';
  const parts = release.until.split('.').map(Number);
  const last = parts.findLastIndex((part) => part > 0);
  if (last < 0) return release.from;
  const lowered = [...parts.slice(0, last).map(String), String((parts[last] ?? 0) - 1)];
  return (last === parts.length - 1 ? lowered : [...lowered, 'x']).join('.');
}

function formatSpan(versions: readonly string[]): string {
  const first = versions[0];
  const last = versions.at(-1);
  return first === last || last === undefined ? (first ?? '') : `${first}–${last}`;
}

/** The higher of two dotted versions. */
export function maxVersion(a: string, b: string): string {
  return compareDottedVersions(a, b) >= 0 ? a : b;
}

function sortedVersionKeys(entries: Readonly<Record<string, unknown>>): string[] {
  return Object.keys(entries).sort(compareDottedVersions);
}

function lookupKey<T>(entries: Readonly<Record<string, T>>, key: string): T | undefined {
  // hasOwn keeps spec values like "constructor" from resolving to Object.prototype members.
  return Object.hasOwn(entries, key) ? entries[key] : undefined;
}

/** The minimum driver for a CUDA minor: its GA release's, else its major's minor-version-compatibility minimum. */
function newestCudaWithMinimum(table: CompatTable): string {
  return Object.entries(table.cuda)
    .filter(([, facts]) => facts.minDriver !== undefined)
    .map(([minor]) => minor)
    .sort(compareDottedVersions)
    .at(-1) ?? 'none';
}

function cudaMinDriver(minor: string, table: CompatTable): string | undefined {
  const facts = lookupKey(table.cuda, minor);
  if (facts?.minDriver !== undefined) return facts.minDriver;
  if (parseDottedVersion(minor) === undefined) return undefined;
  return lookupKey(table.cudaMajors, String(majorOf(minor)))?.minDriver;
}

type BranchState = { status: 'supported' } | { status: 'ending'; days: number } | { status: 'ended'; when: string };

// A branch is ended from the first day of its end-of-life month, and "ending" in the 180 days before.
const ENDING_WITHIN_DAYS = 180;

function branchState(facts: DriverBranchFacts, today: string): BranchState {
  if (facts.endedBy !== undefined) return { status: 'ended', when: `listed as ended by NVIDIA in ${formatMonth(facts.endedBy)}` };
  if (facts.endOfLife === undefined) return { status: 'supported' };
  const days = daysBetween(today, `${facts.endOfLife}-01`);
  if (days <= 0) return { status: 'ended', when: `ended ${formatMonth(facts.endOfLife)}` };
  return days <= ENDING_WITHIN_DAYS ? { status: 'ending', days } : { status: 'supported' };
}

export type SupportedBranch = { branch: string; facts: DriverBranchFacts };

/** Long Term Support and Production branches not past end of life on `today` (YYYY-MM-DD), newest first. */
export function supportedBranches(today: string, table: CompatTable = COMPAT_TABLE): SupportedBranch[] {
  return Object.entries(table.driverBranches)
    .filter(([, facts]) => facts.type !== undefined && facts.type !== 'new-feature' && branchState(facts, today).status !== 'ended')
    .map(([branch, facts]) => ({ branch, facts }))
    .sort((a, b) => compareDottedVersions(b.branch, a.branch));
}

/** Describes the lifecycle of a driver version's branch on `today`, e.g. `R580 Long Term Support, end of life June 2028`. */
export function describeDriverBranch(driver: string, today: string, table: CompatTable = COMPAT_TABLE): string {
  if (parseDottedVersion(driver) === undefined) return 'branch unknown';
  const branch = String(majorOf(driver));
  const facts = lookupKey(table.driverBranches, branch);
  return facts === undefined ? `R${branch}, not in the lifecycle table` : `R${branch} ${describeBranchLifecycle(facts, today)}`;
}

/** Describes a branch's lifecycle on `today`, e.g. `Long Term Support, end of life June 2028`. */
export function describeBranchLifecycle(facts: DriverBranchFacts, today: string): string {
  const state = branchState(facts, today);
  const type = facts.type === undefined ? 'branch' : describeBranchType(facts.type);
  if (state.status === 'ended') return `${type}, past end of life: ${state.when}`;
  if (facts.endOfLife === undefined) return `${type}, no end-of-life date`;
  return `${type}, end of life ${formatMonth(facts.endOfLife)}${state.status === 'ending' ? `, in ${plural(state.days, 'day')}` : ''}`;
}

function describeBranchType(type: DriverBranchFacts['type']): string {
  switch (type) {
    case 'long-term-support':
      return 'Long Term Support';
    case 'production':
      return 'Production';
    case 'new-feature':
      return 'New Feature';
    case undefined:
      return 'branch';
  }
}

const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];

function formatMonth(yearMonth: string | undefined): string {
  if (yearMonth === undefined) return 'none given';
  const [year, month] = yearMonth.split('-');
  return `${MONTHS[Number(month) - 1] ?? month} ${year}`;
}

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}

function daysBetween(from: string, to: string): number {
  return dayNumber(to) - dayNumber(from);
}

// Days since 1970-01-01 of a YYYY-MM-DD date (Howard Hinnant's days_from_civil); the core reads no Date.
function dayNumber(isoDate: string): number {
  const [y = 1970, m = 1, d = 1] = isoDate.split('-').map(Number);
  const year = m <= 2 ? y - 1 : y;
  const era = Math.floor(year / 400);
  const yearOfEra = year - era * 400;
  const dayOfYear = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const dayOfEra = yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) + dayOfYear;
  return era * 146097 + dayOfEra - 719468;
}

function sourceUrl(row: { sources: readonly CompatSourceId[] }): string {
  const [first] = row.sources;
  return first === undefined ? 'no source' : COMPAT_SOURCES[first].url;
}

function error(path: CompatPath, message: string): CompatFinding {
  return { severity: 'error', path, message };
}

function warning(path: CompatPath, message: string): CompatFinding {
  return { severity: 'warning', path, message };
}
