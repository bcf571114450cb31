import { spawnSync } from 'node:child_process';

/** The tools of `tools` that are not installed (neither on PATH nor an executable absolute path). */
export function missingTools(...tools: string[]): string[] {
  return tools.filter((tool) => spawnSync('sh', ['-c', 'command -v "$1"', 'sh', tool], { stdio: 'ignore' }).status !== 0);
}

/**
 * Whether every tool a test file needs is here. Elsewhere the file's tests skip; under CI (CI=true), which
 * installs them all (scripts/install-deps.sh), a missing tool is an error naming it: never a silent skip.
 */
export function requireTools(testFile: string, ...tools: string[]): boolean {
  const missing = missingTools(...tools);
  if (missing.length > 0 && process.env.CI) {
    throw new Error(`${testFile} needs ${missing.join(', ')} in CI (scripts/install-deps.sh installs them)`);
  }
  return missing.length === 0;
}
