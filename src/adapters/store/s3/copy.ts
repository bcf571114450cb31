import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  UploadPartCopyCommand,
  type CompletedPart,
  type S3Client,
} from '@aws-sdk/client-s3';
import { StoreAccessError } from '../../../errors/index.js';

const MIB = 1024 * 1024;
// CopyObject takes at most 5 GiB; above 1 GiB the copy goes in parts (UploadPartCopy), so that no single
// request runs for long on the server before it answers, and 4 at a time.
const SINGLE_COPY_MAX = 1024 * MIB;
const COPY_PART_BYTES = 256 * MIB;
const MAX_PARTS = 9000;
const PARTS_IN_FLIGHT = 4;

export type CopyParams = {
  readonly client: S3Client;
  readonly bucket: string;
  /** Full keys (with the store's prefix). */
  readonly from: string;
  readonly to: string;
  readonly size: number;
  /** Send `If-None-Match: *` on the CopyObject or CompleteMultipartUpload. */
  readonly ifNoneMatch: boolean;
  readonly signal?: AbortSignal;
  /** For tests: copies larger than this go in parts of `partBytes`. */
  readonly singleCopyMax?: number;
  readonly partBytes?: number;
};

/** Copies an object server-side: one CopyObject for small objects, a multipart copy otherwise (aborted on failure). */
export async function copyObject(params: CopyParams): Promise<void> {
  const { client, bucket, from, to, signal } = params;
  const source = `${bucket}/${from.split('/').map(encodeURIComponent).join('/')}`;
  if (params.size <= (params.singleCopyMax ?? SINGLE_COPY_MAX)) {
    await client.send(new CopyObjectCommand({ Bucket: bucket, Key: to, CopySource: source, ...(params.ifNoneMatch ? { IfNoneMatch: '*' } : {}) }), { abortSignal: signal });
    return;
  }
  const partBytes = Math.max(params.partBytes ?? COPY_PART_BYTES, Math.ceil(params.size / MAX_PARTS / MIB) * MIB);
  const created = await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: to, ContentType: 'application/octet-stream' }), { abortSignal: signal });
  const uploadId = created.UploadId;
  if (uploadId === undefined) throw new StoreAccessError(`${to}: the server started a multipart copy without an upload id`);
  try {
    const count = Math.ceil(params.size / partBytes);
    const parts: CompletedPart[] = [];
    let next = 0;
    let failed = false;
    const worker = async () => {
      for (let index = next++; index < count && !failed; index = next++) {
        const first = index * partBytes;
        const last = Math.min(params.size, first + partBytes) - 1;
        const out = await client.send(
          new UploadPartCopyCommand({ Bucket: bucket, Key: to, UploadId: uploadId, PartNumber: index + 1, CopySource: source, CopySourceRange: `bytes=${first}-${last}` }),
          { abortSignal: signal },
        );
        parts[index] = { PartNumber: index + 1, ETag: out.CopyPartResult?.ETag };
      }
    };
    // Every worker settles before the upload is completed or aborted: none is left sending parts.
    const settled = await Promise.allSettled(
      Array.from({ length: Math.min(PARTS_IN_FLIGHT, count) }, () =>
        worker().catch((error: unknown) => {
          failed = true;
          throw error;
        }),
      ),
    );
    const failure = settled.find((r) => r.status === 'rejected');
    if (failure) throw failure.reason;
    await client.send(
      new CompleteMultipartUploadCommand({ Bucket: bucket, Key: to, UploadId: uploadId, MultipartUpload: { Parts: parts }, ...(params.ifNoneMatch ? { IfNoneMatch: '*' } : {}) }),
      { abortSignal: signal },
    );
  } catch (error) {
    await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: to, UploadId: uploadId })).catch(() => undefined);
    throw error;
  }
}
