import type { Readable } from 'node:stream';

/** An object in a store: its key (relative to the store's prefix) and size. */
export type StoreObject = { readonly key: string; readonly size: number };

/** A small JSON object as read, with the token a conditional write compares against. */
export type StoredJson = { readonly value: unknown; readonly etag: string };

export type PutFileOptions = {
  /** Called as bytes leave (bytes so far, total). */
  readonly onProgress?: (bytes: number, total: number) => void;
  /** Refuse with StoreConflictError when the key exists: an explicit check, plus a conditional write where the server honours one. */
  readonly ifAbsent?: boolean;
  /** Also compute the SHA-256 of the bytes as they stream (the file is read once). */
  readonly sha256?: boolean;
  readonly signal?: AbortSignal;
};

export type PutJsonOptions = {
  /** Refuse when the key exists. */
  readonly ifAbsent?: boolean;
  /** Refuse unless the object still has this etag (from getJson): optimistic concurrency for read-modify-write. */
  readonly ifMatch?: string;
};

export type CopyOptions = {
  /** Refuse with StoreConflictError when the target exists: an explicit check, plus a conditional write where the server honours one (Ceph RGW 16.2 does not on copies). */
  readonly ifAbsent?: boolean;
  readonly signal?: AbortSignal;
};

/**
 * Where releases and shared layer-cache entries live: S3 (or an S3-compatible server) or a directory
 * for air-gapped sites. Keys are `/`-separated and relative to the store's prefix. Every write is
 * atomic for readers: an object is either absent or complete. Adapters never print.
 */
export interface ArtifactStore {
  readonly kind: 's3' | 'filesystem';
  /** Where the store is, for messages (s3://bucket/prefix/ or a directory); never credentials. */
  readonly location: string;
  /** The full address of a key, for messages. */
  describe(key: string): string;
  /** Uploads a file by streaming it (constant memory; multipart on S3). */
  putFile(key: string, path: string, options?: PutFileOptions): Promise<{ size: number; sha256?: string }>;
  /** Writes a small JSON document. */
  putJson(key: string, value: unknown, options?: PutJsonOptions): Promise<void>;
  /** Reads a small JSON document; undefined when absent. */
  getJson(key: string): Promise<StoredJson | undefined>;
  /** Whether a key exists, and its size. */
  head(key: string): Promise<StoreObject | undefined>;
  /** Streams an object from byte `start` (default 0) to its end. */
  getStream(key: string, options?: { start?: number; signal?: AbortSignal }): Promise<Readable>;
  /** Every object whose key starts with `prefix`, sorted by key. */
  list(prefix: string): Promise<StoreObject[]>;
  /** Copies an object inside the store (server-side on S3, a new file — never a hard link — in a directory); StoreAccessError when `from` is absent. */
  copy(from: string, to: string, options?: CopyOptions): Promise<{ size: number }>;
  /** Deletes keys; absent keys are not an error. */
  delete(keys: readonly string[]): Promise<void>;
  /** Releases connections; the store is unusable afterwards. */
  close(): void;
}
