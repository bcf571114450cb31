import { join } from 'node:path';
import { serveFiles, type FileServer, type ServedFile } from './file-server.js';
import { wheelhousePaths, type WheelhouseFile } from './wheelhouse-record.js';
import type { Wheelhouse } from './wheelhouse.js';

// Serves a filled wheelhouse to a build guest for the length of one build (file-server.ts): pip in the guest reads
// `<url>/wheels/` as a --find-links page and `<url>/requirements.lock` (and no-deps.lock) as requirement files, with
// nothing from any index.

/** A wheelhouse being served; `guestUrl` is the frameworks role's ai_frameworks_wheelhouse_url. */
export type ServedWheelhouse = FileServer;

/**
 * Serves exactly the wheelhouse's recorded files: `/wheels/` (an HTML page linking each wheel with its
 * `#sha256=` fragment, as a PEP 503 page does), `/wheels/<name>`, `/requirements.lock` and `/no-deps.lock`.
 * A file that is not in the record is never read, whatever is in the directory. Wheel bytes count as served.
 */
export async function serveWheelhouse(wheelhouse: Pick<Wheelhouse, 'dir' | 'files' | 'record'>): Promise<ServedWheelhouse> {
  const paths = wheelhousePaths(wheelhouse.dir);
  const lock = (file: string): ServedFile => ({ file, contentType: 'text/plain; charset=utf-8', counted: false });
  const files = new Map<string, ServedFile>([
    ['/requirements.lock', lock(paths.resolvedLock)],
    ...(wheelhouse.record.noDeps.length > 0 ? [['/no-deps.lock', lock(paths.noDepsLock)] as const] : []),
    ...wheelhouse.files.map((wheel) => [`/wheels/${wheel.name}`, { file: join(paths.wheels, wheel.name), bytes: wheel.bytes, contentType: 'application/octet-stream', counted: true }] as const),
  ]);
  const page = { text: linksPage(wheelhouse.files), contentType: 'text/html; charset=utf-8' };
  return serveFiles({ name: `wheelhouse ${wheelhouse.record.key}`, files, pages: new Map([['/wheels/', page], ['/wheels', page]]) });
}

/** The --find-links page: one link per wheel, its SHA-256 in the fragment (pip checks it, then the lock's --hash). */
function linksPage(files: readonly WheelhouseFile[]): string {
  const escape = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
  const links = files.map((file) => `<a href="${escape(encodeURIComponent(file.name))}#sha256=${file.sha256}">${escape(file.name)}</a><br>`);
  return ['<!DOCTYPE html>', '<html><head><title>imagebuild wheelhouse</title></head><body>', ...links, '</body></html>', ''].join('\n');
}
