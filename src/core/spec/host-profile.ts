import type { ImageSpec } from './schema.js';

/** How a host builds: `gpu` passes the spec's GPUs through; `cpu` builds without them (GPU gates then report skipped). */
export type HostProfile = 'gpu' | 'cpu';

/** The spec as a host profile builds it; `cpu` drops GPU passthrough, which changes the keys of the driver layer and above. */
export function applyHostProfile(spec: ImageSpec, profile: HostProfile = 'gpu'): ImageSpec {
  if (profile === 'gpu') return spec;
  return { ...spec, hardware: { ...spec.hardware, gpu: { ...spec.hardware.gpu, passthrough: [] } } };
}
