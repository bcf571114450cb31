import { keyBlobFingerprint } from '../../core/remote/known-hosts.js';
import { readFile } from 'node:fs/promises';
import type { Client, ConnectConfig } from 'ssh2';

export type SshTarget = { readonly host: string; readonly port: number; readonly username: string; readonly privateKey?: string };

export type SshSession = {
  /** SHA-256 fingerprint (base64, as OpenSSH prints it) of the server's host key. */
  readonly hostKeySha256: string;
  exec(command: string, options?: { timeoutMs?: number }): Promise<{ code: number | null; stdout: string; stderr: string }>;
  upload(localPath: string, remotePath: string, mode?: number): Promise<void>;
  close(): void;
};

export type SshAttempt = { readonly ok: true; readonly session: SshSession } | { readonly ok: false; readonly reason: string; readonly hostKeySha256: string | null };

/** Connects with ssh2 (loaded only here, so commands that never SSH stay fast); authentication failure is a result, not an exception. */
export async function connectSsh(target: SshTarget, options: { readyTimeoutMs?: number } = {}): Promise<SshAttempt> {
  const { Client: SshClient } = await import('ssh2');
  const client: Client = new SshClient();
  let hostKeySha256: string | null = null;
  const config: ConnectConfig = {
    host: target.host,
    port: target.port,
    username: target.username,
    readyTimeout: options.readyTimeoutMs ?? 20_000,
    // The VM is ours and new (fresh host keys on first boot): record the key instead of trusting a known_hosts file.
    hostVerifier: (key: Buffer) => {
      hostKeySha256 = keyBlobFingerprint(key);
      return true;
    },
    ...(target.privateKey ? { privateKey: await readFile(target.privateKey) } : { authHandler: ['none'] as never }),
  };
  return new Promise((resolve) => {
    let settled = false;
    const settle = (attempt: SshAttempt) => {
      if (settled) return;
      settled = true;
      resolve(attempt);
    };
    client.once('ready', () =>
      settle({
        ok: true,
        session: {
          hostKeySha256: hostKeySha256 ?? 'unknown',
          exec: (command, execOptions = {}) => execCommand(client, command, execOptions.timeoutMs ?? 600_000),
          upload: (localPath, remotePath, mode) => upload(client, localPath, remotePath, mode),
          close: () => client.end(),
        },
      }),
    );
    // ssh2 can emit more than one error for a dying connection; every one must be handled.
    client.on('error', (error: Error & { level?: string }) => {
      client.end();
      settle({ ok: false, reason: error.level === 'client-authentication' ? 'authentication refused' : error.message, hostKeySha256 });
    });
    client.once('close', () => settle({ ok: false, reason: 'connection closed', hostKeySha256 }));
    client.connect(config);
  });
}

function execCommand(client: Client, command: string, timeoutMs: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    client.exec(command, (error, stream) => {
      if (error) return reject(error);
      let stdout = '';
      let stderr = '';
      const timer = setTimeout(() => {
        stream.close();
        reject(new Error(`ssh command timed out after ${timeoutMs / 1000} s: ${command}`));
      }, timeoutMs);
      stream.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      stream.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      stream.on('close', (code: number | null) => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr });
      });
    });
  });
}

function upload(client: Client, localPath: string, remotePath: string, mode = 0o644): Promise<void> {
  return new Promise((resolve, reject) => {
    client.sftp((error, sftp) => {
      if (error) return reject(error);
      sftp.fastPut(localPath, remotePath, { mode }, (putError) => {
        sftp.end();
        if (putError) reject(putError);
        else resolve();
      });
    });
  });
}

/** Retries a connection until the guest's sshd answers (a booting VM refuses or resets connections first). */
export async function waitForSsh(target: SshTarget, deadlineMs: number, isAlive: () => boolean = () => true): Promise<SshAttempt> {
  let last: SshAttempt = { ok: false, reason: 'no attempt', hostKeySha256: null };
  while (Date.now() < deadlineMs && isAlive()) {
    last = await connectSsh(target, { readyTimeoutMs: 15_000 });
    if (last.ok || last.hostKeySha256 !== null) return last;
    await new Promise((r) => setTimeout(r, 2000));
  }
  return last;
}
