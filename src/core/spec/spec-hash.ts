import { createHash } from 'node:crypto';
import { encodeCanonicalJson } from '../render/encode.js';
import type { ImageSpec } from './schema.js';

/**
 * The spec as far as it decides what an image is: everything but where this machine keeps things
 * (cache and output directories, the shared cache, the artifact store and its retention). So the same
 * spec built on a runner with $IMAGEBUILD_CACHE_DIR set, or published to another bucket, is the same
 * input, and the spec.json published beside a release carries no host paths.
 */
export function specIdentity(spec: ImageSpec): unknown {
  return JSON.parse(specIdentityText(spec)) as unknown;
}

/** The canonical JSON text (sorted keys) of the spec's identity; its SHA-256 is the manifest's spec_hash. */
export function specIdentityText(spec: ImageSpec): string {
  const { artifacts: _artifacts, cache, output, ...rest } = spec;
  return encodeCanonicalJson({ ...rest, cache: { apt_proxy: cache.apt_proxy }, output: { compress: output.compress } });
}

export function specHashOf(spec: ImageSpec): string {
  return createHash('sha256').update(specIdentityText(spec)).digest('hex');
}
