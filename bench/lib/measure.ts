import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';

/** The median of a non-empty list of numbers (mean of the middle two for an even count). */
export function median(values: readonly number[]): number {
  if (values.length === 0) throw new Error('median of nothing');
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * The median of per-round ratios `numerators[i] / denominators[i]`, where round i ran both sides back to
 * back: a load spike from a neighbour then hits one pair, not one side's median.
 */
export function pairedRatio(numerators: readonly number[], denominators: readonly number[]): number {
  if (numerators.length !== denominators.length) throw new Error('paired ratio of lists of different lengths');
  return median(numerators.map((n, i) => n / denominators[i]!));
}

/** What one child process did: wall time from spawn to exit, its output, and (when asked) its peak RSS. */
export type CommandRun = {
  readonly seconds: number;
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
  /** Peak resident set of the process (largest of it and its children), bytes; undefined unless measured. */
  readonly maxRssBytes?: number;
  /** User plus system CPU time of the process and its children, seconds; measured with the RSS. */
  readonly cpuSeconds?: number;
};

export type CommandOptions = {
  readonly cwd?: string;
  /** The whole environment of the child (not merged). */
  readonly env?: NodeJS.ProcessEnv;
  /** Measure peak RSS and CPU time through GNU time (`/usr/bin/time -f '%M %U %S'`); `rssDir` holds its report file. */
  readonly rssDir?: string;
  /** Throw when the command exits non-zero (default true). */
  readonly check?: boolean;
};

const GNU_TIME = '/usr/bin/time';
let rssSerial = 0;

/** Whether peak RSS of a child can be measured here (GNU time installed). */
export function canMeasureRss(): boolean {
  return existsSync(GNU_TIME);
}

/**
 * Runs a command to completion and times it with the monotonic clock. Output is captured (never shown)
 * so a chatty tool costs the same as a quiet one. With `rssDir`, the command runs under GNU time, which
 * adds one fork and exec (well under a millisecond) to the wall time: callers wrap both sides of a
 * comparison the same way.
 */
export async function runCommand(command: string, args: readonly string[], options: CommandOptions = {}): Promise<CommandRun> {
  const rssFile = options.rssDir && canMeasureRss() ? join(options.rssDir, `rss-${process.pid}-${++rssSerial}.txt`) : undefined;
  const [file, argv] = rssFile ? [GNU_TIME, ['-f', '%M %U %S', '-o', rssFile, command, ...args]] : [command, [...args]];
  const started = process.hrtime.bigint();
  const child = spawn(file, argv, { cwd: options.cwd, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  const stdout: Buffer[] = [];
  const stderr: Buffer[] = [];
  child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
  child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
  const exitCode = await new Promise<number>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const run: CommandRun = { seconds, exitCode, stdout: Buffer.concat(stdout).toString('utf8'), stderr: Buffer.concat(stderr).toString('utf8') };
  let usage: { maxRssBytes: number; cpuSeconds: number } | undefined;
  if (rssFile) {
    // GNU time prints "Command exited with non-zero status N" before the values when the command fails.
    const [kib, user, system] = ((await readFile(rssFile, 'utf8')).trim().split('\n').at(-1) ?? '').split(' ').map(Number);
    if (kib !== undefined && user !== undefined && system !== undefined && [kib, user, system].every(Number.isFinite)) {
      usage = { maxRssBytes: kib * 1024, cpuSeconds: user + system };
    }
    await rm(rssFile, { force: true });
  }
  if ((options.check ?? true) && exitCode !== 0) {
    const tail = `${run.stderr}\n${run.stdout}`.trim().split('\n').slice(-15).join('\n');
    throw new Error(`${command} ${args.join(' ')} exited with ${exitCode} (in ${options.cwd ?? process.cwd()}):\n${tail}`);
  }
  return usage === undefined ? run : { ...run, ...usage };
}

/** Times an in-process async function with the monotonic clock; returns its result and the seconds it took. */
export async function timeCall<T>(fn: () => Promise<T>): Promise<{ seconds: number; value: T }> {
  const started = process.hrtime.bigint();
  const value = await fn();
  return { seconds: Number(process.hrtime.bigint() - started) / 1e9, value };
}

/** Whether a command is on PATH (resolved by `sh -c command -v`). */
export async function commandPath(command: string): Promise<string | undefined> {
  const run = await runCommand('sh', ['-c', `command -v ${command}`], { check: false });
  return run.exitCode === 0 ? run.stdout.trim() : undefined;
}

/** Flushes dirty pages so writeback of one measured run does not slow down the next one. */
export async function flushWrites(): Promise<void> {
  await runCommand('sync', []);
}

/** A progress line on stderr (the table goes to stdout). */
export function progress(line: string): void {
  process.stderr.write(`bench: ${line}\n`);
}

/** Seconds for humans: "0.412 s", "12.3 s". */
export function formatSeconds(seconds: number): string {
  return seconds < 10 ? `${seconds.toFixed(3)} s` : `${seconds.toFixed(1)} s`;
}

/** Bytes for humans, binary units. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(value < 10 ? 2 : 1)} ${units[unit]}`;
}

/** A throughput for humans: MiB/s. */
export function formatRate(bytes: number, seconds: number): string {
  return `${(bytes / 1024 / 1024 / seconds).toFixed(0)} MiB/s`;
}
