import { hostname } from 'node:os';
import { link, readFile, rm, writeFile } from 'node:fs/promises';
import { LockHeldError, type LockOwner } from '../../errors/index.js';

export type HeldLock = {
  /** The stale owner whose lock was taken over, if any (its process was dead). */
  readonly tookOverFrom?: LockOwner;
  release(): Promise<void>;
};

function processAlive(pid: number): boolean {
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

/**
 * Takes an exclusive lock file. The owner record is written to a temporary file and hard-linked into
 * place, so the lock appears complete or not at all; a lock left by a dead process on this host is
 * taken over (and reported), a live one refuses with LockHeldError.
 */
export async function acquireLock(path: string, command: string, isAlive: (pid: number) => boolean = processAlive): Promise<HeldLock> {
  const owner: LockOwner = { pid: process.pid, hostname: hostname(), command, startedAt: new Date().toISOString() };
  const temp = `${path}.${process.pid}.tmp`;
  // O_EXCL: the lock may sit in a directory others write (a download's destination), where a link planted
  // at this predictable name must not be followed; a leftover of a dead process with this pid goes first.
  await rm(temp, { force: true });
  await writeFile(temp, `${JSON.stringify(owner)}\n`, { flag: 'wx' });
  let tookOverFrom: LockOwner | undefined;
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        await link(temp, path);
        break;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) {
          if ((error as NodeJS.ErrnoException).code === 'EEXIST') throw new LockHeldError(path, await readOwner(path));
          throw error;
        }
        const current = await readOwner(path);
        if (!current || current.hostname !== owner.hostname || isAlive(current.pid)) throw new LockHeldError(path, current);
        tookOverFrom = current;
        await rm(path, { force: true });
      }
    }
  } finally {
    await rm(temp, { force: true });
  }
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
