import { describeGpuFacts, describeRelease, lastCoveredVersion } from './describe-facts.js';
import { compareDottedVersions } from './dotted-version.js';
import { errorAt, reportUnknownVersion, validVersion, type CompatFinding, type StackContext } from './stack-context.js';

/** Reports a vLLM version the table does not know. */
export function checkVllmKnown({ vllm, table }: StackContext): CompatFinding[] {
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

/** Refuses a PyTorch other than the one the vLLM release pins. */
export function checkVllmTorchPin({ vllm, pytorch, table }: StackContext): CompatFinding[] {
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
  return [errorAt('layers.frameworks.vllm.version', `vLLM ${vllm.version} pins torch ${pin}, spec has ${torch}; ${fix}`)];
}

/** Refuses a PyTorch CUDA variant other than the one vLLM's wheels are built for. */
export function checkVllmWheelCuda({ vllm, stack }: StackContext): CompatFinding[] {
  const variant = stack.pytorch?.cudaVariant;
  if (vllm.status !== 'found' || variant === undefined) return [];
  const wheelCuda = vllm.facts.wheelCuda;
  if (wheelCuda === undefined || wheelCuda === variant) return [];
  // vLLM's compiled ops link against the CUDA libraries torch brings; a torch of another CUDA build breaks them.
  return [
    errorAt(
      'layers.frameworks.pytorch.cuda_variant',
      `vLLM ${vllm.version}'s wheels are built for torch ${vllm.facts.torch}+${wheelCuda}, spec has ${variant}; use cuda_variant ${wheelCuda}`,
    ),
  ];
}

/** Refuses a vLLM older than the first with kernels for the GPU's architecture. */
export function checkVllmSupportsGpu({ vllm, gpu, table }: StackContext): CompatFinding[] {
  const version = validVersion(vllm);
  if (gpu === undefined || version === undefined) return [];
  const minimum = table.vllm.minForArchitecture[gpu.architecture];
  if (minimum === undefined || compareDottedVersions(version, minimum) >= 0) return [];
  return [
    errorAt(
      'layers.frameworks.vllm.version',
      `vLLM ${version} has no kernels for ${describeGpuFacts(gpu)}; needs vLLM >= ${minimum}`,
    ),
  ];
}
