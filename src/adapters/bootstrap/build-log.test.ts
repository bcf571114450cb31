import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { useTempDir } from '../../../test/helpers/temp-dir.js';
import { ToolFailedError } from '../../errors/index.js';
import { openBuildLog, runLogged } from './build-log.js';

const work = useTempDir('imagebuild-build-log-');

describe('runLogged', () => {
  it('streams stdout and stderr lines to onLine and the log file, feeds input, and returns stdout', async () => {
    const lines: string[] = [];
    const log = openBuildLog(join(work.dir, 'step.log'), (line) => lines.push(line));

    const stdout = await runLogged(log, 'sh', ['-c', 'cat; echo to-stderr >&2'], { input: 'one\ntwo\n' });
    await log.close();

    expect(stdout).toBe('one\ntwo');
    expect(lines).toEqual(expect.arrayContaining(['one', 'two', 'to-stderr']));
    expect(lines[0]).toBe("$ sh -c 'cat; echo to-stderr >&2'");
    expect(await readFile(join(work.dir, 'step.log'), 'utf8')).toContain('one\ntwo\n');
  });

  it('turns a failure into a one-line ToolFailedError naming the E: line, with the tail and log path', async () => {
    const log = openBuildLog(join(work.dir, 'step.log'));

    const error = await runLogged(log, 'sh', ['-c', 'echo "I: working" >&2; echo "E: the real reason" >&2; echo "W: noise" >&2; exit 3']).catch((caught: unknown) => caught);
    await log.close();

    expect(error).toBeInstanceOf(ToolFailedError);
    expect(error).toMatchObject({ tool: 'sh', message: 'sh failed (exit 3): E: the real reason', toolExitCode: 3, logPath: join(work.dir, 'step.log') });
    expect((error as ToolFailedError).stderrTail).toContain('W: noise');
  });

  it('stops a tool that prints nothing for the stall limit, naming its last line', async () => {
    const log = openBuildLog(join(work.dir, 'step.log'));

    const error = await runLogged(log, 'sh', ['-c', 'echo "I: fetching"; sleep 30'], { stallMs: 300 }).catch((caught: unknown) => caught);
    await log.close();

    expect(error).toBeInstanceOf(ToolFailedError);
    expect((error as ToolFailedError).message).toBe('sh printed nothing and used no CPU time for 300 ms and was stopped as stalled (last line: I: fetching)');
  });

  it('lets a slow tool that keeps printing run past the stall limit: the limit follows progress, not wall time', async () => {
    const log = openBuildLog(join(work.dir, 'step.log'));

    const stdout = await runLogged(log, 'sh', ['-c', 'for i in 1 2 3 4 5 6; do echo "step $i"; sleep 0.1; done'], { stallMs: 250 });
    await log.close();

    expect(stdout.split('\n')).toEqual(['step 1', 'step 2', 'step 3', 'step 4', 'step 5', 'step 6']);
  });

  it('lets a silent tool run past the stall limit while its process tree uses CPU time (output held in a pipe buffer)', async () => {
    const log = openBuildLog(join(work.dir, 'step.log'));
    // A child that computes for several stall limits without printing, as dpkg does behind mmdebstrap's pipes.
    const busy = 'end=$(($(date +%s) + 2)); while [ "$(date +%s)" -lt "$end" ]; do :; done';

    const stdout = await runLogged(log, 'sh', ['-c', `echo start; sh -c '${busy}'; echo done`], { stallMs: 600, pollMs: 100 });
    await log.close();

    expect(stdout.split('\n')).toEqual(['start', 'done']);
  });

  it('reports a missing tool as not installed', async () => {
    const log = openBuildLog(join(work.dir, 'step.log'));

    const error = await runLogged(log, 'imagebuild-no-such-tool', []).catch((caught: unknown) => caught);
    await log.close();

    expect(error).toBeInstanceOf(ToolFailedError);
    expect((error as Error).message).toBe('imagebuild-no-such-tool is not installed (not on PATH)');
  });
});
