import { describe, expect, it } from 'vitest';
import { compareRendered } from './compare-rendered.js';

describe('compareRendered', () => {
  const files = [
    { path: 'base/base.pkr.hcl', content: 'a' },
    { path: 'base/vars.yml', content: 'b' },
  ];

  it('finds nothing to say about the same files', () => {
    expect(compareRendered(files, { 'base/base.pkr.hcl': 'a', 'base/vars.yml': 'b' })).toEqual([]);
  });

  it('names missing, changed and extra files', () => {
    expect(compareRendered(files, { 'base/base.pkr.hcl': 'A', 'seal/seal.pkr.hcl': 'x' })).toEqual(['base/base.pkr.hcl differs', 'base/vars.yml missing', 'seal/seal.pkr.hcl not rendered here']);
  });
});
