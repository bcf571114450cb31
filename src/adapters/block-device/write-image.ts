import { open } from 'node:fs/promises';
import { execa } from 'execa';
import { z } from 'zod';
import { InterruptedError, ToolFailedError } from '../../errors/index.js';
import { progressParser } from '../qemu-img/qemu-img.js';

// Writes a qcow2 onto a disk (or a file standing for one) with qemu-img, and reads it back: convert
// -n writes into the existing target, data as data and zero ranges with the target's write-zeroes
// (BLKZEROOUT, fallocate), so an old disk's leftovers never survive where the image holds zeros;
// compare then reads the target back over exactly the image's virtual size.

const TOOL = 'qemu-img';
const STDERR_TAIL_LINES = 20;

/** What kind of target: a block device gets O_DIRECT I/O and a device flush; a file the page cache and fsync. */
export type TargetKind = 'block' | 'file';

type Run = { readonly signal?: AbortSignal; readonly onPercent?: (percent: number) => void; readonly okExitCodes?: readonly number[] };

async function runQemuImg(args: readonly string[], run: Run = {}): Promise<{ stdout: string; exitCode: number }> {
  const subprocess = execa(TOOL, args, {
    reject: false,
    stdin: 'ignore',
    env: { LC_ALL: 'C' },
    ...(run.signal ? { cancelSignal: run.signal, forceKillAfterDelay: 5000 } : {}),
  });
  const onPercent = run.onPercent;
  if (onPercent) {
    const parse = progressParser(onPercent);
    subprocess.stdout.on('data', (chunk: Buffer) => parse(chunk.toString('utf8')));
  }
  const result = await subprocess;
  if (result.isCanceled) throw new InterruptedError(`${TOOL} ${args[0]} stopped by the interrupt`);
  if (result.exitCode !== undefined && (run.okExitCodes ?? [0]).includes(result.exitCode)) return { stdout: result.stdout, exitCode: result.exitCode };
  if (result.code === 'ENOENT') throw new ToolFailedError(TOOL, `${TOOL} is not installed (not on PATH); install qemu-utils`, undefined, undefined, undefined, { cause: result });
  const lines = result.stderr.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  const reason = lines.at(-1) ?? (result.signal ? `killed by ${result.signal}` : 'no error output');
  throw new ToolFailedError(TOOL, `${TOOL} ${args[0]} failed (exit ${result.exitCode ?? '?'}): ${reason}`, result.exitCode, lines.slice(-STDERR_TAIL_LINES).join('\n'), undefined, { cause: result });
}

const MapEntry = z.object({ start: z.number(), length: z.number(), zero: z.boolean(), data: z.boolean() });

/** Bytes of the image that hold data and bytes that read as zeros (`qemu-img map`). */
export async function measureImageData(image: string): Promise<{ dataBytes: number; zeroBytes: number }> {
  const { stdout } = await runQemuImg(['map', '--output=json', '-f', 'qcow2', image]);
  const parsed = z.array(MapEntry).safeParse(JSON.parse(stdout));
  if (!parsed.success) throw new ToolFailedError(TOOL, `${TOOL} map: unexpected JSON (${parsed.error.issues[0]?.message ?? 'invalid'})`, 0, stdout.slice(-2000));
  let dataBytes = 0;
  let zeroBytes = 0;
  for (const entry of parsed.data) {
    if (entry.data && !entry.zero) dataBytes += entry.length;
    else zeroBytes += entry.length;
  }
  return { dataBytes, zeroBytes };
}

/**
 * Writes qcow2 `image` onto `target` from its first byte (`qemu-img convert -n -O raw`). A block device
 * is written with O_DIRECT (-t none: nothing lingers in the page cache to hide a bad write); a file through
 * the page cache (O_DIRECT fails on tmpfs and some filesystems). `targetIsZero` skips zero ranges
 * entirely and is only for a target known to read as zeros (a file flash just created).
 */
export async function writeImageToTarget(image: string, target: string, options: { kind: TargetKind; targetIsZero: boolean; signal?: AbortSignal; onPercent?: (percent: number) => void }): Promise<void> {
  const cache = options.kind === 'block' ? 'none' : 'writeback';
  await runQemuImg(['convert', '-p', '-n', '-f', 'qcow2', '-O', 'raw', '-t', cache, ...(options.targetIsZero ? ['--target-is-zero'] : []), image, target], {
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.onPercent ? { onPercent: options.onPercent } : {}),
  });
}

/** Makes what was written durable: fsync of the target (a block device's fsync flushes its write cache), then `blockdev --flushbufs` for a device. */
export async function flushTarget(target: string, kind: TargetKind): Promise<void> {
  const handle = await open(target, 'r+');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
  if (kind === 'block') {
    const flushed = await execa('blockdev', ['--flushbufs', target], { reject: false, stdin: 'ignore', env: { LC_ALL: 'C' } });
    if (flushed.exitCode !== 0) throw new ToolFailedError('blockdev', `blockdev --flushbufs ${target} failed (exit ${flushed.exitCode ?? '?'}): ${flushed.stderr.trim() || 'no error output'}`, flushed.exitCode, flushed.stderr);
  }
}

/** What reading the target back found: identical over the range, or the first offset that differs. */
export type CompareResult = { readonly identical: true } | { readonly identical: false; readonly offset: number | null; readonly detail: string };

/**
 * Reads `target` back and compares its first `rangeBytes` (the image's virtual size) with `image`
 * (`qemu-img compare` through a size-limited raw driver, so whatever a larger disk holds beyond the
 * image is not compared). A block device is read with O_DIRECT: from the device, not the page cache.
 */
export async function compareTargetWithImage(image: string, target: string, options: { kind: TargetKind; rangeBytes: number; signal?: AbortSignal; onPercent?: (percent: number) => void }): Promise<CompareResult> {
  const targetOpts =
    options.kind === 'block'
      ? `driver=raw,size=${options.rangeBytes},file.driver=host_device,file.filename=${optsValue(target)},cache.direct=on`
      : `driver=raw,size=${options.rangeBytes},file.driver=file,file.filename=${optsValue(target)}`;
  const { stdout, exitCode } = await runQemuImg(['compare', '-p', '--image-opts', `driver=qcow2,file.driver=file,file.filename=${optsValue(image)}`, targetOpts], {
    okExitCodes: [0, 1],
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.onPercent ? { onPercent: options.onPercent } : {}),
  });
  if (exitCode === 0) return { identical: true };
  const detail = stdout.split(/[\r\n]+/).map((l) => l.replace(/^\s*\(\d+(?:\.\d+)?\/100%\)/g, '').trim()).filter((l) => l !== '' && !l.startsWith('(')).at(-1) ?? 'content differs';
  const offset = /offset (\d+)/.exec(detail);
  return { identical: false, offset: offset ? Number(offset[1]) : null, detail };
}

/** A value inside QEMU's key=value,… option syntax, where a comma is written twice. */
function optsValue(value: string): string {
  return value.replace(/,/g, ',,');
}
