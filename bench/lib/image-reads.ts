import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';

/** Bytes read from qcow2 files during a traced run, per program (node, qemu-img, sha256sum…). */
export type ImageReads = ReadonlyMap<string, number>;

const READ_CALL = /^(\d+) +(?:read|pread64|readv|preadv|preadv2)\(\d+<([^>]*)>/;
const RESUMED = /^(\d+) +<\.\.\. (?:read|pread64|readv|preadv|preadv2) resumed>.*= (\d+)$/;
const COMPLETE = /= (\d+)$/;
const EXECVE = /^(\d+) +execve\("([^"]+)"/;
const EXECVE_RESUMED = /^(\d+) +<\.\.\. execve resumed>.*= 0$/;
const CLONE = /^(\d+) +(?:clone|clone3|vfork|fork)\(.*= (\d+)$/;
const CLONE_RESUMED = /^(\d+) +<\.\.\. (?:clone|clone3|vfork|fork) resumed>.*= (\d+)$/;

/**
 * Sums the bytes each program read from `*.qcow2` files in an `strace -f -y` trace (`-e trace=execve,clone,…,read…`).
 * Threads and children are attributed to the program their process last exec'd.
 */
export async function parseImageReads(traceFile: string): Promise<ImageReads> {
  const program = new Map<string, string>();
  const pendingPath = new Map<string, string>();
  const pendingExec = new Map<string, string>();
  const totals = new Map<string, number>();
  const isImage = (path: string) => /\.qcow2(\.partial)?$/.test(path);
  const add = (pid: string, path: string, bytes: number) => {
    if (!isImage(path) || !(bytes > 0)) return;
    const name = program.get(pid) ?? `pid ${pid}`;
    totals.set(name, (totals.get(name) ?? 0) + bytes);
  };
  for (const line of (await readFile(traceFile, 'utf8')).split('\n')) {
    let m = EXECVE.exec(line);
    if (m) {
      // A failed execve (a PATH entry without the program) leaves the process what it was.
      if (line.includes('<unfinished ...>')) pendingExec.set(m[1]!, basename(m[2]!));
      else if (/= 0$/.test(line)) program.set(m[1]!, basename(m[2]!));
      continue;
    }
    m = EXECVE_RESUMED.exec(line);
    if (m) {
      const name = pendingExec.get(m[1]!);
      if (name) program.set(m[1]!, name);
      continue;
    }
    m = CLONE.exec(line) ?? CLONE_RESUMED.exec(line);
    if (m) {
      program.set(m[2]!, program.get(m[1]!) ?? `pid ${m[1]}`);
      continue;
    }
    m = READ_CALL.exec(line);
    if (m) {
      if (line.includes('<unfinished ...>')) pendingPath.set(m[1]!, m[2]!);
      else add(m[1]!, m[2]!, Number(COMPLETE.exec(line)?.[1]));
      continue;
    }
    m = RESUMED.exec(line);
    if (m) {
      const path = pendingPath.get(m[1]!);
      pendingPath.delete(m[1]!);
      if (path) add(m[1]!, path, Number(m[2]));
    }
  }
  return totals;
}

/** Bytes read from images by anything but qemu-img, whose reads are of headers and backing-chain metadata. */
export function bytesHashed(reads: ImageReads): number {
  let total = 0;
  for (const [name, bytes] of reads) if (name !== 'qemu-img') total += bytes;
  return total;
}
