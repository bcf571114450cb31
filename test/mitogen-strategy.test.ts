import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chooseAnsibleStrategy, probeMitogen, type MitogenProbe } from '../src/adapters/tools/ansible-strategy.js';
import { PROJECT_ROOT } from './helpers/project-root.js';
import { requireTools } from './helpers/require-tools.js';
import { makeTempDir } from './helpers/temp-dir.js';

// imagebuild's strategy plugin (ansible/strategy_plugins/imagebuild_mitogen_linear.py) with the real ansible-playbook
// and the host's Mitogen, on a local connection: a task whose `environment:` is templated from !unsafe vars, as the
// frameworks role's pip tasks are. It only reads its own environment (printenv), nothing on the machine changes.
const hasAnsible = requireTools('test/mitogen-strategy.test.ts', 'ansible-playbook');
let probe: MitogenProbe = { ok: false, why: 'not probed' };

describe.skipIf(!hasAnsible)("imagebuild's Mitogen strategy plugin (real ansible-playbook, local connection)", () => {
  let work: { dir: string; cleanup: () => Promise<void> };

  beforeAll(async () => {
    probe = await probeMitogen();
    work = await makeTempDir('imagebuild-mitogen-');
    await mkdir(join(work.dir, 'play'));
    // Every string carries !unsafe, as imagebuild's rendered vars do: a spec value is data, never a template.
    await writeFile(join(work.dir, 'play/vars.yml'), 'pip_env:\n  PIP_INDEX_URL: !unsafe "http://10.0.2.2:8080/pypi/simple/"\n  PIP_NO_CACHE_DIR: !unsafe "1"\n');
    await writeFile(
      join(work.dir, 'play/site.yml'),
      [
        '- hosts: all',
        '  gather_facts: false',
        '  tasks:',
        '    - name: Read the environment the task was given',
        '      ansible.builtin.command: printenv PIP_INDEX_URL PIP_NO_CACHE_DIR',
        '      environment: "{{ pip_env }}"',
        '      register: printed',
        '      changed_when: false',
        '    - name: Show it',
        '      ansible.builtin.debug:',
        '        msg: "seen {{ printed.stdout_lines | join(\',\') }}"',
        '',
      ].join('\n'),
    );
  });
  afterAll(() => work?.cleanup());

  const play = (env: Record<string, string>) =>
    execa('ansible-playbook', ['-i', 'localhost,', '-c', 'local', '--extra-vars', '@vars.yml', 'site.yml'], {
      cwd: join(work.dir, 'play'),
      env: { ANSIBLE_NOCOLOR: '1', ANSIBLE_LOCAL_TEMP: join(work.dir, 'tmp'), ANSIBLE_REMOTE_TEMP: join(work.dir, 'tmp'), ...env },
      reject: false,
      all: true,
      timeout: 120_000,
    });

  it('runs a task whose environment is templated from unsafe vars', async (context) => {
    if (!probe.ok) return context.skip(`Mitogen not usable here: ${probe.why}`);
    const strategy = chooseAnsibleStrategy('auto', probe, PROJECT_ROOT);
    if ('error' in strategy) throw new Error(strategy.error);

    const result = await play({ ...strategy.env });

    expect(result.exitCode, result.all).toBe(0);
    expect(result.all).toContain('"msg": "seen http://10.0.2.2:8080/pypi/simple/,1"');
  }, 150_000);

  // Why the plugin exists: Debian 12's Mitogen (0.3.3) sends the unsafe strings as they are, and the target refuses them.
  it('is needed with Debian 12’s Mitogen: its own mitogen_linear fails the same play', async (context) => {
    if (!probe.ok || probe.version !== '0.3.3') return context.skip(`Mitogen ${probe.ok ? probe.version : 'absent'}: the check is for 0.3.3`);

    const result = await play({ ANSIBLE_STRATEGY: 'mitogen_linear', ANSIBLE_STRATEGY_PLUGINS: probe.strategyDir });

    expect(result.exitCode).not.toBe(0);
    expect(result.all).toContain("cannot unpickle 'ansible.utils.unsafe_proxy'/'AnsibleUnsafeText'");
  }, 150_000);
});
