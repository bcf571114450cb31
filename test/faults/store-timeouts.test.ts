import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { once } from 'node:events';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../../src/adapters/store/open-store.js';
import type { ArtifactStore } from '../../src/adapters/store/types.js';
import type { ImageManifest } from '../../src/core/manifest/image-manifest.js';
import { StoreAccessError, StoreSettingsInvalidError } from '../../src/errors/index.js';
import { makePublishedRelease, runCli } from '../helpers/fault-harness.js';
import { sha256Of } from '../helpers/release-project.js';
import { startS3Server, type TestS3Server } from '../helpers/s3-server.js';
import { makeTempDir, type TempDir } from '../helpers/temp-dir.js';

// Rule 5 of issue 17, store side: nothing hangs. An endpoint that accepts connections and then goes
// quiet (before the headers, or in the middle of a body) must end every store request with one line
// naming the endpoint and the timeout, after a bounded number of tries; a download it stalls keeps its
// .part, and the same command resumes it. The stalls are real TCP servers on 127.0.0.1.

const MIB = 1024 * 1024;
const QUICK = { IMAGEBUILD_S3_REQUEST_TIMEOUT: '0.3', IMAGEBUILD_S3_IDLE_TIMEOUT: '5', IMAGEBUILD_S3_CONNECT_TIMEOUT: '5' };
const QUICK_IDLE = { IMAGEBUILD_S3_REQUEST_TIMEOUT: '5', IMAGEBUILD_S3_IDLE_TIMEOUT: '0.3', IMAGEBUILD_S3_CONNECT_TIMEOUT: '5' };
const CREDENTIALS = { AWS_ACCESS_KEY_ID: 'AKIASTALLTEST', AWS_SECRET_ACCESS_KEY: 'stall-secret-key', AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' };

// The SDK's default credential chain reads the process environment (as it does for the CLI).
const savedEnv = { ...process.env };
beforeAll(() => {
  Object.assign(process.env, CREDENTIALS);
});
afterAll(() => {
  process.env = savedEnv;
});

/** A TCP server that accepts, records each request's first line, and answers as `answer` says (by default: never). */
type StallServer = { endpoint: string; requests: string[]; close(): Promise<void> };

async function startStallServer(answer: (requestLine: string, socket: Socket) => void = () => {}): Promise<StallServer> {
  const requests: string[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let head = '';
    socket.on('data', (chunk: Buffer) => {
      if (head.includes('\r\n\r\n')) return;
      head += chunk.toString('latin1');
      if (head.includes('\r\n\r\n')) {
        const line = head.split('\r\n')[0]!;
        requests.push(line);
        answer(line, socket);
      }
    });
  });
  return listenOnLoopback(server, sockets, requests);
}

/** Starts `server` on a free loopback port; close() destroys the sockets it kept, then stops it. */
async function listenOnLoopback(server: Server, sockets: Set<Socket>, requests: string[]): Promise<StallServer> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  return {
    endpoint: `http://127.0.0.1:${port}`,
    requests,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** The error `promise` rejects with (fails the test when it resolves). */
async function failureOf(promise: Promise<unknown>): Promise<Error> {
  return promise.then(
    () => {
      throw new Error('expected a failure');
    },
    (error: unknown) => error as Error,
  );
}

describe('a store endpoint that accepts and never answers', () => {
  let server: StallServer;
  let store: ArtifactStore;
  let temp: TempDir;

  beforeAll(async () => {
    [server, temp] = await Promise.all([startStallServer(), makeTempDir('imagebuild-stall-')]);
    store = await openStore({ kind: 's3', bucket: 'images', prefix: 'team', region: 'us-east-1', endpoint: server.endpoint, force_path_style: true }, { cwd: temp.dir, env: { ...CREDENTIALS, ...QUICK } });
  });
  afterAll(async () => {
    store.close();
    await Promise.all([server.close(), temp.cleanup()]);
  });
  afterEach(() => {
    server.requests.length = 0;
  });

  it.each([
    ['list', () => store.list('box/')],
    ['head', () => store.head('box/releases.json')],
    ['getJson', () => store.getJson('box/releases.json')],
    ['putJson', () => store.putJson('box/releases.json', { n: 1 })],
    ['getStream', () => store.getStream('box/v1/box.qcow2')],
    ['delete', () => store.delete(['box/v1/box.qcow2'])],
    ['copy', () => store.copy('box/v1/box.qcow2', 'box/v2/box.qcow2')],
  ] as const)('ends %s with one line naming the endpoint and the request timeout, after two tries', async (_name, operation) => {
    const error = await failureOf(operation());

    expect(error).toBeInstanceOf(StoreAccessError);
    expect(error.message).not.toContain('\n');
    expect(error.message).toMatch(new RegExp(`^s3://images/team/box/.*: .* failed: no answer from ${server.endpoint.replaceAll('.', '\\.')} within 0\\.3 s \\(request timeout, 2 attempts\\); .*IMAGEBUILD_S3_REQUEST_TIMEOUT`));
    expect(server.requests).toHaveLength(2);
  });

  it('ends an upload the server never reads back with the idle timeout (an upload has no request timeout), after two tries', async () => {
    const idleStore = await openStore({ kind: 's3', bucket: 'images', prefix: '', region: 'us-east-1', endpoint: server.endpoint, force_path_style: true }, { cwd: temp.dir, env: { ...CREDENTIALS, ...QUICK_IDLE } });
    const file = join(temp.dir, 'small.bin');
    await writeFile(file, Buffer.alloc(64 * 1024, 7));

    const error = await failureOf(idleStore.putFile('box/small.bin', file)).finally(() => idleStore.close());

    expect(error).toBeInstanceOf(StoreAccessError);
    expect(error.message).toMatch(new RegExp(`^s3://images/box/small\\.bin: upload failed: ${server.endpoint.replaceAll('.', '\\.')} sent nothing for 0\\.3 s \\(idle timeout, 2 attempts\\)`));
    expect(server.requests.filter((r) => r.startsWith('PUT '))).toHaveLength(2);
  });
});

describe('an endpoint that starts a multipart upload and then never reads a part', () => {
  it('ends the upload with the idle timeout after two tries of the part, and aborts the multipart upload', async () => {
    const server = await startStallServer((line, socket) => {
      const reply = (status: string, body: string) => socket.write(`HTTP/1.1 ${status}\r\nContent-Type: application/xml\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
      if (line.startsWith('POST ') && line.includes('uploads')) reply('200 OK', '<?xml version="1.0"?><InitiateMultipartUploadResult><Bucket>images</Bucket><Key>box/big.bin</Key><UploadId>u-1</UploadId></InitiateMultipartUploadResult>');
      if (line.startsWith('DELETE ')) reply('204 No Content', '');
      // A part (PUT …partNumber=…) is never read: its bytes fill the socket buffers and stop moving.
    });
    const temp = await makeTempDir('imagebuild-stall-multipart-');
    const store = await openStore({ kind: 's3', bucket: 'images', prefix: '', region: 'us-east-1', endpoint: server.endpoint, force_path_style: true }, { cwd: temp.dir, env: { ...CREDENTIALS, ...QUICK_IDLE } });
    const file = join(temp.dir, 'big.bin');
    await writeFile(file, Buffer.alloc(9 * MIB, 7));

    try {
      const error = await failureOf(store.putFile('box/big.bin', file));

      expect(error).toBeInstanceOf(StoreAccessError);
      expect(error.message).toMatch(new RegExp(`^s3://images/box/big\\.bin: upload failed: ${server.endpoint.replaceAll('.', '\\.')} sent nothing for 0\\.3 s \\(idle timeout, 2 attempts\\)`));
      expect(server.requests.filter((r) => /^PUT .*partNumber=1/.test(r))).toHaveLength(2);
      expect(server.requests.filter((r) => /^DELETE .*uploadId=u-1/.test(r))).toHaveLength(1);
    } finally {
      store.close();
      await Promise.all([server.close(), temp.cleanup()]);
    }
  });
});

describe('an endpoint that stops in the middle of a body', () => {
  it('errors the stream (it does not hang) naming the endpoint, after the bytes that came', async () => {
    const total = 4 * MIB;
    const sent = 256 * 1024;
    const server = await startStallServer((_line, socket) => {
      socket.write(`HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: ${total}\r\nETag: "abc"\r\n\r\n`);
      socket.write(Buffer.alloc(sent, 1));
    });
    const temp = await makeTempDir('imagebuild-stall-body-');
    const store = await openStore({ kind: 's3', bucket: 'images', prefix: '', region: 'us-east-1', endpoint: server.endpoint, force_path_style: true }, { cwd: temp.dir, env: { ...CREDENTIALS, ...QUICK_IDLE } });
    let received = 0;

    try {
      const body = await store.getStream('box/v1/box.qcow2');
      const error = await failureOf(
        (async () => {
          for await (const chunk of body) received += (chunk as Buffer).length;
        })(),
      );

      expect(error.message).not.toContain('\n');
      expect(error.message).toMatch(new RegExp(`^s3://images/box/v1/box\\.qcow2: GET stopped mid-way: ${server.endpoint.replaceAll('.', '\\.')} sent nothing for 0\\.3 s \\(idle timeout\\)`));
      expect(received).toBe(sent);
    } finally {
      store.close();
      await Promise.all([server.close(), temp.cleanup()]);
    }
  });
});

describe('an endpoint whose connections are never accepted', () => {
  let listener: ChildProcess | undefined;
  let endpoint: string;
  const fillers: Socket[] = [];

  beforeAll(async () => {
    // A listening socket that never accepts: once its backlog holds a connection, the kernel drops new SYNs, so a
    // connect neither succeeds nor fails — what a firewall that drops packets looks like.
    listener = spawn('python3', ['-c', 'import socket,sys,time\ns=socket.socket()\ns.bind(("127.0.0.1",0))\ns.listen(0)\nprint(s.getsockname()[1],flush=True)\ntime.sleep(600)'], { stdio: ['ignore', 'pipe', 'inherit'] });
    const [line] = (await once(listener.stdout!, 'data')) as [Buffer];
    endpoint = `http://127.0.0.1:${line.toString().trim()}`;
    for (let i = 0; i < 4; i++) {
      const { Socket: NetSocket } = await import('node:net');
      const socket = new NetSocket();
      socket.on('error', () => {});
      socket.connect(Number(endpoint.split(':').at(-1)), '127.0.0.1');
      fillers.push(socket);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  });
  afterAll(() => {
    for (const socket of fillers) socket.destroy();
    listener?.kill();
  });

  it('ends a request with the connect timeout, naming the endpoint', async () => {
    const temp = await makeTempDir('imagebuild-stall-connect-');
    const store = await openStore({ kind: 's3', bucket: 'images', prefix: '', region: 'us-east-1', endpoint, force_path_style: true }, {
      cwd: temp.dir,
      env: { ...CREDENTIALS, IMAGEBUILD_S3_CONNECT_TIMEOUT: '0.3', IMAGEBUILD_S3_REQUEST_TIMEOUT: '30', IMAGEBUILD_S3_IDLE_TIMEOUT: '30' },
    });

    const error = await failureOf(store.list('box/')).finally(async () => {
      store.close();
      await temp.cleanup();
    });

    expect(error).toBeInstanceOf(StoreAccessError);
    expect(error.message).toMatch(new RegExp(`LIST failed: no connection to ${endpoint.replaceAll('.', '\\.')} within 0\\.3 s \\(connect timeout, 2 attempts\\)`));
  });
});

describe('timeout settings', () => {
  it.each([['IMAGEBUILD_S3_IDLE_TIMEOUT', 'soon'], ['IMAGEBUILD_S3_REQUEST_TIMEOUT', '0'], ['IMAGEBUILD_S3_CONNECT_TIMEOUT', '-1'], ['IMAGEBUILD_S3_IDLE_TIMEOUT', '1e3']])('refuses %s=%s naming the variable (exit 2)', async (variable, value) => {
    const error = await failureOf(openStore({ kind: 's3', bucket: 'images', prefix: '', region: 'us-east-1', force_path_style: false }, { cwd: '/', env: { [variable]: value } }));

    expect(error).toBeInstanceOf(StoreSettingsInvalidError);
    expect((error as StoreSettingsInvalidError).exitCode).toBe(2);
    expect(error.message).toBe(`${variable}="${value}" is not a timeout; give seconds between 0.1 and 3600, e.g. ${variable.endsWith('CONNECT_TIMEOUT') ? 10 : 60}`);
  });
});

describe('the CLI against a stalling endpoint', () => {
  let s3: TestS3Server;
  let temp: TempDir;
  let manifest: ImageManifest;
  /** A proxy in front of s3rver that, while `stall` is set, forwards only the first 1 MiB of an image's GET and then goes quiet. */
  let proxy: StallServer & { stall: boolean };

  beforeAll(async () => {
    s3 = await startS3Server();
    temp = await makeTempDir('imagebuild-stall-cli-');
    proxy = Object.assign(await startProxy(s3.endpoint, () => proxy.stall), { stall: false });
    manifest = await makePublishedRelease(temp.dir, 6 * MIB, { ...s3.storeSpec('team'), endpoint: proxy.endpoint });
    const published = await runCli(['publish', 'v1.0.0', '--spec', 'box.yaml'], temp.dir, s3.credentialsEnv);
    expect(published.exitCode, published.stderr).toBe(0);
  });
  afterAll(async () => {
    await proxy?.close();
    await s3?.close();
    await temp?.cleanup();
  });

  it('ends a stalled download with one line naming the endpoint, keeps the .part, and the same command resumes it', async () => {
    const part = join(temp.dir, 'dl', `${manifest.artifact}.part`);
    proxy.stall = true;

    const stalled = await runCli(['download', 'v1.0.0', '--spec', 'box.yaml', '--dest', 'dl'], temp.dir, { ...s3.credentialsEnv, ...QUICK_IDLE });
    const kept = existsSync(part) ? (await stat(part)).size : 0;
    proxy.stall = false;
    const resumed = await runCli(['download', 'v1.0.0', '--spec', 'box.yaml', '--dest', 'dl'], temp.dir, s3.credentialsEnv);

    expect(stalled.exitCode).toBe(1);
    expect(stalled.stderr.trim().split('\n').filter((l) => l.startsWith('error:'))).toEqual([
      expect.stringMatching(new RegExp(`stopped at \\d+ of ${6 * MIB} bytes \\(.*${proxy.endpoint.replaceAll('.', '\\.')} sent nothing for 0\\.3 s \\(idle timeout\\).*\\); run the same command again to resume`)),
    ]);
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThan(6 * MIB);
    expect(resumed.exitCode, resumed.stderr).toBe(0);
    expect(resumed.stdout).toMatch(/resumed at/);
    expect(await sha256Of(join(temp.dir, 'dl', manifest.artifact))).toBe(manifest.checksum_sha256);
  });

  it('ends `list` against an endpoint that never answers with one line naming it (exit 1)', async () => {
    const quiet = await startStallServer();
    const spec = (await readFile(join(temp.dir, 'box.yaml'), 'utf8')).replaceAll(proxy.endpoint, quiet.endpoint);
    await writeFile(join(temp.dir, 'quiet.yaml'), spec);

    const result = await runCli(['list', '--spec', 'quiet.yaml'], temp.dir, { ...s3.credentialsEnv, ...QUICK }).finally(() => quiet.close());

    expect(result.exitCode).toBe(1);
    expect(result.stderr.trim().split('\n')).toEqual([expect.stringMatching(new RegExp(`^error: s3://.*releases\\.json: GET failed: no answer from ${quiet.endpoint.replaceAll('.', '\\.')} within 0\\.3 s \\(request timeout, 2 attempts\\)`))]);
  });
});

/** A TCP proxy to `target` that forwards everything, except that while `stall()` holds it stops forwarding a .qcow2 GET's response after 1 MiB. */
async function startProxy(target: string, stall: () => boolean): Promise<StallServer> {
  const { port: targetPort } = new URL(target);
  const { connect } = await import('node:net');
  const requests: string[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(Number(targetPort), '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
      s.on('close', () => sockets.delete(s));
    }
    let stalling = false;
    let forwarded = 0;
    client.on('data', (chunk: Buffer) => {
      const line = chunk.toString('latin1').split('\r\n')[0]!;
      if (/^(GET|HEAD|PUT|POST|DELETE) /.test(line)) {
        requests.push(line);
        stalling = stall() && line.startsWith('GET ') && line.includes('.qcow2');
        forwarded = 0;
      }
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (!stalling) return void client.write(chunk);
      const room = Math.max(0, MIB - forwarded);
      if (room > 0) client.write(chunk.subarray(0, room));
      forwarded += chunk.length;
    });
    upstream.on('end', () => client.end());
    client.on('end', () => upstream.end());
  });
  return listenOnLoopback(server, sockets, requests);
}
