import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join, posix, relative, sep } from 'node:path';
import type { Client, ClientChannel, ConnectConfig, SFTPWrapper } from 'ssh2';
import { checkHostKey, entryNamesHost, keyFingerprint, knownHostName, parseKnownHosts } from '../../core/remote/known-hosts.js';
import type { RemoteHostSpec } from '../../core/remote/remote-command.js';
import { firstLine, HostKeyError, ImagebuildError } from '../../errors/index.js';

// A build host reached over SSH with ssh2: the server's key checked against known_hosts before any
// credential is offered (on by default; unknown and changed keys are refused), authentication by
// ssh-agent or a key file, commands with streamed output, and SFTP for files and directories.

export type RemoteAuth = {
  /** A private key file; otherwise ssh-agent ($SSH_AUTH_SOCK), then ~/.ssh/id_ed25519, id_ecdsa, id_rsa. */
  readonly identity?: string;
  /** Defaults to ~/.ssh/known_hosts. */
  readonly knownHosts?: string;
  readonly env?: NodeJS.ProcessEnv;
};

export type RemoteRun = { readonly code: number | null; readonly signal?: string; readonly stdout: string; readonly stderr: string };

export type RemoteHost = {
  readonly name: string;
  /** Runs a command, collecting its output. */
  run(command: string): Promise<RemoteRun>;
  /** Runs a command, handing each output line over as it arrives. */
  stream(command: string, onLine: (line: string, from: 'stdout' | 'stderr') => void): Promise<{ code: number | null; signal?: string }>;
  /** Copies a local directory tree to `remoteDir` (created; files replaced). */
  uploadTree(localDir: string, remoteDir: string): Promise<number>;
  uploadFile(localPath: string, remotePath: string): Promise<void>;
  /** Copies the files of a remote directory tree that `include` accepts (relative POSIX paths) under `localDir`. */
  downloadTree(remoteDir: string, localDir: string, include?: (path: string) => boolean): Promise<number>;
  close(): void;
};

async function readIdentity(auth: RemoteAuth, env: NodeJS.ProcessEnv): Promise<Pick<ConnectConfig, 'privateKey' | 'agent'>> {
  if (auth.identity) {
    if (!existsSync(auth.identity)) throw new ImagebuildError('IDENTITY_MISSING', `--identity ${auth.identity}: no such file; give a private key file`);
    return { privateKey: await readFile(auth.identity) };
  }
  if (env.SSH_AUTH_SOCK) return { agent: env.SSH_AUTH_SOCK };
  for (const name of ['id_ed25519', 'id_ecdsa', 'id_rsa']) {
    const path = join(env.HOME ?? homedir(), '.ssh', name);
    if (existsSync(path)) return { privateKey: await readFile(path) };
  }
  throw new ImagebuildError('NO_SSH_IDENTITY', 'no SSH identity: start ssh-agent (SSH_AUTH_SOCK), or give --identity FILE, or create ~/.ssh/id_ed25519');
}

/** Connects to a build host; refuses a host key known_hosts does not vouch for. */
export async function connectRemoteHost(target: RemoteHostSpec, auth: RemoteAuth = {}): Promise<RemoteHost> {
  const env = auth.env ?? process.env;
  const knownHostsFile = auth.knownHosts ?? join(env.HOME ?? homedir(), '.ssh', 'known_hosts');
  const knownText = existsSync(knownHostsFile) ? await readFile(knownHostsFile, 'utf8') : '';
  const entries = parseKnownHosts(knownText);
  const name = knownHostName(target.host, target.port);
  const identity = await readIdentity(auth, env);
  // Ask for the key types known_hosts holds for this host first, as ssh does, so a host known by its
  // RSA key is not reported as changed when it would rather show its ed25519 key.
  const knownTypes = [...new Set(entries.filter((e) => e.marker === undefined && entryNamesHost(e, name)).map((e) => e.keyType))];
  const serverHostKey = knownTypes.flatMap((t) => (t === 'ssh-rsa' ? ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'] : [t]));
  const { Client: SshClient } = await import('ssh2');
  const client: Client = new SshClient();
  let refusal: string | undefined;

  await new Promise<void>((resolve, reject) => {
    let settled = false;
    const settle = (error?: Error) => {
      if (settled) return;
      settled = true;
      if (error) reject(error);
      else resolve();
    };
    client.once('ready', () => settle());
    client.on('error', (error: Error & { level?: string }) => {
      client.end();
      if (refusal) return settle(new HostKeyError(refusal));
      const why = error.level === 'client-authentication' ? `authentication as ${target.username} refused (agent or --identity key not authorised)` : error.message;
      settle(new ImagebuildError('SSH_CONNECT_FAILED', `ssh ${target.username}@${name}: ${why}`));
    });
    client.once('close', () => settle(new ImagebuildError('SSH_CONNECT_FAILED', `ssh ${target.username}@${name}: ${refusal ?? 'connection closed'}`)));
    client.connect({
      host: target.host,
      port: target.port,
      username: target.username,
      readyTimeout: 20_000,
      ...identity,
      ...(serverHostKey.length > 0 ? { algorithms: { serverHostKey: serverHostKey as never } } : {}),
      hostVerifier: (key: Buffer) => {
        const presented = key.toString('base64');
        const verdict = checkHostKey(entries, target.host, target.port, presented);
        const fingerprint = keyFingerprint(presented);
        if (verdict.status === 'match') return true;
        refusal =
          verdict.status === 'unknown'
            ? `host key of ${name} (${fingerprint}) is not in ${knownHostsFile}; check the fingerprint on the host (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub), then add it: ssh-keyscan -p ${target.port} ${target.host} >> ${knownHostsFile}`
            : verdict.status === 'revoked'
              ? `host key of ${name} (${fingerprint}) is marked @revoked in ${knownHostsFile}:${verdict.line}; refusing to connect`
              : `host key of ${name} CHANGED: it presented ${fingerprint}, but ${knownHostsFile} (line ${verdict.lines.join(', ')}) has another key — possibly an attack, possibly a reinstalled host; remove the old line only after checking`;
        return false;
      },
    });
  });

  let sftp: SFTPWrapper | undefined;
  const getSftp = async (): Promise<SFTPWrapper> => {
    sftp ??= await new Promise<SFTPWrapper>((resolve, reject) => client.sftp((error, s) => (error ? reject(error) : resolve(s))));
    return sftp;
  };
  const channel = (command: string) => new Promise<ClientChannel>((resolve, reject) => client.exec(command, (error, stream) => (error ? reject(error) : resolve(stream))));

  const host: RemoteHost = {
    name: `${target.username}@${name}`,
    async run(command) {
      let stdout = '';
      let stderr = '';
      const result = await host.stream(command, (line, from) => {
        if (from === 'stdout') stdout += `${line}\n`;
        else stderr += `${line}\n`;
      });
      return { ...result, stdout, stderr };
    },
    async stream(command, onLine) {
      const stream = await channel(command);
      return new Promise((resolve) => {
        const pending = { stdout: '', stderr: '' };
        const feed = (from: 'stdout' | 'stderr') => (chunk: Buffer) => {
          const lines = (pending[from] + chunk.toString()).split('\n');
          pending[from] = lines.pop() ?? '';
          for (const line of lines) onLine(line.replace(/\r$/, ''), from);
        };
        stream.on('data', feed('stdout'));
        stream.stderr.on('data', feed('stderr'));
        let exit: { code: number | null; signal?: string } = { code: null };
        stream.on('exit', (code: number | null, signal?: string) => {
          exit = { code, ...(signal ? { signal } : {}) };
        });
        stream.on('close', () => {
          for (const from of ['stdout', 'stderr'] as const) if (pending[from] !== '') onLine(pending[from], from);
          resolve(exit);
        });
      });
    },
    async uploadFile(localPath, remotePath) {
      const s = await getSftp();
      const mode = (await stat(localPath)).mode & 0o777;
      await new Promise<void>((resolve, reject) => s.fastPut(localPath, remotePath, { mode }, (error) => (error ? reject(error) : resolve())));
    },
    async uploadTree(localDir, remoteDir) {
      const names = (await readdir(localDir, { recursive: true })).map(String).sort();
      const dirs = new Set<string>([remoteDir]);
      const files: string[] = [];
      for (const name of names) {
        const rel = relative(localDir, join(localDir, name)).split(sep).join('/');
        if ((await stat(join(localDir, name))).isDirectory()) dirs.add(posix.join(remoteDir, rel));
        else files.push(rel);
      }
      const made = await host.run(`mkdir -p ${[...dirs].map((d) => `'${d.replace(/'/g, `'\\''`)}'`).join(' ')}`);
      if (made.code !== 0) throw new ImagebuildError('REMOTE_FAILED', `${host.name}: mkdir ${remoteDir} failed: ${firstLine(made.stderr.trim()) || `exit ${made.code}`}`);
      for (const rel of files) await host.uploadFile(join(localDir, ...rel.split('/')), posix.join(remoteDir, rel));
      return files.length;
    },
    async downloadTree(remoteDir, localDir, include = () => true) {
      const s = await getSftp();
      const listing = await host.run(`cd '${remoteDir.replace(/'/g, `'\\''`)}' && find . -type f -print`);
      if (listing.code !== 0) throw new ImagebuildError('REMOTE_FAILED', `${host.name}: cannot list ${remoteDir}: ${firstLine(listing.stderr.trim()) || `exit ${listing.code}`}`);
      const files = listing.stdout
        .split('\n')
        .filter((l) => l.startsWith('./'))
        .map((l) => l.slice(2))
        .filter(include);
      for (const rel of files) {
        const target = join(localDir, ...rel.split('/'));
        await mkdir(dirname(target), { recursive: true });
        await new Promise<void>((resolve, reject) => s.fastGet(posix.join(remoteDir, rel), target, (error) => (error ? reject(error) : resolve())));
      }
      return files.length;
    },
    close() {
      sftp?.end();
      client.end();
    },
  };
  return host;
}
