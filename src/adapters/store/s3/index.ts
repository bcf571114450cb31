import { stat } from 'node:fs/promises';
import { STATUS_CODES } from 'node:http';
import { PassThrough, Readable } from 'node:stream';
import { DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { ImagebuildError, InterruptedError, StoreAccessError, StoredJsonInvalidError, StoreConflictError } from '../../../errors/index.js';
import { assertStoreKey } from '../keys.js';
import type { ArtifactStore, CopyOptions, PutFileOptions, PutJsonOptions, StoreObject, StoredJson } from '../types.js';
import type { S3StoreSettings } from './config.js';
import { copyObject } from './copy.js';
import { uploadFile } from './multipart.js';
import { describeTimeout, limitTimeoutRetries, timeoutKindOf } from './timeouts.js';

const MIB = 1024 * 1024;
// At least 8 MiB per part (the AWS CLI's default; S3's minimum is 5 MiB); larger files get larger parts so the count stays
// well under S3's 10,000-part limit. Eight parts in flight bound the upload's memory at 8 part sizes (64 MiB).
const MIN_PART_BYTES = 8 * MIB;
const MAX_PARTS = 9000;
const QUEUE_SIZE = 8;
const MAX_ATTEMPTS = 5;

// What a store error says next, by S3 error code (or Node error code for network failures).
const HINTS: Readonly<Record<string, string>> = {
  NoSuchBucket: 'create the bucket, or fix artifacts.store.bucket in the spec',
  AccessDenied: "check the credentials' permissions on this bucket and prefix",
  InvalidAccessKeyId: 'the access key is not known to this endpoint; check AWS_PROFILE or AWS_ACCESS_KEY_ID',
  SignatureDoesNotMatch: 'the secret key does not match the access key; check AWS_PROFILE or AWS_SECRET_ACCESS_KEY',
  CredentialsProviderError: 'no credentials found; set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY',
  ECONNREFUSED: 'is the endpoint up? (artifacts.store.endpoint, or AWS_ENDPOINT_URL)',
  ENOTFOUND: 'the endpoint host does not resolve (artifacts.store.endpoint, or AWS_ENDPOINT_URL)',
  PermanentRedirect: 'the bucket is in another region; set artifacts.store.region or AWS_REGION',
};
// What a bare status means when the server sent no error code (a HEAD response has no body to carry one).
const STATUS_HINTS: Readonly<Record<number, string>> = {
  403: 'access denied: wrong credentials (AWS_PROFILE, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY) or no permission on this bucket and prefix',
  404: 'no such bucket? check artifacts.store.bucket and the endpoint',
};
// Error names the SDK uses when it knows nothing better: never worth printing.
const MEANINGLESS = new Set(['', 'Error', 'Unknown', 'UnknownError', 'undefined']);

/** A store in an S3 bucket (or an S3-compatible server) through the AWS SDK; credentials come from the SDK's default chain. */
export function createS3Store(settings: S3StoreSettings, env: NodeJS.ProcessEnv = process.env): ArtifactStore {
  // imagebuild declares Node >= 20.19 and is tested there; the SDK's notice about its own future
  // Node 22 requirement is nothing a user of this CLI can act on. Set the variable to "false" to see it.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const { timeouts } = settings;
  const client = new S3Client({
    region: settings.region,
    ...(settings.endpoint === undefined ? {} : { endpoint: settings.endpoint }),
    forcePathStyle: settings.forcePathStyle,
    // The SDK's standard retry strategy: exponential backoff with jitter on throttling, 5xx and network
    // errors; a timeout is tried twice at most (limitTimeoutRetries), so a stalled endpoint fails in minutes.
    maxAttempts: MAX_ATTEMPTS,
    retryMode: 'standard',
    // Without throwOnRequestTimeout the handler only logs a warning when requestTimeout passes, and waits on.
    requestHandler: { connectionTimeout: timeouts.connectMs, requestTimeout: timeouts.requestMs, socketTimeout: timeouts.idleMs, throwOnRequestTimeout: true },
  });
  limitTimeoutRetries(client);
  const bucket = settings.bucket;
  const endpoint = settings.endpoint ?? (settings.forcePathStyle ? `https://s3.${settings.region}.amazonaws.com` : `https://${bucket}.s3.${settings.region}.amazonaws.com`);
  const fullKey = (key: string) => `${settings.prefix}${assertStoreKey(key)}`;
  const describe = (key: string) => `s3://${bucket}/${settings.prefix}${key}`;
  const secrets = [env.AWS_ACCESS_KEY_ID, env.AWS_SECRET_ACCESS_KEY, env.AWS_SESSION_TOKEN].filter((s): s is string => typeof s === 'string' && s.length >= 4);

  /** One line for a failed request: status, S3 error code and message (whichever the server sent), what to do next. */
  function failureOf(error: unknown): string {
    const e = error as SdkError;
    const timeout = timeoutKindOf(e);
    if (timeout) return describeTimeout(timeout, endpoint, timeouts, e.$metadata?.attempts);
    const status = e.$metadata?.httpStatusCode;
    const code = [e.Code, e.code, e.name].find((c): c is string => typeof c === 'string' && !MEANINGLESS.has(c) && c !== 'TimeoutError' && c !== String(status));
    // Error texts come from a server; never let one echo a credential back into a message or log.
    const message = scrub(e.message ?? '', secrets).trim();
    const said = MEANINGLESS.has(message) || message === code ? '' : message;
    const hint = (code ? HINTS[code] : undefined) ?? (status ? STATUS_HINTS[status] : undefined);
    if (status === undefined) return `${code ?? 'network error'}${said ? `: ${said}` : ''} (endpoint ${endpoint})${hint ? `; ${hint}` : ''}`;
    const what = code ? `${code} (HTTP ${status})` : `HTTP ${status} ${STATUS_CODES[status] ?? ''} without an error code`.replace('  ', ' ');
    return `${what}${said ? `: ${said}` : ''}${hint ? `; ${hint}` : ''}`;
  }

  function translate(error: unknown, action: string, key: string): never {
    if (error instanceof ImagebuildError) throw error;
    const e = error as SdkError;
    if (e.name === 'AbortError') throw new InterruptedError(`${describe(key)}: ${action} interrupted`);
    if (isPreconditionFailed(e)) {
      throw new StoreConflictError(key, `${describe(key)}: ${action} refused (HTTP 412): the object was created by another writer meanwhile; it is not replaced`);
    }
    const detail = failureOf(error);
    throw new StoreAccessError(`${describe(key)}: ${action} failed: ${detail}`, {
      cause: new Error(`${detail}${e.$metadata?.requestId ? ` (request id ${e.$metadata.requestId})` : ''}`),
    });
  }

  async function headObject(key: string): Promise<{ size: number; etag: string } | undefined> {
    try {
      const out = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: fullKey(key) }));
      return { size: out.ContentLength ?? 0, etag: out.ETag ?? '' };
    } catch (error) {
      if (isNotFound(error)) return undefined;
      translate(error, 'HEAD', key);
    }
  }

  async function putBody(key: string, body: string, conditions: { IfNoneMatch?: string; IfMatch?: string }): Promise<void> {
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: fullKey(key), Body: body, ContentType: 'application/json', ...conditions }));
  }

  /** Why an `ifMatch` write cannot go ahead, from what the object is now; undefined when it still has the ETag it was read with. */
  async function staleness(key: string, expected: string): Promise<StoreConflictError | undefined> {
    const now = await headObject(key);
    if (now === undefined) return new StoreConflictError(key, `${describe(key)} was deleted since it was read (a prune, a rebuild of the index, or by hand?); run the command again`);
    if (bareEtag(now.etag) === bareEtag(expected)) return undefined;
    return new StoreConflictError(
      key,
      `${describe(key)} changed since it was read (ETag ${bareEtag(expected)} then, ${bareEtag(now.etag)} now): another publish, rollback or prune wrote it meanwhile; run the command again`,
    );
  }

  /**
   * A read-modify-write that loses to any writer in between. The ETag goes out unquoted: Ceph RGW 16.2
   * matches only that form, MinIO strips quotes before comparing, and S3 documents the value as the
   * object's ETag. A 412 for an object that still has that ETag means a server comparing another way:
   * the quoted form is tried once before giving up with that cause.
   */
  async function putIfMatch(key: string, body: string, expected: string): Promise<void> {
    // An explicit check as well: s3rver ignores If-Match.
    const stale = await staleness(key, expected);
    if (stale) throw stale;
    for (const form of [bareEtag(expected), `"${bareEtag(expected)}"`]) {
      try {
        await putBody(key, body, { IfMatch: form });
        return;
      } catch (error) {
        if (!isPreconditionFailed(error)) translate(error, 'PUT', key);
        const lost = await staleness(key, expected);
        if (lost) throw lost;
      }
    }
    throw new StoreAccessError(
      `${describe(key)}: PUT refused with HTTP 412 although the object still has the ETag it was read with (${bareEtag(expected)}, sent unquoted and quoted): ${endpoint} does not honour If-Match on PUT as S3 does; update the server, or use a filesystem store`,
    );
  }

  /** A create that loses to any other writer: an explicit check (s3rver ignores conditions), then `If-None-Match: *`. */
  async function putIfAbsent(key: string, body: string): Promise<void> {
    if (await headObject(key)) throw new StoreConflictError(key, `${describe(key)} already exists; it is not replaced`);
    try {
      await putBody(key, body, { IfNoneMatch: '*' });
    } catch (error) {
      if (!isPreconditionFailed(error)) translate(error, 'PUT', key);
      if (await headObject(key)) throw new StoreConflictError(key, `${describe(key)} was created by another writer at the same moment (HTTP 412); it is not replaced`);
      throw new StoreAccessError(`${describe(key)}: PUT refused with HTTP 412 although no such object exists: ${endpoint} does not honour If-None-Match: * as S3 does`);
    }
  }

  /** The body as a stream whose failures name the object and the endpoint (an idle timeout mid-body, a reset). */
  function guardBody(body: Readable, key: string, signal: AbortSignal | undefined): Readable {
    const out = new PassThrough();
    body.on('error', (error) => {
      if (signal?.aborted || error.name === 'AbortError') out.destroy(error);
      else out.destroy(new Error(`${describe(key)}: GET stopped mid-way: ${failureOf(error)}`, { cause: error }));
    });
    out.on('close', () => {
      if (!body.readableEnded) body.destroy();
    });
    body.pipe(out);
    return out;
  }

  const store: ArtifactStore = {
    kind: 's3',
    location: `s3://${bucket}/${settings.prefix}`,
    describe,

    async putFile(key: string, path: string, options: PutFileOptions = {}) {
      const total = (await stat(path).catch((error: unknown) => {
        throw new StoreAccessError(`${path}: cannot read it to upload (${(error as NodeJS.ErrnoException).code ?? 'error'})`, { cause: error });
      })).size;
      if (options.ifAbsent && (await headObject(key))) throw new StoreConflictError(key, `${describe(key)} already exists; it is not replaced`);
      try {
        return await uploadFile({
          client,
          bucket,
          key: fullKey(key),
          path,
          contentType: 'application/octet-stream',
          partSize: Math.max(MIN_PART_BYTES, Math.ceil(total / MAX_PARTS / MIB) * MIB),
          queueSize: QUEUE_SIZE,
          // Honoured by S3 on the single PUT or CompleteMultipartUpload; s3rver ignores it (hence the HEAD above), and so
          // does Ceph RGW 16.2 on CompleteMultipartUpload.
          ifNoneMatch: options.ifAbsent === true,
          sha256: options.sha256 === true,
          ...(options.signal ? { signal: options.signal } : {}),
          ...(options.onProgress ? { onProgress: options.onProgress } : {}),
        });
      } catch (error) {
        if (options.signal?.aborted) throw new InterruptedError(`${describe(key)}: upload interrupted`);
        translate(error, 'upload', key);
      }
    },

    async putJson(key: string, value: unknown, options: PutJsonOptions = {}) {
      const body = `${JSON.stringify(value, null, 2)}\n`;
      if (options.ifMatch !== undefined) return putIfMatch(key, body, options.ifMatch);
      if (options.ifAbsent) return putIfAbsent(key, body);
      try {
        await putBody(key, body, {});
      } catch (error) {
        translate(error, 'PUT', key);
      }
    },

    async getJson(key: string): Promise<StoredJson | undefined> {
      let text: string;
      let etag: string;
      try {
        const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: fullKey(key) }));
        text = (await out.Body?.transformToString('utf8')) ?? '';
        etag = out.ETag ?? '';
      } catch (error) {
        if (isNotFound(error)) return undefined;
        translate(error, 'GET', key);
      }
      try {
        return { value: JSON.parse(text) as unknown, etag };
      } catch (error) {
        throw new StoredJsonInvalidError(`${describe(key)}: not valid JSON (${(error as Error).message})`);
      }
    },

    async head(key: string): Promise<StoreObject | undefined> {
      const found = await headObject(key);
      return found ? { key, size: found.size } : undefined;
    },

    async getStream(key: string, options: { start?: number; signal?: AbortSignal } = {}): Promise<Readable> {
      // One GET, streamed: parallel ranged GETs (as `aws s3 cp` does) were measured slower here — 8 ranges
      // of 8 MiB held as the socket's 64 KiB chunks cost 3 s of GC per 2 GiB — and the caller hashes in order anyway.
      const start = options.start ?? 0;
      try {
        const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: fullKey(key), ...(start > 0 ? { Range: `bytes=${start}-` } : {}) }), {
          abortSignal: options.signal,
        });
        if (!(out.Body instanceof Readable)) throw new StoreAccessError(`${describe(key)}: GET returned no readable body`);
        return guardBody(out.Body, key, options.signal);
      } catch (error) {
        translate(error, start > 0 ? `GET from byte ${start}` : 'GET', key);
      }
    },

    async list(prefix: string): Promise<StoreObject[]> {
      const objects: StoreObject[] = [];
      let token: string | undefined;
      do {
        try {
          const out = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: `${settings.prefix}${prefix}`, ContinuationToken: token }));
          for (const item of out.Contents ?? []) {
            if (item.Key !== undefined) objects.push({ key: item.Key.slice(settings.prefix.length), size: item.Size ?? 0 });
          }
          token = out.IsTruncated ? out.NextContinuationToken : undefined;
        } catch (error) {
          translate(error, 'LIST', prefix);
        }
      } while (token !== undefined);
      return objects.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    },

    async copy(from: string, to: string, options: CopyOptions = {}) {
      const source = await headObject(from);
      if (source === undefined) throw new StoreAccessError(`${describe(from)}: cannot copy it to ${describe(to)}: no such object`);
      if (options.ifAbsent && (await headObject(to))) throw new StoreConflictError(to, `${describe(to)} already exists; it is not replaced`);
      try {
        await copyObject({ client, bucket, from: fullKey(from), to: fullKey(to), size: source.size, ifNoneMatch: options.ifAbsent === true, ...(options.signal ? { signal: options.signal } : {}) });
      } catch (error) {
        if (options.signal?.aborted) throw new InterruptedError(`${describe(to)}: copy interrupted`);
        translate(error, `copy from ${describe(from)}`, to);
      }
      return { size: source.size };
    },

    async delete(keys: readonly string[]) {
      for (const key of keys) {
        try {
          await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: fullKey(key) }));
        } catch (error) {
          if (!isNotFound(error)) translate(error, 'DELETE', key);
        }
      }
    },

    close() {
      client.destroy();
    },
  };
  return store;
}

/** What the SDK's errors carry: an S3 error code (`Code`, or the name), a Node error code, the response's metadata. */
type SdkError = {
  name?: string;
  code?: string;
  Code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number; requestId?: string; attempts?: number };
};

function isPreconditionFailed(error: unknown): boolean {
  const e = error as SdkError;
  return e.$metadata?.httpStatusCode === 412 || e.name === 'PreconditionFailed';
}

function isNotFound(error: unknown): boolean {
  // By name only: a missing bucket is also a 404, and must not read as "no such object".
  const name = (error as { name?: string }).name;
  return name === 'NotFound' || name === 'NoSuchKey';
}

/** An ETag without its quotes (and weak marker): the form every S3 implementation compares equal. */
function bareEtag(etag: string): string {
  return etag.replace(/^W\//, '').replace(/^"|"$/g, '');
}

function scrub(text: string, secrets: readonly string[]): string {
  return secrets.reduce((out, secret) => out.split(secret).join('***'), text);
}
