import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { link, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { LockHeldError, type LockOwner } from '../../errors/index.js';

export type HeldLock = {
  /** The stale owner whose lock was taken over, if any (its process was dead). */
  readonly tookOverFrom?: LockOwner;
  release(): Promise<void>;
};

/** Whether a process with this pid exists (EPERM: it exists, owned by someone else). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function readOwner(path: string): Promise<LockOwner | undefined> {
  try {
    const parsed: unknown = JSON.parse(await readFile(path, 'utf8'));
    if (parsed && typeof parsed === 'object' && 'pid' in parsed && typeof parsed.pid === 'number' && 'hostname' in parsed && typeof parsed.hostname === 'string') {
      return {
        pid: parsed.pid,
        hostname: parsed.hostname,
        command: 'command' in parsed && typeof parsed.command === 'string' ? parsed.command : '?',
        startedAt: 'startedAt' in parsed && typeof parsed.startedAt === 'string' ? parsed.startedAt : '?',
      };
    }
  } catch {
    // Unreadable or half-written: treated as held by an unknown owner.
  }
  return undefined;
}

const sameOwner = (a: LockOwner, b: LockOwner): boolean => a.pid === b.pid && a.hostname === b.hostname && a.startedAt === b.startedAt;

/**
 * Replaces the lock of dead owner `stale` with the one in `temp`, unless someone else did first. Two
 * processes that both found the same dead owner would otherwise each remove the lock and both hold it:
 * a second lock (`<path>.takeover.lock`) lets one of them at a time re-check the owner and replace it.
 * A takeover lasts microseconds; one left by a process that died during it is cleared and tried again.
 */
async function replaceStaleLock(path: string, temp: string, stale: LockOwner, isAlive: (pid: number) => boolean): Promise<boolean> {
  const guard = `${path}.takeover.lock`;
  for (let attempt = 0; ; attempt++) {
    try {
      await link(temp, guard);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) return false;
      const holder = await readOwner(guard);
      if (!holder || holder.hostname !== hostname() || isAlive(holder.pid)) return false;
      await rm(guard, { force: true });
    }
  }
  try {
    const current = await readOwner(path);
    if (!current || !sameOwner(current, stale)) return false;
    await rm(path, { force: true });
    // EEXIST: a new acquirer linked its lock between the two; it holds it.
    return await link(temp, path).then(
      () => true,
      (error: unknown) => {
        if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
        throw error;
      },
    );
  } finally {
    await rm(guard, { force: true });
  }
}

/**
 * Takes an exclusive lock file. The owner record is written to a temporary file and hard-linked into
 * place, so the lock appears complete or not at all; a lock left by a dead process on this host is
 * taken over (and reported) by one process only, a live one refuses with LockHeldError.
 */
/**
 * Removes the temporary owner files that processes now dead left beside the lock (one SIGKILLed between writing its
 * file and removing it). Only names this module gives (`<lock>.tmp-<pid>-<12 hex>.lock`) of a pid that is gone; a
 * name is unlinked, never followed. Called by the holder, so no live acquirer's file is touched.
 */
async function removeDeadOwnersTemps(path: string, isAlive: (pid: number) => boolean): Promise<void> {
  const prefix = `${basename(path)}.tmp-`;
  const names = await readdir(dirname(path)).catch(() => [] as string[]);
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const pid = /^(\d+)-[0-9a-f]{12}\.lock$/.exec(name.slice(prefix.length))?.[1];
    if (pid !== undefined && Number(pid) !== process.pid && !isAlive(Number(pid))) await rm(join(dirname(path), name), { force: true });
  }
}

export async function acquireLock(path: string, command: string, isAlive: (pid: number) => boolean = processAlive): Promise<HeldLock> {
  const owner: LockOwner = { pid: process.pid, hostname: hostname(), command, startedAt: new Date().toISOString() };
  // An unguessable name created with O_EXCL: the lock may sit in a directory others write (a download's
  // destination), where a link planted at a predictable name would be followed. Named like a store's
  // temporary files and locks, so a filesystem store's listing skips it.
  const temp = `${path}.tmp-${process.pid}-${randomBytes(6).toString('hex')}.lock`;
  await writeFile(temp, `${JSON.stringify(owner)}\n`, { flag: 'wx' });
  let tookOverFrom: LockOwner | undefined;
  try {
    try {
      await link(temp, path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const current = await readOwner(path);
      if (!current || current.hostname !== owner.hostname || isAlive(current.pid)) throw new LockHeldError(path, current);
      if (!(await replaceStaleLock(path, temp, current, isAlive))) throw new LockHeldError(path, await readOwner(path));
      tookOverFrom = current;
    }
  } finally {
    await rm(temp, { force: true });
  }
  await removeDeadOwnersTemps(path, isAlive);
  let released = false;
  return {
    tookOverFrom,
    async release() {
      if (released) return;
      released = true;
      const current = await readOwner(path);
      if (current?.pid === owner.pid && current.hostname === owner.hostname) await rm(path, { force: true });
    },
  };
}

/**
 * acquireLock for a lock held only for milliseconds (a release index's read-compare-write): while a
 * live process holds it, tries again with growing pauses up to `waitMs`, then refuses with LockHeldError.
 */
export async function acquireShortLock(path: string, command: string, waitMs = 10_000, isAlive: (pid: number) => boolean = processAlive): Promise<HeldLock> {
  const deadline = Date.now() + waitMs;
  for (let pause = 20; ; pause = Math.min(pause * 2, 500)) {
    try {
      return await acquireLock(path, command, isAlive);
    } catch (error) {
      if (!(error instanceof LockHeldError) || Date.now() + pause > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, pause));
    }
  }
}
