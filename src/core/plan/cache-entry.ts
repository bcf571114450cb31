import { z } from 'zod';
import { Sha256 } from '../digest.js';
import { LAYER_NAMES } from '../spec/layers.js';

/** The metadata file (`entry.json`) of a registered layer in the cache: `<cache>/layers/<key>/entry.json`. */
export const CacheEntry = z.object({
  format: z.literal(1),
  key: Sha256,
  layer: z.enum(LAYER_NAMES),
  specName: z.string(),
  createdAt: z.string(),
  inputs: z.object({
    layer: z.enum(LAYER_NAMES),
    spec: z.record(z.string(), z.unknown()),
    files: z.record(z.string(), Sha256),
    tools: z.object({ packer: z.string(), ansible: z.string(), qemuImg: z.string() }),
    parentKey: Sha256.nullable(),
    buildKey: z.string().optional(),
    bootstrapKey: Sha256.optional(),
  }),
  /** The layer's qcow2 inside the entry directory; an overlay on the parent's (or the bootstrap's) image. */
  image: z.string().default('layer.qcow2'),
  /** For a bootstrapped base layer: the bootstrap image it is an overlay of (`<cache>/bootstrap/<key>/`). */
  bootstrapKey: Sha256.nullable().default(null),
  durationS: z.number().nonnegative().optional(),
  /** The gate verdict and the facts read inside the image when the layer was built. */
  gate: z.unknown().optional(),
  facts: z.unknown().optional(),
});
export type CacheEntry = z.infer<typeof CacheEntry>;
