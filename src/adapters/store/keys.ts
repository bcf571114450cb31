import { Transform } from 'node:stream';
import { createHash, type Hash } from 'node:crypto';
import { StoreAccessError } from './errors.js';

/** Checks a store key: `/`-separated, no empty, `.` or `..` segments, printable and path-safe. */
export function assertStoreKey(key: string): string {
  const segments = key.split('/');
  if (key.length === 0 || key.length > 1024 || !/^[A-Za-z0-9._+=@-][A-Za-z0-9._+=@/-]*$/.test(key) || segments.some((s) => s === '' || s === '.' || s === '..')) {
    throw new StoreAccessError(`"${key}" is not a valid store key; use /-separated names of letters, digits and ._+=@-`);
  }
  return key;
}

/** A pass-through stream that counts bytes (and optionally hashes them) on their way. */
export type MeteredStream = Transform & { readonly bytes: () => number; readonly digest: () => string | undefined };

/** Counts (and with `sha256`, hashes) what flows through; `onBytes` gets the running total. */
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
      digest = hash?.digest('hex');
      callback();
    },
  });
  return Object.assign(stream, { bytes: () => bytes, digest: () => digest });
}
