import { createWriteStream, type WriteStream } from 'node:fs';
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
 * Runs `tool` (no shell) with stdout and stderr streamed line by line into `log`; returns stdout.
 * A non-zero exit becomes a ToolFailedError with a one-line message, the output's tail and the log path.
 */
export async function runLogged(
  log: BuildLog,
  tool: string,
  args: readonly string[],
  options: { input?: string; env?: Record<string, string> } = {},
): Promise<string> {
  log.line(`$ ${[tool, ...args].map(quoteForLog).join(' ')}`);
  const tail: string[] = [];
  const errorLines: string[] = [];
  const record = (line: string, isStderr: boolean): void => {
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
  const result = await subprocess;
  if (result.exitCode === 0) return result.stdout;
  if (result.code === 'ENOENT') {
    throw new ToolFailedError(tool, `${tool} is not installed (not on PATH)`, undefined, undefined, log.path, { cause: result });
  }
  const status = result.exitCode === undefined ? `killed by ${result.signal ?? 'a signal'}` : `exit ${result.exitCode}`;
  throw new ToolFailedError(tool, `${tool} failed (${status}): ${failureReason(errorLines)}`, result.exitCode, tail.join('\n'), log.path, { cause: result });
}
