import { existsSync } from 'node:fs';
import { chmod, cp, mkdir, readdir, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../test/helpers/project-root.js';
import { smallDemoSpec, type ManifestChanges } from '../../test/helpers/spec-builders.js';
import { runCommand, type CommandRun } from './measure.js';

export { PROJECT_ROOT };

/** What `npm pack` ships (package.json "files"): the snapshot the CLI figures run. */
const PACKAGE_FILES = ['package.json', 'bin', 'dist', 'templates', 'ansible', 'packer', 'guest', 'manifests', 'schema'];
let packageDir = PROJECT_ROOT;

/**
 * Copies the package as installed (built CLI, templates, roles) into `dir`, node_modules linked, and
 * makes every CLI figure run that copy: others rebuilding dist/ or editing roles in the checkout
 * mid-run would otherwise change layer keys between a build and its re-run.
 */
export async function snapshotPackage(dir: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  for (const name of PACKAGE_FILES) {
    if (existsSync(join(PROJECT_ROOT, name))) await cp(join(PROJECT_ROOT, name), join(dir, name), { recursive: true });
  }
  await symlink(join(PROJECT_ROOT, 'node_modules'), join(dir, 'node_modules'));
  packageDir = dir;
  return dir;
}

/** The package the CLI figures run: the snapshot once taken, else the checkout. */
export function installedPackage(): string {
  return packageDir;
}

/** The built CLI, exactly as users run it. */
export function cliPath(): string {
  return join(packageDir, 'bin/imagebuild.js');
}
/** bench/fixtures/bin: a timing wrapper around the engine tests' fake packer. */
export const BENCH_BIN = join(PROJECT_ROOT, 'bench/fixtures/bin');
export const IMAGE_NAME = 'vault-cube-demo-box';
/**
 * A golden image's virtual disk, for the figures where size matters (no-change rebuild, flatten): the
 * qcow2 chain is sparse, only written clusters take space. Not more: preflight wants about twice the
 * virtual size free before a cold build.
 */
export const VIRTUAL_DISK_GIB = 20;
/** The disk of the other figures' builds (as the engine tests use): preflight then asks for ~9 GiB free, not ~41. */
export const SMALL_DISK_GIB = 4;

/** The demo box as the engine tests build it (TCG, no GPU gates enforced), with a `diskGiB` disk. */
export function benchSpecText(changes: ManifestChanges = [], diskGiB = SMALL_DISK_GIB): string {
  return smallDemoSpec([[['os', 'disk_size_gib'], diskGiB], ...changes]);
}

/** A project directory holding `box.yaml`; builds write `.imagebuild/` and `output/` under it. */
export async function createBenchProject(dir: string, changes: ManifestChanges = [], diskGiB = SMALL_DISK_GIB): Promise<string> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'box.yaml'), benchSpecText(changes, diskGiB));
  return dir;
}

export type BuildRunOptions = {
  /** The fake packer appends "<unit> <start ns> <end ns> <exit>" per invocation here. */
  readonly packerLog?: string;
  /** MiB of data the fake packer writes into the base layer (an image of realistic size). */
  readonly baseDataMiB?: number;
  /** Write the whole process tree's /proc/<pid>/io (children included once reaped) to this file. */
  readonly ioFile?: string;
  /** Run under strace, writing its trace here (not for timed runs). */
  readonly straceFile?: string;
  readonly spec?: string;
  /** Directories put first on PATH, before the bench packer (e.g. a recorded `ansible`). */
  readonly pathPrefix?: string;
};

/** The environment of a build with the bench's fake packer first on PATH. */
export function buildEnv(options: BuildRunOptions = {}): NodeJS.ProcessEnv {
  const path = [options.pathPrefix, BENCH_BIN, process.env.PATH ?? '/usr/bin:/bin'].filter(Boolean).join(':');
  const env: NodeJS.ProcessEnv = { ...process.env, PATH: path, NO_COLOR: '1' };
  delete env.BENCH_PACKER_LOG;
  delete env.BENCH_BASE_DATA_MIB;
  for (const name of Object.keys(env)) if (name.startsWith('FAKE_PACKER_')) delete env[name];
  if (options.packerLog) env.BENCH_PACKER_LOG = options.packerLog;
  if (options.baseDataMiB) env.BENCH_BASE_DATA_MIB = String(options.baseDataMiB);
  return env;
}

/** `imagebuild build v<version>` with the fake packer, in `projectDir`, as a user runs it (no verification boot: the fake layers hold no OS). */
export async function runBuild(projectDir: string, version: string, options: BuildRunOptions = {}): Promise<CommandRun> {
  const cli = ['node', cliPath(), 'build', `v${version}`, '--spec', options.spec ?? 'box.yaml', '--host-profile', 'cpu', '--no-verify'];
  const env = buildEnv(options);
  if (options.straceFile) {
    // -y names each descriptor's file, so reads can be attributed to images; -s 0 keeps the trace small.
    const trace = ['-f', '-qq', '-y', '-s', '0', '-e', 'trace=execve,clone,clone3,fork,vfork,read,pread64,readv,preadv,preadv2', '-o', options.straceFile];
    return runCommand('strace', [...trace, ...cli], { cwd: projectDir, env });
  }
  if (options.ioFile) {
    // A shell waits for the build and then reads its own I/O counters, which include every reaped child.
    const script = 'out=$1; shift; "$@"; status=$?; cat /proc/$$/io >"$out"; exit $status';
    return runCommand('sh', ['-c', script, 'sh', options.ioFile, ...cli], { cwd: projectDir, env });
  }
  return runCommand(cli[0]!, cli.slice(1), { cwd: projectDir, env });
}

/**
 * A directory holding an `ansible` that prints what the real one printed, instantly: with it first on
 * PATH, a command shows what its `ansible --version` probe costs (what caching tool versions would save).
 * Undefined when ansible is not installed.
 */
export async function recordedAnsibleDir(dir: string): Promise<string | undefined> {
  const run = await runCommand('ansible', ['--version'], { check: false }).catch(() => undefined);
  if (!run || run.exitCode !== 0) return undefined;
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'ansible'), `#!/bin/sh\ncat <<'EOF'\n${run.stdout}\nEOF\n`);
  await chmod(join(dir, 'ansible'), 0o755);
  return dir;
}

/** One fake Packer invocation as the bench wrapper logged it. */
export type PackerRun = { readonly unit: string; readonly seconds: number; readonly exitCode: number };

/** The invocations the bench packer wrapper logged, in order; [] when there were none. */
export async function readPackerLog(file: string): Promise<PackerRun[]> {
  if (!existsSync(file)) return [];
  return (await readFile(file, 'utf8'))
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [unit = '?', start = '0', end = '0', exit = '0'] = line.split(' ');
      return { unit, seconds: Number(BigInt(end) - BigInt(start)) / 1e9, exitCode: Number(exit) };
    });
}

/** Reads a `/proc/<pid>/io` dump into its counters. */
export async function readIoCounters(file: string): Promise<Record<string, number>> {
  const counters: Record<string, number> = {};
  for (const line of (await readFile(file, 'utf8')).split('\n')) {
    const [name, value] = line.split(':');
    if (name && value) counters[name.trim()] = Number(value.trim());
  }
  return counters;
}

/** The release directory of a version in a bench project. */
export function versionDir(projectDir: string, version: string): string {
  return join(projectDir, 'output', IMAGE_NAME, `v${version}`);
}

/** A warning when dist/ is older than a source file: the bench measures the built CLI. */
export async function staleDistWarning(): Promise<string | undefined> {
  const entry = join(PROJECT_ROOT, 'dist/cli/main.js');
  if (!existsSync(entry)) throw new Error('dist/cli/main.js is missing: run `npm run build` first (the bench measures the built CLI)');
  const built = (await stat(entry)).mtimeMs;
  const sources = (await readdir(join(PROJECT_ROOT, 'src'), { recursive: true })).map(String).filter((p) => p.endsWith('.ts') && !p.endsWith('.test.ts'));
  const newer: string[] = [];
  for (const path of sources) if ((await stat(join(PROJECT_ROOT, 'src', path))).mtimeMs > built) newer.push(path);
  return newer.length > 0 ? `dist/ is older than ${newer.length} source file(s) (e.g. src/${newer[0]}); run \`npm run build\` to measure the current code` : undefined;
}
