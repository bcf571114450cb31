import { open, type FileHandle } from 'node:fs/promises';
import { crc32 } from 'node:zlib';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  PutObjectCommand,
  UploadPartCommand,
  type CompletedPart,
  type S3Client,
} from '@aws-sdk/client-s3';
import { createMeteredStream, type MeteredStream } from '../../fs/metered-stream.js';
import { StoreAccessError } from '../../../errors/index.js';
import { UPLOAD_REQUEST_OPTIONS } from './timeouts.js';

// Why not @aws-sdk/lib-storage's Upload: it cuts a stream into parts by gluing the read chunks into a
// new buffer per part (a copy of every byte, and 2 GiB of short-lived buffers per 2 GiB uploaded) and
// lets the SDK compute each part's CRC32 again from that copy. Measured on 2 cores against a local
// S3 server, that was twice the CPU of `aws s3 cp` (8.2 s vs 4.0 s for 2 GiB) and 0.85× its
// throughput. Here each part is read straight from the file into one of `queueSize` reused
// buffers, checksummed once (native zlib CRC32), and sent as is: no copies, constant memory
// (queueSize × partSize), and a part that fails is retried by the SDK from the same bytes.

export type MultipartUploadParams = {
  readonly client: S3Client;
  readonly bucket: string;
  readonly key: string;
  readonly path: string;
  readonly contentType: string;
  readonly partSize: number;
  /** Parts in flight (and buffers held). */
  readonly queueSize: number;
  /** Send `If-None-Match: *` on the single PUT or the CompleteMultipartUpload. */
  readonly ifNoneMatch: boolean;
  /** Also hash the file as it is read (once). */
  readonly sha256: boolean;
  readonly signal?: AbortSignal;
  readonly onProgress?: (bytes: number, total: number) => void;
};

/** Uploads a file: one PUT when it fits in a part, a multipart upload otherwise. Returns its size (and SHA-256 when asked). */
export async function uploadFile(params: MultipartUploadParams): Promise<{ size: number; sha256?: string }> {
  const file = await open(params.path, 'r');
  try {
    const { size, mtimeMs } = await file.stat();
    const hash = params.sha256 ? createMeteredStream({ sha256: true }) : undefined;
    if (size <= params.partSize) await putSingle(params, file, size, hash);
    else await putMultipart(params, file, size, hash);
    const after = await file.stat();
    if (after.size !== size || after.mtimeMs !== mtimeMs) throw new StoreAccessError(`${params.path}: changed while it was uploaded; upload it again once nothing writes to it`);
    params.onProgress?.(size, size);
    return { size, ...(hash ? { sha256: hash.digest()! } : {}) };
  } finally {
    await file.close();
  }
}

async function putSingle(params: MultipartUploadParams, file: FileHandle, size: number, hash: MeteredStream | undefined): Promise<void> {
  const body = await readPart(params.path, file, Buffer.allocUnsafe(size), 0, size);
  hash?.absorb(body);
  await params.client.send(
    new PutObjectCommand({
      Bucket: params.bucket,
      Key: params.key,
      Body: body,
      ContentLength: size,
      ContentType: params.contentType,
      ChecksumCRC32: crc32Base64(body),
      ...(params.ifNoneMatch ? { IfNoneMatch: '*' } : {}),
    }),
    { abortSignal: params.signal, ...UPLOAD_REQUEST_OPTIONS },
  );
}

async function putMultipart(params: MultipartUploadParams, file: FileHandle, size: number, hash: MeteredStream | undefined): Promise<void> {
  const { client, bucket, key, partSize, signal } = params;
  const created = await client.send(
    new CreateMultipartUploadCommand({ Bucket: bucket, Key: key, ContentType: params.contentType, ChecksumAlgorithm: 'CRC32' }),
    { abortSignal: signal },
  );
  const uploadId = created.UploadId;
  if (uploadId === undefined) throw new StoreAccessError(`${key}: the server started a multipart upload without an upload id`);
  const parts: CompletedPart[] = [];
  try {
    const count = Math.ceil(size / partSize);
    const free: Buffer[] = Array.from({ length: Math.min(params.queueSize, count) }, () => Buffer.allocUnsafe(partSize));
    const waiting: ((buffer: Buffer) => void)[] = [];
    const release = (buffer: Buffer) => {
      const next = waiting.shift();
      if (next) next(buffer);
      else free.push(buffer);
    };
    const acquire = () => new Promise<Buffer>((resolve) => (free.length > 0 ? resolve(free.pop()!) : waiting.push(resolve)));
    const inFlight = new Set<Promise<void>>();
    let failure: unknown;
    let sent = 0;
    // Read in order (so the SHA-256 sees the file front to back); upload up to queueSize parts at once.
    try {
      for (let index = 0; index < count && failure === undefined; index++) {
        const buffer = await acquire();
        if (failure !== undefined) break;
        signal?.throwIfAborted();
        const offset = index * partSize;
        const body = await readPart(params.path, file, buffer, offset, Math.min(partSize, size - offset));
        hash?.absorb(body);
        const partNumber = index + 1;
        const checksum = crc32Base64(body);
        const task = client
          .send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId: uploadId, PartNumber: partNumber, Body: body, ContentLength: body.length, ChecksumCRC32: checksum }), {
            abortSignal: signal,
            ...UPLOAD_REQUEST_OPTIONS,
          })
          .then((out) => {
            // The checksum we sent, not an echo: S3 wants every part's checksum on completion, and not every S3-compatible server echoes it.
            parts[index] = { PartNumber: partNumber, ETag: out.ETag, ChecksumCRC32: checksum };
            sent += body.length;
            params.onProgress?.(sent, size);
          })
          .catch((error: unknown) => {
            failure ??= error;
          })
          .finally(() => {
            inFlight.delete(task);
            release(buffer);
          });
        inFlight.add(task);
      }
    } finally {
      // Settle every part in flight (they never reject) before completing or aborting the upload.
      await Promise.all(inFlight);
    }
    if (failure !== undefined) throw failure;
    await client.send(
      new CompleteMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId, MultipartUpload: { Parts: parts }, ...(params.ifNoneMatch ? { IfNoneMatch: '*' } : {}) }),
      { abortSignal: signal },
    );
  } catch (error) {
    // Nothing half-written stays billable: the parts are dropped (best effort; an interrupted process leaves them to the bucket's lifecycle rule).
    await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId })).catch(() => undefined);
    throw error;
  }
}

/** Reads exactly `length` bytes at `offset` into `buffer`; a short read means the file shrank under us. */
async function readPart(path: string, file: FileHandle, buffer: Buffer, offset: number, length: number): Promise<Buffer> {
  let filled = 0;
  while (filled < length) {
    const { bytesRead } = await file.read(buffer, filled, length - filled, offset + filled);
    if (bytesRead === 0) throw new StoreAccessError(`${path}: changed while it was uploaded (ended at byte ${offset + filled}, expected ${offset + length}); upload it again once nothing writes to it`);
    filled += bytesRead;
  }
  return buffer.subarray(0, length);
}

/** S3's x-amz-checksum-crc32: the big-endian CRC32 in base64. */
function crc32Base64(data: Uint8Array): string {
  const out = Buffer.allocUnsafe(4);
  out.writeUInt32BE(crc32(data) >>> 0);
  return out.toString('base64');
}
