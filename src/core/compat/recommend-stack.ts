import {
  checkGpuStack,
  describeBranchLifecycle,
  describeGpu,
  maxVersion,
  minimumsFor,
  shipsKernelsFor,
  supportedBranches,
  type CompatFinding,
  type GpuMinimums,
  type GpuStack,
} from './check-gpu-stack.js';
import { compareDottedVersions, majorMinor, majorOf } from './dotted-version.js';
import type { CompatSourceId } from './sources.js';
import { gpuFactsOf, ncclWheelForCudaMajor } from './table-queries.js';
import { COMPAT_TABLE, type CompatTable, type DriverBranchFacts, type GpuFacts, type PyTorchWheelVariant, type VllmRelease } from './table.js';

export type BranchReport = {
  branch: string;
  type: DriverBranchFacts['type'] | null;
  end_of_life: string | null;
  supported: boolean;
  /** e.g. "Long Term Support, end of life June 2028". */
  lifecycle: string;
};

export type RecommendedStack = {
  driver_branch: string;
  /** The oldest driver of the branch that runs the chosen CUDA's GA release and the GPU. */
  driver_minimum: string;
  cuda: string;
  cudnn: string;
  pytorch: { version: string; cuda_variant: string; bundled_nccl: string | null };
  vllm: { version: string; torch: string } | null;
  /** Set when the GPU's multi-GPU topology needs an NCCL newer than the one torch bundles. */
  nccl_pin: { wheel: string; version: string; needed_from_gpus: number } | null;
  container_toolkit: string;
  /** Where each choice's facts come from: component → ids of COMPAT_SOURCES. */
  sources: Readonly<Record<'driver' | 'cuda' | 'cudnn' | 'pytorch' | 'vllm' | 'nccl' | 'container_toolkit', readonly CompatSourceId[]>>;
};

export type CompatReport = {
  gpu: { model: string; description: string };
  minimums: GpuMinimums;
  branches: BranchReport[];
  recommended: RecommendedStack | undefined;
  /** What the table does not know or what the choice traded away, one line each. */
  notes: string[];
  /** checkGpuStack's findings for the recommended stack on `gpus` cards: proof that it is consistent. */
  findings: CompatFinding[];
};

/**
 * For a GPU model: the minimums, every driver branch's lifecycle on `today`, and the newest stack whose every
 * pairing the table confirms. Undefined when the model is unknown.
 */
export function reportCompat(model: string, today: string, gpus = 1, table: CompatTable = COMPAT_TABLE): CompatReport | undefined {
  const gpu = gpuFactsOf(model, table);
  const minimums = minimumsFor(model, table);
  const description = describeGpu(model, table);
  if (gpu === undefined || minimums === undefined || description === undefined) return undefined;
  const supported = new Set(supportedBranches(today, table).map(({ branch }) => branch));
  const branches = Object.entries(table.driverBranches)
    .sort(([a], [b]) => compareDottedVersions(b, a))
    .map(([branch, facts]) => ({
      branch,
      type: facts.type ?? null,
      end_of_life: facts.endOfLife ?? null,
      supported: supported.has(branch),
      lifecycle: describeBranchLifecycle(facts, today),
    }));
  const notes: string[] = [];
  const recommended = recommendStack(gpu, today, table, notes);
  const findings = recommended === undefined ? [] : checkGpuStack(stackOf(model, gpus, recommended), { today }, table);
  return { gpu: { model, description }, minimums, branches, recommended, notes, findings };
}

function recommendStack(gpu: GpuFacts, today: string, table: CompatTable, notes: string[]): RecommendedStack | undefined {
  const branch = chooseBranch(gpu, today, table, notes);
  if (branch === undefined) return undefined;
  const cuda = newestCudaFor(gpu, branch, table);
  if (cuda === undefined) {
    notes.push(`no CUDA release in the table has a GA driver in R${branch} or older that supports ${gpu.name}`);
    return undefined;
  }
  const framework = chooseFramework(gpu, branch, cuda, table, notes);
  if (framework === undefined) return undefined;
  const cudaMajor = String(majorOf(cuda));
  const firstCudnn = table.cudnn.firstForCuda[cudaMajor];
  const cudnn = table.cudnn.newest.version;
  if (firstCudnn !== undefined && compareDottedVersions(cudnn, firstCudnn.version) < 0) return undefined;
  const topology = table.nccl.topologies.find((candidate) => candidate.computeCapability === gpu.computeCapability);
  const bundled = framework.variant.nccl;
  const needsPin = topology !== undefined && (bundled === undefined || compareDottedVersions(bundled, topology.firstGood.version) < 0);
  const wheel = ncclWheelForCudaMajor(majorOf(framework.variant.cuda), table);
  return {
    driver_branch: branch,
    driver_minimum: maxVersion(table.cuda[cuda]?.minDriver ?? `${branch}`, gpu.minDriver),
    cuda,
    cudnn,
    pytorch: { version: framework.torch, cuda_variant: framework.variantName, bundled_nccl: bundled ?? null },
    vllm: framework.vllm === undefined ? null : { version: framework.vllm.latest ?? framework.vllm.from, torch: framework.vllm.torch },
    nccl_pin:
      needsPin && topology !== undefined && wheel !== undefined
        ? { wheel, version: topology.firstGood.version, needed_from_gpus: topology.minGpus }
        : null,
    container_toolkit: table.containerToolkit.newest.version,
    sources: {
      driver: table.driverBranches[branch]?.sources ?? [],
      cuda: table.cuda[cuda]?.sources ?? [],
      cudnn: [...(firstCudnn?.sources ?? []), ...table.cudnn.newest.sources],
      pytorch: table.pytorch[majorMinor(framework.torch)]?.sources ?? [],
      vllm: framework.vllm?.sources ?? [],
      nccl: unique(topology === undefined ? [] : [...topology.firstGood.sources, ...topology.broken.flatMap((report) => report.sources), ...table.nccl.wheel.sources]),
      container_toolkit: unique([...table.containerToolkit.newest.sources, ...table.containerToolkit.advisories.flatMap((advisory) => advisory.sources)]),
    },
  };
}

// The newest supported Long Term Support branch that the table knows a toolkit release for: an LTS branch lives
// longest, and a branch no toolkit shipped with has no driver version the table could name.
function chooseBranch(gpu: GpuFacts, today: string, table: CompatTable, notes: string[]): string | undefined {
  const supported = supportedBranches(today, table).filter(({ branch }) => compareDottedVersions(branch, gpu.minDriver) >= 0);
  const withToolkit = supported.filter(
    ({ branch, facts }) =>
      facts.type === 'long-term-support' &&
      Object.values(table.cuda).some((cuda) => cuda.minDriver !== undefined && String(majorOf(cuda.minDriver)) === branch),
  );
  const chosen = withToolkit[0];
  for (const { branch, facts } of supported) {
    if (chosen === undefined || compareDottedVersions(branch, chosen.branch) <= 0) continue;
    // A version to pin needs a known release of the branch: the table learns those from the CUDA releases they shipped with.
    const why = facts.type === 'long-term-support' ? 'the table knows no released driver of it (no CUDA release shipped with it)' : 'it is not a Long Term Support branch';
    notes.push(`R${branch} (${describeBranchLifecycle(facts, today)}) is newer, but ${why}`);
  }
  if (chosen === undefined) notes.push(`no supported Long Term Support branch on ${today} that a CUDA release in the table shipped with`);
  return chosen?.branch;
}

function newestCudaFor(gpu: GpuFacts, branch: string, table: CompatTable): string | undefined {
  return Object.entries(table.cuda)
    .filter(
      ([minor, facts]) =>
        facts.minDriver !== undefined &&
        compareDottedVersions(String(majorOf(facts.minDriver)), branch) <= 0 &&
        compareDottedVersions(minor, gpu.minCuda) >= 0,
    )
    .map(([minor]) => minor)
    .sort(compareDottedVersions)
    .at(-1);
}

type FrameworkChoice = { torch: string; variantName: string; variant: PyTorchWheelVariant; vllm: VllmRelease | undefined };

// The newest torch with a wheel that ships kernels for the GPU and runs on the branch's driver, preferring one a vLLM
// release pins (a stack with vLLM is the product's); PyPI's default variant first, else the newest CUDA.
function chooseFramework(gpu: GpuFacts, branch: string, cuda: string, table: CompatTable, notes: string[]): FrameworkChoice | undefined {
  const minors = Object.keys(table.pytorch).sort(compareDottedVersions).reverse();
  const candidates = minors.flatMap((minor) => {
    const facts = table.pytorch[minor];
    if (facts === undefined) return [];
    return Object.entries(facts.variants)
      .filter(([, variant]) => runsOn(variant, gpu, branch, cuda, table))
      .sort(([nameA, a], [nameB, b]) => preference(nameB, b, facts.pypiDefault) - preference(nameA, a, facts.pypiDefault))
      .map(([variantName, variant]) => ({ minor, variantName, variant }));
  });
  for (const candidate of candidates) {
    const vllm = [...table.vllm.releases]
      .reverse()
      .find(
        (release) =>
          majorMinor(release.torch) === candidate.minor &&
          (release.wheelCuda === undefined || release.wheelCuda === candidate.variantName),
      );
    if (vllm !== undefined) {
      const newer = candidates.find((other) => compareDottedVersions(other.minor, candidate.minor) > 0);
      if (newer !== undefined) notes.push(`PyTorch ${newer.minor} is newer, but no vLLM release in the table pins it`);
      return { torch: vllm.torch, variantName: candidate.variantName, variant: candidate.variant, vllm };
    }
  }
  const newest = candidates[0];
  if (newest === undefined) {
    notes.push(`no PyTorch wheel in the table ships kernels for ${gpu.name} and runs on R${branch}`);
    return undefined;
  }
  notes.push(`no vLLM release in the table pins a PyTorch that fits; the stack has no vLLM`);
  return { torch: newest.minor, variantName: newest.variantName, variant: newest.variant, vllm: undefined };
}

function runsOn(variant: PyTorchWheelVariant, gpu: GpuFacts, branch: string, cuda: string, table: CompatTable): boolean {
  const shipsKernels = shipsKernelsFor(variant.computeCapabilities, gpu.computeCapability);
  const minDriver = table.cuda[variant.cuda]?.minDriver;
  return (
    shipsKernels &&
    majorOf(variant.cuda) === majorOf(cuda) &&
    minDriver !== undefined &&
    compareDottedVersions(String(majorOf(minDriver)), branch) <= 0
  );
}

function preference(name: string, variant: PyTorchWheelVariant, pypiDefault: string | undefined): number {
  // PyPI's default first (the most used build), then the newest CUDA.
  return (name === pypiDefault ? 1000 : 0) + Number(variant.cuda.replace('.', ''));
}

function stackOf(model: string, gpus: number, stack: RecommendedStack): GpuStack {
  return {
    os: 'ubuntu-24.04',
    gpu: { model, count: gpus },
    driver: { version: stack.driver_minimum, kernelModule: 'open' },
    cuda: stack.cuda,
    cudnn: stack.cudnn,
    python: { venv: '/opt/ai/venv' },
    pytorch: { version: stack.pytorch.version, cudaVariant: stack.pytorch.cuda_variant },
    ...(stack.vllm === null ? {} : { vllm: { version: stack.vllm.version } }),
    ...(stack.nccl_pin === null || gpus < stack.nccl_pin.needed_from_gpus ? {} : { nccl: { version: stack.nccl_pin.version } }),
    containerToolkit: stack.container_toolkit,
  };
}

function unique<T>(items: readonly T[]): T[] {
  return [...new Set(items)];
}

