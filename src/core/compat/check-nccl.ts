import { sourceUrl } from './describe-facts.js';
import { compareDottedVersions } from './dotted-version.js';
import { errorAt, warningAt, type CompatFinding, type StackContext } from './stack-context.js';
import { lookupKey, shipsKernelsFor } from './table-queries.js';

/** Refuses an NCCL pin that is not a full version; warns about one older than what torch bundles. */
export function checkNcclPin({ pytorch, stack }: StackContext): CompatFinding[] {
  const pinned = stack.nccl?.version;
  if (pinned === undefined) return [];
  const path = 'layers.frameworks.nccl.version';
  if (!/^\d{1,9}\.\d{1,9}\.\d{1,9}$/.test(pinned)) {
    return [errorAt(path, `NCCL version ${JSON.stringify(pinned)} is not a full version; write it like 2.31.2 (the nvidia-nccl wheel is pinned exactly)`)];
  }
  const variantName = stack.pytorch?.cudaVariant;
  const variant = pytorch.status === 'found' && variantName !== undefined ? lookupKey(pytorch.facts.variants, variantName) : undefined;
  const bundled = variant?.nccl;
  if (bundled === undefined || compareDottedVersions(pinned, bundled) >= 0) return [];
  return [
    warningAt(
      path,
      `NCCL ${pinned} is older than the ${bundled} that torch ${stack.pytorch?.version ?? ''}+${variantName ?? ''} bundles; a pin is meant to move NCCL forward past a known bug, so check that the older one is what you want`,
    ),
  ];
}

/** Refuses an NCCL reported broken on the GPUs' topology; warns about one no source confirms there. */
export function checkNcclOnTopology({ pytorch, gpu, stack, table }: StackContext): CompatFinding[] {
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
      warningAt(
        where,
        `the NCCL that torch ${pytorch.key} ${variantName} bundles is not in the compatibility table, and ${topology.description} need a working one; ${fix}`,
      ),
    ];
  }
  if (!/^\d{1,9}(\.\d{1,9}){2}$/.test(effective)) return [];
  const broken = topology.broken.find((report) => compareDottedVersions(report.version, effective) === 0);
  if (broken !== undefined) {
    return [
      errorAt(
        where,
        `${origin}, which ${broken.failure} on ${stack.gpu.count}x ${gpu.name} (${topology.description}, ${sourceUrl(broken)}), so DDP's gradient all-reduce fails; ${fix}`,
      ),
    ];
  }
  if (compareDottedVersions(effective, topology.firstGood.version) >= 0) return [];
  return [
    warningAt(
      where,
      `${origin}, which no source confirms on ${topology.description} (${topology.broken.map((report) => report.version).join(' and ')} crash there); ${fix}`,
    ),
  ];
}
