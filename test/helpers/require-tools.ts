import { hasCommands } from '../support.js';

/**
 * Whether every tool a test file needs is here. Elsewhere the file's tests skip; under CI (CI=true), which
 * installs them all (scripts/install-deps.sh), a missing tool is an error naming it: never a silent skip.
 */
export function requireTools(testFile: string, ...tools: string[]): boolean {
  const missing = tools.filter((tool) => !hasCommands(tool));
  if (missing.length > 0 && process.env.CI) {
    throw new Error(`${testFile} needs ${missing.join(', ')} in CI (scripts/install-deps.sh installs them)`);
  }
  return missing.length === 0;
}
