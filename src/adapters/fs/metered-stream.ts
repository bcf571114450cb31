import { createHash, type Hash } from 'node:crypto';
import { Transform } from 'node:stream';

/** A pass-through stream that counts bytes (and optionally hashes them) on their way. */
export type MeteredStream = Transform & {
  readonly bytes: () => number;
  /** The SHA-256 of every byte so far (with `sha256`); reading it before the stream ends finishes the hash, so no more may pass. */
  readonly digest: () => string | undefined;
  /**
   * Counts and hashes bytes that are already where the stream leads (the part of an interrupted
   * download on disk) without passing them on, so the digest covers the whole file.
   */
  readonly absorb: (chunk: Buffer) => void;
};

/**
 * The one hash-while-streaming: counts (and with `sha256`, hashes) what flows through; `onBytes`
 * gets the running total.
 */
export function createMeteredStream(options: { sha256?: boolean; onBytes?: (bytes: number) => void } = {}): MeteredStream {
  let bytes = 0;
  const hash: Hash | undefined = options.sha256 ? createHash('sha256') : undefined;
  let digest: string | undefined;
  const stream = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      bytes += chunk.length;
      hash?.update(chunk);
      options.onBytes?.(bytes);
      callback(null, chunk);
    },
    flush(callback) {
      digest ??= hash?.digest('hex');
      callback();
    },
  });
  const absorb = (chunk: Buffer) => {
    bytes += chunk.length;
    hash?.update(chunk);
  };
  return Object.assign(stream, { bytes: () => bytes, digest: () => (digest ??= hash?.digest('hex')), absorb });
}
