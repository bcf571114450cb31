import type { CompatFinding } from './stack-context.js';
import { COMPAT_TABLE, type CompatTable } from './table.js';

/** The gate thresholds a spec sets, with what they are measured against: the slice of a spec that checkGates judges. */
export type GateDemands = {
  readonly gpu: { readonly model: string; readonly count: number };
  readonly diskSizeGib: number;
  readonly base: { readonly minRootFsGib?: number };
  readonly driver: { readonly minMemoryMib?: number };
  readonly validation: { readonly soakDuration: string; readonly sampleIntervalS: number; readonly minGpuUtilizationPct: number };
};

/** The fewest temperature and utilisation samples a soak must take for its gate to rest on a measurement. */
const MIN_SOAK_SAMPLES = 2;

/**
 * Gates no machine can pass and gates that prove nothing, refused when the spec is validated rather
 * than hours into a build: each an error naming the field and what would be valid. What a GPU can
 * show comes from the compatibility table (its memory as nvidia-smi reports it).
 */
export function checkGates(demands: GateDemands, table: CompatTable = COMPAT_TABLE): CompatFinding[] {
  const findings: CompatFinding[] = [];
  const error = (path: string, message: string) => findings.push({ severity: 'error', path, message });
  const gpu = table.gpus[demands.gpu.model];

  const minMemory = demands.driver.minMemoryMib;
  if (gpu !== undefined && minMemory !== undefined && minMemory > gpu.memoryMiB) {
    error('layers.driver.gate.min_memory_mib', `expects ${minMemory} MiB per GPU, but a ${gpu.name} has ${gpu.memoryMiB} MiB (nvidia-smi memory.total), so no machine passes this gate; at most ${gpu.memoryMiB}`);
  }

  const minRootFs = demands.base.minRootFsGib;
  if (minRootFs !== undefined && minRootFs >= demands.diskSizeGib) {
    error(
      'layers.base.gate.min_root_fs_gib',
      `expects a root filesystem of ${minRootFs} GiB on a ${demands.diskSizeGib} GiB disk (os.disk_size_gib), which the partition table and the filesystem's own overhead leave no room for; give less than ${demands.diskSizeGib}, or a larger disk`,
    );
  }

  const { soakDuration, sampleIntervalS, minGpuUtilizationPct } = demands.validation;
  const soakS = durationSeconds(soakDuration);
  if (soakS !== undefined && soakS === 0) {
    error('layers.validation.gate.soak_duration', `"${soakDuration}" is no soak at all, so its temperature and throttling checks prove nothing; give at least ${formatSeconds(MIN_SOAK_SAMPLES * sampleIntervalS)} (${MIN_SOAK_SAMPLES} × sample_interval_s), e.g. "24h"`);
  } else if (soakS !== undefined && soakS < MIN_SOAK_SAMPLES * sampleIntervalS) {
    error(
      'layers.validation.gate.soak_duration',
      `"${soakDuration}" takes fewer than ${MIN_SOAK_SAMPLES} samples at sample_interval_s ${sampleIntervalS}, so the soak's temperature rests on no measurement; give at least ${formatSeconds(MIN_SOAK_SAMPLES * sampleIntervalS)}, or a shorter sample_interval_s`,
    );
  }
  if (minGpuUtilizationPct === 0 && demands.gpu.count > 0) {
    error('layers.validation.gate.min_gpu_utilization_pct', '0 accepts an idle GPU, so the check proves nothing; give 1-100 (e.g. 90: the GPUs were busy during the DDP run)');
  }
  return findings;
}

const UNIT_SECONDS: Readonly<Record<string, number>> = { s: 1, m: 60, h: 3600 };

/** A spec duration ("90s", "30m", "24h") in seconds; undefined when it is not one (the schema reports that). */
function durationSeconds(text: string): number | undefined {
  const match = /^(\d+)(s|m|h)$/.exec(text);
  if (!match) return undefined;
  return Number(match[1]) * UNIT_SECONDS[match[2]!]!;
}

/** Seconds as the spec's duration format, in the largest unit that divides them. */
function formatSeconds(seconds: number): string {
  if (seconds % 3600 === 0) return `${seconds / 3600}h`;
  if (seconds % 60 === 0) return `${seconds / 60}m`;
  return `${seconds}s`;
}
