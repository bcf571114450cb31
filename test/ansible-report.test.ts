import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from './helpers/project-root.js';
import { makeTempDir } from './helpers/temp-dir.js';
import { requireTools } from './helpers/require-tools.js';

// The report callback is what turns "a second run changes nothing" into data a gate can judge. This
// runs the real ansible-playbook with the project's ansible.cfg against a local connection whose
// only effect is a file in a temporary directory.
const hasAnsible = requireTools('test/ansible-report.test.ts', 'ansible-playbook');

describe.skipIf(!hasAnsible)('imagebuild_report Ansible callback (real ansible-playbook)', () => {
  let work: { dir: string; cleanup: () => Promise<void> };
  beforeAll(async () => {
    work = await makeTempDir();
    await writeFile(
      join(work.dir, 'play.yml'),
      [
        '- name: Report test',
        '  hosts: all',
        '  gather_facts: false',
        '  tasks:',
        '    - name: Write a file',
        '      ansible.builtin.copy:',
        `        dest: ${join(work.dir, 'written.txt')}`,
        '        content: "hello\\n"',
        '        mode: "0644"',
        '    - name: Always changes',
        '      ansible.builtin.command: "true"',
        '      when: not_idempotent | default(false) | bool',
        '',
      ].join('\n'),
    );
  });
  afterAll(() => work.cleanup());

  async function play(report: string, extraVars: string[] = []) {
    return execa('ansible-playbook', ['-i', 'localhost,', '-c', 'local', ...extraVars, join(work.dir, 'play.yml')], {
      env: { ANSIBLE_CONFIG: join(PROJECT_ROOT, 'ansible/ansible.cfg'), IMAGEBUILD_ANSIBLE_REPORT: join(work.dir, report), ANSIBLE_LOCAL_TEMP: join(work.dir, 'tmp') },
      reject: false,
    });
  }

  it('records changed tasks on the first run and none on an idempotent second run', async () => {
    const first = await play('run1.json');
    const second = await play('run2.json');

    const report1 = JSON.parse(readFileSync(join(work.dir, 'run1.json'), 'utf8'));
    const report2 = JSON.parse(readFileSync(join(work.dir, 'run2.json'), 'utf8'));
    expect(first.exitCode).toBe(0);
    expect(second.exitCode).toBe(0);
    expect(report1.hosts.localhost.changed).toBe(1);
    expect(report1.changed_tasks).toEqual([{ host: 'localhost', task: 'Write a file' }]);
    expect(report2.hosts.localhost).toMatchObject({ changed: 0, failures: 0 });
    expect(report2.changed_tasks).toEqual([]);
  });

  it('names the task that breaks idempotence', async () => {
    await play('warm.json');

    await play('run3.json', ['-e', 'not_idempotent=true']);

    const report = JSON.parse(readFileSync(join(work.dir, 'run3.json'), 'utf8'));
    expect(report.hosts.localhost.changed).toBe(1);
    expect(report.changed_tasks).toEqual([{ host: 'localhost', task: 'Always changes' }]);
  });
});
