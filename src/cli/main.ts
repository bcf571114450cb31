import { parseArgs } from 'node:util';
import { describeFsError } from '../adapters/fs/describe-fs-error.js';
import { firstLine, ImagebuildError, INTERNAL_ERROR_EXIT, oneLine, SpecInvalidError, UsageError } from '../errors/index.js';
import type { Command } from './command.js';
import { COMMANDS } from './command-registry.js';
import { createOutput, type Output } from './output.js';
import { quoteInput } from './flags.js';
import { packageVersion } from '../adapters/tools/package-version.js';


function mainHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    'imagebuild — build versioned golden VM images (qcow2) for GPU workstations with Packer and Ansible',
    '',
    'Usage: imagebuild <command> [options]',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Options:',
    '  -h, --help     show help (also `imagebuild <command> --help`)',
    '  -V, --version  print the imagebuild version',
    '  --debug        on failure, also print the cause chain and stack',
    '',
    'Environment:',
    '  IMAGEBUILD_SPEC            default spec file',
    '  IMAGEBUILD_CACHE_DIR       overrides the spec\'s cache.dir (e.g. outside a CI workspace); relative: to the working directory',
    '  IMAGEBUILD_OUTPUT_DIR      overrides the spec\'s output.dir; relative: to the working directory',
    '  IMAGEBUILD_BUILD_KEY_FILE  private SSH key every runner of a shared layer cache uses as its build key',
    '  AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, …  S3 stores (artifacts.store, cache.store)',
    '  GITHUB_ACTIONS=true        groups, annotations and a step summary in GitHub Actions',
    '  NO_COLOR                   plain output',
    'Relative directories in a spec (cache.dir, output.dir, a filesystem store\'s dir) are relative to the spec file.',
    'Exit codes: 0 ok, 1 failure, 2 bad input or usage, 130 interrupted, 70 internal error; each error code: docs/errors.md.',
    'A stdout that cannot take the output (a full disk) is a failure (1); one whose reader left (| head) is not.',
  ].join('\n');
}

function commandHelp(command: Command): string {
  const flags: [string, string][] = Object.entries(command.flags).map(([name, flag]) => [`--${name}${flag.value ? ` ${flag.value}` : ''}`, flag.help]);
  flags.push(['-h, --help', 'show this help']);
  const width = Math.max(...flags.map(([f]) => f.length));
  return [
    `Usage: ${command.usage}`,
    '',
    command.summary.charAt(0).toUpperCase() + command.summary.slice(1) + '.',
    '',
    command.description,
    '',
    'Options:',
    ...flags.map(([flag, help]) => `  ${flag.padEnd(width)}  ${help}`),
  ].join('\n');
}

/**
 * Runs the CLI with the given arguments (without node and script) and returns the exit code; never calls process.exit.
 * Output that stdout could not take (a full disk, /dev/full) fails the command with one line; a closed reader does not.
 */
export async function runCli(argv: readonly string[], output: Output = createOutput(), cwd: string = process.cwd()): Promise<number> {
  const debug = argv.includes('--debug');
  let code: number;
  try {
    code = await runCommand(argv.filter((a) => a !== '--debug'), output, cwd);
  } catch (error) {
    code = reportError(error, output, debug);
  }
  const failure = await output.finish?.();
  // A non-zero code already said why (the error may be this very failure, thrown by the next write).
  if (failure === undefined || code !== 0) return code;
  output.err(`${output.paint('red', 'error:')} stdout: ${failure}`);
  return 1;
}

async function runCommand(args: readonly string[], output: Output, cwd: string): Promise<number> {
  const [first, ...rest] = args;
  if (first === undefined || first === '--help' || first === '-h' || first === 'help') {
    const topic = first === 'help' ? rest[0] : undefined;
    const command = topic === undefined ? undefined : findCommand(topic);
    output.out(command ? commandHelp(command) : mainHelp());
    return 0;
  }
  if (first === '--version' || first === '-V') {
    output.out(packageVersion());
    return 0;
  }
  const command = findCommand(first);
  if (rest.includes('--help') || rest.includes('-h')) {
    output.out(commandHelp(command));
    return 0;
  }
  const { values, positionals } = parseCommandArgs(command, rest);
  if (positionals.length < command.positionals.min || positionals.length > command.positionals.max) {
    const expected = command.positionals.min === command.positionals.max ? `${command.positionals.min}` : `${command.positionals.min}-${command.positionals.max}`;
    // The first usage line only: an error is one line (see --help for the others).
    throw new UsageError(`${command.name}: expected ${expected} argument(s), got ${positionals.length}; usage: ${firstLine(command.usage)} (see imagebuild ${command.name} --help)`);
  }
  return await command.run({ positionals, flags: values, cwd, output });
}

function findCommand(name: string): Command {
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) {
    throw new UsageError(`unknown command ${quoteInput(name)}; valid commands: ${COMMANDS.map((c) => c.name).join(', ')} (see imagebuild --help)`);
  }
  return command;
}

function parseCommandArgs(command: Command, args: readonly string[]) {
  // Every string option is collected in full: a repeat is either joined (a list option) or refused, never
  // silently dropped (`flash --device A --device B` must not write to B alone).
  const options = Object.fromEntries(Object.entries(command.flags).map(([name, flag]) => [name, { type: flag.type, multiple: flag.type === 'string' }]));
  let parsed;
  try {
    parsed = parseArgs({ args: [...args], options, allowPositionals: true, strict: true });
  } catch (error) {
    const message = firstLine(error);
    const valid = Object.keys(command.flags).map((f) => `--${f}`);
    throw new UsageError(`${command.name}: ${message}; valid options: ${valid.length > 0 ? valid.join(', ') : 'none'} (see imagebuild ${command.name} --help)`);
  }
  const values: Record<string, string | boolean> = {};
  for (const [name, value] of Object.entries(parsed.values)) {
    if (!Array.isArray(value)) {
      if (value !== undefined) values[name] = value;
      continue;
    }
    if (value.length > 1 && command.flags[name]?.list !== true) {
      throw new UsageError(`${command.name}: --${name} is given ${value.length} times (${value.map((v) => quoteInput(String(v))).join(', ')}); give it once`);
    }
    values[name] = value.join(',');
  }
  return { values, positionals: parsed.positionals };
}

function reportError(error: unknown, output: Output, debug: boolean): number {
  if (error instanceof SpecInvalidError) {
    for (const line of error.problems) output.err(`${output.paint('red', 'error:')} ${line}`);
    for (const line of error.hints) output.err(`${output.paint('cyan', 'hint:')} ${line}`);
    return error.exitCode;
  }
  if (error instanceof ImagebuildError) {
    for (const line of error.message.split('\n')) output.err(`${output.paint('red', 'error:')} ${line}`);
    if (debug) output.err(`code: ${error.code} (exit ${error.exitCode}; docs/errors.md lists every code)`);
    if (debug && error.cause) output.err(String(error.cause instanceof Error ? error.cause.stack : error.cause));
    return error.exitCode;
  }
  const environmental = environmentalError(error);
  if (environmental) {
    output.err(`${output.paint('red', 'error:')} ${environmental}`);
    if (debug && error instanceof Error) output.err(String(error.stack));
    return 1;
  }
  output.err(`${output.paint('red', 'internal error:')} ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  output.err('This is a bug in imagebuild; please report it with the command line and the spec.');
  return INTERNAL_ERROR_EXIT;
}

/** What the machine did not allow (a full disk, a read-only or forbidden path): the user's to fix, not a bug. */
const ENVIRONMENT_ERRORS: Readonly<Record<string, string>> = {
  ENOSPC: 'no space left on device (ENOSPC); free some space and re-run the same command to resume',
  EDQUOT: 'disk quota exceeded (EDQUOT); free some space and re-run the same command to resume',
  EROFS: 'read-only file system (EROFS); point the cache or output at a writable directory',
  EACCES: 'permission denied (EACCES); check the ownership and mode of the path',
  EPERM: 'operation not permitted (EPERM); check the ownership and mode of the path',
  EMFILE: 'too many open files (EMFILE); raise the limit (ulimit -n)',
  ENOTDIR: 'a part of the path is not a directory (ENOTDIR); point the spec, cache or output at a directory',
  ELOOP: 'too many levels of symbolic links (ELOOP); a link in the path points back at itself',
  EISDIR: 'is a directory where a file was expected (EISDIR)',
  EEXIST: 'already exists (EEXIST); a file may stand where a directory must go',
  ENAMETOOLONG: 'file name too long (ENAMETOOLONG); use a shorter path',
  EIO: 'input/output error (EIO); check the disk',
  EFBIG: 'file too large for the filesystem (EFBIG)',
};

/**
 * A system error on a path or a system call is the machine's state, not a bug in imagebuild: one line
 * naming the path (the known codes with what to do about it), exit 1.
 */
function environmentalError(error: unknown): string | undefined {
  if (!(error instanceof Error)) return undefined;
  const { code, path, syscall } = error as NodeJS.ErrnoException;
  if (typeof code !== 'string') return undefined;
  const what = ENVIRONMENT_ERRORS[code] ?? (typeof syscall === 'string' ? describeFsError(error) : undefined);
  if (what === undefined) return undefined;
  return oneLine(`${path ? `${path}: ` : ''}${what}${syscall ? ` (during ${syscall})` : ''}`);
}
