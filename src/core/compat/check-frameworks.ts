import { formatSpan, smName } from './describe-facts.js';
import { compareDottedVersions, majorOf, parseDottedVersion } from './dotted-version.js';
import {
  errorAt,
  reportUnknownVersion,
  validVersion,
  warningAt,
  type CompatFinding,
  type CompatPath,
  type StackContext,
  type VersionLookup,
} from './stack-context.js';
import { cudaMinDriver, driverAtLeast, firstPyTorchFor, lookupKey, shipsKernelsFor, sortedVersionKeys, variantsShippingFor } from './table-queries.js';

/** Refuses a Python version that is not dotted. */
export function checkPythonVersion({ stack }: StackContext): CompatFinding[] {
  const version = stack.python.version;
  if (version === undefined || parseDottedVersion(version) !== undefined) return [];
  return [
    errorAt(
      'layers.frameworks.python.version',
      `Python version ${JSON.stringify(version)} is not a dotted version; write it like 3.12`,
    ),
  ];
}

/** Refuses pip-installed frameworks into an externally managed system Python (PEP 668). */
export function checkPythonVenv({ os, stack }: StackContext): CompatFinding[] {
  // Without a pip-installed framework nothing goes into the system Python, so PEP 668 does not bite.
  const installsWithPip = stack.pytorch !== undefined || stack.tensorflow !== undefined || stack.vllm !== undefined;
  if (os === undefined || !os.externallyManaged || !installsWithPip || stack.python.venv !== undefined) return [];
  return [
    errorAt(
      'layers.frameworks.python.venv',
      `${os.name} refuses pip install into the system Python (PEP 668); set layers.frameworks.python.venv, e.g. /opt/ai/venv`,
    ),
  ];
}

/** Reports a PyTorch version the table does not know. */
export function checkPyTorchKnown({ pytorch, table }: StackContext): CompatFinding[] {
  return reportUnknownFramework(pytorch, PYTORCH, table.pytorch);
}

/** Refuses a Python that PyTorch publishes no wheels for. */
export function checkPyTorchPython({ pytorch, python, table }: StackContext): CompatFinding[] {
  return checkFrameworkPython(pytorch, python, PYTORCH, table.pytorch);
}

/** Refuses a CUDA variant that PyTorch publishes no wheels for. */
export function checkPyTorchVariantAvailable({ pytorch, stack }: StackContext): CompatFinding[] {
  const variant = stack.pytorch?.cudaVariant;
  if (pytorch.status !== 'found' || variant === undefined || Object.hasOwn(pytorch.facts.variants, variant)) return [];
  return [
    errorAt(
      'layers.frameworks.pytorch.cuda_variant',
      `PyTorch ${pytorch.key} has no ${variant} wheels; available: ${Object.keys(pytorch.facts.variants).join(', ')}`,
    ),
  ];
}

/** Refuses PyTorch wheels that ship no kernels for the GPU. */
export function checkPyTorchSupportsGpu({ pytorch, gpu, stack, table }: StackContext): CompatFinding[] {
  if (pytorch.status !== 'found' || gpu === undefined) return [];
  const shipping = variantsShippingFor(pytorch.facts, gpu);
  if (shipping.length === 0) {
    const first = firstPyTorchFor(gpu, table);
    const needs =
      first === undefined
        ? 'no PyTorch in the compatibility table ships them'
        : `needs PyTorch >= ${first.minor} with ${first.variant} wheels`;
    return [
      errorAt(
        'layers.frameworks.pytorch.version',
        `PyTorch ${pytorch.key} wheels ship no kernels for ${smName(gpu.computeCapability)} (${gpu.name}); ${needs}`,
      ),
    ];
  }
  const variant = stack.pytorch?.cudaVariant;
  if (variant === undefined || !Object.hasOwn(pytorch.facts.variants, variant) || shipping.includes(variant)) return [];
  return [
    errorAt(
      'layers.frameworks.pytorch.cuda_variant',
      `PyTorch ${pytorch.key} ${variant} wheels ship no kernels for ${smName(gpu.computeCapability)} (${gpu.name}); use ${shipping.join(' or ')}`,
    ),
  ];
}

/** Refuses a driver older than the one the wheels' bundled CUDA needs. */
export function checkPyTorchVariantDriver({ pytorch, driver, gpu, stack, table }: StackContext): CompatFinding[] {
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
    errorAt(
      'layers.frameworks.pytorch.cuda_variant',
      `PyTorch ${variantName} wheels bundle CUDA ${variant.cuda} and need NVIDIA driver >= ${needed}, spec has ${driver}; ${fix}`,
    ),
  ];
}

/** Reports a TensorFlow version the table does not know. */
export function checkTensorFlowKnown({ tensorflow, table }: StackContext): CompatFinding[] {
  return reportUnknownFramework(tensorflow, TENSORFLOW, table.tensorflow);
}

/** Refuses a Python that TensorFlow publishes no wheels for. */
export function checkTensorFlowPython({ tensorflow, python, table }: StackContext): CompatFinding[] {
  return checkFrameworkPython(tensorflow, python, TENSORFLOW, table.tensorflow);
}

/** Warns that TensorFlow wheels ship no kernels for the GPU. */
export function checkTensorFlowSupportsGpu({ tensorflow, gpu }: StackContext): CompatFinding[] {
  if (tensorflow.status !== 'found' || gpu === undefined) return [];
  const shipped = tensorflow.facts.maxComputeCapability;
  if (compareDottedVersions(gpu.computeCapability, shipped) <= 0) return [];
  const sm = smName(gpu.computeCapability);
  // A warning, not an error: a spec may carry TensorFlow for CPU work; the frameworks gate counts its GPUs and fails.
  return [
    warningAt(
      'layers.frameworks.tensorflow.version',
      `TensorFlow ${tensorflow.key} wheels ship kernels up to ${smName(shipped, 'compute')} and none for ${sm} (${gpu.name}): the first GPU op fails at run time ("not built with CUDA kernel binaries compatible with compute capability ${gpu.computeCapability}", then CUDA_ERROR_INVALID_PTX), it does not fall back to an empty device list; the frameworks gate will fail on this GPU, so leave TensorFlow out or build it for ${sm} yourself`,
    ),
  ];
}

/** Warns about a CUDA major TensorFlow was not tested with. */
export function checkTensorFlowCuda({ tensorflow, cuda, table }: StackContext): CompatFinding[] {
  const cudaVersion = validVersion(cuda);
  if (tensorflow.status !== 'found' || cudaVersion === undefined) return [];
  const cudaMajor = majorOf(cudaVersion);
  if (majorOf(tensorflow.facts.cuda) === cudaMajor) return [];
  const matching = sortedVersionKeys(table.tensorflow).filter(
    (minor) => majorOf(table.tensorflow[minor]?.cuda ?? '0') === cudaMajor,
  );
  const alternative = matching.length === 0 ? '' : `use TensorFlow ${formatSpan(matching)} (tested with CUDA ${cudaMajor}) or `;
  return [
    warningAt(
      'layers.frameworks.tensorflow.version',
      `TensorFlow ${tensorflow.key} was tested with CUDA ${tensorflow.facts.cuda}, spec has CUDA ${cudaVersion}; ${alternative}install tensorflow[and-cuda], which brings its own CUDA libraries`,
    ),
  ];
}

type Framework = { label: string; path: CompatPath; example: string };
type FrameworkRows = Readonly<Record<string, { python: readonly string[] }>>;

const PYTORCH: Framework = { label: 'PyTorch', path: 'layers.frameworks.pytorch.version', example: '2.7.1' };
const TENSORFLOW: Framework = { label: 'TensorFlow', path: 'layers.frameworks.tensorflow.version', example: '2.19.0' };

function reportUnknownFramework<T>(lookup: VersionLookup<T>, framework: Framework, rows: FrameworkRows): CompatFinding[] {
  return reportUnknownVersion(lookup, { ...framework, known: sortedVersionKeys(rows) });
}

function checkFrameworkPython<T extends { python: readonly string[] }>(
  lookup: VersionLookup<T>,
  python: string | undefined,
  framework: Framework,
  rows: FrameworkRows,
): CompatFinding[] {
  if (lookup.status !== 'found' || python === undefined) return [];
  const supported = lookup.facts.python;
  if (supported.includes(python)) return [];
  const supporting = sortedVersionKeys(rows).filter((key) => rows[key]?.python.includes(python));
  const alternative = supporting.length === 0 ? '' : ` or ${framework.label} ${formatSpan(supporting)}`;
  return [
    errorAt(
      'layers.frameworks.python.version',
      `Python ${python} is not supported by ${framework.label} ${lookup.key} (wheels for ${formatSpan(supported)}); use Python ${formatSpan(supported)}${alternative}`,
    ),
  ];
}
