// The apt caching proxy against a real apt-cacher-ng and real HTTP(S) mirrors on loopback that count what they serve.
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createTcpServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, normalize } from 'node:path';
import { execa } from 'execa';
import { afterEach, describe, expect, it } from 'vitest';
import { freeProxyablePort, proxiedSourceUrl, startAptProxy, type AptProxy } from '../src/adapters/package-cache/apt-proxy.js';
import { routeAptRepositories } from '../src/adapters/package-cache/apt-routes.js';
import { ToolFailedError } from '../src/errors/index.js';
import { PROJECT_ROOT } from './helpers/project-root.js';
import { TSX_LOADER } from './helpers/release-project.js';
import { requireTools } from './helpers/require-tools.js';
import { useTempDir } from './helpers/temp-dir.js';
import { waitFor } from './helpers/wait.js';
import { makeIsolatedApt } from './vendor-mirror/isolated-apt.js';
import { serveMirror } from './vendor-mirror/serve-mirror.js';

const TEST_FILE = 'test/apt-proxy.test.ts';
// apt-cacher-ng where Debian installs it, as scripts/install-deps.sh checks; openssl makes the HTTPS mirror's
// certificate; dpkg-deb, apt-ftparchive and gpg make and sign a repository that the real apt-get reads through it;
// ansible-playbook runs the package_cache role against an apt state of the test's own.
const TOOLS = ['/usr/sbin/apt-cacher-ng', 'openssl', 'dpkg-deb', 'apt-ftparchive', 'gpg', 'apt-get', 'ansible-playbook'];
const hasTools = requireTools(TEST_FILE, ...TOOLS);
if (!hasTools) console.warn(`${TEST_FILE}: skipped, it needs ${TOOLS.join(', ')} (scripts/install-deps.sh installs them)`);

const DEB = 'pool/main/c/cuda-stand-in/cuda-stand-in_12.8-1_amd64.deb';

describe.skipIf(!hasTools)('apt caching proxy (real apt-cacher-ng)', () => {
  const temp = useTempDir('imagebuild-apt-proxy-');
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function mirrorWithPackage(): Promise<{ root: string; content: Buffer }> {
    const root = join(temp.dir, 'mirror');
    const content = Buffer.alloc(256 * 1024 + 17, 'debian binary package stand-in ');
    await mkdir(join(root, DEB, '..'), { recursive: true });
    await writeFile(join(root, DEB), content);
    return { root, content };
  }

  async function started(input: Parameters<typeof startAptProxy>[0]): Promise<AptProxy> {
    const proxy = await startAptProxy(input);
    cleanups.push(() => proxy.stop());
    return proxy;
  }

  it('downloads a package once: the second fetch costs the mirror nothing and returns the same bytes', async () => {
    const { root, content } = await mirrorWithPackage();
    const mirror = await serveMirror(root, { port: await freeProxyablePort() });
    cleanups.push(() => mirror.stop());
    const proxy = await started({ cacheDir: join(temp.dir, 'cache'), upstreamPorts: [mirror.port] });
    // The guest's sources.list names the mirror as 10.0.2.2; the proxy on the host must fetch it from 127.0.0.1.
    const url = proxiedSourceUrl(`${mirror.guestUrl}/${DEB}`);

    const first = await getThroughProxy(proxy, url);
    const servedAfterFirst = mirror.served().bytes;
    const second = await getThroughProxy(proxy, url);

    expect(first.status).toBe(200);
    expect(first.body.equals(content)).toBe(true);
    expect(servedAfterFirst).toBe(content.length);
    expect(second.status).toBe(200);
    expect(second.body.equals(content)).toBe(true);
    expect(mirror.served().bytes).toBe(servedAfterFirst);
    const stats = await proxy.stats();
    expect(stats.upstreamRequests).toBe(1);
    expect(stats.upstreamBytes).toBeGreaterThanOrEqual(content.length);
    expect(stats.servedRequests).toBe(2);
    expect(stats.servedBytes).toBeGreaterThanOrEqual(2 * content.length);
    expect(stats.servedFromCacheBytes).toBeGreaterThan(content.length - 1024);
  });

  it('listens on 127.0.0.1 only, with no report page, and leaves no process behind once stopped (twice is fine)', async () => {
    const proxy = await started({ cacheDir: join(temp.dir, 'cache') });

    const listening = listeningSockets(proxy.pid);
    const report = await getThroughProxy(proxy, '/acng-report.html');
    await proxy.stop();
    await proxy.stop();

    expect(proxy.hostUrl).toBe(`http://127.0.0.1:${proxy.port}`);
    expect(proxy.guestUrl).toBe(`http://10.0.2.2:${proxy.port}`);
    expect(listening).toEqual([`127.0.0.1:${proxy.port}`]);
    expect(report.status).not.toBe(200);
    expect(report.body.toString()).not.toMatch(/statistics|maintenance/i);
    expect(isAlive(proxy.pid)).toBe(false);
  });

  it('caches an HTTPS repository through the HTTPS/// form, verifying its certificate, in proxy and mirror style', async () => {
    const { root, content } = await mirrorWithPackage();
    const https = await serveHttps(temp.dir, root);
    cleanups.push(https.stop);
    const proxy = await started({ cacheDir: join(temp.dir, 'cache'), upstreamPorts: [https.port], caFile: https.certFile });
    const upstream = `https://localhost:${https.port}/${DEB}`;

    const asProxy = await getThroughProxy(proxy, proxiedSourceUrl(upstream));
    const asMirror = await getThroughProxy(proxy, new URL(proxiedSourceUrl(upstream, { via: proxy.hostUrl })).pathname);

    expect(proxiedSourceUrl(upstream)).toBe(`http://HTTPS///localhost:${https.port}/${DEB}`);
    expect(asProxy.status).toBe(200);
    expect(asProxy.body.equals(content)).toBe(true);
    expect(asMirror.status).toBe(200);
    expect(asMirror.body.equals(content)).toBe(true);
    expect(https.servedBytes()).toBe(content.length);
  });

  it("keeps an HTTPS repository's signing key and keyring package that Python's urllib fetched through it (Ansible's get_url and apt deb:), and serves them offline", async () => {
    const root = join(temp.dir, 'keys');
    const key = Buffer.from('-----BEGIN PGP PUBLIC KEY BLOCK-----\nstand-in\n-----END PGP PUBLIC KEY BLOCK-----\n');
    const keyring = Buffer.alloc(4_000, 'cuda-keyring stand-in ');
    await mkdir(join(root, 'repo'), { recursive: true });
    await writeFile(join(root, 'gpgkey'), key);
    await writeFile(join(root, 'repo/cuda-keyring_1.1-1_all.deb'), keyring);
    const https = await serveHttps(temp.dir, root);
    cleanups.push(https.stop);
    const cacheDir = join(temp.dir, 'cache');
    const urls = [`https://localhost:${https.port}/gpgkey`, `https://localhost:${https.port}/repo/cuda-keyring_1.1-1_all.deb`].map((url) => proxiedSourceUrl(url));
    /** Python's urllib with http_proxy, as Ansible's fetch_url runs in a build VM: the hex of each URL's body. */
    const urllib = async (proxy: AptProxy) => {
      const code = 'import sys, urllib.request\nfor url in sys.argv[1:]:\n    print(urllib.request.urlopen(url, timeout=20).read().hex())';
      const { stdout } = await execa('python3', ['-c', code, ...urls], { env: { http_proxy: proxy.hostUrl }, extendEnv: false });
      return stdout.split('\n').map((hex) => Buffer.from(hex, 'hex'));
    };
    const warm = await started({ cacheDir, upstreamPorts: [https.port], caFile: https.certFile });
    const fetched = await urllib(warm);
    await warm.stop();
    await https.stop();

    const offline = await started({ cacheDir, upstreamPorts: [https.port], caFile: https.certFile, offline: true });
    const again = await urllib(offline);

    expect(fetched.map((body) => body.toString('hex'))).toEqual([key.toString('hex'), keyring.toString('hex')]);
    expect(again.map((body) => body.toString('hex'))).toEqual([key.toString('hex'), keyring.toString('hex')]);
    expect((await offline.stats()).upstreamBytes).toBe(0);
  });

  it('serves what an earlier run cached with the mirror gone when offline, and 503 for what it never fetched', async () => {
    const { root, content } = await mirrorWithPackage();
    const mirror = await serveMirror(root, { port: await freeProxyablePort() });
    const cacheDir = join(temp.dir, 'cache');
    const url = proxiedSourceUrl(`${mirror.hostUrl}/${DEB}`);
    const warm = await startAptProxy({ cacheDir, upstreamPorts: [mirror.port] });
    await getThroughProxy(warm, url);
    await warm.stop();
    await mirror.stop();

    const offline = await started({ cacheDir, upstreamPorts: [mirror.port], offline: true });
    const cached = await getThroughProxy(offline, url);
    const uncached = await getThroughProxy(offline, url.replace('_amd64.deb', '_arm64.deb'));

    expect(cached.status).toBe(200);
    expect(cached.body.equals(content)).toBe(true);
    expect(uncached.status).toBe(503);
    expect((await offline.stats()).upstreamBytes).toBe(0);
  });

  it('lets apt itself update and download from an HTTPS repository, signature checked, the package fetched once', async () => {
    const repo = await signedFlatRepo(join(temp.dir, 'www'), join(temp.dir, 'keyring.gpg'));
    const https = await serveHttps(temp.dir, join(temp.dir, 'www'));
    cleanups.push(https.stop);
    const proxy = await started({ cacheDir: join(temp.dir, 'cache'), upstreamPorts: [https.port], caFile: https.certFile });
    const source = `deb [signed-by=${repo.keyring}] ${proxiedSourceUrl(`https://localhost:${https.port}/repo/`)} /`;

    const downloads: { update: string; install: string; fetched: Buffer }[] = [];
    for (const run of ['first', 'second']) {
      // A fresh apt state each time, as each build guest has: only the proxy remembers.
      const apt = await makeIsolatedApt(join(temp.dir, `apt-${run}`), { sources: [source] });
      await writeFile(join(apt.dir, 'etc/apt.conf.d/01proxy'), `Acquire::http::Proxy "${proxy.hostUrl}";\n`);
      const update = await apt.aptGet(['update']);
      const install = await apt.aptGet(['install', '--download-only', '-y', repo.name]);
      const fetched = await readFile(join(apt.dir, 'cache/archives', repo.debFile)).catch(() => Buffer.alloc(0));
      downloads.push({ update: `${update.exitCode} ${update.stderr}`, install: `${install.exitCode} ${install.stderr}`, fetched });
    }

    for (const download of downloads) {
      expect(download.update).toMatch(/^0 /);
      expect(download.update).not.toMatch(/^[WE]:/m);
      expect(download.install).toMatch(/^0 /);
      expect(download.fetched.equals(repo.deb)).toBe(true);
    }
    expect(https.servedByPath().get(`/repo/${repo.debFile}`)).toBe(repo.deb.length);
    expect(https.servedByPath().get('/repo/InRelease')).toBeGreaterThan(0);
  });

  it("lets apt install from an HTTPS repository through the package_cache role's copy of the sources, fetched once, the role's own file untouched", async () => {
    const repo = await signedFlatRepo(join(temp.dir, 'www'), join(temp.dir, 'keyring.gpg'));
    const https = await serveHttps(temp.dir, join(temp.dir, 'www'));
    cleanups.push(https.stop);
    const proxy = await started({ cacheDir: join(temp.dir, 'cache'), upstreamPorts: [https.port], caFile: https.certFile });
    // As the nvidia_driver role writes it in a build VM.
    const line = `deb [signed-by=${repo.keyring}] https://localhost:${https.port}/repo/ /\n`;

    /** A fresh apt state, then the package_cache role (real ansible-playbook) pointed at it instead of /etc/apt. */
    const roleOn = async (run: string, httpsProxied: boolean) => {
      const apt = await makeIsolatedApt(join(temp.dir, `apt-role-${run}`), { sources: [] });
      await writeFile(join(apt.dir, 'etc/sources.list.d/nvidia.list'), line);
      await mkdir(join(apt.dir, 'proxied'));
      await writeFile(join(apt.dir, 'proxied/gone.list'), 'deb http://HTTPS///example.invalid/gone/ /\n');
      const vars = {
        package_cache_apt_proxy: proxy.hostUrl,
        package_cache_https_proxied: httpsProxied,
        package_cache_apt_conf: join(apt.dir, 'etc/apt.conf.d/01imagebuild-proxy'),
        package_cache_sources_parts: join(apt.dir, 'etc/sources.list.d'),
        package_cache_proxied_parts: join(apt.dir, 'proxied'),
      };
      const play = [
        '- name: The package_cache role on an apt state of its own',
        '  hosts: localhost',
        '  connection: local',
        '  gather_facts: false',
        '  tasks:',
        '    - name: Apply package_cache',
        '      ansible.builtin.include_role:',
        `        name: ${join(PROJECT_ROOT, 'ansible/roles/package_cache')}`,
        `      vars: ${JSON.stringify(vars)}`,
      ];
      await writeFile(join(apt.dir, 'play.yml'), `${play.join('\n')}\n`);
      const played = await execa('ansible-playbook', ['-i', 'localhost,', join(apt.dir, 'play.yml')], { env: { ANSIBLE_CONFIG: join(PROJECT_ROOT, 'ansible/ansible.cfg') }, all: true, reject: false });
      return { apt, played };
    };

    const runs: { update: string; install: string; fetched: Buffer; copy: string[]; own: string; conf: string }[] = [];
    for (const run of ['first', 'second']) {
      const { apt, played } = await roleOn(run, true);
      expect(played.exitCode, played.all).toBe(0);
      const update = await apt.aptGet(['update']);
      const install = await apt.aptGet(['install', '--download-only', '-y', repo.name]);
      const fetched = await readFile(join(apt.dir, 'cache/archives', repo.debFile)).catch(() => Buffer.alloc(0));
      const copy = readdirSync(join(apt.dir, 'proxied')).map((name) => `${name}: ${readFileSync(join(apt.dir, 'proxied', name), 'utf8').trim()}`);
      runs.push({ update: `${update.exitCode} ${update.stderr}`, install: `${install.exitCode} ${install.stderr}`, fetched, copy, own: await readFile(join(apt.dir, 'etc/sources.list.d/nvidia.list'), 'utf8'), conf: await readFile(join(apt.dir, 'etc/apt.conf.d/01imagebuild-proxy'), 'utf8') });
    }
    const without = await roleOn('without', false);

    for (const run of runs) {
      expect(run.update).toMatch(/^0 /);
      expect(run.update).not.toMatch(/^[WE]:/m);
      expect(run.install).toMatch(/^0 /);
      expect(run.fetched.equals(repo.deb)).toBe(true);
      // The copy has the repository in the proxy's HTTPS/// form and nothing the sources no longer have.
      expect(run.copy).toEqual([`nvidia.list: deb [signed-by=${repo.keyring}] http://HTTPS///localhost:${https.port}/repo/ /`]);
      expect(run.own).toBe(line);
      expect(run.conf).toContain(`Dir::Etc::sourceparts "${join(temp.dir, `apt-role-${runs.indexOf(run) === 0 ? 'first' : 'second'}`, 'proxied')}";`);
    }
    expect(https.servedByPath().get(`/repo/${repo.debFile}`)).toBe(repo.deb.length);
    // A proxy that is not imagebuild's own gets no copy and no sourceparts setting.
    expect(without.played.exitCode, without.played.all).toBe(0);
    expect(existsSync(join(without.apt.dir, 'proxied'))).toBe(false);
    expect(await readFile(join(without.apt.dir, 'etc/apt.conf.d/01imagebuild-proxy'), 'utf8')).not.toContain('sourceparts');
  });

  it('shows apt a repository fetched in the HTTPS/// form as origin "HTTPS", which the nvidia_driver role refuses driver packages from', async () => {
    const repo = await signedFlatRepo(join(temp.dir, 'www'), join(temp.dir, 'keyring.gpg'));
    const https = await serveHttps(temp.dir, join(temp.dir, 'www'));
    cleanups.push(https.stop);
    const proxy = await started({ cacheDir: join(temp.dir, 'cache'), upstreamPorts: [https.port], caFile: https.certFile });
    const source = `deb [signed-by=${repo.keyring}] ${proxiedSourceUrl(`https://localhost:${https.port}/repo/`)} /`;
    // The role's stanza, as its template writes it for the package (nvidia-pin.pref.j2).
    const refusal = (origin: string) => `Package: ${repo.name}\nPin: origin "${origin}"\nPin-Priority: -1\n`;

    const runs: Record<string, string> = {};
    const cases = [['unpinned', {}], ['by its host', { 'imagebuild-nvidia': refusal('localhost') }], ['as HTTPS', { 'imagebuild-nvidia': refusal('HTTPS') }]] as const;
    for (const [run, preferences] of cases) {
      const apt = await makeIsolatedApt(join(temp.dir, `apt-origin-${run.replace(/ /g, '-')}`), { sources: [source], preferences });
      await writeFile(join(apt.dir, 'etc/apt.conf.d/01imagebuild-proxy'), `Acquire::http::Proxy "${proxy.hostUrl}";\n`);
      expect((await apt.aptGet(['update'])).exitCode).toBe(0);
      runs[run] = (await apt.policy([repo.name])).get(repo.name)?.candidate ?? 'none';
    }

    // The host in the URI is no longer the repository's: a pin by host does nothing while the build's cache carries it.
    expect(runs).toEqual({ unpinned: '1.0', 'by its host': '1.0', 'as HTTPS': '(none)' });
  });

  it("lets apt update and install from a loopback repository named as a build guest names it (10.0.2.2), through the proxy's Remap rule, fetched once", async () => {
    const repo = await signedFlatRepo(join(temp.dir, 'www'), join(temp.dir, 'keyring.gpg'));
    const mirror = await serveMirror(join(temp.dir, 'www'), { port: await freeProxyablePort() });
    cleanups.push(() => mirror.stop());
    // The guest's sources.list as a role writes it: the proxy on the host reaches 10.0.2.2 by the remap alone.
    const routes = routeAptRepositories([`${mirror.guestUrl}/repo/`]);
    const proxy = await started({ cacheDir: join(temp.dir, 'cache'), remaps: routes.remaps, upstreamPorts: routes.upstreamPorts });
    const source = `deb [signed-by=${repo.keyring}] ${mirror.guestUrl}/repo/ /`;

    const runs: { update: string; install: string; fetched: Buffer }[] = [];
    for (const run of ['first', 'second']) {
      const apt = await makeIsolatedApt(join(temp.dir, `apt-loopback-${run}`), { sources: [source] });
      await writeFile(join(apt.dir, 'etc/apt.conf.d/01imagebuild-proxy'), `Acquire::http::Proxy "${proxy.hostUrl}";\n`);
      const update = await apt.aptGet(['update']);
      const install = await apt.aptGet(['install', '--download-only', '-y', repo.name]);
      const fetched = await readFile(join(apt.dir, 'cache/archives', repo.debFile)).catch(() => Buffer.alloc(0));
      runs.push({ update: `${update.exitCode} ${update.stderr}`, install: `${install.exitCode} ${install.stderr}`, fetched });
    }

    for (const run of runs) {
      expect(run.update).toMatch(/^0 /);
      expect(run.update).not.toMatch(/^[WE]:/m);
      expect(run.install).toMatch(/^0 /);
      expect(run.fetched.equals(repo.deb)).toBe(true);
    }
    expect(mirror.served().byPath.get(`/repo/${repo.debFile}`)).toBe(repo.deb.length);
    // apt names a flat repository's files ./<file>: one download from upstream (I), two answers to apt (O).
    const debLines = (await readFile(proxy.transferLog, 'utf8')).split('\n').filter((l) => l.endsWith(`|loopback${mirror.port}/repo/./${repo.debFile}`));
    expect(debLines.map((l) => l.split('|')[1])).toEqual(['I', 'O', 'O']);
  });

  it.each([
    ['its pid file still there', false],
    ['its cache directory (pid file and all) deleted first', true],
  ])('does not outlive a parent that is SIGKILLed: %s', async (_case, deleteDir) => {
    const script = join(temp.dir, 'parent.mts');
    await writeFile(
      script,
      `import { startAptProxy } from ${JSON.stringify(join(PROJECT_ROOT, 'src/adapters/package-cache/apt-proxy.ts'))};\n` +
        `const proxy = await startAptProxy({ cacheDir: ${JSON.stringify(join(temp.dir, 'cache'))} });\n` +
        'console.log(JSON.stringify({ pid: proxy.pid }));\nsetInterval(() => undefined, 1000);\n',
    );
    const parent = execa(process.execPath, ['--import', TSX_LOADER, script], { reject: false, cleanup: true });
    const pid = await new Promise<number>((resolve, reject) => {
      parent.stdout?.on('data', (chunk: Buffer) => {
        const match = /"pid":(\d+)/.exec(chunk.toString());
        if (match) resolve(Number(match[1]));
      });
      void parent.then((result) => reject(new Error(`the parent exited first: ${result.stderr}`)));
    });
    expect(isAlive(pid)).toBe(true);
    if (deleteDir) await rm(join(temp.dir, 'cache'), { recursive: true, force: true });

    parent.kill('SIGKILL');
    await parent;

    // The watchdog sends SIGTERM at once and SIGKILL after 5 s; apt-cacher-ng idles out in well under a second.
    await waitFor(async () => !isAlive(pid), 10_000);
    expect(isAlive(pid)).toBe(false);
  });

  it('fails with the log tail when its port is taken, and names the package when the program is missing', async () => {
    const taken = await freeProxyablePort();
    const blocker = createTcpServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => blocker.listen(taken, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => blocker.close(() => resolve())));
    const lines: string[] = [];

    const busy = await rejection(startAptProxy({ cacheDir: join(temp.dir, 'cache'), port: taken, onLine: (line) => lines.push(line) }));
    const missing = await rejection(startAptProxy({ cacheDir: join(temp.dir, 'cache'), command: join(temp.dir, 'no-such', 'apt-cacher-ng') }));
    const highPort = await rejection(startAptProxy({ cacheDir: join(temp.dir, 'cache'), upstreamPorts: [40_000] }));

    expect(busy).toBeInstanceOf(ToolFailedError);
    expect(busy.message).toMatch(new RegExp(`127\\.0\\.0\\.1:${taken}.*busy`));
    expect(busy.message).not.toContain('\n');
    expect((busy as ToolFailedError).stderrTail).toContain('Address already in use');
    expect(lines.join('\n')).toContain(`Port ${taken} is busy`);
    expect(missing).toBeInstanceOf(ToolFailedError);
    expect(missing.message).toMatch(/^apt-cacher-ng is not installed .*install the apt-cacher-ng package/);
    expect(missing.message).not.toContain('\n');
    expect(highPort.message).toBe('apt-cacher-ng cannot use port 40000: it handles ports 1 to 32767 only');
  });
});

/** GET through the proxy: an absolute URL as an HTTP proxy client sends it, or a path on the proxy itself. */
function getThroughProxy(proxy: AptProxy, target: string): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const host = target.startsWith('http://') ? new URL(target).host : `127.0.0.1:${proxy.port}`;
    // agent false and Connection: close, as apt's last request does: apt-cacher-ng's SIGTERM waits for open clients.
    const sent = request({ host: '127.0.0.1', port: proxy.port, path: target, agent: false, headers: { host, connection: 'close' } }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks) }));
      response.on('error', reject);
    });
    sent.on('error', reject);
    sent.end();
  });
}

/** Local addresses of the TCP sockets process `pid` listens on, from /proc/net/tcp and tcp6 (IPv4 as dotted quads, IPv6 as hex). */
function listeningSockets(pid: number): string[] {
  const inodes = new Set(
    readdirSync(`/proc/${pid}/fd`)
      .map((fd) => {
        try {
          return /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`))?.[1];
        } catch {
          return undefined;
        }
      })
      .filter((inode) => inode !== undefined),
  );
  const found: string[] = [];
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    if (!existsSync(table)) continue;
    for (const line of readFileSync(table, 'utf8').split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      // local_address is fields[1] (hex address:port), st fields[3] (0A: LISTEN), inode fields[9].
      if (fields[3] !== '0A' || !inodes.has(fields[9] ?? '')) continue;
      const [address = '', port = ''] = fields[1]!.split(':');
      const ipv4 = address.length === 8 ? address.match(/../g)!.reverse().map((byte) => parseInt(byte, 16)).join('.') : address;
      found.push(`${ipv4}:${parseInt(port, 16)}`);
    }
  }
  return found;
}

function isAlive(pid: number): boolean {
  try {
    const state = /^State:\s+(\S)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return state !== undefined && state !== 'Z';
  } catch {
    return false;
  }
}

/** The error `promise` rejects with; fails the test when it resolves. */
async function rejection(promise: Promise<AptProxy>): Promise<Error> {
  const outcome = await promise.then(
    async (proxy) => {
      await proxy.stop();
      return new Error('expected startAptProxy to fail');
    },
    (error: unknown) => error,
  );
  if (!(outcome instanceof Error) || outcome.message === 'expected startAptProxy to fail') throw outcome;
  return outcome;
}

/** An HTTPS server on 127.0.0.1 with a fresh self-signed certificate for "localhost", serving `root`, counting bytes per path. */
async function serveHttps(dir: string, root: string): Promise<{ port: number; certFile: string; servedBytes(): number; servedByPath(): ReadonlyMap<string, number>; stop(): Promise<void> }> {
  const certFile = join(dir, 'mirror-cert.pem');
  const keyFile = join(dir, 'mirror-key.pem');
  await execa('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost', '-keyout', keyFile, '-out', certFile]);
  const byPath = new Map<string, number>();
  const port = await freeProxyablePort();
  const server = createHttpsServer({ cert: readFileSync(certFile), key: readFileSync(keyFile) }, (req, res) => {
    const path = normalize(new URL(req.url ?? '/', 'https://localhost').pathname);
    const file = join(root, path);
    if (path.includes('..') || !existsSync(file) || !file.startsWith(root)) {
      res.writeHead(404).end();
      return;
    }
    const body = readFileSync(file);
    res.writeHead(200, { 'content-length': body.length, 'content-type': 'application/octet-stream' });
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    byPath.set(path, (byPath.get(path) ?? 0) + body.length);
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    port,
    certFile,
    servedBytes: () => [...byPath.values()].reduce((a, b) => a + b, 0),
    servedByPath: () => new Map(byPath),
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A flat apt repository under `www`/repo with one package, its InRelease signed by a key made for this run (keyring written to `keyring`). */
async function signedFlatRepo(www: string, keyring: string): Promise<{ name: string; deb: Buffer; debFile: string; keyring: string }> {
  const name = 'acng-stand-in';
  const debFile = `${name}_1.0_all.deb`;
  const repo = join(www, 'repo');
  const tree = join(www, '..', 'deb-tree');
  await mkdir(join(tree, 'DEBIAN'), { recursive: true });
  await mkdir(join(tree, 'usr/share', name), { recursive: true });
  await mkdir(repo, { recursive: true });
  await writeFile(join(tree, 'DEBIAN/control'), `Package: ${name}\nVersion: 1.0\nArchitecture: all\nMaintainer: imagebuild test <test@imagebuild.invalid>\nDescription: stand-in package fetched through apt-cacher-ng\n`);
  await writeFile(join(tree, 'usr/share', name, 'payload'), Buffer.from(Array.from({ length: 128 * 1024 }, (_, i) => (i * 7919) % 251)));
  await execa('dpkg-deb', ['--root-owner-group', '-Zgzip', '--build', tree, join(repo, debFile)]);
  const packages = await execa('apt-ftparchive', ['packages', '.'], { cwd: repo });
  await writeFile(join(repo, 'Packages'), `${packages.stdout}\n`);
  // Written beside, then moved in: apt-ftparchive would otherwise list its own half-written Release.
  const release = await execa('apt-ftparchive', ['release', '.'], { cwd: repo });
  await writeFile(join(www, 'Release.tmp'), `${release.stdout}\n`);
  await rename(join(www, 'Release.tmp'), join(repo, 'Release'));
  // A short path: gpg-agent's socket lives in GNUPGHOME and sockets have a 108-byte path limit.
  const gnupgHome = await mkdtemp(join(tmpdir(), 'ib-gpg-'));
  const gpg = (args: string[]) => execa('gpg', ['--batch', '--no-tty', '--pinentry-mode', 'loopback', '--passphrase', '', ...args], { env: { GNUPGHOME: gnupgHome } });
  try {
    await gpg(['--quick-gen-key', 'imagebuild apt-proxy test <repo@imagebuild.invalid>', 'ed25519', 'sign', '1d']);
    await gpg(['--yes', '--output', keyring, '--export', 'repo@imagebuild.invalid']);
    await gpg(['--yes', '--clearsign', '--output', join(repo, 'InRelease'), join(repo, 'Release')]);
  } finally {
    await execa('gpgconf', ['--kill', 'gpg-agent'], { env: { GNUPGHOME: gnupgHome }, reject: false });
    await rm(gnupgHome, { recursive: true, force: true });
  }
  return { name, deb: await readFile(join(repo, debFile)), debFile, keyring };
}
