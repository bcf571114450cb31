import { COMPAT_SOURCES, type CompatSourceId } from './sources.js';
import type { GpuFacts, VllmRelease } from './table.js';

/** A GPU for messages, e.g. `NVIDIA GeForce RTX 5090 (Blackwell, sm_120)`. */
export function describeGpuFacts(gpu: GpuFacts): string {
  return `${gpu.name} (${gpu.architecture}, ${smName(gpu.computeCapability)})`;
}

/** A compute capability as nvcc names it, e.g. 12.0 → sm_120. */
export function smName(computeCapability: string, prefix: 'sm' | 'compute' = 'sm'): string {
  return `${prefix}_${computeCapability.replace('.', '')}`;
}

/** A vLLM release range for messages, e.g. `0.10.0–0.10.1` or `>= 0.9.0`. */
export function describeRelease(release: VllmRelease): string {
  return release.until === undefined ? `>= ${release.from}` : `${release.from}–${lastCoveredVersion(release)}`;
}

/** The last release inside a range with an exclusive end, for messages: 0.10.2 → 0.10.1, 0.8.0 → 0.7.x. */
export function lastCoveredVersion(release: VllmRelease): string {
  if (release.until === undefined) return 'later';
  const parts = release.until.split('.').map(Number);
  const last = parts.findLastIndex((part) => part > 0);
  if (last < 0) return release.from;
  const lowered = [...parts.slice(0, last).map(String), String((parts[last] ?? 0) - 1)];
  return (last === parts.length - 1 ? lowered : [...lowered, 'x']).join('.');
}

/** The first and last of a sorted version list, e.g. `3.9–3.12`. */
export function formatSpan(versions: readonly string[]): string {
  const first = versions[0];
  const last = versions.at(-1);
  return first === last || last === undefined ? (first ?? '') : `${first}–${last}`;
}

/** The URL of a row's first source. */
export function sourceUrl(row: { sources: readonly CompatSourceId[] }): string {
  const [first] = row.sources;
  return first === undefined ? 'no source' : COMPAT_SOURCES[first].url;
}
