import { compareDottedVersions, majorMinor, majorOf, parseDottedVersion } from './dotted-version.js';
import { COMPAT_TABLE, type CompatTable, type GpuFacts, type OsFacts, type PyTorchFacts } from './table.js';

/** The oldest PyTorch minor, and its oldest CUDA variant, whose wheels ship kernels for a GPU. */
export function firstPyTorchFor(gpu: GpuFacts, table: CompatTable): { minor: string; variant: string } | undefined {
  for (const minor of sortedVersionKeys(table.pytorch)) {
    const variant = variantsShippingFor(table.pytorch[minor], gpu)[0];
    if (variant !== undefined) return { minor, variant };
  }
  return undefined;
}

/** The oldest vLLM that runs on a GPU, given the oldest PyTorch minor that does. */
export function firstVllmFor(gpu: GpuFacts, pytorchMinor: string, table: CompatTable): string | undefined {
  // vLLM runs on the torch it pins, so it can use the GPU only from the first pin new enough for it.
  const release = table.vllm.releases.find(
    (candidate) => compareDottedVersions(majorMinor(candidate.torch), pytorchMinor) >= 0,
  );
  if (release === undefined) return undefined;
  const forArchitecture = table.vllm.minForArchitecture[gpu.architecture];
  return forArchitecture === undefined ? release.from : maxVersion(release.from, forArchitecture);
}

/** A PyTorch minor's wheel variants that ship kernels for a GPU, oldest CUDA first. */
export function variantsShippingFor(facts: PyTorchFacts | undefined, gpu: GpuFacts): string[] {
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
/** Whether a driver, compared only as far as it is written, is at least a minimum. */
export function driverAtLeast(driver: string, minimum: string): boolean {
  const precision = driver.split('.').length;
  const truncatedMinimum = minimum.split('.').slice(0, precision).join('.');
  return compareDottedVersions(driver, truncatedMinimum) >= 0;
}

/** The higher of two dotted versions. */
export function maxVersion(a: string, b: string): string {
  return compareDottedVersions(a, b) >= 0 ? a : b;
}

/** A table section's version keys, oldest first. */
export function sortedVersionKeys(entries: Readonly<Record<string, unknown>>): string[] {
  return Object.keys(entries).sort(compareDottedVersions);
}

/** A table row by key; undefined for a missing key or an Object.prototype member's name. */
export function lookupKey<T>(entries: Readonly<Record<string, T>>, key: string): T | undefined {
  // hasOwn keeps spec values like "constructor" from resolving to Object.prototype members.
  return Object.hasOwn(entries, key) ? entries[key] : undefined;
}

/** The newest CUDA minor whose GA release names a minimum driver. */
export function newestCudaWithMinimum(table: CompatTable): string {
  return Object.entries(table.cuda)
    .filter(([, facts]) => facts.minDriver !== undefined)
    .map(([minor]) => minor)
    .sort(compareDottedVersions)
    .at(-1) ?? 'none';
}

/** The minimum driver for a CUDA minor: its GA release's, else its major's minor-version-compatibility minimum. */
export function cudaMinDriver(minor: string, table: CompatTable): string | undefined {
  const facts = lookupKey(table.cuda, minor);
  if (facts?.minDriver !== undefined) return facts.minDriver;
  if (parseDottedVersion(minor) === undefined) return undefined;
  return lookupKey(table.cudaMajors, String(majorOf(minor)))?.minDriver;
}

/** A GPU model's row of the table; undefined for a model the table does not know. */
export function gpuFactsOf(model: string, table: CompatTable = COMPAT_TABLE): GpuFacts | undefined {
  return lookupKey(table.gpus, model);
}

/** An OS's row of the table, keyed like `ubuntu-24.04`; undefined for an OS the table does not know. */
export function osFactsOf(os: string, table: CompatTable = COMPAT_TABLE): OsFacts | undefined {
  return lookupKey(table.os, os);
}

/** Whether a GPU count of a model must run NCCL without PCIe peer-to-peer: several cards that have none. */
export function runsWithoutPeerToPeer(gpu: GpuFacts | undefined, count: number): boolean {
  return gpu !== undefined && !gpu.peerToPeer && count > 1;
}

/** The driver branch a driver version installs from, e.g. 580.173.02 → 580. */
export function driverBranchOf(driver: string): string {
  return driver.split('.')[0] ?? '';
}

/** Whether NVIDIA's Ubuntu packages of a driver's branch drop the branch from their names (590 on). */
export function hasUnbranchedDriverPackages(driver: string, table: CompatTable = COMPAT_TABLE): boolean {
  return Number(driverBranchOf(driver)) >= table.unbranchedDriverPackagesFrom.branch;
}

/** The pip package of the NCCL wheel for a PyTorch CUDA variant, e.g. cu130 → nvidia-nccl-cu13; undefined if the table has none. */
export function ncclWheelForVariant(cudaVariant: string, table: CompatTable = COMPAT_TABLE): string | undefined {
  return ncclWheelForCudaMajor(cudaMajorOfVariant(cudaVariant), table);
}

/** The pip package of the NCCL wheel for a CUDA major; undefined if the table has none. */
export function ncclWheelForCudaMajor(cudaMajor: number, table: CompatTable = COMPAT_TABLE): string | undefined {
  return lookupKey(table.nccl.wheel.packages, String(cudaMajor));
}

// cu130 → 13, cu126 → 12, cu118 → 11: the variant is cu<major><one-digit minor>.
function cudaMajorOfVariant(variant: string): number {
  return Math.floor(Number(variant.slice(2)) / 10);
}
