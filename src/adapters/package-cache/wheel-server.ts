import { createReadStream } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { GUEST_HOST } from './apt-routes.js';
import { wheelhousePaths, type WheelhouseFile } from './wheelhouse-record.js';
import type { Wheelhouse } from './wheelhouse.js';

// Serves a filled wheelhouse to a build guest over HTTP, for the length of one build: pip in the guest reads
// `<url>/wheels/` as a --find-links page and `<url>/requirements.lock` (and no-deps.lock) as requirement files, with
// nothing from any index. It runs inside imagebuild's own process, so it cannot outlive the build; it listens on
// 127.0.0.1 only, which a QEMU user-networking guest reaches as 10.0.2.2.

/** A wheelhouse being served. */
export type ServedWheelhouse = {
  readonly port: number;
  /** http://127.0.0.1:<port>: as the host reaches it. */
  readonly hostUrl: string;
  /** http://10.0.2.2:<port>: as a build guest reaches it (the frameworks role's ai_frameworks_wheelhouse_url). */
  readonly guestUrl: string;
  /** Bytes of wheels sent so far (index page and lock files not counted). */
  bytesServed(): number;
  /** Stops listening and ends open connections; safe to call twice. */
  close(): Promise<void>;
};

/**
 * Serves exactly the wheelhouse's recorded files: `/wheels/` (an HTML page linking each wheel with its
 * `#sha256=` fragment, as a PEP 503 page does), `/wheels/<name>`, `/requirements.lock` and `/no-deps.lock`.
 * Anything else is 404, and a file that is not in the record is never read, whatever is in the directory.
 */
export async function serveWheelhouse(wheelhouse: Pick<Wheelhouse, 'dir' | 'files' | 'record'>): Promise<ServedWheelhouse> {
  const paths = wheelhousePaths(wheelhouse.dir);
  const byName = new Map<string, WheelhouseFile>(wheelhouse.files.map((file) => [file.name, file]));
  const locks = new Map<string, string>([['/requirements.lock', paths.resolvedLock], ...(wheelhouse.record.noDeps.length > 0 ? [['/no-deps.lock', paths.noDepsLock] as const] : [])]);
  let served = 0;
  const server: Server = createServer((request, response) => {
    const send = (status: number, type: string, body: string) => {
      response.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
      response.end(request.method === 'HEAD' ? undefined : body);
    };
    if (request.method !== 'GET' && request.method !== 'HEAD') return send(405, 'text/plain', 'GET or HEAD only\n');
    let path: string;
    try {
      path = decodeURIComponent(new URL(request.url ?? '/', 'http://wheelhouse').pathname);
    } catch {
      return send(400, 'text/plain', 'not a path\n');
    }
    if (path === '/wheels/' || path === '/wheels') return send(200, 'text/html; charset=utf-8', linksPage(wheelhouse.files));
    const lock = locks.get(path);
    const wheel = path.startsWith('/wheels/') ? byName.get(path.slice('/wheels/'.length)) : undefined;
    const file = lock ?? (wheel ? join(paths.wheels, wheel.name) : undefined);
    if (file === undefined) return send(404, 'text/plain', `not in wheelhouse ${wheelhouse.record.key}: ${path}\n`);
    const stream = createReadStream(file);
    stream.once('open', () => {
      response.writeHead(200, { 'content-type': wheel ? 'application/octet-stream' : 'text/plain; charset=utf-8', ...(wheel ? { 'content-length': wheel.bytes } : {}) });
      if (request.method === 'HEAD') {
        stream.destroy();
        response.end();
        return;
      }
      if (wheel) stream.on('data', (chunk) => (served += chunk.length));
      stream.pipe(response);
    });
    stream.once('error', (error) => {
      if (!response.headersSent) send(500, 'text/plain', `${path}: ${error.message}\n`);
      else response.destroy(error);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  let closed: Promise<void> | undefined;
  return {
    port,
    hostUrl: `http://127.0.0.1:${port}`,
    guestUrl: `http://${GUEST_HOST}:${port}`,
    bytesServed: () => served,
    close() {
      closed ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closed;
    },
  };
}

/** The --find-links page: one link per wheel, its SHA-256 in the fragment (pip checks it, then the lock's --hash). */
function linksPage(files: readonly WheelhouseFile[]): string {
  const escape = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
  const links = files.map((file) => `<a href="${escape(encodeURIComponent(file.name))}#sha256=${file.sha256}">${escape(file.name)}</a><br>`);
  return ['<!DOCTYPE html>', '<html><head><title>imagebuild wheelhouse</title></head><body>', ...links, '</body></html>', ''].join('\n');
}
