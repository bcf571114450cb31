import { z } from 'zod';
import { LAYER_NAMES } from '../spec/layers.js';

const Sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, { error: 'not a SHA-256 hex digest' });

/** The metadata file (`entry.json`) of a registered layer in the cache: `<cache>/layers/<key>/entry.json`. */
export const CacheEntry = z.object({
  format: z.literal(1),
  key: Sha256Hex,
  layer: z.enum(LAYER_NAMES),
  specName: z.string(),
  createdAt: z.string(),
  inputs: z.object({
    layer: z.enum(LAYER_NAMES),
    spec: z.record(z.string(), z.unknown()),
    files: z.record(z.string(), Sha256Hex),
    tools: z.object({ packer: z.string(), ansible: z.string(), qemuImg: z.string() }),
    parentKey: Sha256Hex.nullable(),
    buildKey: z.string().optional(),
  }),
  /** The layer's qcow2 inside the entry directory; an overlay on the parent's (or the bootstrap's) image. */
  image: z.string().default('layer.qcow2'),
  /** For a bootstrapped base layer: the bootstrap image it is an overlay of (`<cache>/bootstrap/<key>/`). */
  bootstrapKey: Sha256Hex.nullable().default(null),
  durationS: z.number().nonnegative().optional(),
  /** The gate verdict and the facts read inside the image when the layer was built. */
  gate: z.unknown().optional(),
  facts: z.unknown().optional(),
});
export type CacheEntry = z.infer<typeof CacheEntry>;
