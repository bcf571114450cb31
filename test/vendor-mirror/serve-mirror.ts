import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, normalize, sep } from 'node:path';

/** A running vendor mirror: a static file server on the host's loopback, counting what it serves. */
export type ServedMirror = {
  /** The URL the host reaches it at: http://127.0.0.1:<port>. */
  readonly hostUrl: string;
  /** The URL a QEMU user-networking guest reaches it at: http://10.0.2.2:<port>. */
  readonly guestUrl: string;
  readonly port: number;
  /** Bytes served so far, in all and per path (the package caches' benchmark counts re-downloads with it). */
  served(): { readonly bytes: number; readonly requests: number; readonly byPath: ReadonlyMap<string, number> };
  /** Paths requested that the mirror does not hold (a role asking for a name the mirror lacks shows here). */
  misses(): readonly string[];
  stop(): Promise<void>;
};

/**
 * Serves `root` read-only over HTTP on 127.0.0.1 only (an ephemeral port unless `port` is given): a
 * build guest reaches it as 10.0.2.2 through QEMU's user networking, nothing off the machine can.
 * Test infrastructure: it exists only while a test runs, on a port and with signing keys made for that run.
 */
export async function serveMirror(root: string, options: { port?: number } = {}): Promise<ServedMirror> {
  let bytes = 0;
  let requests = 0;
  const byPath = new Map<string, number>();
  const misses: string[] = [];
  const server: Server = createServer((request, response) => {
    requests += 1;
    const url = new URL(request.url ?? '/', 'http://mirror.invalid');
    // pip quotes '+' in local version labels as %2B; decodeURIComponent gives the file name back.
    const relative = normalize(decodeURIComponent(url.pathname)).replace(/^([/\\])+/, '');
    const path = join(root, relative);
    if (relative.split(sep).includes('..') || (request.method !== 'GET' && request.method !== 'HEAD')) {
      response.writeHead(400).end();
      return;
    }
    void (async () => {
      let file = path;
      let info = await stat(file).catch(() => undefined);
      if (info?.isDirectory()) {
        file = join(path, 'index.html');
        info = await stat(file).catch(() => undefined);
      }
      if (!info?.isFile()) {
        misses.push(url.pathname);
        response.writeHead(404, { 'content-type': 'text/plain' }).end('not in the stand-in mirror\n');
        return;
      }
      response.writeHead(200, { 'content-length': info.size, 'content-type': contentType(file) });
      if (request.method === 'HEAD') {
        response.end();
        return;
      }
      const stream = createReadStream(file);
      stream.on('data', (chunk) => {
        bytes += chunk.length;
        byPath.set(url.pathname, (byPath.get(url.pathname) ?? 0) + chunk.length);
      });
      stream.on('error', () => response.destroy());
      stream.pipe(response);
    })();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    hostUrl: `http://127.0.0.1:${port}`,
    guestUrl: `http://10.0.2.2:${port}`,
    port,
    served: () => ({ bytes, requests, byPath: new Map(byPath) }),
    misses: () => [...misses],
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function contentType(file: string): string {
  if (file.endsWith('.html')) return 'text/html';
  if (file.endsWith('.deb')) return 'application/vnd.debian.binary-package';
  if (file.endsWith('.whl')) return 'application/zip';
  return 'application/octet-stream';
}
