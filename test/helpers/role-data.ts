import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { parse } from 'yaml';
import { BUILT_CLI, PROJECT_ROOT } from './project-root.js';

// The roles choose packages and apt pins from data (defaults/main.yml) and the rendered layer vars. These run
// exactly that with the real ansible-playbook, on a local connection whose only effects are files in the given
// directory (nothing is installed), so tests see what the role would install and the preferences it would write.

export const DRIVER_ROLE = join(PROJECT_ROOT, 'ansible/roles/nvidia_driver');
export const RUNTIME_ROLE = join(PROJECT_ROOT, 'ansible/roles/container_runtime');
const ANSIBLE_ENV = { ANSIBLE_CONFIG: join(PROJECT_ROOT, 'ansible/ansible.cfg') };

export type DriverRoleData = {
  set: string;
  packages: string[];
  pinning: string;
  patterns: string[];
  /** apt version patterns, as the role passes them to the apt module (`580.95.05-*`). */
  aptVersion: string;
  cudaPackage: string;
  cudaAptVersion: string;
  cudnnPackages: string[];
  cudnnAptVersion: string;
  /** Every apt argument the role installs with, in order (`nvidia-open=580.95.05-*`): its list refresh simulates these. */
  specs: string[];
  /** The text of the role's preferences file (also written to <dir>/preferences.d/imagebuild-nvidia). */
  preferences: string;
};

export type RuntimeRoleData = {
  packages: string[];
  aptVersion: string;
  /** The apt arguments the role installs with (`nvidia-container-toolkit=1.20.0-*`). */
  specs: string[];
  /** The sources line the role writes, after `deb [signed-by=…] `. */
  repoLine: string;
  gpgkeyUrl: string;
  /** The role's preferences file text (also written to <dir>/preferences.d/imagebuild-nvidia-container-toolkit). */
  preferences: string;
};

/** Writes `specText` to <dir>/spec.yaml and renders it into <dir>/rendered with the built CLI. */
export async function renderSpecInto(dir: string, specText: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'spec.yaml'), specText);
  await execa('node', [BUILT_CLI, 'render', '--spec', join(dir, 'spec.yaml'), '--out', join(dir, 'rendered')]);
}

/** The head of a play on localhost that sees what a role sees: its defaults and a layer's rendered vars. */
export function localPlayHead(name: string, varsFiles: readonly string[]): string[] {
  return [`- name: ${name}`, '  hosts: localhost', '  connection: local', '  gather_facts: false', `  vars_files: ${JSON.stringify(varsFiles)}`, '  tasks:'];
}

/** Runs a playbook text with the project's ansible.cfg. */
export async function runLocalPlay(dir: string, playbook: readonly string[], options: { reject?: boolean } = {}): Promise<{ exitCode: number; all: string }> {
  await writeFile(join(dir, 'play.yml'), `${playbook.join('\n')}\n`);
  const run = await execa('ansible-playbook', ['-i', 'localhost,', join(dir, 'play.yml')], { env: ANSIBLE_ENV, reject: options.reject ?? true, all: true });
  return { exitCode: run.exitCode ?? -1, all: run.all };
}

/** What the nvidia_driver role would install for `specText`, and the apt preferences its template writes. */
export async function resolveDriverRoleData(dir: string, specText: string): Promise<DriverRoleData> {
  await renderSpecInto(dir, specText);
  await mkdir(join(dir, 'preferences.d'), { recursive: true });
  const resolved = [
    "'set': nvidia_driver_package_set",
    "'packages': nvidia_driver_packages",
    "'pinning': nvidia_driver_pinning_package | trim",
    "'patterns': nvidia_driver_pin_patterns",
    "'aptVersion': nvidia_driver_apt_version",
    "'cudaPackage': 'cuda-toolkit-' ~ nvidia_driver_cuda_series",
    "'cudaAptVersion': nvidia_driver_cuda_apt_version",
    "'cudnnPackages': nvidia_driver_cudnn_packages",
    "'cudnnAptVersion': nvidia_driver_cudnn_apt_version",
    "'specs': nvidia_driver_pinning_specs + nvidia_driver_driver_specs + nvidia_driver_cuda_specs + nvidia_driver_cudnn_specs",
  ].join(', ');
  await runLocalPlay(dir, [
    ...localPlayHead('Resolve the driver role data', [`${DRIVER_ROLE}/defaults/main.yml`, `${dir}/rendered/driver/vars.yml`]),
    '    - name: Write what the role would install',
    '      ansible.builtin.copy:',
    `        dest: ${dir}/resolved.json`,
    '        mode: "0644"',
    `        content: "{{ { ${resolved} } | to_json }}"`,
    '    - name: Write its apt preferences',
    '      ansible.builtin.template:',
    `        src: ${DRIVER_ROLE}/templates/nvidia-pin.pref.j2`,
    `        dest: ${dir}/preferences.d/imagebuild-nvidia`,
    '        mode: "0644"',
  ]);
  const data = JSON.parse(await readFile(join(dir, 'resolved.json'), 'utf8')) as Omit<DriverRoleData, 'preferences'>;
  return { ...data, preferences: await readFile(join(dir, 'preferences.d/imagebuild-nvidia'), 'utf8') };
}

/** What the container_runtime role would install for `specText`, with its pin file's text taken from the role's own task. */
export async function resolveRuntimeRoleData(dir: string, specText: string): Promise<RuntimeRoleData> {
  await renderSpecInto(dir, specText);
  await mkdir(join(dir, 'preferences.d'), { recursive: true });
  // The pin file's content is inline in the role's task: evaluate that very template, not a copy of it.
  const tasks = parse(await readFile(join(RUNTIME_ROLE, 'tasks/main.yml'), 'utf8')) as { name?: string; 'ansible.builtin.copy'?: { dest?: string; content?: string } }[];
  const pinTask = tasks.find((task) => task['ansible.builtin.copy']?.dest === '{{ container_runtime_pin_file }}');
  const pinContent = pinTask?.['ansible.builtin.copy']?.content;
  if (pinContent === undefined) throw new Error('container_runtime has no task writing container_runtime_pin_file');
  await runLocalPlay(dir, [
    ...localPlayHead('Resolve the runtime role data', [`${RUNTIME_ROLE}/defaults/main.yml`, `${dir}/rendered/runtime/vars.yml`]),
    '    - name: Write what the role would install',
    '      ansible.builtin.copy:',
    `        dest: ${dir}/resolved.json`,
    '        mode: "0644"',
    "        content: \"{{ {'packages': container_runtime_packages, 'aptVersion': container_runtime_apt_version, 'specs': container_runtime_specs, 'repoLine': container_runtime_repo_line, 'gpgkeyUrl': container_runtime_gpgkey_url} | to_json }}\"",
    '    - name: Write its apt preferences',
    '      ansible.builtin.copy:',
    `        dest: ${dir}/preferences.d/imagebuild-nvidia-container-toolkit`,
    '        mode: "0644"',
    `        content: ${JSON.stringify(pinContent)}`,
  ]);
  const data = JSON.parse(await readFile(join(dir, 'resolved.json'), 'utf8')) as Omit<RuntimeRoleData, 'preferences'>;
  return { ...data, preferences: await readFile(join(dir, 'preferences.d/imagebuild-nvidia-container-toolkit'), 'utf8') };
}
