import { describe, expect, it } from 'vitest';

import { COMPAT_SOURCES } from './sources.js';
import { COMPAT_TABLE } from './table.js';

// Every `sources` list anywhere in the table, however deep the row sits.
function collectSourceIds(node: unknown, into: Set<string> = new Set()): Set<string> {
  if (Array.isArray(node)) {
    for (const item of node) collectSourceIds(item, into);
  } else if (node !== null && typeof node === 'object') {
    for (const [key, value] of Object.entries(node)) {
      if (key === 'sources' && Array.isArray(value)) for (const id of value) into.add(String(id));
      else collectSourceIds(value, into);
    }
  }
  return into;
}

describe('COMPAT_SOURCES', () => {
  it('finds the sources of nested rows (NCCL reports, advisories, cuDNN builds)', () => {
    const table = { nccl: { topologies: [{ broken: [{ version: '1', sources: ['a'] }], firstGood: { version: '2', sources: ['b'] } }] }, sources: ['c'] };

    const ids = collectSourceIds(table);

    expect([...ids].sort()).toEqual(['a', 'b', 'c']);
  });

  it('every source is cited by at least one row of the compatibility table', () => {
    const cited = collectSourceIds(COMPAT_TABLE);

    const uncited = Object.keys(COMPAT_SOURCES).filter((id) => !cited.has(id));

    expect(uncited).toEqual([]);
  });

  it('every id the table cites is a source', () => {
    const cited = collectSourceIds(COMPAT_TABLE);

    const unknown = [...cited].filter((id) => !Object.hasOwn(COMPAT_SOURCES, id));

    expect(cited.size).toBeGreaterThan(0);
    expect(unknown).toEqual([]);
  });

  it.each(Object.entries(COMPAT_SOURCES))('%s has an https:// url, a title and a quote', (_id, source) => {
    const { url, title, says } = source;

    expect(url).toMatch(/^https:\/\//);
    expect(() => new URL(url)).not.toThrow();
    expect(title.trim()).not.toBe('');
    expect(says.trim()).not.toBe('');
  });
});
