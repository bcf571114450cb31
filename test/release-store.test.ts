import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, truncateSync } from 'node:fs';
import { crc32 } from 'node:zlib';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buffer } from 'node:stream/consumers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StoreAccessError, StoreConflictError, StoreNotConfiguredError } from '../src/errors/index.js';
import { openStore } from '../src/adapters/store/open-store.js';
import { resolveS3Settings } from '../src/adapters/store/s3/config.js';
import { uploadFile } from '../src/adapters/store/s3/multipart.js';
import type { ArtifactStore } from '../src/adapters/store/types.js';
import { startS3Server, type TestS3Server } from './helpers/s3-server.js';
import { makeTempDir } from './helpers/temp-dir.js';

// One contract, two back-ends: every store operation against a real s3rver on loopback and against a directory.

let s3: TestS3Server;
let work: { dir: string; cleanup: () => Promise<void> };

const savedEnv = { ...process.env };
beforeAll(async () => {
  [s3, work] = await Promise.all([startS3Server(), makeTempDir('imagebuild-store-')]);
  // The SDK's default credential chain reads the process environment, as it does for the CLI.
  Object.assign(process.env, s3.env);
});
afterAll(async () => {
  process.env = savedEnv;
  await Promise.all([s3.close(), work.cleanup()]);
});

const backends = [
  { kind: 's3', open: () => openStore({ kind: 's3', bucket: s3.bucket, prefix: 'team/images', region: 'us-east-1', force_path_style: false }, { cwd: work.dir, env: s3.env }) },
  { kind: 'filesystem', open: () => openStore({ kind: 'filesystem', dir: 'store' }, { cwd: work.dir }) },
] as const;

describe.each(backends)('$kind store', ({ kind, open }) => {
  let store: ArtifactStore;
  beforeAll(async () => {
    store = await open();
  });
  afterAll(() => store.close());

  it('streams a file up and reads it back whole and from an offset, hashing on the way when asked', async () => {
    const source = join(work.dir, `${kind}-source.bin`);
    const bytes = randomBytes(3 * 1024 * 1024 + 17);
    await writeFile(source, bytes);
    const seen: number[] = [];

    const put = await store.putFile('box/v1.0.0/box.qcow2', source, { sha256: true, onProgress: (b) => seen.push(b) });
    const whole = await buffer(await store.getStream('box/v1.0.0/box.qcow2'));
    const tail = await buffer(await store.getStream('box/v1.0.0/box.qcow2', { start: bytes.length - 17 }));

    expect(put.size).toBe(bytes.length);
    expect(put.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
    expect(seen.at(-1)).toBe(bytes.length);
    expect(whole.equals(bytes)).toBe(true);
    expect(tail.equals(bytes.subarray(bytes.length - 17))).toBe(true);
    expect(await store.head('box/v1.0.0/box.qcow2')).toEqual({ key: 'box/v1.0.0/box.qcow2', size: bytes.length });
  });

  it('refuses to overwrite with ifAbsent, and an ifMatch write whose etag is stale', async () => {
    await store.putJson('box/releases.json', { n: 1 }, { ifAbsent: true });
    const first = await store.getJson('box/releases.json');

    await store.putJson('box/releases.json', { n: 2 }, { ifMatch: first!.etag });
    const second = await store.getJson('box/releases.json');

    await expect(store.putJson('box/releases.json', { n: 3 }, { ifAbsent: true })).rejects.toBeInstanceOf(StoreConflictError);
    await expect(store.putJson('box/releases.json', { n: 3 }, { ifMatch: first!.etag })).rejects.toBeInstanceOf(StoreConflictError);
    await expect(store.putFile('box/v1.0.0/box.qcow2', join(work.dir, `${kind}-source.bin`), { ifAbsent: true })).rejects.toThrow('already exists');
    expect(second?.value).toEqual({ n: 2 });
    expect((await store.getJson('box/releases.json'))?.value).toEqual({ n: 2 });
  });

  it('lists by prefix, says absent for missing keys, and deletes', async () => {
    await store.putJson('box/v1.0.1/image-manifest.json', { v: '1.0.1' });

    const listed = await store.list('box/v');
    await store.delete(['box/v1.0.1/image-manifest.json', 'box/v9.9.9/nothing']);

    expect(listed.map((o) => o.key)).toEqual(['box/v1.0.0/box.qcow2', 'box/v1.0.1/image-manifest.json']);
    expect(await store.getJson('box/v1.0.1/image-manifest.json')).toBeUndefined();
    expect(await store.head('box/v1.0.1/image-manifest.json')).toBeUndefined();
    expect(store.describe('box/releases.json')).toBe(kind === 's3' ? `s3://${s3.bucket}/team/images/box/releases.json` : join(work.dir, 'store/box/releases.json'));
  });

  it('rejects keys that could escape the store', async () => {
    await expect(store.putJson('../escape.json', {})).rejects.toBeInstanceOf(StoreAccessError);
    await expect(store.head('box//x')).rejects.toBeInstanceOf(StoreAccessError);
  });
});

describe('store settings', () => {
  it('takes region and endpoint from the environment over the spec, and goes path-style with an endpoint', () => {
    const spec = { bucket: 'b', prefix: 'images/demo/', region: 'eu-west-1', force_path_style: false };

    const plain = resolveS3Settings(spec, {});
    const overridden = resolveS3Settings(spec, { AWS_REGION: 'us-west-2', AWS_ENDPOINT_URL: 'http://127.0.0.1:9000' });
    const s3Only = resolveS3Settings({ ...spec, endpoint: 'https://minio.example' }, { AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:9001', AWS_ENDPOINT_URL: 'http://127.0.0.1:9000' });

    expect(plain).toEqual({ bucket: 'b', prefix: 'images/demo/', region: 'eu-west-1', endpoint: undefined, forcePathStyle: false, timeouts: { connectMs: 10_000, requestMs: 60_000, idleMs: 60_000 } });
    expect(overridden).toMatchObject({ region: 'us-west-2', endpoint: 'http://127.0.0.1:9000', forcePathStyle: true });
    expect(s3Only.endpoint).toBe('http://127.0.0.1:9001');
  });

  it('says how to configure a store when the spec names none', async () => {
    await expect(openStore(undefined, { cwd: '/' })).rejects.toBeInstanceOf(StoreNotConfiguredError);
  });

  it('names the missing bucket and never echoes credentials', async () => {
    const store = await openStore({ kind: 's3', bucket: 'no-such-bucket', prefix: '', region: 'us-east-1', force_path_style: true }, { cwd: work.dir, env: s3.env });

    const failure = await store.putJson('x.json', {}).then(
      () => undefined,
      (error: unknown) => error as Error,
    );
    store.close();

    expect(failure).toBeInstanceOf(StoreAccessError);
    expect(failure?.message).toMatch(/^s3:\/\/no-such-bucket\/x\.json: PUT failed: NoSuchBucket \(HTTP 404\): .*create the bucket/);
    expect(`${failure?.message} ${String((failure?.cause as Error | undefined)?.stack)}`).not.toContain(s3.secretAccessKey);
    expect(`${failure?.message}`).not.toContain(s3.accessKeyId);
  });
});

it('keeps no temporary files in a filesystem store after writes', async () => {
  const names = (await readdir(join(work.dir, 'store'), { recursive: true })).map(String);

  expect(names.filter((n) => n.includes('.tmp-') || n.endsWith('.lock'))).toEqual([]);
  expect(readFileSync(join(work.dir, 'store/box/releases.json'), 'utf8')).toContain('"n": 2');
});

describe('S3 multipart upload', () => {
  const MIB = 1024 * 1024;
  // S3's smallest part is 5 MiB; 12 MiB + 3 bytes makes two full parts and a short last one.
  const partSize = 5 * MIB;
  let client: S3Client;
  let source: string;
  let bytes: Buffer;
  let sentChecksums: Map<number, string>;
  let completedParts: unknown[] = [];

  beforeAll(async () => {
    client = new S3Client({ region: 'us-east-1', endpoint: s3.endpoint, forcePathStyle: true });
    // Record what leaves for each UploadPart: the per-part checksum header S3 verifies on arrival.
    sentChecksums = new Map();
    client.middlewareStack.add(
      (next, context) => async (args) => {
        const request = args.request as { headers?: Record<string, string> };
        const input = args.input as { PartNumber?: number };
        if (context.commandName === 'UploadPartCommand' && input.PartNumber !== undefined) sentChecksums.set(input.PartNumber, request.headers?.['x-amz-checksum-crc32'] ?? '');
        if (context.commandName === 'CompleteMultipartUploadCommand') completedParts = (args.input as { MultipartUpload?: { Parts?: unknown[] } }).MultipartUpload?.Parts ?? [];
        return next(args);
      },
      { step: 'finalizeRequest', name: 'recordPartChecksums' },
    );
    source = join(work.dir, 'multipart-source.bin');
    bytes = randomBytes(12 * MIB + 3);
    await writeFile(source, bytes);
  });
  afterAll(() => client.destroy());

  const params = (key: string) => ({ client, bucket: s3.bucket, key, path: source, contentType: 'application/octet-stream', partSize, queueSize: 2, ifNoneMatch: false, sha256: true });
  const stored = async (key: string) => {
    try {
      const out = await client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: key }));
      return Buffer.from(await out.Body!.transformToByteArray());
    } catch (error) {
      if ((error as Error).name === 'NoSuchKey') return undefined;
      throw error;
    }
  };
  const crc = (data: Buffer) => {
    const out = Buffer.alloc(4);
    out.writeUInt32BE(crc32(data) >>> 0);
    return out.toString('base64');
  };

  it('sends three parts, each with its own CRC32 (named again on completion), and reassembles the file byte for byte', async () => {
    const seen: number[] = [];
    sentChecksums.clear();

    const put = await uploadFile({ ...params('mp/whole.bin'), onProgress: (b) => seen.push(b) });

    expect(put).toEqual({ size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') });
    expect((await stored('mp/whole.bin'))?.equals(bytes)).toBe(true);
    expect([...sentChecksums.entries()].sort((a, b) => a[0] - b[0])).toEqual([
      [1, crc(bytes.subarray(0, partSize))],
      [2, crc(bytes.subarray(partSize, 2 * partSize))],
      [3, crc(bytes.subarray(2 * partSize))],
    ]);
    // S3 refuses to complete a CRC32 upload unless every part's checksum is named: ours, not the server's echo.
    expect(completedParts).toEqual([1, 2, 3].map((n) => expect.objectContaining({ PartNumber: n, ChecksumCRC32: sentChecksums.get(n) })));
    expect(seen.at(-1)).toBe(bytes.length);
    expect(seen).toEqual([...seen].sort((a, b) => a - b));
  });

  it('fails, and leaves no object, when the file shrinks during the upload', async () => {
    const shrinking = join(work.dir, 'multipart-shrinking.bin');
    await writeFile(shrinking, bytes);
    let truncated = false;

    const failure = await uploadFile({
      ...params('mp/shrunk.bin'),
      path: shrinking,
      queueSize: 1,
      onProgress: () => {
        if (!truncated) truncateSync(shrinking, partSize + 10);
        truncated = true;
      },
    }).then(
      () => undefined,
      (error: unknown) => error as Error,
    );

    expect(failure?.message).toMatch(/multipart-shrinking\.bin: changed while it was uploaded/);
    expect(await stored('mp/shrunk.bin')).toBeUndefined();
  });

  it('stops when interrupted, and leaves no object', async () => {
    const controller = new AbortController();

    const failure = await uploadFile({ ...params('mp/aborted.bin'), queueSize: 1, signal: controller.signal, onProgress: () => controller.abort() }).then(
      () => undefined,
      (error: unknown) => error as Error,
    );

    expect(failure?.name).toBe('AbortError');
    expect(await stored('mp/aborted.bin')).toBeUndefined();
  });
});
