import { availableParallelism, cpus, release, totalmem } from 'node:os';
import { PROJECT_ROOT } from './bench-project.js';
import { commandPath, runCommand } from './measure.js';

/** What the numbers were measured on: they only compare within one run, but regressions need the context. */
export type MachineDescription = Readonly<Record<string, string>>;

async function firstLine(command: string, args: readonly string[], pattern?: RegExp): Promise<string> {
  if (!(await commandPath(command))) return 'not installed';
  const run = await runCommand(command, args, { check: false, env: { ...process.env, CHECKPOINT_DISABLE: '1' } });
  const text = `${run.stdout}\n${run.stderr}`;
  const line = text.split('\n').find((l) => l.trim() !== '' && (!pattern || pattern.test(l)));
  return line?.trim() ?? 'unknown';
}

/** nproc, RAM, CPU model, kernel and the versions of every tool a figure runs. */
export async function describeMachine(): Promise<MachineDescription> {
  const commit = await runCommand('git', ['rev-parse', '--short', 'HEAD'], { cwd: PROJECT_ROOT, check: false });
  const dirty = await runCommand('git', ['status', '--porcelain', '--', 'src', 'bin', 'package.json'], { cwd: PROJECT_ROOT, check: false });
  return {
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    commit: commit.exitCode === 0 ? `${commit.stdout.trim()}${dirty.stdout.trim() ? ' (src has uncommitted changes)' : ''}` : 'unknown',
    nproc: String(availableParallelism()),
    ram: `${(totalmem() / 1024 ** 3).toFixed(1)} GiB`,
    cpu: cpus()[0]?.model.trim() ?? 'unknown',
    kernel: `Linux ${release()}`,
    node: process.version,
    packer: await firstLine('packer', ['version']),
    'qemu-img': await firstLine('qemu-img', ['--version']),
    ansible: await firstLine('ansible', ['--version']),
    sha256sum: await firstLine('sha256sum', ['--version']),
    aws: await firstLine('aws', ['--version']),
  };
}
