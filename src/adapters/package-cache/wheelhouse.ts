import { mkdir, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { parseJsonOrUndefined } from '../../core/parse-json.js';
import { firstLine, oneLine, ToolFailedError } from '../../errors/index.js';
import { apparentBytes } from '../fs/disk-usage.js';
import { processAlive } from '../fs/lock.js';
import { sha256File } from '../fs/sha256.js';
import { cacheLayout } from '../workspace/cache-layout.js';
import {
  canonicalWheelhouseRequest,
  renderWheelhouseLock,
  WheelhouseRecord,
  wheelhouseKey,
  wheelhousePaths,
  type WheelhouseFile,
  type WheelhouseRequest,
} from './wheelhouse-record.js';

// The frameworks layer's pip wheelhouse (issue 20): the host downloads every wheel of a version set once, into
// `<cache>/wheelhouses/<key>/`, and a guest installs from it with `pip install --no-index --find-links … --require-hashes`
// (wheelhouseInstallArgs), so a rebuild of the layer downloads nothing from any index. The key is what the wheelhouse
// holds (wheelhouse-record.ts), never part of a layer key: a hit changes how the bytes arrive, not what is built.

const TOOL = 'pip';
const INSTALL_HINT = 'install python3-pip on this host';
const TAIL_CHARS = 2_000;

/** A filled wheelhouse on the host. */
export type Wheelhouse = {
  readonly key: string;
  /** `<cache>/wheelhouses/<key>/`: mount or copy this directory into the guest and give wheelhouseInstallArgs its path there. */
  readonly dir: string;
  readonly record: WheelhouseRecord;
  /** Every wheel in it, once (a file of both installs appears once). */
  readonly files: readonly WheelhouseFile[];
  /** Whether it was there already (and verified), so pip ran not at all. */
  readonly hit: boolean;
  /** Bytes of the wheels pip downloaded for this call (0 on a hit); index pages are not counted. */
  readonly bytesDownloaded: number;
  /** Why an entry found under the key was dropped and filled again (a wheel whose SHA-256 no longer matches its record). */
  readonly replaced?: string;
};

export type FillWheelhouseInput = WheelhouseRequest & {
  /** The spec's cache directory; the wheelhouse lives under its wheelhouses/. */
  readonly cacheDir: string;
  /** The host's Python with pip; python3 by default. */
  readonly python?: string;
  /** Each line pip prints (Collecting …, Saved …). */
  readonly onLine?: (line: string) => void;
};

/**
 * Returns the wheelhouse for a request: the cached one when its record is valid and every wheel still has the
 * SHA-256 and size it records (0 downloads), otherwise a fresh one. Filling runs the host's `pip download`
 * (binary wheels only, resolved for the request's target) into a dot-named staging directory, records every wheel's
 * SHA-256, writes the lock files and renames the directory into place: a killed fill leaves only staging, which
 * readers skip and pruneWheelhouses removes. A damaged entry is dropped and filled again (`replaced` says why).
 * pip evaluates dependency markers (platform_machine, sys_platform) with the host's interpreter, not the target's:
 * fill on a Linux host of the guest's architecture.
 */
export async function fillWheelhouse(input: FillWheelhouseInput): Promise<Wheelhouse> {
  const { cacheDir, python = 'python3', onLine, ...request } = input;
  const key = wheelhouseKey(request);
  const found = await findWheelhouse(cacheDir, request);
  if (found.wheelhouse) return found.wheelhouse;
  const layout = cacheLayout(cacheDir);
  if (found.problem) await removeDirectory(layout.wheelhouseDir(key), layout.wheelhouseScratch('drop', key, process.pid));
  const staging = layout.wheelhouseScratch('staging', key, process.pid);
  await rm(staging, { recursive: true, force: true });
  try {
    const record = await downloadInto(staging, key, request, python, onLine);
    try {
      await rename(staging, layout.wheelhouseDir(key));
    } catch (error) {
      // Another build filled the same key first: keep theirs when it verifies.
      if (!['ENOTEMPTY', 'EEXIST'].includes((error as NodeJS.ErrnoException).code ?? '')) throw error;
      const theirs = await findWheelhouse(cacheDir, request);
      if (!theirs.wheelhouse) throw error;
      return { ...theirs.wheelhouse, hit: false, bytesDownloaded: totalBytes(record) };
    }
    return { ...wheelhouseOf(layout.wheelhouseDir(key), record), hit: false, bytesDownloaded: totalBytes(record), ...(found.problem ? { replaced: found.problem } : {}) };
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

/**
 * The cached wheelhouse for a request, verified: its record parses and matches the key, the lock files are what the
 * record renders, wheels/ holds exactly the recorded wheels, and each has its recorded size and SHA-256. `problem`
 * names the first thing wrong with an entry that is there but fails; neither field when nothing is cached.
 * What an --offline build asks before it may go on.
 */
export async function findWheelhouse(cacheDir: string, request: WheelhouseRequest): Promise<{ wheelhouse?: Wheelhouse; problem?: string }> {
  const key = wheelhouseKey(request);
  const dir = cacheLayout(cacheDir).wheelhouseDir(key);
  const paths = wheelhousePaths(dir);
  const text = await readFile(paths.record, 'utf8').catch((error: NodeJS.ErrnoException) => (error.code === 'ENOENT' ? undefined : ''));
  if (text === undefined) {
    const exists = await stat(dir).then(() => true, () => false);
    return exists ? { problem: `${paths.record}: missing` } : {};
  }
  const parsed = WheelhouseRecord.safeParse(parseJsonOrUndefined(text));
  if (!parsed.success) return { problem: `${paths.record}: unreadable or not a wheelhouse record` };
  const record = parsed.data;
  if (record.key !== key || wheelhouseKey(record.request) !== key) return { problem: `${paths.record}: its key does not match its directory or request` };
  const problem = await verifyWheelhouse(dir, record);
  return problem ? { problem } : { wheelhouse: { ...wheelhouseOf(dir, record), hit: true, bytesDownloaded: 0 } };
}

/** A wheelhouse as `cache ls` shows it. */
export type WheelhouseListing = {
  readonly key: string;
  readonly dir: string;
  /** The bytes its files take (what a copy into a guest transfers). */
  readonly bytes: number;
  readonly requirements: readonly string[];
  readonly noDeps: readonly string[];
  readonly wheels: number;
  readonly createdAt: string;
};

/** Every wheelhouse under the cache directory, oldest first, without hashing its wheels; entries that do not read are problems, never listed. */
export async function listWheelhouses(cacheDir: string): Promise<{ entries: WheelhouseListing[]; problems: string[] }> {
  const layout = cacheLayout(cacheDir);
  const entries: WheelhouseListing[] = [];
  const problems: string[] = [];
  for (const name of (await readdir(layout.wheelhouses).catch(() => [] as string[])).sort()) {
    if (name.startsWith('.')) continue;
    const dir = layout.wheelhouseDir(name);
    const parsed = WheelhouseRecord.safeParse(parseJsonOrUndefined(await readFile(wheelhousePaths(dir).record, 'utf8').catch(() => '')));
    if (!parsed.success || parsed.data.key !== name || wheelhouseKey(parsed.data.request) !== name) {
      problems.push(`${dir}: not a valid wheelhouse (unreadable record, or a key that does not match)`);
      continue;
    }
    const { request, createdAt } = parsed.data;
    entries.push({ key: name, dir, bytes: await apparentBytes(dir), requirements: request.requirements, noDeps: request.noDeps, wheels: uniqueFiles(parsed.data).length, createdAt });
  }
  return { entries: entries.sort((a, b) => (a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : 0)), problems };
}

/** Removes one wheelhouse (renamed aside first, so no reader sees half of it); returns the bytes it took, 0 when there was none. */
export async function removeWheelhouse(cacheDir: string, key: string): Promise<number> {
  const layout = cacheLayout(cacheDir);
  const dir = layout.wheelhouseDir(key);
  const bytes = await apparentBytes(dir);
  return (await removeDirectory(dir, layout.wheelhouseScratch('drop', key, process.pid))) ? bytes : 0;
}

/** What pruning removes (or, dry, would): each path, its bytes and why, in the shape of `cache prune`'s report. */
export type WheelhousePrune = { readonly removed: readonly { path: string; bytes: number; why: string }[]; readonly freedBytes: number };

/**
 * Prunes the wheelhouses: every entry whose key is not in `keep` (what the current specs need), every entry that
 * does not read as a wheelhouse, and staging or drop directories whose process is gone (a killed fill's). With
 * `apply` false it only reports.
 */
export async function pruneWheelhouses(cacheDir: string, options: { keep: ReadonlySet<string>; apply: boolean }): Promise<WheelhousePrune> {
  const layout = cacheLayout(cacheDir);
  const listed = new Set((await listWheelhouses(cacheDir)).entries.map((entry) => entry.key));
  const removed: { path: string; bytes: number; why: string }[] = [];
  for (const name of (await readdir(layout.wheelhouses).catch(() => [] as string[])).sort()) {
    const path = join(layout.wheelhouses, name);
    const scratch = /^\.(?:staging|drop)-[0-9a-f]+-(\d+)$/.exec(name);
    let why: string | undefined;
    if (scratch) why = processAlive(Number(scratch[1])) ? undefined : `left by process ${scratch[1]}, which is gone`;
    else if (name.startsWith('.')) why = undefined;
    else if (!listed.has(name)) why = 'not a valid wheelhouse';
    else if (!options.keep.has(name)) why = 'no current spec needs it';
    if (why === undefined) continue;
    const bytes = await apparentBytes(path);
    if (options.apply) await (scratch ? rm(path, { recursive: true, force: true }) : removeDirectory(path, layout.wheelhouseScratch('drop', name, process.pid)));
    removed.push({ path, bytes, why });
  }
  return { removed, freedBytes: removed.reduce((sum, entry) => sum + entry.bytes, 0) };
}

async function downloadInto(staging: string, key: string, request: WheelhouseRequest, python: string, onLine: ((line: string) => void) | undefined): Promise<WheelhouseRecord> {
  const canonical = canonicalWheelhouseRequest(request);
  const paths = wheelhousePaths(staging);
  const noDepsDir = join(staging, '.no-deps');
  await mkdir(paths.wheels, { recursive: true });
  const version = await runPip(python, ['--version'], canonical, onLine);
  await runPip(python, downloadArgs(canonical, paths.wheels, canonical.requirements, false), canonical, onLine);
  const resolved = await hashDirectory(paths.wheels);
  let noDeps: WheelhouseFile[] = [];
  if (canonical.noDeps.length > 0) {
    await mkdir(noDepsDir);
    await runPip(python, downloadArgs(canonical, noDepsDir, canonical.noDeps, true), canonical, onLine);
    noDeps = await hashDirectory(noDepsDir);
    for (const file of noDeps) {
      const same = resolved.find((other) => other.name === file.name);
      if (same && same.sha256 !== file.sha256) throw pipFailure(`${file.name} came from the indexes with two different SHA-256s`, canonical);
      await rename(join(noDepsDir, file.name), join(paths.wheels, file.name));
    }
    await rm(noDepsDir, { recursive: true, force: true });
  }
  const record: WheelhouseRecord = { format: 1, key, request: canonical, resolved, noDeps, createdAt: new Date().toISOString(), pip: version.trim() };
  await writeFile(paths.resolvedLock, renderWheelhouseLock(key, resolved));
  if (noDeps.length > 0) await writeFile(paths.noDepsLock, renderWheelhouseLock(key, noDeps));
  await writeFile(paths.record, `${JSON.stringify(record, null, 2)}\n`);
  return record;
}

function downloadArgs(request: ReturnType<typeof canonicalWheelhouseRequest>, dest: string, requirements: readonly string[], noDeps: boolean): string[] {
  const { target } = request;
  const hosts = [request.indexUrl, ...request.extraIndexUrls].filter((url) => url.startsWith('http://')).map((url) => new URL(url).hostname);
  return [
    'download',
    '--dest', dest,
    // Binary wheels only: nothing is built on the host, and --platform/--abi require it (or --no-deps).
    '--only-binary=:all:',
    '--python-version', target.pythonVersion,
    '--implementation', target.implementation,
    '--abi', target.abi,
    ...target.platforms.flatMap((platform) => ['--platform', platform]),
    '--index-url', request.indexUrl,
    ...request.extraIndexUrls.flatMap((url) => ['--extra-index-url', url]),
    // As the frameworks role trusts a plain-http index (a site's mirror); each file is still checked against the
    // #sha256 its index lists, and the guest against the lock.
    ...[...new Set(hosts)].flatMap((host) => ['--trusted-host', host]),
    ...(noDeps ? ['--no-deps'] : []),
    // Everything kept is under the cache directory, so `cache prune` frees it; pip's own cache is not.
    '--no-cache-dir',
    '--progress-bar', 'off',
    // One retry, not pip's five with back-off (8 s before an unreachable index fails): a build whose fill fails goes on
    // without the wheelhouse, and the build VM's pip, with its own retries, downloads as it would without a cache.
    '--retries', '1',
    ...requirements,
  ];
}

async function runPip(python: string, args: readonly string[], request: ReturnType<typeof canonicalWheelhouseRequest>, onLine: ((line: string) => void) | undefined): Promise<string> {
  const child = execa(python, ['-m', 'pip', ...args], { env: pipEnvironment(), extendEnv: false, stdin: 'ignore', all: true, reject: false });
  let pending = '';
  child.all?.on('data', (chunk: Buffer) => {
    const lines = (pending + chunk.toString()).split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) if (line.trim()) onLine?.(line);
  });
  const result = await child;
  if (pending.trim()) onLine?.(pending);
  if (result.exitCode === 0) return String(result.stdout);
  const output = String(result.all ?? '');
  if ((result as { code?: string }).code === 'ENOENT') throw new ToolFailedError(TOOL, `${python} is not installed; ${INSTALL_HINT}`, undefined, undefined, undefined, { cause: result });
  if (/No module named pip/.test(output)) throw new ToolFailedError(TOOL, `${python} has no pip module; ${INSTALL_HINT}`, result.exitCode, output.slice(-TAIL_CHARS));
  throw pipFailure(pipProblem(output) ?? `pip ${args[0]} exited ${result.exitCode ?? result.signal}`, request, result.exitCode, output);
}

/** pip's own verdict, from its last ERROR lines: which requirement it could not find, or its last error. */
function pipProblem(output: string): string | undefined {
  const missing = /No matching distribution found for (\S+)/.exec(output)?.[1];
  if (missing) return `no wheel of ${missing}`;
  const conflict = /ResolutionImpossible|conflicting dependencies/.test(output) ? /The conflict is caused by:[\s\S]*?(?=\n\n|$)/.exec(output)?.[0] : undefined;
  if (conflict) return oneLine(conflict);
  const errors = output.split('\n').filter((line) => line.startsWith('ERROR:'));
  return errors.length > 0 ? oneLine(errors.at(-1)!.replace(/^ERROR:\s*/, '')) : undefined;
}

function pipFailure(problem: string, request: ReturnType<typeof canonicalWheelhouseRequest>, exitCode?: number, output = ''): ToolFailedError {
  const { target } = request;
  const where = [request.indexUrl, ...request.extraIndexUrls].join(' + ');
  const forWhat = `Python ${target.pythonVersion} ${target.abi} ${target.platforms[0]}`;
  return new ToolFailedError(TOOL, `wheelhouse not filled: ${problem} for ${forWhat} on ${where}`, exitCode, output.slice(-TAIL_CHARS));
}

/**
 * pip's environment: no config file and no PIP_* variable of this host's, since neither is part of the key
 * (a user's index-url there would fill a key with other bytes); proxies, CA bundles and HOME (.netrc) stay.
 */
function pipEnvironment(): Record<string, string> {
  const kept = /^(PATH|HOME|LANG|LC_ALL|TMPDIR|(https?|no|all)_proxy|SSL_CERT_(FILE|DIR)|REQUESTS_CA_BUNDLE)$/i;
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) if (value !== undefined && kept.test(name)) env[name] = value;
  return { ...env, PIP_CONFIG_FILE: '/dev/null', PIP_DISABLE_PIP_VERSION_CHECK: '1', PIP_NO_INPUT: '1', PYTHONDONTWRITEBYTECODE: '1' };
}

async function hashDirectory(dir: string): Promise<WheelhouseFile[]> {
  const files: WheelhouseFile[] = [];
  for (const name of (await readdir(dir)).sort()) {
    // --only-binary=:all: downloads wheels only; anything else would be a pip change worth failing on.
    if (!name.endsWith('.whl')) throw new ToolFailedError(TOOL, `pip download left ${name} in ${dir}, which is not a wheel`);
    const path = join(dir, name);
    files.push({ name, sha256: await sha256File(path), bytes: (await stat(path)).size });
  }
  return files;
}

async function verifyWheelhouse(dir: string, record: WheelhouseRecord): Promise<string | undefined> {
  const paths = wheelhousePaths(dir);
  const locks: [string, string | undefined][] = [
    [paths.resolvedLock, renderWheelhouseLock(record.key, record.resolved)],
    [paths.noDepsLock, record.noDeps.length > 0 ? renderWheelhouseLock(record.key, record.noDeps) : undefined],
  ];
  for (const [path, expected] of locks) {
    const actual = await readFile(path, 'utf8').catch(() => undefined);
    if (actual !== expected) return `${path}: ${actual === undefined ? 'missing' : 'not what its record pins'}`;
  }
  const files = uniqueFiles(record);
  const present = (await readdir(paths.wheels).catch(() => [] as string[])).sort();
  const extra = present.filter((name) => !files.some((file) => file.name === name));
  if (extra.length > 0) return `${join(paths.wheels, extra[0]!)}: not in the wheelhouse's record`;
  for (const file of files) {
    const path = join(paths.wheels, file.name);
    const size = await stat(path).then((info) => info.size, () => undefined);
    if (size === undefined) return `${path}: missing`;
    if (size !== file.bytes) return `${path}: ${size} bytes, the record says ${file.bytes}`;
    const sha256 = await sha256File(path).catch((error: unknown) => `unreadable (${firstLine(error)})`);
    if (sha256 !== file.sha256) return `${path}: SHA-256 ${sha256}, the record says ${file.sha256}`;
  }
  return undefined;
}

function wheelhouseOf(dir: string, record: WheelhouseRecord): Omit<Wheelhouse, 'hit' | 'bytesDownloaded'> {
  return { key: record.key, dir, record, files: uniqueFiles(record) };
}

function uniqueFiles(record: WheelhouseRecord): WheelhouseFile[] {
  const byName = new Map<string, WheelhouseFile>();
  for (const file of [...record.resolved, ...record.noDeps]) byName.set(file.name, file);
  return [...byName.values()].sort((a, b) => (a.name < b.name ? -1 : 1));
}

function totalBytes(record: WheelhouseRecord): number {
  return uniqueFiles(record).reduce((sum, file) => sum + file.bytes, 0);
}

/** Renames `dir` aside, then removes it: readers see all of it or none. Whether there was one. */
async function removeDirectory(dir: string, aside: string): Promise<boolean> {
  try {
    await rename(dir, aside);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
  await rm(aside, { recursive: true, force: true });
  return true;
}
