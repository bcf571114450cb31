import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseDocument } from 'yaml';
import { parseSpec } from '../src/core/spec/parse-spec.js';
import type { ImageSpec } from '../src/core/spec/schema.js';

export const PROJECT_ROOT = join(import.meta.dirname, '..');
export const DEMO_SPEC_PATH = join(PROJECT_ROOT, 'manifests/vault-cube-demo-box.yaml');
export const LOCAL_DEV_SPEC_PATH = join(PROJECT_ROOT, 'manifests/local-dev.yaml');

/** The text of a shipped manifest. */
export function manifestText(path: string): string {
  return readFileSync(path, 'utf8');
}

/** A shipped manifest with changes applied at YAML paths (a value of undefined deletes the key), as YAML text. */
export function mutateManifest(path: string, changes: readonly [readonly (string | number)[], unknown][]): string {
  const doc = parseDocument(manifestText(path));
  for (const [at, value] of changes) {
    if (value === undefined) doc.deleteIn(at);
    else doc.setIn(at, value);
  }
  return doc.toString();
}

/** Parses a manifest (optionally mutated) into a validated spec. */
export function specFrom(path: string, changes: readonly [readonly (string | number)[], unknown][] = []): ImageSpec {
  return parseSpec(mutateManifest(path, changes), path).spec;
}

/** A fresh temporary directory, removed by the returned cleanup. */
export async function makeTempDir(prefix = 'imagebuild-test-'): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Every path under `dir`, recursively, sorted; [] when `dir` does not exist. */
export async function listTree(dir: string): Promise<string[]> {
  try {
    const entries = await readdir(dir, { recursive: true });
    return entries.map(String).sort();
  } catch {
    return [];
  }
}

/** Whether every command is installed (on PATH, or an absolute path that is executable). */
export function hasCommands(...commands: string[]): boolean {
  return commands.every((c) => spawnSync('sh', ['-c', `command -v "$1"`, 'sh', c], { stdio: 'ignore' }).status === 0);
}

/**
 * The demo box made small for engine tests with the fake packer: a 4 GiB disk, TCG, and a base gate
 * that accepts a 1 GiB root filesystem; more changes may follow.
 */
export function smallDemoSpec(changes: readonly [readonly (string | number)[], unknown][] = []): string {
  return mutateManifest(DEMO_SPEC_PATH, [
    [['os', 'disk_size_gib'], 4],
    [['hardware', 'build_vm', 'accelerator'], 'tcg'],
    [['layers', 'base', 'gate', 'min_root_fs_gib'], 1],
    ...changes,
  ]);
}

/**
 * Live processes (not this one, not zombies) whose command line or environment mentions `text` — a
 * test's temporary directory names every process it started, however deep (Packer's PATH holds the
 * cache's shim directory), so a leftover can be found without confusing it with another test's.
 */
export function processesMentioning(text: string): { pid: number; cmdline: string }[] {
  const found: { pid: number; cmdline: string }[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      const cmdline = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0').join(' ').trim();
      const environ = readFileSync(`/proc/${name}/environ`, 'utf8');
      const state = /^State:\s+(\S)/m.exec(readFileSync(`/proc/${name}/status`, 'utf8'))?.[1];
      if ((cmdline.includes(text) || environ.includes(text)) && state !== 'Z') found.push({ pid: Number(name), cmdline });
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return found;
}
