import { createWriteStream, type WriteStream } from 'node:fs';
import { processTreeCpuTicks } from '../process/process-tree.js';
import { execa } from 'execa';
import { ToolFailedError } from '../../errors/index.js';

const TAIL_LINES = 20;

/** A step log: every line goes to a file (for ToolFailedError.logPath) and to the caller's `onLine`. */
export type BuildLog = {
  readonly path: string;
  line(text: string): void;
  close(): Promise<void>;
};

/** Opens (appends to) the log file at `path`; lines are also passed to `onLine`. */
export function openBuildLog(path: string, onLine?: (line: string) => void): BuildLog {
  const stream: WriteStream = createWriteStream(path, { flags: 'a' });
  let streamError: Error | null = null;
  // A log that cannot be written must not abort a build that is otherwise fine; onLine still gets every line.
  stream.on('error', (error) => {
    streamError = error;
  });
  return {
    path,
    line(text) {
      if (!streamError) stream.write(`${text}\n`);
      onLine?.(text);
    },
    close() {
      return new Promise((resolve) => {
        stream.end(() => resolve());
      });
    },
  };
}

/** Quotes an argument the way sh would need it, so a logged command line can be pasted back into a shell. */
function quoteForLog(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", `'\\''`)}'`;
}

/** Picks the line that says why a tool failed: mmdebstrap and apt prefix theirs with `E:`. */
function failureReason(lines: readonly string[]): string {
  return lines.find((line) => line.startsWith('E: ')) ?? lines.at(-1) ?? 'no error output';
}

/**
 * How long a bootstrap tool may make no progress before it counts as stalled. Progress is a printed line or CPU
 * time used by the tool's process tree: mmdebstrap runs apt and dpkg behind pipes that buffer their lines, so on a
 * loaded machine it can print nothing for ten minutes while it unpacks (measured: a GPU spec's bootstrap with four
 * other jobs running). The limit follows progress, not wall time: a slow but moving run is never stopped; a tree
 * that neither prints nor computes (a dead mirror connection) is.
 */
export const STALL_LIMIT_MS = 600_000;
/** How often a silent tool's process tree is asked whether it used CPU time. */
const PROGRESS_POLL_MS = 15_000;

/**
 * Runs `tool` (no shell) with stdout and stderr streamed line by line into `log`; returns stdout.
 * A non-zero exit becomes a ToolFailedError with a one-line message, the output's tail and the log path;
 * so does silence for `stallMs` (the tool is stopped).
 */
export async function runLogged(
  log: BuildLog,
  tool: string,
  args: readonly string[],
  options: { input?: string; env?: Record<string, string>; stallMs?: number; pollMs?: number } = {},
): Promise<string> {
  const stallMs = options.stallMs ?? STALL_LIMIT_MS;
  let stalled = false;
  let stallTimer: NodeJS.Timeout | undefined;
  const armStallTimer = () => {
    clearTimeout(stallTimer);
    stallTimer = setTimeout(() => {
      stalled = true;
      subprocess.kill('SIGTERM');
    }, stallMs);
  };
  // A silent tree that still uses CPU time is working, not stalled.
  let lastTicks: number | undefined;
  const poll = setInterval(() => {
    if (subprocess.pid === undefined) return;
    void processTreeCpuTicks(subprocess.pid).then((ticks) => {
      if (ticks !== undefined && lastTicks !== undefined && ticks > lastTicks && !stalled) armStallTimer();
      lastTicks = ticks ?? lastTicks;
    });
  }, Math.min(options.pollMs ?? PROGRESS_POLL_MS, stallMs));
  log.line(`$ ${[tool, ...args].map(quoteForLog).join(' ')}`);
  const tail: string[] = [];
  const errorLines: string[] = [];
  const record = (line: string, isStderr: boolean): void => {
    armStallTimer();
    log.line(line);
    tail.push(line);
    if (tail.length > TAIL_LINES) tail.shift();
    if (isStderr && line.trim() !== '' && errorLines.length < 200) errorLines.push(line.trim());
  };
  const subprocess = execa(tool, args, {
    reject: false,
    stdin: options.input === undefined ? 'ignore' : new TextEncoder().encode(options.input),
    env: { LC_ALL: 'C', ...options.env },
    // Transforms see one line at a time (text mode), so the log and onLine get lines as they are printed.
    stdout: function* (line: unknown) {
      record(String(line), false);
      yield line;
    },
    stderr: function* (line: unknown) {
      record(String(line), true);
      yield line;
    },
  });
  armStallTimer();
  const result = await subprocess.finally(() => {
    clearTimeout(stallTimer);
    clearInterval(poll);
  });
  if (stalled) {
    throw new ToolFailedError(tool, `${tool} printed nothing and used no CPU time for ${stallMs >= 1000 ? `${Math.round(stallMs / 1000)} s` : `${stallMs} ms`} and was stopped as stalled (last line: ${tail.at(-1) ?? 'none'})`, result.exitCode, tail.join('\n'), log.path, { cause: result });
  }
  if (result.exitCode === 0) return result.stdout;
  if (result.code === 'ENOENT') {
    throw new ToolFailedError(tool, `${tool} is not installed (not on PATH)`, undefined, undefined, log.path, { cause: result });
  }
  const status = result.exitCode === undefined ? `killed by ${result.signal ?? 'a signal'}` : `exit ${result.exitCode}`;
  throw new ToolFailedError(tool, `${tool} failed (${status}): ${failureReason(errorLines)}`, result.exitCode, tail.join('\n'), log.path, { cause: result });
}
