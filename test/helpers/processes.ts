import { readdirSync, readFileSync } from 'node:fs';

export type MentioningProcess = { pid: number; cmdline: string };

/**
 * Live processes (not this one, not zombies) whose command line — or, with `where` left as is, also
 * environment — mentions `text`. A test's temporary directory names every process it started, however
 * deep (Packer's PATH holds the cache's shim directory), so a leftover can be found without confusing
 * it with another test's. The fault suites look at command lines only.
 */
export function processesMentioning(text: string, where: 'cmdline' | 'cmdline-or-environ' = 'cmdline-or-environ'): MentioningProcess[] {
  const found: MentioningProcess[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      const cmdline = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0').join(' ').trim();
      const environ = where === 'cmdline-or-environ' ? readFileSync(`/proc/${name}/environ`, 'utf8') : '';
      const mentions = cmdline.includes(text) || environ.includes(text);
      const state = /^State:\s+(\S)/m.exec(readFileSync(`/proc/${name}/status`, 'utf8'))?.[1];
      if (mentions && state !== 'Z') found.push({ pid: Number(name), cmdline });
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return found;
}
