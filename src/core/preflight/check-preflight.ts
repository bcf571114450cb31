import type { BuildPlan } from '../plan/plan-build.js';
import type { LayerName } from '../spec/layers.js';
import type { ImageSpec } from '../spec/schema.js';

const GIB = 1024 ** 3;

/** What a build needs from its host. */
export type PreflightNeeds = {
  /** Free bytes needed per directory (cache and output may be on different filesystems). */
  readonly disk: readonly { readonly path: string; readonly bytes: number; readonly what: string }[];
  /** Commands that must be on PATH, with why. */
  readonly tools: readonly { readonly command: string; readonly why: string }[];
  /** The accelerator asked for: a fixed one, or auto (KVM when the probe boots a kernel, else TCG). */
  readonly accelerator: 'auto' | 'kvm' | 'tcg';
  /** PCI functions that must be bound to vfio-pci. */
  readonly passthrough: readonly string[];
};

/** What the host showed when probed. */
export type HostFacts = {
  readonly freeBytes: Readonly<Record<string, number>>;
  /** The filesystem (device id) each path lies on: needs on one filesystem add up. Without it, paths are compared as strings. */
  readonly filesystems?: Readonly<Record<string, string>>;
  readonly commands: Readonly<Record<string, boolean>>;
  /** Result of the KVM boot probe; undefined when it was not run (accelerator fixed to tcg). */
  readonly kvm?: { readonly usable: boolean; readonly reason: string };
  /** Driver bound to each PCI function (null: device absent or unbound). */
  readonly pciDrivers: Readonly<Record<string, string | null>>;
};

export type PreflightResult = {
  readonly problems: readonly string[];
  readonly notices: readonly string[];
  readonly accelerator: 'kvm' | 'tcg';
};

/** Rough growth of each layer's overlay, the part of the artifact it adds. */
const LAYER_BYTES: Record<LayerName, number> = {
  base: 4 * GIB,
  driver: 8 * GIB,
  runtime: 2 * GIB,
  frameworks: 20 * GIB,
  validation: 6 * GIB,
};

/** Estimates the free space a build needs in the cache (new layers, bootstrap, seal) and the output (flattened artifact). */
export function estimateDiskNeeds(spec: ImageSpec, plan: BuildPlan, dirs: { cache: string; output: string }): PreflightNeeds['disk'] {
  const cap = spec.os.disk_size_gib * GIB;
  const active = plan.layers.filter((l) => l.action !== 'skip');
  const building = active.filter((l) => l.action === 'build');
  const bootstrap = spec.os.source.kind === 'bootstrap' && building.some((l) => l.layer === 'base') ? 1.5 * GIB : 0;
  const cacheBytes = Math.min(cap, building.reduce((sum, l) => sum + LAYER_BYTES[l.layer], 0) + bootstrap) + GIB;
  const artifactBytes = Math.min(cap, active.reduce((sum, l) => sum + LAYER_BYTES[l.layer], 0));
  return [
    { path: dirs.cache, bytes: cacheBytes, what: `cache (${building.length} layer(s) to build)` },
    { path: dirs.output, bytes: artifactBytes, what: 'output (flattened image)' },
  ];
}

/** Judges the host against what the build needs; every problem is one line naming the number or name it needs. */
export function checkPreflight(needs: PreflightNeeds, host: HostFacts): PreflightResult {
  const problems: string[] = [];
  const notices: string[] = [];

  // Cache and output on one filesystem (the usual layout) need the sum of both there.
  const perFilesystem = new Map<string, { path: string; bytes: number; what: string[] }>();
  for (const need of needs.disk) {
    const fs = host.filesystems?.[need.path] ?? need.path;
    const entry = perFilesystem.get(fs) ?? { path: need.path, bytes: 0, what: [] };
    entry.bytes += need.bytes;
    entry.what.push(need.what);
    perFilesystem.set(fs, entry);
  }
  for (const { path, ...need } of perFilesystem.values()) {
    const free = host.freeBytes[path];
    if (free !== undefined && free < need.bytes) {
      problems.push(`disk: ${path} has ${formatGiB(free)} free; the build needs about ${formatGiB(need.bytes)} for ${need.what.join(' and ')}`);
    }
  }

  for (const tool of needs.tools) {
    if (!host.commands[tool.command]) problems.push(`tool: ${tool.command} not found on PATH; it is needed ${tool.why}`);
  }

  const chosen = chooseAccelerator(needs.accelerator, host.kvm);
  const { accelerator } = chosen;
  if (chosen.notice) notices.push(chosen.notice);
  if (chosen.problem) problems.push(chosen.problem);

  for (const address of needs.passthrough) {
    const driver = host.pciDrivers[address];
    if (driver === undefined || driver === null) {
      problems.push(`vfio: PCI device ${address} is not present or has no driver; it must exist and be bound to vfio-pci (docs/gpu-host-setup.md)`);
    } else if (driver !== 'vfio-pci') {
      problems.push(`vfio: PCI device ${address} is bound to ${driver}, not vfio-pci; bind it to vfio-pci (docs/gpu-host-setup.md) or build with --host-profile cpu`);
    }
  }
  if (needs.passthrough.length > 0 && accelerator !== 'kvm') {
    problems.push('vfio: GPU passthrough needs KVM; this host can only use TCG (build with --host-profile cpu to skip the GPUs)');
  }
  return { problems, notices, accelerator };
}

/**
 * The one resolution of an accelerator setting: kvm and tcg as asked (kvm refused when the probe
 * could not boot a kernel under it); `auto` is KVM when the probe booted a kernel, else TCG, with a
 * notice saying which and why. `kvm` undefined: not probed.
 */
export function chooseAccelerator(requested: 'auto' | 'kvm' | 'tcg', kvm: HostFacts['kvm']): { accelerator: 'kvm' | 'tcg'; notice?: string; problem?: string } {
  if (requested === 'auto') {
    return kvm?.usable
      ? { accelerator: 'kvm', notice: `accelerator: kvm (${kvm.reason})` }
      : { accelerator: 'tcg', notice: `accelerator: tcg, software emulation (${kvm?.reason ?? 'KVM not probed'}); builds are several times slower` };
  }
  if (requested === 'kvm' && kvm && !kvm.usable) {
    return { accelerator: 'kvm', problem: `kvm: ${kvm.reason}; the spec or --accel asks for kvm (use --accel tcg to build with software emulation)` };
  }
  return { accelerator: requested };
}

function formatGiB(bytes: number): string {
  return `${(bytes / GIB).toFixed(1)} GiB`;
}
