import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_ROOT } from './project-root.js';

/**
 * The fake packer, first on PATH for engine tests. It stays in test/fixtures/bin beside its recorded
 * outputs (../packer-replay), and bench/fixtures/bin/packer and scripts/lint-infra.sh name it by path.
 */
export const FAKE_BIN = join(PROJECT_ROOT, 'test/fixtures/bin');

/** The wrapper packer and qemu-img of the fault suites (markers, pauses, disk full), in front of FAKE_BIN's packer. */
export const FAULT_BIN = join(PROJECT_ROOT, 'test/fixtures/faults/bin');

/**
 * What a build over the fake packer runs for real: the build's preflight insists on qemu-img,
 * qemu-system-x86_64, ansible-playbook and ssh-keygen (for the build key), and the fake packer makes each
 * layer with qemu-img and writes into it with qemu-io.
 */
export const FAKE_BUILD_TOOLS = ['qemu-img', 'qemu-io', 'qemu-system-x86_64', 'ansible-playbook', 'ssh-keygen'] as const;

/** What the fake packer was asked to build, in order: the lines ("build <unit>") of its FAKE_PACKER_RECORD file, [] when absent. */
export function packerRuns(record: string): string[] {
  return existsSync(record) ? readFileSync(record, 'utf8').split('\n').filter(Boolean) : [];
}
