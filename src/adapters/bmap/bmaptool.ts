import { execa } from 'execa';
import { ToolFailedError } from '../../errors/index.js';

// bmaptool (Debian's bmap-tools): a block map lists the ranges of a raw image that hold data, with a
// SHA-256 of each, so `bmaptool copy` writes (and checks) only those instead of the whole disk.

const TOOL = 'bmaptool';
const MISSING = `${TOOL} is not installed (not on PATH); install the bmap-tools package (apt-get install bmap-tools)`;

async function runBmaptool(args: readonly string[]): Promise<string> {
  // LC_ALL=C and no terminal: plain messages for the one-line error (bmaptool colours ERROR on a terminal).
  const result = await execa(TOOL, args, { reject: false, stdin: 'ignore', env: { LC_ALL: 'C', TERM: 'dumb' } });
  if (result.exitCode === 0) return result.stdout;
  if (result.code === 'ENOENT') throw new ToolFailedError(TOOL, MISSING, undefined, undefined, undefined, { cause: result });
  // eslint-disable-next-line no-control-regex -- bmaptool paints its ERROR label with ANSI codes even when told not to
  const lines = `${result.stderr}\n${result.stdout}`.replace(/\u001b\[[0-9;]*m/g, '').split('\n').map((line) => line.trim()).filter((line) => line !== '');
  const reason = lines.find((line) => line.includes('ERROR')) ?? lines.at(-1) ?? (result.signal ? `killed by ${result.signal}` : 'no error output');
  throw new ToolFailedError(TOOL, `${TOOL} ${args[0] ?? ''} failed (exit ${result.exitCode ?? '?'}): ${reason}`, result.exitCode, lines.slice(-20).join('\n'));
}

/** Refuses early, with what to install, when bmaptool is missing; returns its version line. */
export async function requireBmaptool(): Promise<string> {
  return (await runBmaptool(['--version'])).trim();
}

/** Writes the block map of the raw image `image` to `dest` (`bmaptool create`): the mapped ranges and their SHA-256. */
export async function createBlockMap(image: string, dest: string): Promise<void> {
  await runBmaptool(['create', '--output', dest, image]);
}
