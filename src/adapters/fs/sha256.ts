import { createReadStream } from 'node:fs';
import { FileAccessError } from '../../errors/index.js';
import { createMeteredStream, type MeteredStream } from './metered-stream.js';

// 4 MiB reads: with the 64 KiB default, per-chunk overhead costs ~60% (1 GiB: 0.9 s vs 0.55 s here);
// 16 MiB gains nothing more and only costs memory.
const CHUNK_BYTES = 4 * 1024 * 1024;

/** Streams a file through SHA-256 in constant memory; returns the lowercase hex digest. */
export async function sha256File(path: string, options: { onProgress?: (bytes: number) => void } = {}): Promise<string> {
  const meter = createMeteredStream({ sha256: true });
  try {
    await absorbFile(path, meter, { onBytes: options.onProgress });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    throw new FileAccessError(`${path}: cannot read to checksum it (${code})`, { cause: error });
  }
  return meter.digest()!;
}

/** Feeds a file (or its first `bytes`) into `meter` without passing it on, streaming; returns the bytes read. */
export async function absorbFile(path: string, meter: MeteredStream, options: { bytes?: number; onBytes?: (bytes: number) => void } = {}): Promise<number> {
  if (options.bytes === 0) return 0;
  let read = 0;
  const range = options.bytes === undefined ? {} : { end: options.bytes - 1 };
  for await (const chunk of createReadStream(path, { highWaterMark: CHUNK_BYTES, ...range })) {
    meter.absorb(chunk as Buffer);
    read += (chunk as Buffer).length;
    options.onBytes?.(read);
  }
  return read;
}
