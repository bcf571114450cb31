import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { useTempDir } from '../../../test/helpers/temp-dir.js';
import { findLeftovers, removeLeftovers } from './layer-cache.js';

const work = useTempDir();

it('finds and removes what killed runs left (staging, drop and pull directories, lock temp files), and nothing else', async () => {
  const key = 'a'.repeat(64);
  const dirs = ['layers/.staging-aaaaaaaaaaaaaaaa-4242', 'layers/.drop-bbbbbbbbbbbbbbbb-4243', 'layers/.pull-cccccccccccccccc-4244', 'bootstrap/.pull-dddddddddddddddd-4245', `bootstrap/${key}.staging-4246`];
  const kept = [`layers/${key}`, `bootstrap/${key}`, 'failed/20261203T000000Z-base-aaaaaaaaaaaa-x', 'builds/20261203T000000Z-v1.0.0'];
  for (const dir of [...dirs, ...kept]) {
    await mkdir(join(work.dir, dir), { recursive: true });
    await writeFile(join(work.dir, dir, 'file'), 'x');
  }
  await writeFile(join(work.dir, 'lock.4247.tmp'), '{}');
  await writeFile(join(work.dir, 'lock'), '{}');

  const found = await findLeftovers(work.dir);
  const removed = await removeLeftovers(work.dir);

  expect(found).toEqual([...dirs, 'lock.4247.tmp'].sort());
  expect(removed).toEqual(found);
  expect(found.filter((p) => existsSync(join(work.dir, p)))).toEqual([]);
  expect([...kept, 'lock'].filter((p) => !existsSync(join(work.dir, p)))).toEqual([]);
});

it('finds nothing in a cache that does not exist yet', async () => {
  expect(await findLeftovers(join(work.dir, 'absent'))).toEqual([]);
});
