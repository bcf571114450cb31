// Every role's inputs are declared in its meta/argument_specs.yml, which Ansible checks before the role's first
// task. This proves the rendered vars of both golden specs hold against those specs, with the real
// ansible-playbook on a local connection running nothing but ansible.builtin.validate_argument_spec (no role
// task runs), that every rendered name is an input of a role the layer applies, and that a bad input fails
// before anything is installed, naming the variable.
import { access, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from './helpers/project-root.js';
import { requireTools } from './helpers/require-tools.js';
import { useTempDir } from './helpers/temp-dir.js';

const hasAnsible = requireTools('test/role-argument-specs.test.ts', 'ansible-playbook');

const ROLES_DIR = join(PROJECT_ROOT, 'ansible/roles');
const GOLDEN_DIR = join(PROJECT_ROOT, 'test/golden');
const UNITS = ['base', 'driver', 'runtime', 'frameworks', 'validation', 'seal'] as const;

type ArgumentSpecs = { argument_specs: { main: { options: Record<string, unknown> } } };

async function playbookRoles(unit: string): Promise<string[]> {
  const plays = parse(await readFile(join(PROJECT_ROOT, `ansible/playbooks/${unit}.yml`), 'utf8')) as { roles: { role: string }[] }[];
  return plays.flatMap((play) => play.roles.map((r) => r.role));
}

async function roleInputs(role: string): Promise<Record<string, unknown>> {
  const specs = parse(await readFile(join(ROLES_DIR, role, 'meta/argument_specs.yml'), 'utf8')) as ArgumentSpecs;
  return specs.argument_specs.main.options;
}

/** The top-level names a rendered vars file sets (its values carry !unsafe tags, which the names never do). */
function renderedNames(varsText: string): string[] {
  return [...varsText.matchAll(/^([a-z0-9_]+):/gm)].map((m) => m[1]!);
}

async function existing(paths: string[]): Promise<string[]> {
  const found = await Promise.all(paths.map((path) => access(path).then(() => true, () => false)));
  return paths.filter((_, i) => found[i]);
}

/** One play per unit: the roles' defaults under the rendered vars, then each role's spec checked against them. */
async function validationPlays(varsFiles: Record<string, string>): Promise<unknown[]> {
  return Promise.all(
    Object.entries(varsFiles).map(async ([unit, varsFile]) => {
      const roles = await playbookRoles(unit);
      return {
        name: `Validate the ${unit} roles' inputs`,
        hosts: 'localhost',
        connection: 'local',
        gather_facts: false,
        vars_files: [...(await existing(roles.map((role) => join(ROLES_DIR, role, 'defaults/main.yml')))), varsFile],
        tasks: await Promise.all(
          roles.map(async (role) => ({
            name: `${unit}: ${role}`,
            'ansible.builtin.validate_argument_spec': { argument_spec: await roleInputs(role) },
          })),
        ),
      };
    }),
  );
}

async function runPlays(dir: string, plays: unknown[]) {
  const playbook = join(dir, 'validate.yml');
  await writeFile(playbook, JSON.stringify(plays, null, 2));
  return execa('ansible-playbook', ['-i', 'localhost,', playbook], {
    cwd: dir,
    all: true,
    reject: false,
    env: { ANSIBLE_NOCOLOR: '1', ANSIBLE_LOCALHOST_WARNING: 'False', ANSIBLE_INVENTORY_UNPARSED_WARNING: 'False', ANSIBLE_RETRY_FILES_ENABLED: 'False' },
  });
}

describe.skipIf(!hasAnsible)('role argument specs (real ansible-playbook, validate_argument_spec only)', { timeout: 180_000 }, () => {
  const work = useTempDir('imagebuild-argspecs-');

  it('every role has an argument spec and a README', async () => {
    const roles = await readdir(ROLES_DIR);

    const wanted = roles.flatMap((role) => ['meta/argument_specs.yml', 'README.md'].map((file) => join(role, file)));
    const found = await existing(wanted.map((path) => join(ROLES_DIR, path)));
    const missing = wanted.filter((path) => !found.includes(join(ROLES_DIR, path)));

    expect(roles.length).toBeGreaterThanOrEqual(16);
    expect(missing).toEqual([]);
  });

  it.each(['local-dev', 'vault-cube-demo-box'])('every name rendered for %s is an input of a role its playbook applies', async (spec) => {
    const undeclared: string[] = [];

    for (const unit of UNITS) {
      const inputs = new Set((await Promise.all((await playbookRoles(unit)).map(async (role) => Object.keys(await roleInputs(role))))).flat());
      const names = renderedNames(await readFile(join(GOLDEN_DIR, spec, unit, 'vars.yml'), 'utf8'));
      undeclared.push(...names.filter((name) => !inputs.has(name)).map((name) => `${unit}: ${name}`));
    }

    expect(undeclared).toEqual([]);
  });

  it.each(['local-dev', 'vault-cube-demo-box'])('the rendered vars of %s hold against every role argument spec', async (spec) => {
    const plays = await validationPlays(Object.fromEntries(UNITS.map((unit) => [unit, join(GOLDEN_DIR, spec, unit, 'vars.yml')])));
    const checks = (await Promise.all(UNITS.map(playbookRoles))).flat().length;

    const run = await runPlays(work.dir, plays);

    expect(run.all).not.toContain('Validation of arguments failed');
    expect(run.exitCode, run.all).toBe(0);
    expect(run.all).toMatch(new RegExp(`localhost +: ok=${checks} +changed=0 +unreachable=0 +failed=0`));
  });

  it('a bad input fails before any role task, naming the variable and what it must be', async () => {
    const golden = await readFile(join(GOLDEN_DIR, 'vault-cube-demo-box/driver/vars.yml'), 'utf8');
    const bad = golden
      .replace('nvidia_driver_kernel_module: !unsafe "open"', 'nvidia_driver_kernel_module: !unsafe "closed"')
      .replace(/^nvidia_driver_cuda_version: .*\n/m, '');
    expect(bad).not.toBe(golden);
    await writeFile(join(work.dir, 'driver-vars.yml'), bad);

    const run = await runPlays(work.dir, await validationPlays({ driver: join(work.dir, 'driver-vars.yml') }));

    expect(run.exitCode).not.toBe(0);
    expect(run.all).toContain('driver: nvidia_driver');
    expect(run.all).toContain('missing required arguments: nvidia_driver_cuda_version');
    expect(run.all).toContain('value of nvidia_driver_kernel_module must be one of: open, proprietary, got: closed');
  });
});
