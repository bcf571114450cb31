import { type Stats } from 'node:fs';
import { readdir, readFile, realpath, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { execa } from 'execa';
import type { BlockName, TargetFacts, TargetMount } from '../../core/flash/flash-target.js';

// Gathers what decides whether flash may write to a path (Linux): the kernel's view in /sys/class/block
// (size, ro, partitions, holders, model, serial), /proc/self/mountinfo and /proc/swaps. Judging is
// src/core/flash/flash-target.ts's job; this only reports.

/** Where the kernel's views live; tests never point these elsewhere, but one place names them. */
const SYS_BLOCK = '/sys/class/block';
const SYS_DEV_BLOCK = '/sys/dev/block';
const MOUNTINFO = '/proc/self/mountinfo';
const SWAPS = '/proc/swaps';

/** The facts about `path` (a link such as /dev/disk/by-id/… is followed). */
export async function gatherTargetFacts(path: string): Promise<TargetFacts> {
  let stats: Stats;
  try {
    stats = await stat(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'missing', path };
    throw error;
  }
  if (stats.isFile()) {
    return { kind: 'file', path, sizeBytes: stats.size, fileId: fileIdOf(stats), loopDevices: await loopDevicesBackedBy(await realpath(path)) };
  }
  if (!stats.isBlockDevice()) return { kind: 'other', path, what: stats.isDirectory() ? 'a directory' : stats.isCharacterDevice() ? 'a character device' : 'a special file (FIFO or socket)' };
  return blockFacts(path, devNumber(stats.rdev));
}

/** `dev:ino` of a file, to tell two names of one file apart from two files. */
export function fileIdOf(stats: Stats): string {
  return `${stats.dev}:${stats.ino}`;
}

async function blockFacts(path: string, dev: string): Promise<TargetFacts> {
  const sysDir = await realpath(join(SYS_DEV_BLOCK, dev));
  const name = basename(sysDir);
  const partitionOf = (await readSys(join(sysDir, 'partition'))) === undefined ? undefined : basename(join(sysDir, '..'));
  const partitions = partitionOf === undefined ? await partitionsOf(sysDir) : [];
  const own: BlockName[] = [{ name, dev }, ...partitions];
  const holders = await holdersOf(own.map((d) => d.name));
  const devices = [...own, ...(await Promise.all(holders.map(async (h) => ({ name: h.holder, dev: (await readSys(join(SYS_BLOCK, h.holder, 'dev'))) ?? '' }))))];
  const sectors = await readSys(join(sysDir, 'size'));
  const described = await describeDisk(path, join(sysDir, 'device'));
  return {
    kind: 'block',
    path,
    device: { name, dev },
    ...(partitionOf === undefined ? {} : { partitionOf }),
    // /sys/class/block/X/size counts 512-byte sectors whatever the device's sector size.
    sizeBytes: sectors === undefined || !/^\d+$/.test(sectors) ? null : Number(sectors) * 512,
    readOnly: (await readSys(join(sysDir, 'ro'))) === '1',
    ...described,
    partitions,
    holders,
    mounts: await mountsOn(devices),
    swaps: await swapsOn(devices),
  };
}

function devNumber(rdev: number): string {
  // Linux's encoding of dev_t (glibc's gnu_dev_major/minor).
  const major = ((rdev >> 8) & 0xfff) | (Math.floor(rdev / 2 ** 32) & ~0xfff);
  const minor = (rdev & 0xff) | ((rdev >> 12) & ~0xff & 0xfffff);
  return `${major}:${minor}`;
}

async function readSys(path: string): Promise<string | undefined> {
  try {
    return (await readFile(path, 'utf8')).trim();
  } catch {
    return undefined;
  }
}

async function listSys(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch {
    return [];
  }
}

async function partitionsOf(sysDir: string): Promise<BlockName[]> {
  const found: BlockName[] = [];
  for (const entry of await listSys(sysDir)) {
    if ((await readSys(join(sysDir, entry, 'partition'))) === undefined) continue;
    found.push({ name: entry, dev: (await readSys(join(sysDir, entry, 'dev'))) ?? '' });
  }
  return found;
}

/** Holders of `names`, and holders of those, as far as they go (dm on md on a partition). */
async function holdersOf(names: readonly string[]): Promise<{ of: string; holder: string }[]> {
  const found: { of: string; holder: string }[] = [];
  const queue = [...names];
  const seen = new Set(names);
  while (queue.length > 0) {
    const of = queue.shift()!;
    for (const holder of await listSys(join(SYS_BLOCK, of, 'holders'))) {
      found.push({ of, holder });
      if (!seen.has(holder)) {
        seen.add(holder);
        queue.push(holder);
      }
    }
  }
  return found;
}

/** Model, vendor and serial from sysfs, filled in by lsblk (udev's database) where sysfs has none (SATA serials). */
async function describeDisk(path: string, deviceDir: string): Promise<{ model: string | null; vendor: string | null; serial: string | null }> {
  const nonEmpty = (value: string | undefined | null) => (value === undefined || value === null || value.trim() === '' ? null : value.trim());
  let model = nonEmpty(await readSys(join(deviceDir, 'model')));
  let vendor = nonEmpty(await readSys(join(deviceDir, 'vendor')));
  let serial = nonEmpty(await readSys(join(deviceDir, 'serial')));
  if (model === null || serial === null) {
    const listed = await execa('lsblk', ['-J', '-d', '-o', 'NAME,MODEL,SERIAL,VENDOR', path], { reject: false, stdin: 'ignore', env: { LC_ALL: 'C' } });
    if (listed.exitCode === 0) {
      try {
        const [disk] = (JSON.parse(listed.stdout) as { blockdevices?: { model?: string | null; serial?: string | null; vendor?: string | null }[] }).blockdevices ?? [];
        model ??= nonEmpty(disk?.model);
        serial ??= nonEmpty(disk?.serial);
        vendor ??= nonEmpty(disk?.vendor);
      } catch {
        // lsblk output that is not JSON adds nothing; sysfs said what it could.
      }
    }
  }
  return { model, vendor, serial };
}

/** Mounts whose device is one of `devices`: by major:minor, or by source path (btrfs reports an anonymous device number). */
async function mountsOn(devices: readonly BlockName[]): Promise<TargetMount[]> {
  const text = (await readSys(MOUNTINFO)) ?? '';
  const byDev = new Map(devices.map((d) => [d.dev, d.name]));
  const mounts: TargetMount[] = [];
  for (const line of text.split('\n')) {
    const fields = line.split(' ');
    const dash = fields.indexOf('-');
    if (dash < 0 || fields.length < dash + 3) continue;
    const [dev, mountPoint] = [fields[2]!, unescapeMountField(fields[4]!)];
    const [fsType, source] = [fields[dash + 1]!, unescapeMountField(fields[dash + 2]!)];
    const on = byDev.get(dev) ?? (source.startsWith('/dev/') ? await deviceNameAt(source, byDev) : undefined);
    if (on !== undefined) mounts.push({ on, mountPoint, fsType });
  }
  return mounts;
}

/** mountinfo escapes space, tab, newline and backslash as \ooo. */
function unescapeMountField(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

async function deviceNameAt(path: string, byDev: ReadonlyMap<string, string>): Promise<string | undefined> {
  try {
    const stats = await stat(path);
    return stats.isBlockDevice() ? byDev.get(devNumber(stats.rdev)) : undefined;
  } catch {
    return undefined;
  }
}

async function swapsOn(devices: readonly BlockName[]): Promise<{ on: string; path: string }[]> {
  const text = (await readSys(SWAPS)) ?? '';
  const byDev = new Map(devices.map((d) => [d.dev, d.name]));
  const swaps: { on: string; path: string }[] = [];
  for (const line of text.split('\n').slice(1)) {
    const path = unescapeMountField(line.split(/\s+/)[0] ?? '');
    if (path === '') continue;
    const on = await deviceNameAt(path, byDev);
    if (on !== undefined) swaps.push({ on, path });
  }
  return swaps;
}

/** Loop devices whose backing file is `file` (an absolute, resolved path). */
async function loopDevicesBackedBy(file: string): Promise<string[]> {
  const found: string[] = [];
  for (const name of await listSys(SYS_BLOCK)) {
    if (!name.startsWith('loop')) continue;
    const backing = await readSys(join(SYS_BLOCK, name, 'loop', 'backing_file'));
    if (backing !== undefined && backing.replace(/ \(deleted\)$/, '') === file) found.push(name);
  }
  return found;
}
