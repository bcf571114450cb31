import { readdir, readFile } from 'node:fs/promises';

/**
 * CPU time (clock ticks) used so far by process `pid` and every process below it, from /proc: its own and its live
 * descendants' user and system time plus what their exited, waited-for children used. It only grows while the tree
 * computes, so a stall detector can tell a busy silent tool (dpkg unpacking behind a buffered pipe) from a hung one.
 * Undefined where /proc cannot be read (not Linux) or the process is gone.
 */
export async function processTreeCpuTicks(pid: number): Promise<number | undefined> {
  let entries: string[];
  try {
    entries = (await readdir('/proc')).filter((name) => /^\d+$/.test(name));
  } catch {
    return undefined;
  }
  const stats = await Promise.all(entries.map(async (name) => parseStat(await readFile(`/proc/${name}/stat`, 'utf8').catch(() => ''))));
  const children = new Map<number, { pid: number; ticks: number }[]>();
  let root: { pid: number; ticks: number } | undefined;
  for (const stat of stats) {
    if (stat === undefined) continue;
    if (stat.pid === pid) root = stat;
    const siblings = children.get(stat.ppid) ?? [];
    siblings.push(stat);
    children.set(stat.ppid, siblings);
  }
  if (root === undefined) return undefined;
  let total = 0;
  const pending = [root];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    total += next.ticks;
    pending.push(...(children.get(next.pid) ?? []));
  }
  return total;
}

/** pid, ppid and utime+stime+cutime+cstime of a /proc/<pid>/stat line (the command name may hold spaces and parentheses). */
function parseStat(line: string): { pid: number; ppid: number; ticks: number } | undefined {
  const close = line.lastIndexOf(')');
  if (close < 0) return undefined;
  // After "pid (comm) ": state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt utime stime cutime cstime …
  const fields = line.slice(close + 2).split(' ');
  const numbers = [1, 11, 12, 13, 14].map((i) => Number(fields[i]));
  if (numbers.some((n) => !Number.isFinite(n))) return undefined;
  const [ppid, ...times] = numbers as [number, ...number[]];
  return { pid: Number(line.slice(0, line.indexOf(' '))), ppid, ticks: times.reduce((a, b) => a + b, 0) };
}
