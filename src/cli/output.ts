import { describeFsError } from '../adapters/fs/describe-fs-error.js';
import { FileAccessError } from '../errors/index.js';

/** Where the CLI writes: the only module that touches stdout/stderr. Colour only on a TTY and never with NO_COLOR. */
export type Output = {
  readonly color: boolean;
  /** Whether stdout is a terminal (live progress) rather than a pipe or file (plain timestamped lines). */
  readonly interactive: boolean;
  out(line?: string): void;
  err(line?: string): void;
  json(value: unknown): void;
  paint(style: Style, text: string): string;
  /**
   * Waits until what was written has left (or failed to) and says why stdout could not take it, if it
   * could not: the command's output is then incomplete and it must not exit 0. A closed reader
   * (`| head -1`, EPIPE) is not a failure: the rest is dropped quietly, as other CLIs do.
   */
  finish?(): Promise<string | undefined>;
};

export type Style = 'bold' | 'dim' | 'red' | 'green' | 'yellow' | 'cyan';

const CODES: Record<Style, [number, number]> = {
  bold: [1, 22],
  dim: [2, 22],
  red: [31, 39],
  green: [32, 39],
  yellow: [33, 39],
  cyan: [36, 39],
};

/** A stream the CLI writes to, as far as it needs one: Node's process streams, or a test's capture. */
type OutStream = NodeJS.WritableStream & { isTTY?: boolean; writableNeedDrain?: boolean };

/** Creates the process output; colour follows https://no-color.org and whether stdout is a terminal. */
export function createOutput(stdout: OutStream = process.stdout, stderr: OutStream = process.stderr, env: NodeJS.ProcessEnv = process.env): Output {
  const color = Boolean(stdout.isTTY) && !('NO_COLOR' in env && env.NO_COLOR !== '') && env.TERM !== 'dumb';
  const stdoutState = watchStream(stdout);
  // Nowhere is left to report a failing stderr: what it cannot take is dropped, never thrown.
  const stderrState = watchStream(stderr);
  const write = (text: string) => {
    // The write that failed said so asynchronously; the next one stops the command, so a long run does not go on unheard.
    if (stdoutState.failure) throw new FileAccessError(`stdout: ${stdoutState.failure}`);
    if (!stdoutState.closed) stdout.write(text);
  };
  return {
    color,
    interactive: Boolean(stdout.isTTY),
    out: (line = '') => write(`${line}\n`),
    err: (line = '') => void (stderrState.closed || stderrState.failure ? undefined : stderr.write(`${line}\n`)),
    json: (value) => write(`${JSON.stringify(value, null, 2)}\n`),
    paint: (style, text) => (color ? `\u001b[${CODES[style][0]}m${text}\u001b[${CODES[style][1]}m` : text),
    finish: async () => {
      if (stdout.writableNeedDrain === true && !stdoutState.closed && !stdoutState.failure) {
        await new Promise<void>((resolve) => {
          stdout.once('drain', resolve);
          stdout.once('error', () => resolve());
        });
      }
      // A failed write is reported on a later tick (even a synchronous one to a file such as /dev/full).
      await new Promise<void>((resolve) => setImmediate(resolve));
      return stdoutState.failure;
    },
  };
}

/**
 * Listens for a stream's errors, which would otherwise crash the process with a stack: EPIPE marks it
 * closed (its reader went away), anything else (ENOSPC on a full disk or /dev/full, EIO) records why.
 */
function watchStream(stream: OutStream): { closed: boolean; failure: string | undefined } {
  const state = { closed: false, failure: undefined as string | undefined };
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE' || error.code === 'ERR_STREAM_DESTROYED') state.closed = true;
    else state.failure ??= `cannot write the output: ${describeFsError(error)}; the output is incomplete`;
  });
  return state;
}
