import { createReadStream } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { GUEST_HOST } from './apt-routes.js';

// Serves a fixed set of files from a package cache to a build guest over HTTP, for the length of one build (the pip
// wheelhouse, saved container images). It runs inside imagebuild's own process, so it cannot outlive the build; it
// listens on 127.0.0.1 only, which a QEMU user-networking guest reaches as 10.0.2.2. Only the URL paths it was given
// answer: no directory is ever listed or walked.

/** A file at a URL path: where it is on the host, and whether its bytes count as served (the payload, not an index). */
export type ServedFile = { readonly file: string; readonly bytes?: number; readonly contentType: string; readonly counted: boolean };

/** Files being served. */
export type FileServer = {
  readonly port: number;
  /** http://127.0.0.1:<port>: as the host reaches it. */
  readonly hostUrl: string;
  /** http://10.0.2.2:<port>: as a build guest reaches it. */
  readonly guestUrl: string;
  /** Bytes of counted files sent so far. */
  bytesServed(): number;
  /** Stops listening and ends open connections; safe to call twice. */
  close(): Promise<void>;
};

/** Serves `files` (URL path → file) and `pages` (URL path → text); everything else is 404, anything but GET or HEAD 405. */
export async function serveFiles(input: { readonly name: string; readonly files: ReadonlyMap<string, ServedFile>; readonly pages: ReadonlyMap<string, { text: string; contentType: string }> }): Promise<FileServer> {
  let served = 0;
  const server: Server = createServer((request, response) => {
    const send = (status: number, type: string, body: string) => {
      response.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
      response.end(request.method === 'HEAD' ? undefined : body);
    };
    if (request.method !== 'GET' && request.method !== 'HEAD') return send(405, 'text/plain', 'GET or HEAD only\n');
    let path: string;
    try {
      path = decodeURIComponent(new URL(request.url ?? '/', 'http://cache').pathname);
    } catch {
      return send(400, 'text/plain', 'not a path\n');
    }
    const page = input.pages.get(path);
    if (page) return send(200, page.contentType, page.text);
    const entry = input.files.get(path);
    if (entry === undefined) return send(404, 'text/plain', `not in ${input.name}: ${path}\n`);
    const stream = createReadStream(entry.file);
    stream.once('open', () => {
      response.writeHead(200, { 'content-type': entry.contentType, ...(entry.bytes === undefined ? {} : { 'content-length': entry.bytes }) });
      if (request.method === 'HEAD') {
        stream.destroy();
        response.end();
        return;
      }
      if (entry.counted) stream.on('data', (chunk) => (served += chunk.length));
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
