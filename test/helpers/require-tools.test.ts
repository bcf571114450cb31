import { afterEach, describe, expect, it } from 'vitest';
import { requireTools } from './require-tools.js';

describe('requireTools', () => {
  const before = process.env.CI;
  afterEach(() => {
    if (before === undefined) delete process.env.CI;
    else process.env.CI = before;
  });

  it('skips quietly on a developer machine without the tool, and runs when it is there', () => {
    delete process.env.CI;

    const missing = requireTools('a.test.ts', 'sh', 'imagebuild-no-such-tool');
    const present = requireTools('a.test.ts', 'sh');

    expect(missing).toBe(false);
    expect(present).toBe(true);
  });

  it('fails under CI, naming the file and the missing tools, instead of skipping', () => {
    process.env.CI = 'true';

    const run = () => requireTools('a.test.ts', 'sh', 'imagebuild-no-such-tool');

    expect(run).toThrow('a.test.ts needs imagebuild-no-such-tool in CI (scripts/install-deps.sh installs them)');
  });
});
