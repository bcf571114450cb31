import { createWriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { finished } from 'node:stream/promises';
import { execa } from 'execa';
import { FileAccessError, ToolFailedError } from '../../errors/index.js';
import { describeFsError } from '../fs/describe-fs-error.js';
import { startOrphanWatchdog } from '../process/orphan-watchdog.js';

export type PackerBuildInput = {
  /** Directory of the rendered unit (holds `<unit>.pkr.hcl`, vars.yml, checks.json). */
  readonly templateDir: string;
  readonly templateFile: string;
  /** Values for the template's variables, passed as `-var name=value` (paths and public keys: never secrets). */
  readonly vars: Readonly<Record<string, string>>;
  /** Everything Packer prints is appended here. */
  readonly logFile: string;
  /** Extra environment, e.g. PATH with the qemu-img shim first. */
  readonly env?: Readonly<Record<string, string>>;
  readonly signal?: AbortSignal;
  readonly onLine?: (line: string) => void;
  /** How long Packer gets to clean up (stop QEMU, delete its output) after SIGTERM before the group is killed. */
  readonly killGraceMs?: number;
};

export type PackerBuildResult = { readonly durationS: number };

/** Lines of the log shown when Packer fails. */
const TAIL_LINES = 25;

// imagebuild's own secrets (store credentials, the shared build key's path): a build needs none of
// them, and Packer would hand them on to Ansible and every provisioner it starts.
const WITHHELD_FROM_PACKER = new Set(['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_SECURITY_TOKEN', 'IMAGEBUILD_BUILD_KEY_FILE']);

function withoutSecrets(env: NodeJS.ProcessEnv): Record<string, string> {
  return Object.fromEntries(Object.entries(env).filter((entry): entry is [string, string] => entry[1] !== undefined && !WITHHELD_FROM_PACKER.has(entry[0])));
}

/**
 * Runs `packer build` on one rendered unit in its own process group, streaming its output to the log
 * and to `onLine`. Aborting sends SIGTERM to the whole group (Packer stops QEMU and removes its output
 * directory), then SIGKILL after the grace period, so no QEMU outlives the build — nor this process:
 * a watchdog stops the group the same way if imagebuild dies, even by SIGKILL.
 */
export async function runPackerBuild(input: PackerBuildInput): Promise<PackerBuildResult> {
  const started = Date.now();
  const log = createWriteStream(input.logFile, { flags: 'a' });
  // A log that cannot be written (a full disk) fails this build with a message; unhandled, the
  // stream's 'error' event would crash imagebuild with a stack trace and leave its lock behind.
  let logError: NodeJS.ErrnoException | undefined;
  log.on('error', (error: NodeJS.ErrnoException) => {
    logError ??= error;
  });
  const args = ['build', '-color=false', '-timestamp-ui', ...Object.entries(input.vars).flatMap(([k, v]) => ['-var', `${k}=${v}`]), input.templateFile];
  const child = execa('packer', args, {
    cwd: input.templateDir,
    env: { ...withoutSecrets(process.env), CHECKPOINT_DISABLE: '1', PACKER_NO_COLOR: '1', ...input.env },
    extendEnv: false,
    detached: true,
    all: true,
    buffer: false,
    reject: false,
    stdin: 'ignore',
  });

  const watchdog = child.pid === undefined ? undefined : startOrphanWatchdog({ group: child.pid }, input.killGraceMs ?? 30_000);

  let pending = '';
  child.all?.on('data', (chunk: Buffer) => {
    if (logError === undefined) log.write(chunk);
    pending += chunk.toString('utf8');
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) input.onLine?.(line);
  });

  const killGroup = (signal: NodeJS.Signals) => {
    if (child.pid === undefined) return;
    try {
      process.kill(-child.pid, signal);
    } catch {
      // The group is already gone.
    }
  };
  let killTimer: NodeJS.Timeout | undefined;
  const onAbort = () => {
    killGroup('SIGTERM');
    killTimer = setTimeout(() => killGroup('SIGKILL'), input.killGraceMs ?? 30_000);
  };
  if (input.signal?.aborted) onAbort();
  input.signal?.addEventListener('abort', onAbort, { once: true });

  let result: Awaited<typeof child>;
  try {
    result = await child;
  } finally {
    input.signal?.removeEventListener('abort', onAbort);
    if (killTimer) clearTimeout(killTimer);
    // Packer may leave QEMU behind when it is killed hard; make sure the whole group is gone.
    killGroup('SIGKILL');
    watchdog?.cancel();
    if (pending) input.onLine?.(pending);
    log.end();
    await finished(log).catch(() => undefined);
  }

  if (result.failed || result.exitCode !== 0) {
    const tail = await tailOf(input.logFile, TAIL_LINES);
    if (input.signal?.aborted) {
      throw new ToolFailedError('packer', `packer build ${input.templateFile} was interrupted; log: ${input.logFile}`, result.exitCode, tail, input.logFile);
    }
    if (logError) throw logWriteError(input, logError, `; packer exited with ${result.exitCode ?? result.signal}`);
    const reason = result.code === 'ENOENT' ? 'packer is not installed (not on PATH)' : `exited with ${result.exitCode ?? result.signal}`;
    throw new ToolFailedError('packer', `packer build ${input.templateFile} failed: ${reason}; log: ${input.logFile}`, result.exitCode, tail, input.logFile);
  }
  if (logError) throw logWriteError(input, logError, '');
  return { durationS: (Date.now() - started) / 1000 };
}

function logWriteError(input: PackerBuildInput, error: NodeJS.ErrnoException, outcome: string): FileAccessError {
  return new FileAccessError(`packer build ${input.templateFile}: cannot write its log ${input.logFile}: ${describeFsError(error)}${outcome}`, { cause: error });
}

/** The last `count` lines of a text file (empty if unreadable). */
export async function tailOf(path: string, count: number): Promise<string> {
  try {
    const lines = (await readFile(path, 'utf8')).trimEnd().split('\n');
    return lines.slice(-count).join('\n');
  } catch {
    return '';
  }
}
