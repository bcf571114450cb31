import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseDocument } from 'yaml';
import { parseSpec } from '../../src/core/spec/parse-spec.js';
import type { ImageSpec } from '../../src/core/spec/schema.js';
import { PROJECT_ROOT } from './project-root.js';

export const DEMO_SPEC_PATH = join(PROJECT_ROOT, 'manifests/vault-cube-demo-box.yaml');
export const LOCAL_DEV_SPEC_PATH = join(PROJECT_ROOT, 'manifests/local-dev.yaml');
/** The demo box's image name: its releases live in output/<name>/ and the store under <name>/. */
export const DEMO_NAME = 'vault-cube-demo-box';

/** Changes at YAML paths; a value of undefined deletes the key. */
export type ManifestChanges = readonly (readonly [readonly (string | number)[], unknown])[];

/** The text of a shipped manifest. */
export function manifestText(path: string): string {
  return readFileSync(path, 'utf8');
}

/** A shipped manifest with changes applied at YAML paths (a value of undefined deletes the key), as YAML text. */
export function mutateManifest(path: string, changes: ManifestChanges): string {
  const doc = parseDocument(manifestText(path));
  for (const [at, value] of changes) {
    if (value === undefined) doc.deleteIn(at);
    else doc.setIn(at, value);
  }
  return doc.toString();
}

/** Parses a manifest (optionally mutated) into a validated spec. */
export function specFrom(path: string, changes: ManifestChanges = []): ImageSpec {
  return parseSpec(mutateManifest(path, changes), path).spec;
}

/**
 * The demo box made small for engine tests with the fake packer: installed from its ISO (no bootstrap),
 * a 4 GiB disk so qcow2 chains stay small, TCG, and a base gate that accepts a 1 GiB root filesystem;
 * more changes may follow.
 */
export function smallDemoSpec(changes: ManifestChanges = []): string {
  return mutateManifest(DEMO_SPEC_PATH, [
    [['os', 'disk_size_gib'], 4],
    [['hardware', 'build_vm', 'accelerator'], 'tcg'],
    [['layers', 'base', 'gate', 'min_root_fs_gib'], 1],
    ...changes,
  ]);
}
