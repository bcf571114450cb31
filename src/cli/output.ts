/** Where the CLI writes: the only module that touches stdout/stderr. Colour only on a TTY and never with NO_COLOR. */
export type Output = {
  readonly color: boolean;
  /** Whether stdout is a terminal (live progress) rather than a pipe or file (plain timestamped lines). */
  readonly interactive: boolean;
  out(line?: string): void;
  err(line?: string): void;
  json(value: unknown): void;
  paint(style: Style, text: string): string;
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

/** Creates the process output; colour follows https://no-color.org and whether stdout is a terminal. */
export function createOutput(
  stdout: NodeJS.WritableStream & { isTTY?: boolean } = process.stdout,
  stderr: NodeJS.WritableStream = process.stderr,
  env: NodeJS.ProcessEnv = process.env,
): Output {
  const color = Boolean(stdout.isTTY) && !('NO_COLOR' in env && env.NO_COLOR !== '') && env.TERM !== 'dumb';
  return {
    color,
    interactive: Boolean(stdout.isTTY),
    out: (line = '') => void stdout.write(`${line}\n`),
    err: (line = '') => void stderr.write(`${line}\n`),
    json: (value) => void stdout.write(`${JSON.stringify(value, null, 2)}\n`),
    paint: (style, text) => (color ? `\u001b[${CODES[style][0]}m${text}\u001b[${CODES[style][1]}m` : text),
  };
}
