import { rename, rm, stat } from 'node:fs/promises';
import { execa } from 'execa';
import { z } from 'zod';
import { ToolFailedError } from '../../errors/index.js';

/** One image of a backing chain, as `qemu-img info` reports it. */
export type ImageLayerInfo = {
  readonly path: string;
  readonly format: string;
  readonly virtualSize: number;
  /** Bytes the file occupies on the host (allocated blocks, not its apparent size). */
  readonly actualSize: number | null;
  /** The backing path exactly as recorded in the header (may be relative to this image's directory). */
  readonly backingFile: string | null;
  readonly backingFormat: string | null;
};

/** An image and its whole backing chain, top first (`chain[0]` describes the image itself). */
export type ImageInfo = ImageLayerInfo & { readonly chain: readonly ImageLayerInfo[] };

/** What `qemu-img check` found; `clean` means no corruptions, leaks or check errors. */
export type ImageCheck = {
  readonly clean: boolean;
  readonly corruptions: number;
  readonly leaks: number;
  readonly checkErrors: number;
  readonly imageEndOffset: number | null;
};

/** The file a conversion produced and its size on disk. */
export type ConvertedImage = { readonly path: string; readonly bytes: number };

/** One image as printed by `qemu-img info --output=json`; only the fields imagebuild reads. */
export const QemuImgInfoJson = z.object({
  filename: z.string(),
  format: z.string(),
  'virtual-size': z.number(),
  'actual-size': z.number().optional(),
  'backing-filename': z.string().optional(),
  'backing-filename-format': z.string().optional(),
});
export type QemuImgInfoJson = z.infer<typeof QemuImgInfoJson>;

/** `qemu-img check --output=json`; the counters are omitted when zero. */
export const QemuImgCheckJson = z.object({
  'check-errors': z.number().optional(),
  corruptions: z.number().optional(),
  leaks: z.number().optional(),
  'image-end-offset': z.number().optional(),
});
export type QemuImgCheckJson = z.infer<typeof QemuImgCheckJson>;

const TOOL = 'qemu-img';
const STDERR_TAIL_LINES = 20;

type RunOptions = {
  /** Exit codes that are results rather than failures (`qemu-img check` uses 2 and 3). */
  readonly okExitCodes?: readonly number[];
  readonly onStdout?: (chunk: string) => void;
};

async function runQemuImg(args: readonly string[], options: RunOptions = {}): Promise<{ stdout: string; exitCode: number }> {
  const okExitCodes = options.okExitCodes ?? [0];
  // LC_ALL=C keeps messages stable for the one-line error; stdin ignored so a prompt can never hang us.
  const subprocess = execa(TOOL, args, { reject: false, stdin: 'ignore', env: { LC_ALL: 'C' } });
  const onStdout = options.onStdout;
  if (onStdout) subprocess.stdout.on('data', (chunk: Buffer) => onStdout(chunk.toString('utf8')));
  const result = await subprocess;
  if (result.exitCode !== undefined && okExitCodes.includes(result.exitCode)) {
    return { stdout: result.stdout, exitCode: result.exitCode };
  }
  const verb = args[0] ?? '';
  if (result.code === 'ENOENT') {
    throw new ToolFailedError(TOOL, `${TOOL} is not installed (not on PATH); install qemu-utils`, undefined, undefined, undefined, { cause: result });
  }
  const stderrLines = result.stderr.split('\n').map((line) => line.trim()).filter((line) => line !== '');
  const reason = stderrLines.at(-1) ?? (result.signal ? `killed by ${result.signal}` : 'no error output');
  throw new ToolFailedError(
    TOOL,
    `${TOOL} ${verb} failed (exit ${result.exitCode ?? '?'}): ${reason}`,
    result.exitCode,
    stderrLines.slice(-STDERR_TAIL_LINES).join('\n'),
    undefined,
    { cause: result },
  );
}

function toLayerInfo(json: QemuImgInfoJson): ImageLayerInfo {
  return {
    path: json.filename,
    format: json.format,
    virtualSize: json['virtual-size'],
    actualSize: json['actual-size'] ?? null,
    backingFile: json['backing-filename'] ?? null,
    backingFormat: json['backing-filename-format'] ?? null,
  };
}

function parseToolJson<T>(schema: z.ZodType<T>, stdout: string, what: string): T {
  let raw: unknown;
  try {
    raw = JSON.parse(stdout);
  } catch (error) {
    throw new ToolFailedError(TOOL, `${TOOL} ${what}: output is not JSON`, 0, stdout.slice(-2000), undefined, { cause: error });
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    throw new ToolFailedError(TOOL, `${TOOL} ${what}: unexpected JSON (${parsed.error.issues[0]?.message ?? 'invalid'})`, 0, stdout.slice(-2000));
  }
  return parsed.data;
}

/** Reads an image and its backing chain with `qemu-img info --output=json --backing-chain`. */
export async function readImageInfo(path: string, options: { chain?: boolean } = {}): Promise<ImageInfo> {
  // -U (force-share) so reading info never fails because a running QEMU holds the image lock.
  // Without the chain, the backing file is not opened: that reads an overlay whose parent has moved.
  const { stdout } = await runQemuImg(['info', '--output=json', ...(options.chain === false ? [] : ['--backing-chain']), '-U', path]);
  const json = parseToolJson(z.union([z.array(QemuImgInfoJson).min(1), QemuImgInfoJson]), stdout, 'info');
  const chain = (Array.isArray(json) ? json : [json]).map(toLayerInfo);
  const [top] = chain;
  if (!top) throw new ToolFailedError(TOOL, `${TOOL} info: empty backing chain for ${path}`, 0);
  return { ...top, chain };
}

/**
 * Creates a qcow2 overlay at `path` on top of `backingFile`, always with an explicit backing format
 * (QEMU >= 6.1 refuses `-b` without `-F`). A relative `backingFile` is resolved from `path`'s directory.
 * `sizeBytes`, when given, is the overlay's virtual size.
 */
export async function createOverlay(path: string, backingFile: string, options: { backingFormat: 'qcow2' | 'raw'; sizeBytes?: number }): Promise<void> {
  // A size beyond the backing file's makes the overlay a bigger disk (zeros past the image's end), as a workstation's is.
  const size = options.sizeBytes === undefined ? [] : [String(options.sizeBytes)];
  await runQemuImg(['create', '-q', '-f', 'qcow2', '-b', backingFile, '-F', options.backingFormat, path, ...size]);
}

/** Changes the backing path recorded in `path` without touching data (`rebase -u`), e.g. after moving artifacts. */
export async function rebaseUnsafe(path: string, newBacking: string): Promise<void> {
  await runQemuImg(['rebase', '-u', '-f', 'qcow2', '-F', 'qcow2', '-b', newBacking, path]);
}

/** Runs `qemu-img check`; corruptions and leaks are results (exit 2 and 3), only a check that cannot run throws. */
export async function checkImage(path: string): Promise<ImageCheck> {
  const { stdout } = await runQemuImg(['check', '--output=json', '-f', 'qcow2', path], { okExitCodes: [0, 2, 3] });
  const json = parseToolJson(QemuImgCheckJson, stdout, 'check');
  const corruptions = json.corruptions ?? 0;
  const leaks = json.leaks ?? 0;
  const checkErrors = json['check-errors'] ?? 0;
  return { clean: corruptions === 0 && leaks === 0 && checkErrors === 0, corruptions, leaks, checkErrors, imageEndOffset: json['image-end-offset'] ?? null };
}

/** Collects `qemu-img -p` progress, which arrives as `(12.34/100%)` records separated by carriage returns. */
export function progressParser(onProgress: (percent: number) => void): (chunk: string) => void {
  let carry = '';
  let last = -1;
  return (chunk) => {
    const text = carry + chunk;
    for (const match of text.matchAll(/\((\d+(?:\.\d+)?)\/100%\)/g)) {
      const percent = Number(match[1]);
      if (percent > last) {
        last = percent;
        onProgress(percent);
      }
    }
    // A record can be split across chunks; keep the unfinished tail for the next one.
    const open = text.lastIndexOf('(');
    carry = open > text.lastIndexOf(')') ? text.slice(open) : '';
  };
}

async function convertAtomically(args: readonly string[], dest: string, onProgress?: (percent: number) => void): Promise<ConvertedImage> {
  // Write beside dest and rename, so dest is either absent, the old file, or the complete new image.
  const partial = `${dest}.partial`;
  await rm(partial, { force: true });
  try {
    await runQemuImg(['convert', ...(onProgress ? ['-p'] : []), ...args, partial], onProgress ? { onStdout: progressParser(onProgress) } : {});
    await rename(partial, dest);
  } catch (error) {
    await rm(partial, { force: true });
    throw error;
  }
  return { path: dest, bytes: (await stat(dest)).blocks * 512 };
}

/** Writes `source` and its whole backing chain into one standalone qcow2 at `dest` (never a half file under `dest`). */
export async function flattenImage(
  source: string,
  dest: string,
  options: { compress?: boolean; onProgress?: (percent: number) => void } = {},
): Promise<ConvertedImage> {
  return convertAtomically(['-f', 'qcow2', '-O', 'qcow2', ...(options.compress ? ['-c'] : []), source], dest, options.onProgress);
}

/** Converts a raw disk image to qcow2 at `dest` (written to `dest.partial`, then renamed). */
export async function createQcow2FromRaw(raw: string, dest: string, options: { onProgress?: (percent: number) => void } = {}): Promise<ConvertedImage> {
  return convertAtomically(['-f', 'raw', '-O', 'qcow2', raw], dest, options.onProgress);
}

/** The formats convertImage writes: a sparse raw disk, or a VMDK. */
export type ConvertFormat = 'raw' | 'vmdk';

// streamOptimized is the VMDK of OVA/OVF appliances: VMware (ESXi, Workstation) and VirtualBox import it,
// and it is compressed; monolithicSparse would be smaller to write but ESXi cannot take it as it is.
const CONVERT_OPTIONS: Readonly<Record<ConvertFormat, readonly string[]>> = { raw: [], vmdk: ['-o', 'subformat=streamOptimized'] };

/**
 * Converts a qcow2 image to `format` at `dest` (written to `dest.partial`, then renamed): raw keeps
 * zero ranges as holes (a sparse file), vmdk is streamOptimized. qemu-img streams; memory stays constant.
 */
export async function convertImage(source: string, dest: string, options: { format: ConvertFormat; onProgress?: (percent: number) => void }): Promise<ConvertedImage> {
  return convertAtomically(['-f', 'qcow2', '-O', options.format, ...CONVERT_OPTIONS[options.format], source], dest, options.onProgress);
}
