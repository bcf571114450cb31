import { createReadStream, createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { execa } from 'execa';
import { FileAccessError, ToolFailedError } from '../../errors/index.js';
import { describeFsError } from '../fs/describe-fs-error.js';
import { createMeteredStream } from '../fs/metered-stream.js';

const TOOL = 'xz';
// Large reads keep the per-chunk cost down, as in sha256File; xz's pipe takes them in its own pace.
const CHUNK_BYTES = 4 * 1024 * 1024;

/** What compressXz wrote: the compressed file's size and SHA-256. */
export type CompressedFile = { readonly bytes: number; readonly sha256: string };

/** Refuses early, with what to install, when xz is missing. */
export async function requireXz(): Promise<void> {
  const result = await execa(TOOL, ['--version'], { reject: false, stdin: 'ignore' });
  if (result.code === 'ENOENT') throw new ToolFailedError(TOOL, `${TOOL} is not installed (not on PATH); install the xz-utils package`, undefined, undefined, undefined, { cause: result });
}

/**
 * Compresses `source` into a new file `dest` with `xz -T0` (every core), streaming both ways: the input
 * is read in chunks (`onBytes` gets the running count) and the output hashed on its way to disk, so
 * memory stays constant whatever the size. `dest` must not exist; on failure the caller removes it.
 */
export async function compressXz(source: string, dest: string, options: { onBytes?: (bytes: number) => void; signal?: AbortSignal } = {}): Promise<CompressedFile> {
  const child = execa(TOOL, ['-T0', '--stdout', '--quiet'], {
    reject: false,
    env: { LC_ALL: 'C' },
    buffer: { stdout: false },
    ...(options.signal === undefined ? {} : { cancelSignal: options.signal }),
  });
  const input = createMeteredStream({ onBytes: options.onBytes });
  const output = createMeteredStream({ sha256: true });
  const [fed, drained, ran] = await Promise.allSettled([
    pipeline(createReadStream(source, { highWaterMark: CHUNK_BYTES }), input, child.stdin),
    pipeline(child.stdout, output, createWriteStream(dest, { flags: 'wx' })),
    child,
  ]);
  const result = ran.status === 'fulfilled' ? ran.value : undefined;
  if (result?.code === 'ENOENT') throw new ToolFailedError(TOOL, `${TOOL} is not installed (not on PATH); install the xz-utils package`, undefined, undefined, undefined, { cause: result });
  if (result !== undefined && result.exitCode !== 0 && !result.isCanceled) {
    const reason = result.stderr.split('\n').map((line) => line.trim()).filter((line) => line !== '').at(-1) ?? (result.signal ? `killed by ${result.signal}` : 'no error output');
    throw new ToolFailedError(TOOL, `${TOOL} failed (exit ${result.exitCode ?? '?'}): ${reason}`, result.exitCode, result.stderr.slice(-2000));
  }
  if (result === undefined || result.isCanceled) throw new ToolFailedError(TOOL, `${TOOL} stopped before it finished${result?.isCanceled ? ' (interrupted)' : ''}`);
  // Our side of the pipes: reading the source or writing dest (a full disk) failed.
  for (const [what, path, settled] of [['read', source, fed], ['write', dest, drained]] as const) {
    if (settled.status === 'rejected') throw new FileAccessError(`${path}: cannot ${what} it: ${describeFsError(settled.reason)}`, { cause: settled.reason });
  }
  return { bytes: output.bytes(), sha256: output.digest()! };
}
