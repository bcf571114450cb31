// The seal role's inventory tasks (ansible/roles/seal/tasks/inventory.yml) with the real
// ansible-playbook on a local connection: guest/inventory.py is copied, run against this machine (its
// real dpkg; no frameworks venv, and whatever Docker or NVIDIA modules it has or lacks) and its JSON
// fetched beside the run's Ansible report, as Packer's seal unit leaves it for the build; the SBOM made
// from it validates against the CycloneDX 1.6 schema. The rest of the seal role is not run here: it
// would take this machine's host keys and machine id.
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Spec, Validation } from '@cyclonedx/cyclonedx-library';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { parseGuestInventory } from '../src/core/gate/gate-report.js';
import { assembleSbom } from '../src/core/sbom/image-sbom.js';
import { PROJECT_ROOT } from './helpers/project-root.js';
import { requireTools } from './helpers/require-tools.js';
import { useTempDir } from './helpers/temp-dir.js';

const hasTools = requireTools('test/seal-inventory.test.ts', 'ansible-playbook', 'python3', 'dpkg-query');

const PLAY = `- name: The seal role's inventory tasks
  hosts: all
  gather_facts: false
  tasks:
    - name: List what is installed
      ansible.builtin.include_role:
        name: seal
        tasks_from: inventory
`;

describe.skipIf(!hasTools)('seal role: inventory', () => {
  const work = useTempDir('imagebuild-seal-inventory-');

  it("runs inventory.py and fetches its listing beside the run's Ansible report, tolerating a missing venv", async () => {
    const reports = join(work.dir, 'reports', 'seal');
    await mkdir(reports, { recursive: true });
    await writeFile(join(work.dir, 'play.yml'), PLAY);
    const leftovers = async () => (await readdir(tmpdir())).filter((n) => n.startsWith('imagebuild-inventory.'));
    const before = await leftovers();

    const run = await execa('ansible-playbook', ['-i', 'localhost,', '-c', 'local', '-e', `seal_guest_dir=${join(PROJECT_ROOT, 'guest')}`, '-e', 'seal_inventory_venv=/nonexistent/venv', join(work.dir, 'play.yml')], {
      cwd: work.dir,
      reject: false,
      all: true,
      env: { ANSIBLE_CONFIG: join(PROJECT_ROOT, 'ansible/ansible.cfg'), IMAGEBUILD_ANSIBLE_REPORT: join(reports, 'ansible-run.json'), ANSIBLE_LOCALHOST_WARNING: 'False', ANSIBLE_INVENTORY_UNPARSED_WARNING: 'False' },
    });

    expect(run.exitCode, run.all).toBe(0);
    expect((await readdir(reports)).sort()).toEqual(['ansible-run.json', 'inventory.json']);
    const path = join(reports, 'inventory.json');
    const inventory = parseGuestInventory(JSON.parse(await readFile(path, 'utf8')), path);
    expect(inventory.python).toBeNull();
    expect(inventory.dpkg?.some((p) => p.name === 'dpkg')).toBe(true);
    const sbom = assembleSbom({ image: { name: 'box', version: '1.0.0', artifact: 'box-v1.0.0.qcow2', sha256: 'a'.repeat(64) }, inventory, timestamp: new Date('2026-12-05T10:00:00Z'), serialNumber: 'urn:uuid:3e671687-395b-41f5-a30f-a58921a69b79' });
    expect(await new Validation.JsonStrictValidator(Spec.Version.v1dot6).validate(sbom)).toBeNull();
    // The program and its listing are gone from the machine: nothing of it is left in the image.
    expect(await leftovers()).toEqual(before);
  }, 180_000);
});
