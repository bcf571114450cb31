import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { useTempDir } from '../../../test/helpers/temp-dir.js';
import { computeLayerKey, type LayerInputs } from '../../core/plan/plan-build.js';
import { readCacheEntries } from './read-cache.js';

const INPUTS: LayerInputs = { layer: 'base', spec: { os: { distro: 'debian' } }, files: {}, tools: { packer: '1.6.6', ansible: '2.14.18', qemuImg: '7.2.22' }, parentKey: null };

const work = useTempDir();

async function writeEntry(name: string, body: unknown): Promise<void> {
  await mkdir(join(work.dir, 'layers', name), { recursive: true });
  await writeFile(join(work.dir, 'layers', name, 'entry.json'), typeof body === 'string' ? body : JSON.stringify(body));
}

describe('readCacheEntries', () => {
  it('returns nothing for a cache directory that does not exist yet', async () => {
    const scan = await readCacheEntries(join(work.dir, 'absent'));

    expect(scan).toEqual({ entries: [], problems: [] });
  });

  it('reads a valid entry and reports, without using, corrupted or mismatched ones', async () => {
    const key = computeLayerKey(INPUTS);
    await writeEntry(key, { format: 1, key, layer: 'base', specName: 'x', createdAt: '2026-11-23T00:00:00Z', inputs: INPUTS });
    await writeEntry('a'.repeat(64), { format: 1, key: 'a'.repeat(64), layer: 'base', specName: 'x', createdAt: 't', inputs: INPUTS });
    await writeEntry('b'.repeat(64), '{ not json');
    await writeEntry('c'.repeat(64), { format: 1, key: 'c'.repeat(64), layer: 'kernel' });

    const scan = await readCacheEntries(work.dir);

    expect(scan.entries.map((e) => e.key)).toEqual([key]);
    expect(scan.problems).toHaveLength(3);
    expect(scan.problems[0]).toContain('key does not match its directory or inputs; ignored');
    expect(scan.problems[1]).toContain('unreadable');
    expect(scan.problems[2]).toContain('not a valid cache entry');
  });
});
