import { existsSync } from 'node:fs';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { makeTempDir } from '../../../test/helpers/temp-dir.js';
import { chooseAnsibleStrategy, interpreterOf, parseMitogenProbe, probeMitogen } from './ansible-strategy.js';

describe('interpreterOf', () => {
  it.each([
    ['#! /usr/bin/python3', ['/usr/bin/python3']],
    ['#!/usr/bin/python3.11', ['/usr/bin/python3.11']],
    ['#!/usr/bin/env python3', ['/usr/bin/env', 'python3']],
    ['#!/opt/venv/bin/python -E', ['/opt/venv/bin/python', '-E']],
  ])('reads %j', (line, expected) => {
    expect(interpreterOf(line)).toEqual(expected);
  });

  it.each([['\u007fELF\u0002\u0001'], ['#!/bin/sh'], ['#!/usr/bin/env bash'], ['#!/usr/bin/env']])('finds no Python in %j', (line) => {
    expect(interpreterOf(line)).toBeUndefined();
  });
});

describe('parseMitogenProbe', () => {
  it('reads the strategy directory and version', () => {
    expect(parseMitogenProbe('dir:/usr/lib/python3/dist-packages/ansible_mitogen/plugins/strategy\nversion:0.3.3\n')).toEqual({
      ok: true,
      strategyDir: '/usr/lib/python3/dist-packages/ansible_mitogen/plugins/strategy',
      version: '0.3.3',
    });
  });

  it("carries the import's first line when Mitogen cannot load", () => {
    expect(parseMitogenProbe('no:Your Ansible version (2.16.3) is too recent. The most recent version\n')).toEqual({ ok: false, why: 'Your Ansible version (2.16.3) is too recent. The most recent version' });
  });

  it('refuses output it does not know', () => {
    expect(parseMitogenProbe('Python 3.11.2\n')).toEqual({ ok: false, why: 'unrecognised probe output: Python 3.11.2' });
  });
});

describe('chooseAnsibleStrategy', () => {
  const usable = { ok: true as const, strategyDir: '/mitogen/plugins/strategy', version: '0.3.3' };
  const unusable = { ok: false as const, why: "No module named 'mitogen'" };

  it("auto takes Mitogen when it is usable, through imagebuild's strategy plugin under the project", () => {
    expect(chooseAnsibleStrategy('auto', usable, '/opt/imagebuild')).toEqual({
      strategy: 'mitogen_linear',
      env: { ANSIBLE_STRATEGY: 'imagebuild_mitogen_linear', ANSIBLE_STRATEGY_PLUGINS: '/opt/imagebuild/ansible/strategy_plugins' },
      summary: 'Mitogen 0.3.3 (mitogen_linear strategy)',
    });
  });

  it("auto falls back to Ansible's linear strategy and says why", () => {
    expect(chooseAnsibleStrategy('auto', unusable, '/opt/imagebuild')).toEqual({ strategy: 'linear', env: { ANSIBLE_STRATEGY: 'linear' }, summary: "Ansible's linear strategy (Mitogen not usable: No module named 'mitogen')" });
  });

  it('linear is linear even where Mitogen is usable', () => {
    expect(chooseAnsibleStrategy('linear', usable, '/opt/imagebuild')).toMatchObject({ strategy: 'linear', env: { ANSIBLE_STRATEGY: 'linear' } });
  });

  it('mitogen asked for and unusable is an error naming the fix', () => {
    expect(chooseAnsibleStrategy('mitogen', unusable, '/opt/imagebuild')).toEqual({
      error: "--ansible-strategy mitogen: Mitogen for Ansible is not usable here (No module named 'mitogen'); install it (Debian/Ubuntu: apt-get install ansible-mitogen) or use --ansible-strategy auto|linear",
    });
  });
});

describe('probeMitogen', () => {
  let cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    await Promise.all(cleanups.map((c) => c()));
    cleanups = [];
  });

  async function pathWith(files: Record<string, string>): Promise<string> {
    const work = await makeTempDir('imagebuild-mitogen-');
    cleanups.push(work.cleanup);
    const bin = join(work.dir, 'bin');
    await mkdir(bin);
    for (const [name, text] of Object.entries(files)) {
      await writeFile(join(bin, name), text);
      await chmod(join(bin, name), 0o755);
    }
    return bin;
  }

  it('asks the interpreter of the ansible-playbook on PATH, and reports what it says', async () => {
    // An interpreter that cannot import Mitogen: the probe reports the ImportError's line.
    const bin = await pathWith({
      'ansible-playbook': '#!/usr/bin/env python3\n',
      python3: '#!/bin/sh\necho "no:No module named \'mitogen\'"\n',
    });

    expect(await probeMitogen({ PATH: `${bin}:/usr/bin:/bin` })).toEqual({ ok: false, why: "No module named 'mitogen'" });
  });

  it('reports an ansible-playbook missing from PATH', async () => {
    const bin = await pathWith({});

    expect(await probeMitogen({ PATH: bin })).toEqual({ ok: false, why: 'ansible-playbook is not on PATH' });
  });

  it('reports an interpreter that fails', async () => {
    const bin = await pathWith({ 'ansible-playbook': '#!/usr/bin/env python3\n', python3: '#!/bin/sh\nexit 3\n' });

    expect(await probeMitogen({ PATH: `${bin}:/usr/bin:/bin` })).toMatchObject({ ok: false, why: expect.stringMatching(/^\/usr\/bin\/env python3 could not be asked: /) });
  });

  it('hands no Python code to an ansible-playbook that is not a Python script', async () => {
    const bin = await pathWith({ 'ansible-playbook': '#!/bin/sh\nexit 0\n' });

    expect(await probeMitogen({ PATH: bin })).toEqual({ ok: false, why: `${bin}/ansible-playbook is not a Python script (no #! line naming Python)` });
  });

  it('remembers a usable Mitogen while ansible-playbook and its files are unchanged, and asks again when one changes', async () => {
    const bin = await pathWith({ 'ansible-playbook': '#!/usr/bin/env python3\n' });
    const home = join(bin, '..', 'home');
    const mitogen = join(bin, '..', 'site', 'ansible_mitogen');
    await mkdir(join(mitogen, 'plugins', 'strategy'), { recursive: true });
    await writeFile(join(mitogen, 'plugins', 'strategy', 'mitogen_linear.py'), '# strategy\n');
    await writeFile(join(mitogen, 'loaders.py'), 'ANSIBLE_VERSION_MAX = (2, 14)\n');
    const answer = async (text: string) => {
      await writeFile(join(bin, 'python3'), `#!/bin/sh\nprintf '%s\\n' '${text.replace(/\n/g, "' '")}'\n`);
      await chmod(join(bin, 'python3'), 0o755);
    };
    const env = { PATH: `${bin}:/usr/bin:/bin`, HOME: home };
    await answer(`dir:${join(mitogen, 'plugins', 'strategy')}\nversion:0.3.3`);

    const first = await probeMitogen(env);
    await answer('no:No module named mitogen');
    const remembered = await probeMitogen(env);
    await writeFile(join(mitogen, 'loaders.py'), 'ANSIBLE_VERSION_MAX = (2, 16)\n');
    const askedAgain = await probeMitogen(env);

    expect(first).toEqual({ ok: true, strategyDir: join(mitogen, 'plugins', 'strategy'), version: '0.3.3' });
    expect(remembered).toEqual(first);
    expect(askedAgain).toEqual({ ok: false, why: 'No module named mitogen' });
  });

  // The host's own Ansible (CI installs Debian's ansible-mitogen): the strategy directory it reports is real.
  it.skipIf(!existsSync('/usr/lib/python3/dist-packages/ansible_mitogen'))("finds Debian's ansible-mitogen for the host's ansible-playbook", async () => {
    const probe = await probeMitogen();

    expect(probe).toMatchObject({ ok: true, version: expect.stringMatching(/^\d+\.\d+\.\d+$/) });
    if (probe.ok) expect(existsSync(join(probe.strategyDir, 'mitogen_linear.py'))).toBe(true);
  });
});
