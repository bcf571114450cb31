import { compareDottedVersions, majorMinor, parseDottedVersion } from './dotted-version.js';
import type { CompatTable, CudaFacts, GpuFacts, KernelModuleFlavour, OsFacts, PyTorchFacts, TensorFlowFacts, VllmRelease } from './table.js';
import { gpuFactsOf, osFactsOf, lookupKey, sortedVersionKeys } from './table-queries.js';

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

/** One problem with a stack, at the spec path to fix. */
export type CompatFinding = { severity: 'error' | 'warning'; path: string; message: string };

/** The spec fields a finding can point at. */
export type CompatPath =
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

/** A spec version looked up in a table section: found with its row, or why not. */
export type VersionLookup<T> =
  | { status: 'absent' }
  | { status: 'malformed'; version: string }
  | { status: 'found'; version: string; key: string; facts: T }
  | { status: 'older' | 'newer' | 'gap'; version: string };

/** A stack with its table rows looked up once, which every check reads. */
export type StackContext = {
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

/** One check: reads the resolved stack, returns its findings (usually none). */
export type StackCheck = (context: StackContext) => CompatFinding[];

/** Looks up every table row the stack names, once, for the checks to share. */
export function resolveStack(stack: GpuStack, table: CompatTable, today: string | undefined): StackContext {
  const os = osFactsOf(stack.os, table);
  const specPython = stack.python.version;
  let python: string | undefined;
  if (specPython === undefined) python = os?.python;
  else if (parseDottedVersion(specPython) !== undefined) python = majorMinor(specPython);
  return {
    stack,
    table,
    today,
    os,
    gpu: gpuFactsOf(stack.gpu.model, table),
    driver: parseDottedVersion(stack.driver.version) === undefined ? undefined : stack.driver.version,
    cuda: lookupMinor(table.cuda, stack.cuda),
    python,
    pytorch: lookupMinor(table.pytorch, stack.pytorch?.version),
    tensorflow: lookupMinor(table.tensorflow, stack.tensorflow?.version),
    vllm: lookupVllmRelease(table.vllm.releases, stack.vllm?.version),
  };
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

/** Reports a version the table does not know: malformed, older, newer (a warning) or in a gap. */
export function reportUnknownVersion<T>(lookup: VersionLookup<T>, report: UnknownVersionReport): CompatFinding[] {
  const { label, path, example, known } = report;
  const oldest = report.oldest ?? known[0];
  const newest = report.newest ?? known.at(-1);
  switch (lookup.status) {
    case 'absent':
    case 'found':
      return [];
    case 'malformed':
      return [errorAt(path, `${label} version ${JSON.stringify(lookup.version)} is not a dotted version; write it like ${example}`)];
    case 'older':
      return [errorAt(path, `${label} ${lookup.version} is older than the compatibility table; use ${label} >= ${oldest}`)];
    case 'newer':
      // A release newer than the table is likely fine; refusing it would block upgrades until the table catches up.
      return [
        warningAt(path, `${label} ${lookup.version} is not in the compatibility table (newest known: ${newest}); cannot check it`),
      ];
    case 'gap':
      return [errorAt(path, `${label} ${lookup.version} is not in the compatibility table; known: ${known.join(', ')}`)];
  }
}

/** Finds a version's major.minor row in a table section, or says why there is none. */
export function lookupMinor<T>(entries: Readonly<Record<string, T>>, version: string | undefined): VersionLookup<T> {
  if (version === undefined) return { status: 'absent' };
  if (parseDottedVersion(version) === undefined) return { status: 'malformed', version };
  const key = majorMinor(version);
  const facts = lookupKey(entries, key);
  if (facts !== undefined) return { status: 'found', version, key, facts };
  const known = sortedVersionKeys(entries);
  return { status: classifyMissing(key, known[0], known.at(-1)), version };
}

/** Finds the vLLM release range a version falls in, or says why there is none. */
export function lookupVllmRelease(releases: readonly VllmRelease[], version: string | undefined): VersionLookup<VllmRelease> {
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

/** The looked-up version when it is well-formed, found or not. */
export function validVersion<T>(lookup: VersionLookup<T>): string | undefined {
  return lookup.status === 'absent' || lookup.status === 'malformed' ? undefined : lookup.version;
}

/** An error finding at a spec path. */
export function errorAt(path: CompatPath, message: string): CompatFinding {
  return { severity: 'error', path, message };
}

/** A warning finding at a spec path. */
export function warningAt(path: CompatPath, message: string): CompatFinding {
  return { severity: 'warning', path, message };
}
