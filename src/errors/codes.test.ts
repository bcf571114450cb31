import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES } from './codes.js';
import { ImagebuildError } from './imagebuild-error.js';
import { InterruptedError, ReleaseNotFoundError, UsageError } from './index.js';

const DOC = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');

describe('error codes', () => {
  it('docs/errors.md lists exactly the codes of src/errors/codes.ts, with their exit statuses and meanings', () => {
    const documented = [...DOC.matchAll(/^\| `([A-Z_]+)` \| (\d+) \| (.+) \|$/gm)].map(([, code, exit, meaning]) => [code, Number(exit), meaning]);

    expect(documented).toEqual(Object.entries(ERROR_CODES).map(([code, { exit, meaning }]) => [code, exit, meaning]));
  });

  it('takes the exit status from the code, so no call site can make one up', () => {
    expect(new ImagebuildError('REMOTE_BUILD_REFUSED', 'x').exitCode).toBe(2);
    expect(new UsageError('x').exitCode).toBe(2);
    expect(new InterruptedError('x').exitCode).toBe(130);
    expect(new ImagebuildError('CACHE_BROKEN', 'x').exitCode).toBe(1);
  });

  it('gives a class made with errorWithCode its own name and code', () => {
    const error = new ReleaseNotFoundError('v9.9.9 is not in the store');

    expect(error).toBeInstanceOf(ImagebuildError);
    expect([error.name, error.code, error.exitCode, error.message]).toEqual(['ReleaseNotFoundError', 'RELEASE_NOT_FOUND', 2, 'v9.9.9 is not in the store']);
  });

  it('uses only the exit statuses README and --help promise', () => {
    expect(new Set(Object.values(ERROR_CODES).map((c) => c.exit))).toEqual(new Set([1, 2, 130]));
  });
});
