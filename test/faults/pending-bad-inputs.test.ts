import { cp, mkdir, readFile, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasQemu, makeReleasedProject, NAME, runCli } from '../fixtures/faults/harness.js';
import { listTree, makeTempDir } from '../support.js';

// Pending: bad inputs of the corpus (test/faults/bad-inputs.test.ts, same rules: one `error:` line, no
// stack trace, exit 2 for bad input / 1 for corrupted state, nothing written) that fail because of
// src/cli/* and src/app/build-image.ts, which are being reworked concurrently:
// - `build`'s usage now has two lines (remote builds), and the wrong-argument-count error embeds it:
//   two `error:` lines (src/cli/main.ts, the UsageError built from command.usage);
// - flag values and command names are echoed raw, so a newline in them forges a second error line
//   (src/cli/commands.ts oneOf/layerFlag, src/cli/main.ts findCommand);
// - a truncated image-manifest.json in output/ is JSON.parse'd unguarded by build (readExistingManifest,
//   and findRelease when every layer is reused): "internal error" with a stack trace, exit 70. For
//   the version being built that is corrupted state (exit 1, like a manifest that parses but does not
//   validate); another release's is skipped when looking for an identical image to reuse, as an invalid
//   one already is.

type Case = { readonly name: string; readonly args: readonly string[]; readonly exit: 1 | 2; readonly message: RegExp; readonly setup?: (dir: string) => Promise<void> };

const BUILD_FLAGS = ['--spec', 'box.yaml', '--host-profile', 'cpu', '--no-verify', '--json'];
const truncateHalf = (path: string) => async (dir: string) => {
  const text = await readFile(join(dir, path), 'utf8');
  await truncate(join(dir, path), Math.floor(text.length / 2));
};

const CASES: readonly Case[] = [
  { name: 'build with no version', args: ['build'], exit: 2, message: /build: expected 1 argument\(s\), got 0/ },
  { name: 'build with two versions', args: ['build', 'v1.0.0', 'v1.0.1'], exit: 2, message: /build: expected 1 argument\(s\), got 2/ },
  { name: 'a newline in --accel stays one line', args: ['build', 'v1.0.0', '--accel', 'kvm\nerror: forged second line'], exit: 2, message: /--accel .* is not valid; valid: kvm, tcg/ },
  { name: 'a newline in --until-layer stays one line', args: ['build', 'v1.0.0', '--until-layer', 'base\nerror: forged second line'], exit: 2, message: /--until-layer .* is not a layer/ },
  { name: 'a newline in a command name stays one line', args: ['frob\nerror: forged second line'], exit: 2, message: /unknown command .*; valid commands: / },
  { name: 'build over a truncated manifest in output/', args: ['build', 'v1.0.0', ...BUILD_FLAGS], exit: 1, setup: truncateHalf(`output/${NAME}/v1.0.0/image-manifest.json`), message: /v1\.0\.0\/image-manifest\.json: / },
];

describe.skipIf(!hasQemu)('pending bad inputs: one line, the right exit code, nothing written', () => {
  let template: { dir: string; cleanup: () => Promise<void> };
  let root: { dir: string; cleanup: () => Promise<void> };
  let index = 0;

  beforeAll(async () => {
    template = await makeTempDir('imagebuild-fault-pending-inputs-template-');
    root = await makeTempDir('imagebuild-fault-pending-inputs-');
    await makeReleasedProject(template.dir);
  });
  afterAll(async () => {
    await template?.cleanup();
    await root?.cleanup();
  });

  it.concurrent.each(CASES.map((c) => [c.name, c] as const))('%s', async (_name, bad) => {
    const dir = join(root.dir, `case-${index++}`);
    await mkdir(dir);
    await cp(template.dir, dir, { recursive: true });
    await bad.setup?.(dir);
    const before = await listTree(dir);

    const result = await runCli(bad.args, dir);

    const lines = result.stderr.split('\n').filter((l) => l !== '');
    expect(result.stderr).not.toContain('    at ');
    expect(lines, result.stderr).toHaveLength(1);
    expect(lines[0]).toMatch(/^error: /);
    expect(lines[0]).toMatch(bad.message);
    expect(result.exitCode, result.stderr).toBe(bad.exit);
    expect(result.stdout).toBe('');
    expect(await listTree(dir)).toEqual(before);
  });

  it('a truncated manifest of another release does not stop a build whose layers are all cached: it is not reused, and the build completes', async () => {
    const dir = join(root.dir, 'other-release');
    await mkdir(dir);
    await cp(template.dir, dir, { recursive: true });
    await truncateHalf(`output/${NAME}/v1.0.1/image-manifest.json`)(dir);

    const result = await runCli(['build', 'v1.1.0', ...BUILD_FLAGS], dir);

    expect(result.stderr).not.toContain('    at ');
    expect(result.exitCode, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ status: 'built', layers: [{ action: 'reused' }, { action: 'reused' }, { action: 'reused' }, { action: 'reused' }, { action: 'reused' }] });
  });
});
