import { execFileSync, spawn } from 'node:child_process';
import { closeSync, existsSync, openSync } from 'node:fs';
import { mkdir, readdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCli, tmpfsUnavailable } from '../helpers/fault-harness.js';
import { FAKE_BUILD_TOOLS, packerRuns } from '../helpers/fake-tools.js';
import { BUILT_CLI } from '../helpers/project-root.js';
import { requireTools } from '../helpers/require-tools.js';
import { smallDemoSpec } from '../helpers/spec-builders.js';
import { makeTempDir } from '../helpers/temp-dir.js';

const hasBuildTools = requireTools('test/faults/env-faults.test.ts', ...FAKE_BUILD_TOOLS);

// The machine saying no: a stdout that cannot take the output (a full disk, /dev/full), a reader that
// went away (`| head -1`), and paths that are files, link loops or on a read-only filesystem. Each is
// one line on stderr and exit 1 (a closed reader: exit 0, nothing printed), never a stack trace or 70;
// a build finds a directory it cannot write in preflight, before the first layer.

const SPEC = ['--spec', 'box.yaml'];

/** Commands that print to stdout, from one line to several kilobytes. */
const PRINTING = [
  ['validate', ...SPEC],
  ['plan', 'v1.0.0', ...SPEC, '--host-profile', 'cpu'],
  ['plan', 'v1.0.0', ...SPEC, '--host-profile', 'cpu', '--json'],
  ['render', ...SPEC, '--out', 'rendered', '--packer-version', '1.6.6'],
  ['schema'],
  ['compat'],
  ['--help'],
  ['--version'],
];

/** The lines of stderr, and whether any is a stack frame or an internal error. */
function errorLines(stderr: string): { lines: string[]; crashed: boolean } {
  const lines = stderr.split('\n').filter(Boolean);
  return { lines, crashed: lines.some((l) => /^\s+at |internal error|Unhandled|node:events/.test(l)) };
}

let work: { dir: string; cleanup: () => Promise<void> };
beforeEach(async () => {
  work = await makeTempDir('imagebuild-fault-env-');
  await writeFile(join(work.dir, 'box.yaml'), smallDemoSpec());
});
afterEach(async () => {
  await work.cleanup();
});

/** Runs the built CLI with stdout on `target` (a file such as /dev/full). */
async function runToFile(args: readonly string[], target: string): Promise<{ exitCode?: number; stderr: string }> {
  // The file itself as the child's stdout (execa's { file } would put a pipe in between).
  const fd = openSync(target, 'w');
  try {
    const child = spawn('node', [BUILT_CLI, ...args], { cwd: work.dir, stdio: ['ignore', fd, 'pipe'], env: { NO_COLOR: '1', PATH: process.env.PATH } });
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exitCode = await new Promise<number | undefined>((resolve) => child.on('close', (code) => resolve(code ?? undefined)));
    return { exitCode, stderr };
  } finally {
    closeSync(fd);
  }
}

describe('a stdout that cannot take the output', () => {
  it.each(PRINTING.map((args) => [args.join(' '), args] as const))('imagebuild %s > /dev/full: one line naming ENOSPC, exit 1', async (_name, args) => {
    const result = await runToFile(args, '/dev/full');

    const { lines, crashed } = errorLines(result.stderr);
    expect(crashed, result.stderr).toBe(false);
    expect(result.exitCode).toBe(1);
    expect(lines.filter((l) => l.startsWith('error:'))).toEqual(['error: stdout: cannot write the output: no space left on device (ENOSPC); the output is incomplete']);
  });

  it.each(PRINTING.map((args) => [args.join(' '), args] as const))('imagebuild %s | (a reader that already left): exits 0 quietly', async (_name, args) => {
    // `true` is gone before node has started, so the first write meets a closed pipe (EPIPE).
    const script = `node "$0" "$@" | true; echo "exit=\${PIPESTATUS[0]}" >&2`;

    const result = await execa('bash', ['-c', script, BUILT_CLI, ...args], { cwd: work.dir, reject: false, env: { NO_COLOR: '1', PATH: process.env.PATH } });

    const { lines, crashed } = errorLines(String(result.stderr));
    expect(crashed, String(result.stderr)).toBe(false);
    expect(lines.filter((l) => l.startsWith('error:'))).toEqual([]);
    expect(lines.at(-1)).toBe('exit=0');
  });

  it('a reader that leaves after the first line (| head -1): exit 0, no error', async () => {
    const script = `node "$0" schema | head -1 >/dev/null; echo "exit=\${PIPESTATUS[0]}" >&2`;

    const result = await execa('bash', ['-c', script, BUILT_CLI], { cwd: work.dir, reject: false, env: { NO_COLOR: '1', PATH: process.env.PATH } });

    expect(String(result.stderr).trim()).toBe('exit=0');
  });
});

describe('paths that are not directories', () => {
  it.each([
    ['a file in the path (ENOTDIR)', async () => writeFile(join(work.dir, 'afile'), 'x').then(() => 'afile/cache'), /afile\/cache\/layers: a part of the path is not a directory \(ENOTDIR\)/],
    ['a link loop (ELOOP)', async () => symlink('loop', join(work.dir, 'loop')).then(() => 'loop/cache'), /loop\/cache\/layers: too many levels of symbolic links \(ELOOP\)/],
  ])('$IMAGEBUILD_CACHE_DIR with %s: plan, cache ls and rollback say so in one line, exit 1', async (_name, make, message) => {
    const cacheDir = await make();

    for (const args of [['plan', 'v1.0.0', ...SPEC], ['cache', 'ls', ...SPEC], ['rollback', '--layer', 'driver', ...SPEC]]) {
      const result = await runCli(args, work.dir, { IMAGEBUILD_CACHE_DIR: cacheDir });

      const { lines, crashed } = errorLines(result.stderr);
      expect(crashed, result.stderr).toBe(false);
      expect(result.exitCode, args.join(' ')).toBe(1);
      expect(lines.filter((l) => l.startsWith('error:')), args.join(' ')).toEqual([expect.stringMatching(message)]);
    }
  });
});

describe.skipIf(!hasBuildTools)('a build whose directories cannot be written is refused in preflight, before the first layer', () => {
  const build = ['build', 'v1.0.0', ...SPEC, '--until-layer', 'base', '--host-profile', 'cpu', '--no-verify'];

  it.each([
    ['IMAGEBUILD_OUTPUT_DIR at a file', async () => ({ IMAGEBUILD_OUTPUT_DIR: await writeFile(join(work.dir, 'out-file'), 'x').then(() => 'out-file') }), /^error: preflight: output directory \(output.dir or \$IMAGEBUILD_OUTPUT_DIR\): .*out-file is a file, so .*out-file\/vault-cube-demo-box cannot be made below it; point it at a writable directory$/],
    ['IMAGEBUILD_OUTPUT_DIR below a file', async () => ({ IMAGEBUILD_OUTPUT_DIR: await writeFile(join(work.dir, 'out-file'), 'x').then(() => 'out-file/deeper') }), /^error: preflight: output directory .*: .*out-file is a file, so .*out-file\/deeper\/vault-cube-demo-box cannot be made below it; point it at a writable directory$/],
    ['IMAGEBUILD_OUTPUT_DIR in a link loop', async () => ({ IMAGEBUILD_OUTPUT_DIR: await symlink('loop', join(work.dir, 'loop')).then(() => 'loop/out') }), /^error: .*loop\/out\/vault-cube-demo-box.*too many (levels of )?symbolic links.*\(ELOOP\)/],
    ['the output name taken by a file', async () => {
      await mkdir(join(work.dir, 'output'));
      await writeFile(join(work.dir, 'output', 'vault-cube-demo-box'), 'x');
      return {};
    }, /^error: preflight: output directory .*: .*output\/vault-cube-demo-box is not a directory; point it at a writable directory$/],
  ])('%s: one preflight line, exit 1, within seconds; no layer ran, nothing written to the output', async (_name, make, message) => {
    const env = await make();
    const record = join(work.dir, 'packer-runs.txt');

    const started = Date.now();
    const result = await runCli(build, work.dir, { ...env, FAKE_PACKER_RECORD: record });
    const seconds = (Date.now() - started) / 1000;

    const { lines, crashed } = errorLines(result.stderr);
    expect(crashed, result.stderr).toBe(false);
    expect(result.exitCode, result.stderr).toBe(1);
    expect(lines.filter((l) => l.startsWith('error:'))).toEqual([expect.stringMatching(message)]);
    expect(packerRuns(record)).toEqual([]);
    expect(existsSync(join(work.dir, '.imagebuild/cache/layers'))).toBe(false);
    // Not a timing assertion on imagebuild's speed: a build that got past preflight would run layers (minutes).
    expect(seconds).toBeLessThan(60);
  });

  it.skipIf(tmpfsUnavailable !== undefined)('an output directory on a read-only filesystem: one preflight line naming EROFS', async () => {
    const readOnly = join(work.dir, 'ro');
    await mkdir(readOnly);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=1m', 'tmpfs', readOnly], { stdio: 'pipe' });
    try {
      const record = join(work.dir, 'packer-runs.txt');

      const result = await runCli(build, work.dir, { IMAGEBUILD_OUTPUT_DIR: 'ro/out', FAKE_PACKER_RECORD: record });

      const { lines, crashed } = errorLines(result.stderr);
      expect(crashed, result.stderr).toBe(false);
      expect(result.exitCode).toBe(1);
      expect(lines.filter((l) => l.startsWith('error:'))).toEqual([expect.stringMatching(/^error: preflight: output directory .*ro \(where .*ro\/out\/vault-cube-demo-box would be made\) is not writable: read-only file system \(EROFS\); point it at a writable directory$/)]);
      expect(packerRuns(record)).toEqual([]);
    } finally {
      execFileSync('umount', ['-l', readOnly], { stdio: 'pipe' });
    }
  });

  it.skipIf(tmpfsUnavailable !== undefined)('a cache directory on a read-only filesystem: one line naming EROFS, exit 1', async () => {
    const readOnly = join(work.dir, 'ro');
    await mkdir(readOnly);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=1m', 'tmpfs', readOnly], { stdio: 'pipe' });
    try {
      const result = await runCli(build, work.dir, { IMAGEBUILD_CACHE_DIR: 'ro/cache' });

      const { lines, crashed } = errorLines(result.stderr);
      expect(crashed, result.stderr).toBe(false);
      expect(result.exitCode).toBe(1);
      expect(lines.filter((l) => l.startsWith('error:'))).toEqual([expect.stringMatching(/ro\/cache: read-only file system \(EROFS\)/)]);
      expect(await readdir(readOnly)).toEqual([]);
    } finally {
      execFileSync('umount', ['-l', readOnly], { stdio: 'pipe' });
    }
  });
});
