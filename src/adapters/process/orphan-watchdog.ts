import { spawn } from 'node:child_process';

/** A running watchdog; `cancel()` it once the watched process has ended normally. */
export type OrphanWatchdog = { cancel(): void };

// Waits for EOF on stdin, then stops $1 (a pid, or -pgid for a whole process group): SIGTERM, and
// SIGKILL if it is still there after $2 tenths of a second. (dash's kill takes no `--`; a negative
// number after the signal names a group.)
const WATCHDOG_SCRIPT =
  'read -r _; kill -TERM "$1" 2>/dev/null || exit 0; i=0; ' +
  'while kill -0 "$1" 2>/dev/null; do [ "$i" -ge "$2" ] && exec kill -KILL "$1"; i=$((i + 1)); sleep 0.1; done';

/**
 * Stops a child (or its whole process group) if this process dies before it does — even by SIGKILL or
 * the OOM killer, when no handler of ours runs. The watchdog, in a session of its own, holds the read
 * end of a pipe from this process; the kernel closes our end whenever we die, and the watchdog then
 * sends SIGTERM, and SIGKILL after `graceMs`.
 */
export function startOrphanWatchdog(target: { readonly pid: number } | { readonly group: number }, graceMs: number): OrphanWatchdog {
  const victim = 'group' in target ? `-${target.group}` : String(target.pid);
  const watchdog = spawn('sh', ['-c', WATCHDOG_SCRIPT, 'imagebuild-orphan-watchdog', victim, String(Math.ceil(graceMs / 100))], {
    detached: true,
    stdio: ['pipe', 'ignore', 'ignore'],
  });
  watchdog.on('error', () => undefined);
  watchdog.stdin?.on('error', () => undefined);
  watchdog.unref();
  return { cancel: () => void watchdog.kill('SIGKILL') };
}
