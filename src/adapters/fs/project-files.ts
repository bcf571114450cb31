import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { digestFiles } from './read-files.js';
import type { ProjectFiles } from '../../core/plan/plan-build.js';

/** The project directories whose files can shape a layer. */
const LAYER_SOURCE_DIRS = ['ansible', 'templates', 'packer', 'guest'] as const;

/** Digests every file that can shape a layer, plus the texts the planner parses (playbooks, role metadata). */
export async function collectProjectFiles(packageRoot: string): Promise<ProjectFiles> {
  const digests = await digestFiles(packageRoot, LAYER_SOURCE_DIRS);
  const parsed = Object.keys(digests).filter((path) => /^ansible\/playbooks\/[^/]+\.ya?ml$/.test(path) || /^ansible\/roles\/[^/]+\/meta\/main\.ya?ml$/.test(path));
  const texts = Object.fromEntries(await Promise.all(parsed.map(async (path) => [path, await readFile(join(packageRoot, path), 'utf8')] as const)));
  return { digests, texts };
}
