import { z } from 'zod';
import { Sha256 } from '../digest.js';
import { LAYER_NAMES } from '../spec/layers.js';

/** What a cached layer's image looked like on disk when its digest was proven; nanoseconds and inode as decimal strings. */
export const LayerImageStat = z.object({ size: z.number().int().nonnegative(), mtimeNs: z.string().regex(/^\d+$/), ctimeNs: z.string().regex(/^\d+$/), ino: z.string().regex(/^\d+$/) });
export type LayerImageStat = z.infer<typeof LayerImageStat>;

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
    verifyKey: z.string().optional(),
    bootstrapKey: Sha256.optional(),
  }),
  /** The layer's qcow2 inside the entry directory; an overlay on the parent's (or the bootstrap's) image. */
  image: z.string().default('layer.qcow2'),
  /** For a bootstrapped base layer: the bootstrap image it is an overlay of (`<cache>/bootstrap/<key>/`). */
  bootstrapKey: Sha256.nullable().default(null),
  /**
   * SHA-256 of layer.qcow2 as its gate passed it, recorded at registration. Absent in entries older
   * imagebuilds wrote: the first build that reuses such a layer records the bytes as it finds them.
   */
  imageSha256: Sha256.optional(),
  /**
   * layer.qcow2's stat when its digest was last proven: while size, mtime, ctime and inode are the
   * same, the bytes are too (the file is read-only), and reusing the layer reads none of them.
   */
  imageStat: LayerImageStat.optional(),
  durationS: z.number().nonnegative().optional(),
  /** The gate verdict and the facts read inside the image when the layer was built. */
  gate: z.unknown().optional(),
  facts: z.unknown().optional(),
});
export type CacheEntry = z.infer<typeof CacheEntry>;
