import { constants } from 'node:fs';
import { access, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { delimiter, join } from 'node:path';
import { execa, type Result, type ResultPromise } from 'execa';
import { oneLine, ToolFailedError } from '../../errors/index.js';
import { startOrphanWatchdog, type OrphanWatchdog } from '../process/orphan-watchdog.js';
import { GUEST_HOST, HIGHEST_PROXYABLE_PORT, remapConfigLines, type AptRemap } from './apt-routes.js';

// apt-cacher-ng's options are documented in the comments of the acng.conf its package installs
// (/etc/apt-cacher-ng/acng.conf; upstream conf/acng.conf) and in its manual
// (https://www.unix-ag.uni-kl.de/~bloch/acng/html/index.html, /usr/share/doc/apt-cacher-ng/html/). Checked with 3.7.4.

const TOOL = 'apt-cacher-ng';
const INSTALL_HINT = 'install the apt-cacher-ng package (scripts/install-deps.sh does)';
const START_ATTEMPTS = 3;
const STOP_GRACE_MS = 10_000;
const WATCHDOG_GRACE_MS = 5_000;
const TAIL_CHARS = 2_000;
// apt-cacher-ng 3.7.4 mishandles ports above 32767, checked here: it cannot bind one ("Error resolving address for
// binding"; 32767 binds, 32768 does not), and a requested URL naming one (http://127.0.0.1:40002/…) gets 503
// "Connection refused" because it connects to some other port (strace showed 62983). Linux hands out ephemeral
// ports from 32768 up, so neither the kernel's pick for our port nor a loopback mirror's listen(0) will do.
const PORT_RANGE = { low: 10_000, high: HIGHEST_PROXYABLE_PORT } as const;

/** Where a proxy keeps its files under its cache directory: the package pool, the logs, the generated config. */
export function aptProxyPaths(cacheDir: string): { pool: string; logDir: string; transferLog: string; errorLog: string; configDir: string; pidFile: string } {
  const logDir = join(cacheDir, 'logs');
  const configDir = join(cacheDir, 'config');
  return {
    pool: join(cacheDir, 'pool'),
    logDir,
    transferLog: join(logDir, 'apt-cacher.log'),
    errorLog: join(logDir, 'apt-cacher.err'),
    configDir,
    pidFile: join(configDir, 'apt-cacher-ng.pid'),
  };
}

/** Bytes through the proxy since it started, from apt-cacher-ng's transfer log. */
export type AptProxyStats = {
  /** Bytes it downloaded from upstream repositories (headers included, as apt-cacher-ng counts them). */
  readonly upstreamBytes: number;
  readonly upstreamRequests: number;
  /** Bytes it sent to its clients. */
  readonly servedBytes: number;
  readonly servedRequests: number;
  /** Served less downloaded, never below 0: apt-cacher-ng's own report page's "cache hits" by data. */
  readonly servedFromCacheBytes: number;
};

/** A running apt-cacher-ng of this process's own, listening on 127.0.0.1 only. */
export type AptProxy = {
  readonly port: number;
  /** http://127.0.0.1:<port>: the proxy as the host reaches it. */
  readonly hostUrl: string;
  /** http://10.0.2.2:<port>: the proxy as a QEMU user-networking guest reaches it (Acquire::http::Proxy). */
  readonly guestUrl: string;
  readonly pid: number;
  /** Its transfer log (one line per download from upstream and per response to a client). */
  readonly transferLog: string;
  stats(): Promise<AptProxyStats>;
  /** Stops it by pid (SIGTERM, then SIGKILL) and waits for it to exit; safe to call twice. */
  stop(): Promise<void>;
};

export type StartAptProxyInput = {
  /** Kept across builds: the cached packages, the logs and the generated config live here. */
  readonly cacheDir: string;
  /** Each line apt-cacher-ng prints (it prints little: start-up notes and failures). */
  readonly onLine?: (line: string) => void;
  /** Upstream ports, besides 80 and 443, that a requested URL may name (a loopback mirror's; at most 32767, see freeProxyablePort). */
  readonly upstreamPorts?: readonly number[];
  /** Remap- rules (routeAptRepositories): loopback mirrors the guest names 10.0.2.2. */
  readonly remaps?: readonly AptRemap[];
  /** Serve only what is cached and never connect upstream (a build with --offline). */
  readonly offline?: boolean;
  /** A CA certificate (PEM) that HTTPS upstreams are verified against instead of the system's (a test mirror's). */
  readonly caFile?: string;
  /** The apt-cacher-ng program; by default the one on PATH or in /usr/sbin. */
  readonly command?: string;
  /** A fixed port (at most 32767) instead of a free one drawn at random; no second try when it is taken. */
  readonly port?: number;
  /** How long to wait for it to answer HTTP; 15 s by default. */
  readonly readyTimeoutMs?: number;
};

/**
 * Starts a caching proxy for a build guest's apt: apt-cacher-ng in the foreground as our child (never the system
 * service), with a config generated under `cacheDir`, on a free port of 127.0.0.1 only. An orphan watchdog stops it
 * if this process dies, even by SIGKILL. Resolves once it answers HTTP.
 */
export async function startAptProxy(input: StartAptProxyInput): Promise<AptProxy> {
  for (const port of [...(input.upstreamPorts ?? []), ...(input.port === undefined ? [] : [input.port])]) {
    if (!Number.isInteger(port) || port < 1 || port > PORT_RANGE.high) throw new RangeError(`${TOOL} cannot use port ${port}: it handles ports 1 to ${PORT_RANGE.high} only`);
  }
  const paths = aptProxyPaths(input.cacheDir);
  await Promise.all([paths.pool, paths.logDir, paths.configDir].map((dir) => mkdir(dir, { recursive: true })));
  const command = input.command ?? (await findAptCacherNg());
  const logStart = await stat(paths.transferLog).then((info) => info.size, () => 0);
  for (let attempt = 1; ; attempt += 1) {
    const port = input.port ?? (await freeProxyablePort());
    const started = await startOnPort(input, paths, command, port);
    if (started.kind === 'running') return aptProxy(started.proxy, paths, logStart);
    // Another process took the port between freeProxyablePort() and apt-cacher-ng's bind: try another.
    if (started.kind === 'port-busy' && input.port === undefined && attempt < START_ATTEMPTS) continue;
    throw started.error;
  }
}

/**
 * The URL a guest's sources.list should name for repository `url` so that its downloads go through (and are cached
 * by) an apt-cacher-ng on the host: with the guest's Acquire::http::Proxy set to the proxy, or, given `via` (the
 * proxy's guest URL), addressing the proxy as if it were the mirror. apt still checks every Release signature and
 * file hash as before: only the transport changes.
 *
 * - https://host/path becomes http://HTTPS///host/path: the guest speaks plain HTTP to the proxy and apt-cacher-ng
 *   fetches https://host/path itself, verifying the server's certificate, and caches it like any HTTP download —
 *   the manual's "tell-me-what-you-need method", the one its author prefers (Apt-Cacher NG manual, 8.2 "Access to
 *   SSL/TLS remotes (HTTPS)", https://www.unix-ag.uni-kl.de/~bloch/acng/html/howtos.html). The other ways it lists
 *   do not fit: HTTP tunnelling (CONNECT, PassThroughPattern) passes the bytes through uncached, and Remap- backends
 *   need a rule per repository in the proxy's config.
 * - A URL on 10.0.2.2, the guest's name for the host's loopback, names 127.0.0.1 instead: apt-cacher-ng runs on the
 *   host, where 10.0.2.2 is nobody.
 * - Other schemes (file:, cdrom:) are returned as they are.
 *
 * apt-cacher-ng 3.7.4 files a download under the host name without its port (observed: pool/127.0.0.1/…, and a
 * second mirror on another port was answered from the first one's copy): a loopback mirror on a new port each run
 * still hits the cache, but two repositories on one host whose paths overlap would share entries.
 */
export function proxiedSourceUrl(url: string, options: { via?: string } = {}): string {
  const parsed = new URL(url);
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return url;
  const host = parsed.hostname === GUEST_HOST ? `127.0.0.1${parsed.port ? `:${parsed.port}` : ''}` : parsed.host;
  const target = `${parsed.protocol === 'https:' ? 'HTTPS///' : ''}${host}${parsed.pathname}${parsed.search}`;
  return options.via === undefined ? `http://${target}` : `${options.via.replace(/\/+$/, '')}/${target}`;
}

/**
 * Totals of an apt-cacher-ng transfer log: lines `time|I|bytes|client|path` for a download from upstream and
 * `time|O|bytes|client|path` for a response to a client (source/aclogger.cc, log::transfer); other kinds (E for
 * errors, M for maintenance) are skipped.
 */
export function parseTransferLog(text: string): AptProxyStats {
  let upstreamBytes = 0;
  let upstreamRequests = 0;
  let servedBytes = 0;
  let servedRequests = 0;
  for (const line of text.split('\n')) {
    const [, kind, count] = line.split('|');
    const bytes = Number(count);
    if (!Number.isSafeInteger(bytes) || bytes < 0) continue;
    if (kind === 'I') {
      upstreamBytes += bytes;
      upstreamRequests += 1;
    } else if (kind === 'O') {
      servedBytes += bytes;
      servedRequests += 1;
    }
  }
  return { upstreamBytes, upstreamRequests, servedBytes, servedRequests, servedFromCacheBytes: Math.max(0, servedBytes - upstreamBytes) };
}

/** The generated acng.conf: every setting ours, nothing read from /etc/apt-cacher-ng. */
export function renderAptProxyConfig(input: {
  paths: ReturnType<typeof aptProxyPaths>;
  port: number;
  upstreamPorts: readonly number[];
  offline: boolean;
  caFile?: string;
  remaps?: readonly AptRemap[];
}): string {
  const ports = [...new Set([80, 443, ...input.upstreamPorts])];
  const lines = [
    '# Generated by imagebuild (src/adapters/package-cache/apt-proxy.ts) for each start; do not edit.',
    `CacheDir: ${input.paths.pool}`,
    `LogDir: ${input.paths.logDir}`,
    // Loopback only: a build guest reaches it as 10.0.2.2 through QEMU's user networking, nothing off the machine can.
    'BindAddress: 127.0.0.1',
    `Port: ${input.port}`,
    // Empty: no Unix socket (the default, /run/apt-cacher-ng/socket, is the system service's); apt-cacher-ng 3.7.4 then
    // prints "Not creating Unix Domain Socket, fifo_path not specified".
    'SocketPath:',
    `PidFile: ${input.paths.pidFile}`,
    'ForeGround: 1',
    // Each log line written as it happens (an alias for Debug's flush bit), so stats() sees every transfer so far.
    'UnbufferLogs: 1',
    // Client and path in each transfer log line.
    'VerboseLog: 1',
    // Requested URLs may name only these upstream ports (the default is 80 alone; manual 5.5 "Target port filter").
    `AllowUserPorts: ${ports.join(' ')}`,
    // No ReportPage and no LocalDirs: no admin or statistics page, no local files served, even on loopback.
    // Repository signing keys (NVIDIA's .../gpgkey, Docker's .../gpg, *.asc, *.gpg) are kept too, as volatile files
    // (revalidated like InRelease, served from the pool when offline): apt-cacher-ng's own patterns pass them through.
    'VfilePatternEx: (/gpgkey|/gpg|\\.asc|\\.gpg)$',
    ...(input.offline ? ['# Serve from the cache only, never connecting upstream (503 for what is not cached).', 'Offlinemode: 1'] : []),
    ...(input.caFile ? [`CAfile: ${input.caFile}`] : []),
    ...remapConfigLines(input.remaps ?? []),
  ];
  return `${lines.join('\n')}\n`;
}

type StartOutcome =
  | { kind: 'running'; proxy: { port: number; child: ResultPromise; exited: Promise<Result>; watchdog: OrphanWatchdog } }
  | { kind: 'port-busy'; error: ToolFailedError }
  | { kind: 'failed'; error: ToolFailedError };

async function startOnPort(input: StartAptProxyInput, paths: ReturnType<typeof aptProxyPaths>, command: string, port: number): Promise<StartOutcome> {
  await writeFile(join(paths.configDir, 'acng.conf'), renderAptProxyConfig({ paths, port, upstreamPorts: input.upstreamPorts ?? [], offline: input.offline ?? false, caFile: input.caFile, remaps: input.remaps }));
  await rm(paths.pidFile, { force: true });
  // Started before the proxy, on its pid file: a SIGKILL of imagebuild right after the spawn must not orphan it.
  const watchdog = startOrphanWatchdog({ pidFile: paths.pidFile }, WATCHDOG_GRACE_MS);
  // NOTIFY_SOCKET left out: were imagebuild itself a systemd service, apt-cacher-ng would report readiness to systemd in its name.
  const { NOTIFY_SOCKET: _notifySocket, ...env } = process.env;
  // cleanup: false — execa's cleanup installs signal-exit's SIGINT handler, which re-raises SIGINT once the CLI's own handler
  // is gone and kills imagebuild before its finally blocks run; the build stops the proxy itself, the watchdog otherwise.
  const child = execa(command, ['-c', paths.configDir], { stdin: 'ignore', all: true, reject: false, cleanup: false, extendEnv: false, env });
  let output = '';
  let pending = '';
  child.all?.on('data', (chunk: Buffer) => {
    const text = chunk.toString();
    output = (output + text).slice(-TAIL_CHARS);
    const lines = (pending + text).split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) if (line.trim()) input.onLine?.(line);
  });
  const exited = child.then((result) => {
    watchdog.cancel();
    if (pending.trim()) input.onLine?.(pending);
    return result;
  });
  const gone = new AbortController();
  void exited.then(() => gone.abort());
  const ready = await Promise.race([exited, waitUntilAnswering(port, input.readyTimeoutMs ?? 15_000, gone.signal)]);
  if (ready === 'answering') {
    // Answering comes after the pid file is written; the watchdog reads it within 0.1 s. Once it has, the proxy is
    // stopped whatever happens to its directory.
    await watchdog.armed;
    return { kind: 'running', proxy: { port, child, exited, watchdog } };
  }
  if (ready === 'timeout') {
    await stopChild(child, exited);
    return { kind: 'failed', error: failure(`${TOOL} did not answer on 127.0.0.1:${port} within ${input.readyTimeoutMs ?? 15_000} ms`, undefined, output, paths) };
  }
  if (ready.code === 'ENOENT') {
    return { kind: 'failed', error: new ToolFailedError(TOOL, `${TOOL} is not installed (${command} not found); ${INSTALL_HINT}`, undefined, undefined, undefined, { cause: ready }) };
  }
  const error = failure(`${TOOL} exited before answering on 127.0.0.1:${port} (exit ${ready.exitCode ?? ready.signal})`, ready.exitCode, `${await logTail(paths.errorLog)}\n${output}`, paths);
  // apt-cacher-ng 3.7.4 says "Couldn't bind socket: Address already in use" and "Port N is busy".
  return { kind: /already in use|is busy/i.test(output) ? 'port-busy' : 'failed', error };
}

function aptProxy(started: Extract<StartOutcome, { kind: 'running' }>['proxy'], paths: ReturnType<typeof aptProxyPaths>, logStart: number): AptProxy {
  let stopping: Promise<void> | undefined;
  return {
    port: started.port,
    hostUrl: `http://127.0.0.1:${started.port}`,
    guestUrl: `http://${GUEST_HOST}:${started.port}`,
    pid: started.child.pid!,
    transferLog: paths.transferLog,
    async stats() {
      const log = await readFile(paths.transferLog).catch(() => Buffer.alloc(0));
      return parseTransferLog(log.subarray(logStart).toString('utf8'));
    },
    stop() {
      stopping ??= stopChild(started.child, started.exited).then(() => {
        started.watchdog.cancel();
        return rm(paths.pidFile, { force: true });
      });
      return stopping;
    },
  };
}

async function stopChild(child: ResultPromise, exited: Promise<Result>): Promise<void> {
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
  await exited;
  clearTimeout(timer);
}

/**
 * Polls until apt-cacher-ng answers HTTP on 127.0.0.1:`port`, or until the process is `gone`. What answers must say
 * it is apt-cacher-ng (its usage page for "/", or its Server header): another program that holds a fixed port would
 * otherwise pass for it in the moment before apt-cacher-ng gives up on binding.
 */
async function waitUntilAnswering(port: number, timeoutMs: number, gone: AbortSignal): Promise<'answering' | 'timeout'> {
  for (const deadline = Date.now() + timeoutMs; Date.now() < deadline && !gone.aborted; ) {
    if (await answersAsAptCacherNg(port, gone)) return 'answering';
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return 'timeout';
}

function answersAsAptCacherNg(port: number, gone: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    // A fresh connection that it closes (apt-cacher-ng's SIGTERM waits for open clients), given up after a second or
    // as soon as the process is gone (a fixed port's other holder need not ever answer).
    const signal = AbortSignal.any([gone, AbortSignal.timeout(1_000)]);
    const probe = request({ host: '127.0.0.1', port, path: '/', agent: false, headers: { connection: 'close' }, signal }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body = (body + chunk).slice(0, 65_536)));
      response.on('end', () => resolve(/apt-cacher/i.test(`${String(response.headers.server)} ${body}`)));
      response.on('error', () => resolve(false));
    });
    probe.on('error', () => resolve(false));
    probe.end();
  });
}

/**
 * A free port on 127.0.0.1 that apt-cacher-ng can both listen on and fetch from: drawn at random from 10000–32767
 * (it mishandles higher ones). A loopback mirror the proxy is to reach must listen on such a port too.
 */
export async function freeProxyablePort(): Promise<number> {
  for (let tries = 0; tries < 100; tries += 1) {
    const port = PORT_RANGE.low + Math.floor(Math.random() * (PORT_RANGE.high - PORT_RANGE.low + 1));
    const free = await new Promise<boolean>((resolve) => {
      const server = createServer();
      server.unref();
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
    });
    if (free) return port;
  }
  throw new ToolFailedError(TOOL, `no free port on 127.0.0.1 between ${PORT_RANGE.low} and ${PORT_RANGE.high} for ${TOOL}`);
}

async function findAptCacherNg(): Promise<string> {
  // /usr/sbin is where Debian installs it, and not on every user's PATH.
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), '/usr/sbin'];
  for (const dir of dirs) {
    const candidate = join(dir, TOOL);
    if (await access(candidate, constants.X_OK).then(() => true, () => false)) return candidate;
  }
  throw new ToolFailedError(TOOL, `${TOOL} is not installed (neither on PATH nor in /usr/sbin); ${INSTALL_HINT}`);
}

function failure(message: string, exitCode: number | undefined, tail: string, paths: ReturnType<typeof aptProxyPaths>): ToolFailedError {
  const trimmed = tail.trim().slice(-TAIL_CHARS);
  const last = trimmed.split('\n').filter((line) => line.trim()).slice(-2).join(' ');
  return new ToolFailedError(TOOL, last ? `${message}: ${oneLine(last)}` : message, exitCode, trimmed, paths.errorLog);
}

async function logTail(path: string): Promise<string> {
  return (await readFile(path, 'utf8').catch(() => '')).slice(-TAIL_CHARS);
}
