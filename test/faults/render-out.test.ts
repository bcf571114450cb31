import { readFile, mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/fault-harness.js';
import { smallDemoSpec } from '../helpers/spec-builders.js';
import { listTree, makeTempDir } from '../helpers/temp-dir.js';

// imagebuild deletes only what it wrote (issue 17, rule 6): `render --out DIR` over an earlier render
// replaces the files that render listed in its marker, and refuses — one line, exit 1, nothing
// changed — when anything else is in DIR: a user's notes, a directory, a link, even in a subdirectory.

const RENDER = ['render', '--spec', 'box.yaml', '--out', 'out', '--packer-version', '1.6.6'];

let work: { dir: string; cleanup: () => Promise<void> };
beforeEach(async () => {
  work = await makeTempDir('imagebuild-fault-render-');
  await writeFile(join(work.dir, 'box.yaml'), smallDemoSpec());
});
afterEach(async () => {
  await work.cleanup();
});

describe('render --out over an earlier render', () => {
  it('replaces its own files again and again (exit 0)', async () => {
    const first = await runCli(RENDER, work.dir);
    const second = await runCli(RENDER, work.dir);

    expect(first.exitCode, first.stderr).toBe(0);
    expect(second.exitCode, second.stderr).toBe(0);
    expect(await listTree(join(work.dir, 'out'))).toContain('base/base.pkr.hcl');
  });

  it.each([
    ['a note beside the rendered files', 'NOTES.md', async (out: string) => writeFile(join(out, 'NOTES.md'), 'mine')],
    ['a file in a layer directory', 'base/local-override.pkrvars.hcl', async (out: string) => writeFile(join(out, 'base', 'local-override.pkrvars.hcl'), 'mine')],
    ['a directory of the user', 'scratch', async (out: string) => mkdir(join(out, 'scratch'))],
    ['a link to a directory', 'link-to-mine', async (out: string) => {
      await mkdir(join(out, '..', 'mine'));
      await writeFile(join(out, '..', 'mine', 'precious.txt'), 'mine');
      await symlink('../mine', join(out, 'link-to-mine'));
    }],
  ])('with %s added: refused in one line naming it, exit 1, the directory exactly as it was', async (_what, name, add) => {
    const out = join(work.dir, 'out');
    expect((await runCli(RENDER, work.dir)).exitCode).toBe(0);
    await add(out);
    const before = await listTree(work.dir);
    const hcl = await readFile(join(out, 'base/base.pkr.hcl'), 'utf8');

    const again = await runCli([...RENDER.slice(0, -1), '1.11.2'], work.dir);

    const lines = again.stderr.split('\n').filter(Boolean);
    expect(again.exitCode).toBe(1);
    expect(lines.filter((l) => l.startsWith('error:'))).toEqual([`error: ${out}: holds 1 file(s) imagebuild did not write there (${name}); move them out or choose another --out directory — a render replaces the whole directory`]);
    expect(await listTree(work.dir)).toEqual(before);
    expect(await readFile(join(out, 'base/base.pkr.hcl'), 'utf8')).toBe(hcl);
  });
});

describe('render --out where no directory can be', () => {
  it.each([
    ['a file', async () => writeFile(join(work.dir, 'afile'), 'mine').then(() => 'afile'), /^error: render: .*\/afile is not a directory; choose another --out directory$/],
    ['below a file', async () => writeFile(join(work.dir, 'afile'), 'mine').then(() => 'afile/out'), /^error: render: .*\/afile is a file, so .*\/afile\/out cannot be made below it; choose another --out directory$/],
    ['in a link loop', async () => symlink('loop', join(work.dir, 'loop')).then(() => 'loop/out'), /^error: render: .*\/loop\/out: too many symbolic links encountered \(ELOOP\); choose another --out directory$/],
  ])('%s: one line naming it, exit 1, nothing written', async (_what, make, line) => {
    const out = await make();
    const before = await listTree(work.dir);

    const result = await runCli([...RENDER.slice(0, 3), '--out', out, '--packer-version', '1.6.6'], work.dir);

    expect(result.exitCode).toBe(1);
    expect(result.stderr.split('\n').filter(Boolean)).toEqual([expect.stringMatching(line)]);
    expect(await listTree(work.dir)).toEqual(before);
  });
});
