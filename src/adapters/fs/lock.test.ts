import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { listTree, useTempDir } from '../../../test/helpers/temp-dir.js';
import { acquireLock, acquireShortLock } from './lock.js';
import { LockHeldError } from '../../errors/index.js';

const work = useTempDir();

describe('acquireLock', () => {
  it('writes the owner and removes the lock on release', async () => {
    const path = join(work.dir, 'lock');

    const lock = await acquireLock(path, 'imagebuild build v1.0.0');
    const owner = JSON.parse(readFileSync(path, 'utf8'));
    await lock.release();

    expect(owner).toMatchObject({ pid: process.pid, hostname: hostname(), command: 'imagebuild build v1.0.0' });
    expect(existsSync(path)).toBe(false);
    expect(await listTree(work.dir)).toEqual([]);
  });

  it("removes the temporary owner file a dead process left (SIGKILLed while taking the lock), never a live one's", async () => {
    const path = join(work.dir, 'image.qcow2.lock');
    const dead = `${path}.tmp-4000001-0123456789ab.lock`;
    const live = `${path}.tmp-4000002-0123456789ab.lock`;
    const other = `${path}.tmp-notes.txt`;
    for (const file of [dead, live, other]) await writeFile(file, '{}\n');

    const lock = await acquireLock(path, 'imagebuild download v1.0.0', (pid) => pid === 4000002);
    await lock.release();

    expect(existsSync(dead)).toBe(false);
    expect(existsSync(live)).toBe(true);
    expect(existsSync(other)).toBe(true);
  });

  it('refuses a second holder and names the first', async () => {
    const path = join(work.dir, 'lock');
    const first = await acquireLock(path, 'imagebuild build v1.0.0');

    const second = acquireLock(path, 'imagebuild build v1.1.0', () => true);

    await expect(second).rejects.toBeInstanceOf(LockHeldError);
    await expect(acquireLock(path, 'x', () => true)).rejects.toThrow(`held by pid ${process.pid} on ${hostname()} (imagebuild build v1.0.0)`);
    await first.release();
  });

  it('a short lock waits for a live holder to let go, and refuses (naming it) once its wait is over', async () => {
    const path = join(work.dir, 'lock');
    const first = await acquireLock(path, 'imagebuild: update releases.json');
    setTimeout(() => void first.release(), 150);

    const second = await acquireShortLock(path, 'imagebuild: update releases.json', 5_000, () => true);

    expect(JSON.parse(readFileSync(path, 'utf8')).pid).toBe(process.pid);
    await expect(acquireShortLock(path, 'x', 100, () => true)).rejects.toThrow(`held by pid ${process.pid} on ${hostname()} (imagebuild: update releases.json)`);
    await second.release();
    expect(existsSync(path)).toBe(false);
  });

  it('takes over a lock whose process is dead, and reports whose it was', async () => {
    const path = join(work.dir, 'lock');
    await writeFile(path, JSON.stringify({ pid: 999_999, hostname: hostname(), command: 'imagebuild build v0.9.0', startedAt: '2026-11-01T00:00:00Z' }));

    const lock = await acquireLock(path, 'imagebuild build v1.0.0', (pid) => pid !== 999_999);

    expect(lock.tookOverFrom).toMatchObject({ pid: 999_999, command: 'imagebuild build v0.9.0' });
    expect(JSON.parse(readFileSync(path, 'utf8')).pid).toBe(process.pid);
    await lock.release();
  });

  it('does not take over a stale lock that another process took over since this one found it stale', async () => {
    const path = join(work.dir, 'lock');
    await writeFile(path, JSON.stringify({ pid: 999_999, hostname: hostname(), command: 'imagebuild download v1.0.0', startedAt: '2026-11-01T00:00:00Z' }));
    const other = { pid: process.ppid, hostname: hostname(), command: 'imagebuild download v1.0.0 (the other)', startedAt: new Date().toISOString() };
    let raced = false;
    // The other process takes over exactly between this one reading the dead owner and replacing the lock.
    const racing = (pid: number) => {
      if (pid === 999_999 && !raced) {
        raced = true;
        rmSync(path);
        writeFileSync(path, JSON.stringify(other));
      }
      return pid !== 999_999;
    };

    const mine = acquireLock(path, 'imagebuild download v1.0.0 (mine)', racing);

    await expect(mine).rejects.toThrow(`held by pid ${other.pid} on ${hostname()} (imagebuild download v1.0.0 (the other))`);
    expect(JSON.parse(readFileSync(path, 'utf8'))).toEqual(other);
    expect(await listTree(work.dir)).toEqual(['lock']);
  });

  it('never takes over a lock from another host', async () => {
    const path = join(work.dir, 'lock');
    await writeFile(path, JSON.stringify({ pid: 999_999, hostname: 'other-host', command: 'c', startedAt: 't' }));

    await expect(acquireLock(path, 'x', () => false)).rejects.toThrow('held by pid 999999 on other-host');
  });
});
