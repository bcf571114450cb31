import { spawn } from 'node:child_process';

/** A running watchdog; `cancel()` it once the watched process has ended normally. */
export type OrphanWatchdog = {
  cancel(): void;
  /** Resolves once it knows its victim: at once for a pid or group; for a pid file, once it has read the pid (false: not within 10 s). */
  readonly armed: Promise<boolean>;
};

// Waits for EOF on stdin, then stops $1 (a pid, or -pgid for a whole process group): SIGTERM, and
// SIGKILL if it is still there after $2 tenths of a second. (dash's kill takes no `--`; a negative
// number after the signal names a group.)
const WATCHDOG_SCRIPT =
  'read -r _; kill -TERM "$1" 2>/dev/null || exit 0; i=0; ' +
  'while kill -0 "$1" 2>/dev/null; do [ "$i" -ge "$2" ] && exec kill -KILL "$1"; i=$((i + 1)); sleep 0.1; done';

// The same for a process known by its pid file: the watchdog starts before the process exists (closing the
// window between spawning it and starting a pid watchdog, where a SIGKILL leaves it orphaned). It reads the pid
// as soon as the file appears (up to 10 s) and says so on stdout ("armed"; SIGPIPE ignored, as this process may be
// gone by then and a write to the closed pipe must not kill the watchdog), so a pid file removed later (its
// directory deleted) still leaves it the pid; failing that it waits up to 10 s for the file after EOF. Then it
// stops the process.
const PIDFILE_WAIT_MS = 10_000;
const PIDFILE_WATCHDOG_SCRIPT =
  'trap "" PIPE; i=0; while [ ! -s "$1" ] && [ "$i" -lt 100 ]; do i=$((i + 1)); sleep 0.1; done; p=$(cat "$1" 2>/dev/null); ' +
  '[ -n "$p" ] && echo armed 2>/dev/null; read -r _; if [ -z "$p" ]; then i=0; while [ ! -s "$1" ]; do [ "$i" -ge 100 ] && exit 0; i=$((i + 1)); sleep 0.1; done; p=$(cat "$1"); fi; ' +
  'kill -TERM "$p" 2>/dev/null || exit 0; i=0; ' +
  'while kill -0 "$p" 2>/dev/null; do [ "$i" -ge "$2" ] && exec kill -KILL "$p"; i=$((i + 1)); sleep 0.1; done';

/**
 * Stops a child (or its whole process group) if this process dies before it does — even by SIGKILL or
 * the OOM killer, when no handler of ours runs. The watchdog, in a session of its own, holds the read
 * end of a pipe from this process; the kernel closes our end whenever we die, and the watchdog then
 * sends SIGTERM, and SIGKILL after `graceMs`.
 */
export function startOrphanWatchdog(
  target: { readonly pid: number } | { readonly group: number } | { readonly pidFile: string },
  graceMs: number,
): OrphanWatchdog {
  const byFile = 'pidFile' in target;
  const victim = 'pidFile' in target ? target.pidFile : 'group' in target ? `-${target.group}` : String(target.pid);
  const script = byFile ? PIDFILE_WATCHDOG_SCRIPT : WATCHDOG_SCRIPT;
  const watchdog = spawn('sh', ['-c', script, 'imagebuild-orphan-watchdog', victim, String(Math.ceil(graceMs / 100))], {
    detached: true,
    stdio: ['pipe', byFile ? 'pipe' : 'ignore', 'ignore'],
  });
  watchdog.on('error', () => undefined);
  watchdog.stdin?.on('error', () => undefined);
  watchdog.unref();
  const armed = new Promise<boolean>((resolve) => {
    const out = watchdog.stdout;
    if (!out) return resolve(true);
    const done = (known: boolean) => {
      clearTimeout(timer);
      out.destroy();
      resolve(known);
    };
    // It looks for the file for 10 s, then says nothing until EOF: past that it has not read it.
    const timer = setTimeout(() => done(false), PIDFILE_WAIT_MS + 1_000);
    timer.unref();
    out.once('data', () => done(true));
    out.once('end', () => done(false));
    out.once('error', () => done(false));
    // The pipe must not keep this process alive.
    (out as unknown as { unref?: () => void }).unref?.();
  });
  return { cancel: () => void watchdog.kill('SIGKILL'), armed };
}
