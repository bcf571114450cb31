import { open, readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { requireTools } from '../../../test/helpers/require-tools.js';
import { useTempDir } from '../../../test/helpers/temp-dir.js';
import { ToolFailedError } from '../../errors/index.js';
import { qemuImgShimDir } from './qemu-img-shim.js';
import { checkImage, createOverlay, createQcow2FromRaw, flattenImage, readImageInfo, rebaseUnsafe } from './qemu-img.js';

const MiB = 1024 * 1024;
const HAVE_SHELLCHECK = requireTools('src/adapters/qemu-img/qemu-img.test.ts', 'shellcheck');
const work = useTempDir('imagebuild-qemu-img-');

async function writePattern(image: string, pattern: string, offset: string, length: string): Promise<void> {
  await execa('qemu-io', ['-f', 'qcow2', '-c', `write -P ${pattern} ${offset} ${length}`, image]);
}

/** base (0xaa at 0) <- l1 (0xbb at 1M) <- l2 (0xcc at 2M), all 16 MiB. */
async function makeChain(): Promise<{ base: string; l1: string; l2: string }> {
  const base = join(work.dir, 'base.qcow2');
  const l1 = join(work.dir, 'l1.qcow2');
  const l2 = join(work.dir, 'l2.qcow2');
  await execa('qemu-img', ['create', '-q', '-f', 'qcow2', base, '16M']);
  await writePattern(base, '0xaa', '0', '1M');
  await createOverlay(l1, 'base.qcow2', { backingFormat: 'qcow2' });
  await writePattern(l1, '0xbb', '1M', '1M');
  await createOverlay(l2, 'l1.qcow2', { backingFormat: 'qcow2' });
  await writePattern(l2, '0xcc', '2M', '1M');
  return { base, l1, l2 };
}

/** Sets the 16-bit refcount of one cluster in a fresh qcow2 (its single refcount block): above the real count is a leak, below it corruption. */
async function setRefcount(image: string, cluster: number, refcount: number): Promise<void> {
  const file = await open(image, 'r+');
  try {
    const header = Buffer.alloc(64);
    await file.read(header, 0, 64, 0);
    const refcountTable = header.readBigUInt64BE(48);
    const entry = Buffer.alloc(8);
    await file.read(entry, 0, 8, Number(refcountTable));
    const refcountBlock = Number(entry.readBigUInt64BE(0));
    const value = Buffer.alloc(2);
    value.writeUInt16BE(refcount);
    await file.write(value, 0, 2, refcountBlock + cluster * 2);
  } finally {
    await file.close();
  }
}

describe('readImageInfo', () => {
  it('reports the whole backing chain with recorded paths and formats', async () => {
    const { l2 } = await makeChain();

    const info = await readImageInfo(l2);

    expect(info.format).toBe('qcow2');
    expect(info.virtualSize).toBe(16 * MiB);
    expect(info.backingFile).toBe('l1.qcow2');
    expect(info.backingFormat).toBe('qcow2');
    expect(info.actualSize).toBeGreaterThan(0);
    expect(info.chain.map((layer) => layer.backingFile)).toEqual(['l1.qcow2', 'base.qcow2', null]);
    expect(info.chain.map((layer) => layer.path.split('/').at(-1))).toEqual(['l2.qcow2', 'l1.qcow2', 'base.qcow2']);
  });

  it('throws ToolFailedError with a one-line message for a missing image', async () => {
    const missing = join(work.dir, 'missing.qcow2');

    const error = await readImageInfo(missing).catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(ToolFailedError);
    expect((error as ToolFailedError).message).toMatch(/^qemu-img info failed \(exit 1\): .*No such file or directory$/);
    expect((error as ToolFailedError).toolExitCode).toBe(1);
  });
});

describe('flattenImage', () => {
  it('writes a standalone image with the same content as the chain and leaves no .partial', async () => {
    const { l2 } = await makeChain();
    const flat = join(work.dir, 'flat.qcow2');
    const progress: number[] = [];

    const result = await flattenImage(l2, flat, { onProgress: (percent) => progress.push(percent) });

    expect(result.path).toBe(flat);
    expect((await readImageInfo(flat)).chain).toHaveLength(1);
    await expect(execa('qemu-img', ['compare', '-f', 'qcow2', '-F', 'qcow2', l2, flat])).resolves.toMatchObject({ exitCode: 0 });
    expect(progress.at(-1)).toBe(100);
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
    expect(await readdir(work.dir)).not.toContain('flat.qcow2.partial');
  });

  it('compresses when asked and still compares equal', async () => {
    const { l2 } = await makeChain();
    const flat = join(work.dir, 'flat-c.qcow2');

    await flattenImage(l2, flat, { compress: true });

    await expect(execa('qemu-img', ['compare', l2, flat])).resolves.toMatchObject({ exitCode: 0 });
  });

  it('leaves nothing under dest when the source is missing', async () => {
    const flat = join(work.dir, 'flat.qcow2');

    const error = await flattenImage(join(work.dir, 'nope.qcow2'), flat).catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(ToolFailedError);
    expect((error as ToolFailedError).message).not.toContain('\n');
    expect((error as ToolFailedError).message).toMatch(/^qemu-img convert failed \(exit 1\): .*nope\.qcow2/);
    expect((error as ToolFailedError).stderrTail).toContain('No such file or directory');
    expect(await readdir(work.dir)).toEqual([]);
  });
});

describe('createQcow2FromRaw', () => {
  it('converts a raw file into an equal qcow2', async () => {
    const raw = join(work.dir, 'disk.raw');
    await execa('qemu-img', ['create', '-q', '-f', 'raw', raw, '8M']);
    await execa('qemu-io', ['-f', 'raw', '-c', 'write -P 0x5a 4M 1M', raw]);
    const dest = join(work.dir, 'disk.qcow2');

    await createQcow2FromRaw(raw, dest);

    expect((await readImageInfo(dest)).format).toBe('qcow2');
    await expect(execa('qemu-img', ['compare', '-f', 'raw', '-F', 'qcow2', raw, dest])).resolves.toMatchObject({ exitCode: 0 });
    expect((await readdir(work.dir)).sort()).toEqual(['disk.qcow2', 'disk.raw']);
  });
});

describe('rebaseUnsafe', () => {
  it('changes only the recorded backing path', async () => {
    const { l1 } = await makeChain();

    await rebaseUnsafe(l1, '/elsewhere/base.qcow2');

    const error = await readImageInfo(l1).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ToolFailedError);
    expect((error as Error).message).toContain('/elsewhere/base.qcow2');
    await rebaseUnsafe(l1, join(work.dir, 'base.qcow2'));
    expect((await readImageInfo(l1)).backingFile).toBe(join(work.dir, 'base.qcow2'));
  });
});

describe('checkImage', () => {
  it('reports a clean image as clean', async () => {
    const { l2 } = await makeChain();

    const check = await checkImage(l2);

    expect(check).toMatchObject({ clean: true, corruptions: 0, leaks: 0, checkErrors: 0 });
  });

  it('reports leaked clusters (exit 3) as a result', async () => {
    const image = join(work.dir, 'leaky.qcow2');
    await execa('qemu-img', ['create', '-q', '-f', 'qcow2', image, '16M']);
    await setRefcount(image, 0, 2);

    const check = await checkImage(image);

    expect(check).toMatchObject({ clean: false, corruptions: 0, leaks: 1 });
  });

  it('reports corruption (exit 2) as a result', async () => {
    const image = join(work.dir, 'corrupt.qcow2');
    await execa('qemu-img', ['create', '-q', '-f', 'qcow2', image, '16M']);
    await setRefcount(image, 0, 0);

    const check = await checkImage(image);

    expect(check.clean).toBe(false);
    expect(check.corruptions).toBeGreaterThan(0);
  });
});

describe('qemuImgShimDir', () => {
  it('turns a create with -b but no -F into a working overlay', async () => {
    const { base } = await makeChain();
    const shimDir = join(work.dir, 'shim');

    const returned = await qemuImgShimDir(shimDir);
    await qemuImgShimDir(shimDir);
    await execa(join(shimDir, 'qemu-img'), ['create', '-f', 'qcow2', '-b', base, join(work.dir, 'packer.qcow2'), '16M'], {
      env: { PATH: `${shimDir}:${process.env.PATH ?? ''}` },
    });

    expect(returned).toBe(shimDir);
    expect(await readdir(shimDir)).toEqual(['qemu-img']);
    const info = await readImageInfo(join(work.dir, 'packer.qcow2'));
    expect(info).toMatchObject({ backingFile: base, backingFormat: 'qcow2' });
    await expect(execa('qemu-img', ['compare', base, join(work.dir, 'packer.qcow2')])).resolves.toMatchObject({ exitCode: 0 });
  });

  it('never resolves the real qemu-img to the shim itself, even with the shim dir first on PATH', async () => {
    const shimDir = await qemuImgShimDir(join(work.dir, 'shim'));
    const savedPath = process.env.PATH;
    process.env.PATH = `${shimDir}:${savedPath ?? ''}`;
    try {
      await qemuImgShimDir(shimDir);
    } finally {
      process.env.PATH = savedPath;
    }

    const real = /^real='(.+)'$/m.exec(await readFile(join(shimDir, 'qemu-img'), 'utf8'))?.[1];

    expect(real).toMatch(/\/qemu-img$/);
    expect(real).not.toBe(join(shimDir, 'qemu-img'));
  });

  it('passes other commands through unchanged, including an explicit -F', async () => {
    const { base } = await makeChain();
    const shimDir = await qemuImgShimDir(join(work.dir, 'shim'));

    await execa(join(shimDir, 'qemu-img'), ['create', '-q', '-f', 'qcow2', '-b', base, '-F', 'qcow2', join(work.dir, 'explicit.qcow2')]);
    const { stdout } = await execa(join(shimDir, 'qemu-img'), ['--version']);

    expect((await readImageInfo(join(work.dir, 'explicit.qcow2'))).backingFormat).toBe('qcow2');
    expect(stdout).toMatch(/^qemu-img version/);
  });

  // Like scripts/lint-infra.sh: a missing shellcheck is an error in CI, a skip elsewhere.
  it.skipIf(!HAVE_SHELLCHECK)('is clean under shellcheck', async () => {
    const shimDir = await qemuImgShimDir(join(work.dir, 'shim'));

    const result = await execa('shellcheck', ['-s', 'sh', join(shimDir, 'qemu-img')], { reject: false });

    expect(result.exitCode, result.stdout).toBe(0);
  });
});
