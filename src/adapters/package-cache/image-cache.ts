import { mkdir, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { z } from 'zod';
import { Sha256, sha256Hex } from '../../core/digest.js';
import { parseJsonOrUndefined } from '../../core/parse-json.js';
import { firstLine, oneLine, ToolFailedError } from '../../errors/index.js';
import { processAlive } from '../fs/lock.js';
import { sha256File } from '../fs/sha256.js';
import { cacheLayout } from '../workspace/cache-layout.js';
import { GUEST_HOST } from './apt-routes.js';
import { serveFiles, type FileServer, type ServedFile } from './file-server.js';

// The runtime layer's container image cache (issue 20): the host saves each image the spec lists once, with skopeo,
// as a docker-archive under `<cache>/images/<manifest digest>/`, and a build VM loads it with `docker load` instead of
// pulling it. An entry is keyed by what it holds (the registry's manifest digest for linux/amd64), never part of a
// layer key: a hit changes how the bytes arrive, not what is built. A tag that moved upstream is a new digest, so a
// new entry; --offline takes the newest entry saved for the reference.

const TOOL = 'skopeo';
const INSTALL_HINT = 'install the skopeo package (scripts/install-deps.sh does)';
const TAIL_CHARS = 2_000;
const ARCHIVE = 'image.tar';
const RECORD = 'image.json';

/** `image.json`: what an entry holds. */
export const CachedImageRecord = z.object({
  format: z.literal(1),
  /** The reference as the spec names it (the build VM's view), which `docker load` tags the image with. */
  ref: z.string().min(1),
  /** The registry's manifest digest (sha256:…) for linux/amd64 when it was saved. */
  digest: z.string().regex(/^sha256:[0-9a-f]{64}$/),
  /** SHA-256 and size of image.tar. */
  sha256: Sha256,
  bytes: z.number().int().nonnegative(),
  createdAt: z.string(),
});
export type CachedImageRecord = z.infer<typeof CachedImageRecord>;

/** A saved image on the host. */
export type CachedImage = {
  readonly record: CachedImageRecord;
  readonly dir: string;
  readonly archive: string;
  /** Whether it was saved before (and verified), so nothing was copied. */
  readonly hit: boolean;
  /** Bytes skopeo wrote for this call (0 on a hit). */
  readonly bytesDownloaded: number;
  /** Why it was saved again or an older copy was used (a changed archive, an unreachable registry). */
  readonly notice?: string;
};

/** The reference as the host reaches its registry: the guest's 10.0.2.2 is the host's 127.0.0.1. */
function hostReference(ref: string): string {
  return ref.startsWith(`${GUEST_HOST}:`) || ref.startsWith(`${GUEST_HOST}/`) ? `127.0.0.1${ref.slice(GUEST_HOST.length)}` : ref;
}

/** A registry on this machine's loopback (a site's local mirror, the tests'): plain HTTP, no certificate to check. */
function isLoopbackRegistry(ref: string): boolean {
  return /^(127\.0\.0\.1|localhost)(:\d+)?\//.test(hostReference(ref));
}

/**
 * Saves (or finds) the image `ref` in the cache. Online: asks the registry for the manifest digest (a small request),
 * returns the entry for that digest when it verifies (SHA-256 of its archive), else copies it with skopeo into a
 * dot-named staging directory, hashes it and renames it into place. If the registry cannot be asked, the newest saved
 * entry for the reference is used, with a notice. Offline: only the newest saved entry for the reference.
 */
export async function saveImage(input: { cacheDir: string; ref: string; offline?: boolean; onLine?: (line: string) => void }): Promise<CachedImage | { missing: string }> {
  const { cacheDir, ref } = input;
  const newest = async (why?: string): Promise<CachedImage | { missing: string }> => {
    const found = (await listCachedImages(cacheDir)).entries.filter((entry) => entry.record.ref === ref);
    for (const entry of found.reverse()) {
      const problem = await verifyArchive(entry.archive, entry.record);
      if (!problem) return { ...entry, hit: true, bytesDownloaded: 0, ...(why ? { notice: why } : {}) };
    }
    return { missing: found.length > 0 ? `the saved copy of ${ref} fails its check` : `${ref} was never saved` };
  };
  if (input.offline) return newest();
  let digest: string;
  try {
    digest = await inspectDigest(ref);
  } catch (error) {
    if (error instanceof ToolFailedError && /not installed/.test(error.message)) throw error;
    const fallback = await newest(`${ref}: the registry could not be asked (${firstLine(error)}); the copy saved before is used`);
    if ('missing' in fallback) throw error;
    return fallback;
  }
  const layout = cacheLayout(cacheDir);
  const hex = digest.slice('sha256:'.length);
  const dir = layout.imageDir(hex);
  const existing = await readRecord(dir);
  let notice: string | undefined;
  if (existing && existing.ref === ref) {
    const problem = await verifyArchive(join(dir, ARCHIVE), existing);
    if (!problem) return { record: existing, dir, archive: join(dir, ARCHIVE), hit: true, bytesDownloaded: 0 };
    notice = `${ref}: saved again, ${problem}`;
  }
  const staging = layout.imageScratch('staging', hex, process.pid);
  await rm(staging, { recursive: true, force: true });
  await mkdir(staging, { recursive: true });
  try {
    await runSkopeo(['copy', '--retry-times', '1', '--override-os', 'linux', '--override-arch', 'amd64', ...tlsFlags(ref, 'src'), `docker://${hostReference(ref)}`, `docker-archive:${join(staging, ARCHIVE)}:${ref}`], input.onLine);
    const info = await stat(join(staging, ARCHIVE));
    const record: CachedImageRecord = { format: 1, ref, digest, sha256: await sha256File(join(staging, ARCHIVE)), bytes: info.size, createdAt: new Date().toISOString() };
    await writeFile(join(staging, RECORD), `${JSON.stringify(record, null, 2)}\n`);
    await rm(dir, { recursive: true, force: true });
    await rename(staging, dir);
    return { record, dir, archive: join(dir, ARCHIVE), hit: false, bytesDownloaded: info.size, ...(notice ? { notice } : {}) };
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

/** Every saved image, oldest first; entries that do not read are problems. */
export async function listCachedImages(cacheDir: string): Promise<{ entries: { record: CachedImageRecord; dir: string; archive: string }[]; problems: string[] }> {
  const layout = cacheLayout(cacheDir);
  const entries: { record: CachedImageRecord; dir: string; archive: string }[] = [];
  const problems: string[] = [];
  for (const name of (await readdir(layout.images).catch(() => [] as string[])).sort()) {
    if (name.startsWith('.')) continue;
    const dir = layout.imageDir(name);
    const record = await readRecord(dir);
    if (!record || record.digest !== `sha256:${name}`) {
      problems.push(`${dir}: not a saved image (unreadable image.json, or a digest that does not match its directory)`);
      continue;
    }
    entries.push({ record, dir, archive: join(dir, ARCHIVE) });
  }
  return { entries: entries.sort((a, b) => (a.record.createdAt < b.record.createdAt ? -1 : a.record.createdAt > b.record.createdAt ? 1 : 0)), problems };
}

/** The image directories `cache prune --packages` removes: every entry, and staging a killed save left. */
export async function imageCacheDirectories(cacheDir: string): Promise<{ path: string; why: string }[]> {
  const layout = cacheLayout(cacheDir);
  const found: { path: string; why: string }[] = [];
  for (const name of (await readdir(layout.images).catch(() => [] as string[])).sort()) {
    const scratch = /^\.(?:staging|drop)-[0-9a-f]+-(\d+)$/.exec(name);
    if (scratch && processAlive(Number(scratch[1]))) continue;
    if (name.startsWith('.') && !scratch) continue;
    const record = scratch ? undefined : await readRecord(layout.imageDir(name));
    found.push({ path: join(layout.images, name), why: scratch ? `left by process ${scratch[1]}, which is gone` : `container image ${record?.ref ?? '(unreadable)'} (--packages)` });
  }
  return found;
}

/** Serves saved images to a build VM: `/images/<SHA-256 of the reference>.tar` and its `.tar.sha256`, as the container_runtime role asks. */
export async function serveImages(images: readonly Pick<CachedImage, 'record' | 'archive'>[]): Promise<FileServer> {
  const files = new Map<string, ServedFile>();
  const pages = new Map<string, { text: string; contentType: string }>();
  for (const image of images) {
    const name = `${sha256Hex(image.record.ref)}.tar`;
    files.set(`/images/${name}`, { file: image.archive, bytes: image.record.bytes, contentType: 'application/x-tar', counted: true });
    pages.set(`/images/${name}.sha256`, { text: `${image.record.sha256}  ${name}\n`, contentType: 'text/plain; charset=utf-8' });
  }
  return serveFiles({ name: 'the image cache', files, pages });
}

async function inspectDigest(ref: string): Promise<string> {
  const out = await runSkopeo(['inspect', '--retry-times', '1', '--override-os', 'linux', '--override-arch', 'amd64', ...tlsFlags(ref, 'inspect'), '--format', '{{.Digest}}', `docker://${hostReference(ref)}`]);
  const digest = out.trim();
  if (!/^sha256:[0-9a-f]{64}$/.test(digest)) throw new ToolFailedError(TOOL, `skopeo inspect ${ref} printed no digest: ${oneLine(digest).slice(0, 200)}`);
  return digest;
}

function tlsFlags(ref: string, side: 'src' | 'inspect'): string[] {
  if (!isLoopbackRegistry(ref)) return [];
  return [side === 'src' ? '--src-tls-verify=false' : '--tls-verify=false'];
}

async function runSkopeo(args: readonly string[], onLine?: (line: string) => void): Promise<string> {
  const child = execa(TOOL, args, { stdin: 'ignore', all: true, reject: false });
  child.all?.on('data', (chunk: Buffer) => {
    for (const line of chunk.toString().split('\n')) if (line.trim()) onLine?.(line);
  });
  const result = await child;
  if (result.exitCode === 0) return String(result.stdout);
  if ((result as { code?: string }).code === 'ENOENT') throw new ToolFailedError(TOOL, `${TOOL} is not installed; ${INSTALL_HINT}`, undefined, undefined, undefined, { cause: result });
  const output = String(result.all ?? '');
  const reason = output.split('\n').filter((line) => /error|fatal/i.test(line)).at(-1) ?? `exited ${result.exitCode ?? result.signal}`;
  throw new ToolFailedError(TOOL, `skopeo ${args[0]} ${args.at(-2)?.startsWith('docker://') ? args.at(-2) : args.at(-1)}: ${oneLine(reason).replace(/^time="[^"]*" level=\w+ msg="?/, '').slice(0, 300)}`, result.exitCode, output.slice(-TAIL_CHARS));
}

async function readRecord(dir: string): Promise<CachedImageRecord | undefined> {
  const parsed = CachedImageRecord.safeParse(parseJsonOrUndefined(await readFile(join(dir, RECORD), 'utf8').catch(() => '')));
  return parsed.success ? parsed.data : undefined;
}

async function verifyArchive(archive: string, record: CachedImageRecord): Promise<string | undefined> {
  const size = await stat(archive).then((info) => info.size, () => undefined);
  if (size === undefined) return `${archive}: missing`;
  if (size !== record.bytes) return `${archive}: ${size} bytes, the record says ${record.bytes}`;
  const sha256 = await sha256File(archive);
  return sha256 === record.sha256 ? undefined : `${archive}: SHA-256 ${sha256}, the record says ${record.sha256}`;
}
