// `imagebuild flash` with the real tools: a small qcow2 made with qemu-img and qemu-io, its manifest,
// SHA256SUMS (signed with ssh-keygen where a test needs it), flashed into plain files (--to-file) and,
// where this machine lets root attach loop devices, onto loop devices — each refusal checked to leave
// the target's bytes as they were. Only loop devices this file attached are touched, and each is
// detached after its test. Booting the flashed disk (under OVMF) is not tested: images are BIOS-only
// until issue 18 §1 is done.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { flashImage, FlashReadbackFailedError, type FlashOptions } from '../src/app/flash-image.js';
import { FlashReport } from '../src/core/flash/flash-report.js';
import { FlashTargetRefusedError } from '../src/core/flash/flash-target.js';
import { serializeManifest } from '../src/core/manifest/image-manifest.js';
import { ChecksumMismatchError, InterruptedError, ReleaseInconsistentError, ReleaseUnsignedError, SignatureInvalidError, UsageError } from '../src/errors/index.js';
import { PROJECT_ROOT } from './helpers/project-root.js';
import { TSX_LOADER } from './helpers/release-project.js';
import { requireTools } from './helpers/require-tools.js';
import { DEMO_NAME, smallDemoSpec } from './helpers/spec-builders.js';
import { useTempDir } from './helpers/temp-dir.js';
import { testManifest } from './helpers/test-manifest.js';

const HAVE_TOOLS = requireTools('test/flash.test.ts', 'qemu-img', 'qemu-io', 'ssh-keygen', 'script', 'blockdev');
const work = useTempDir('imagebuild-flash-');
const MiB = 1024 * 1024;
const VIRTUAL = 24 * MiB;
const VERSION = '1.0.0';
const ARTIFACT = `${DEMO_NAME}-v${VERSION}.qcow2`;
const CLI = join(PROJECT_ROOT, 'src/cli/bin.ts');

async function sha256Of(path: string, bytes?: number): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, bytes === undefined ? {} : { end: bytes - 1 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** A release directory as download leaves it: a 24 MiB qcow2 with data at three places (one random), its manifest and SHA256SUMS; and the spec. */
async function makeRelease(options: { signing?: boolean } = {}): Promise<{ dir: string; qcow2: string; specPath: string; rawSha256: string }> {
  const dir = join(work.dir, 'release');
  await mkdir(dir, { recursive: true });
  const qcow2 = join(dir, ARTIFACT);
  await execa('qemu-img', ['create', '-q', '-f', 'qcow2', qcow2, String(VIRTUAL)]);
  const random = join(work.dir, 'random.bin');
  await writeFile(random, createHash('sha512').update('flash').digest().toString('hex').repeat(4096).slice(0, MiB));
  await execa('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x5a 0 1M', '-c', `write -s ${random} 9M 1M`, '-c', 'write -P 0x11 23M 512k', qcow2]);
  const manifest = testManifest({ name: DEMO_NAME, spec_name: DEMO_NAME, version: VERSION, artifact: ARTIFACT, checksum_sha256: await sha256Of(qcow2), size_bytes: (await stat(qcow2)).size });
  const manifestText = serializeManifest(manifest);
  await writeFile(join(dir, 'image-manifest.json'), manifestText);
  await writeFile(join(dir, 'SHA256SUMS'), `${manifest.checksum_sha256}  ${ARTIFACT}\n${createHash('sha256').update(manifestText).digest('hex')}  image-manifest.json\n`);
  const specPath = join(work.dir, 'box.yaml');
  await writeFile(specPath, smallDemoSpec(options.signing ? [[['artifacts'], { retention: 3, signing: { allowed_signers: 'allowed_signers' } }]] : []));
  // The image as a raw disk, made independently of flash: what a flashed target's first VIRTUAL bytes must be.
  const raw = join(work.dir, 'expected.raw');
  await execa('qemu-img', ['convert', '-f', 'qcow2', '-O', 'raw', qcow2, raw]);
  const rawSha256 = await sha256Of(raw);
  await rm(raw);
  return { dir, qcow2, specPath, rawSha256 };
}

/** A file of `size` bytes of a repeating non-zero pattern: an old disk's leftovers. */
async function makeOldDisk(path: string, size: number): Promise<string> {
  await writeFile(path, Buffer.alloc(size, 'old disk '));
  return sha256Of(path);
}

/** An Ed25519 key, an allowed_signers file beside the spec naming it, and the release's SHA256SUMS signed with it. */
async function signRelease(releaseDir: string, options: { allowed: boolean }): Promise<void> {
  const key = join(work.dir, 'release-key');
  if (!existsSync(key)) await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'release@test', '-f', key], { stdin: 'ignore' });
  await rm(join(releaseDir, 'SHA256SUMS.sig'), { force: true });
  await execa('ssh-keygen', ['-Y', 'sign', '-q', '-f', key, '-n', 'imagebuild-release', join(releaseDir, 'SHA256SUMS')]);
  if (options.allowed) await writeFile(join(work.dir, 'allowed_signers'), `release@test ${(await readFile(`${key}.pub`, 'utf8')).trim()}\n`);
}

async function trustOtherKey(): Promise<void> {
  const other = join(work.dir, 'other-key');
  await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'other@test', '-f', other], { stdin: 'ignore' });
  await writeFile(join(work.dir, 'allowed_signers'), `release@test ${(await readFile(`${other}.pub`, 'utf8')).trim()}\n`);
}

function flash(options: Partial<FlashOptions> & { source: string; device: string; specArg: string }): ReturnType<typeof flashImage> {
  return flashImage({ cwd: work.dir, toFile: false, yes: true, now: () => new Date(), ...options });
}

async function rejectionOf(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected flash to refuse');
}

function runCli(args: readonly string[], env: Record<string, string> = {}) {
  return execa(process.execPath, ['--import', TSX_LOADER, CLI, ...args], {
    cwd: work.dir,
    reject: false,
    extendEnv: false,
    stdin: 'ignore',
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root', NO_COLOR: '1', ...env },
  });
}

/** The CLI on a pseudo-terminal (util-linux script), with `typed` as what the technician types. */
function runCliOnTerminal(args: readonly string[], typed: string) {
  const command = [process.execPath, '--import', TSX_LOADER, CLI, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  return execa('script', ['-qec', command, '/dev/null'], { cwd: work.dir, reject: false, input: typed, env: { NO_COLOR: '1' } });
}

describe.skipIf(!HAVE_TOOLS)('imagebuild flash into plain files (--to-file)', () => {
  it('writes a new file that holds the image as a raw disk, read back identical, with a report', async () => {
    const { dir, specPath, rawSha256, qcow2 } = await makeRelease();
    const target = join(work.dir, 'disk.raw');
    const events: string[] = [];

    const { report, reportPath } = await flash({ source: dir, device: target, toFile: true, specArg: specPath, allowUnsigned: 'test release', onEvent: (e) => void (e.type === 'progress' && e.done ? events.push(e.action) : undefined) });

    expect(await sha256Of(target)).toBe(rawSha256);
    expect((await stat(target)).size).toBe(VIRTUAL);
    expect(report.status).toBe('passed');
    expect(report.compare).toMatchObject({ result: 'identical', range_bytes: VIRTUAL, mismatch_offset: null });
    expect(report.write).toMatchObject({ bytes_written: 2.5 * MiB, bytes_zeroed: VIRTUAL - 2.5 * MiB, target_was_zero: true });
    expect(report.source).toMatchObject({ image: qcow2, sha256: await sha256Of(qcow2), virtual_size_bytes: VIRTUAL });
    expect(report.signature).toEqual({ status: 'unsigned-allowed', signed: false, reason: 'test release' });
    expect(report.checks.map((c) => [c.check, c.status])).toEqual([
      ['source_sha256', 'pass'],
      ['sha256sums', 'pass'],
      ['signature', 'skipped'],
      ['readback_compare', 'pass'],
      ['source_unchanged', 'pass'],
    ]);
    expect(reportPath).toMatch(/\/flash-disk\.raw-\d{8}T\d{6}Z\.json$/);
    expect(FlashReport.parse(JSON.parse(await readFile(reportPath, 'utf8')))).toEqual(report);
    expect(events).toEqual(['verify', 'write', 'compare', 'recheck']);
  });

  it("overwrites an old disk image's leftovers inside the image's range (zeros included) and leaves what lies beyond it", async () => {
    const { qcow2, specPath, rawSha256 } = await makeRelease();
    const target = join(work.dir, 'old.raw');
    await makeOldDisk(target, VIRTUAL + 8 * MiB);
    const tail = (await readFile(target)).subarray(VIRTUAL);

    const { report } = await flash({ source: qcow2, device: target, toFile: true, specArg: specPath, allowUnsigned: 'test', reportPath: 'r.json' });

    expect(await sha256Of(target, VIRTUAL)).toBe(rawSha256);
    expect((await readFile(target)).subarray(VIRTUAL).equals(tail)).toBe(true);
    expect([report.status, report.write.target_was_zero, report.device.size_bytes]).toEqual(['passed', false, VIRTUAL + 8 * MiB]);
    expect(JSON.parse(await readFile(join(work.dir, 'r.json'), 'utf8')).status).toBe('passed');
  });

  it('refuses a plain file without --to-file, and an image whose bytes differ from its manifest, writing nothing', async () => {
    const { qcow2, specPath } = await makeRelease();
    const target = join(work.dir, 'old.raw');
    const before = await makeOldDisk(target, VIRTUAL);

    const plain = await rejectionOf(flash({ source: qcow2, device: target, specArg: specPath, allowUnsigned: 'test' }));
    // One byte of the image's data changed where qemu-img would happily read it.
    const [data] = JSON.parse((await execa('qemu-img', ['map', '--output=json', '-f', 'qcow2', qcow2])).stdout) as { offset: number }[];
    const bytes = await readFile(qcow2);
    const at = data!.offset + 100;
    bytes[at] = bytes[at]! ^ 0x01;
    await writeFile(qcow2, bytes);
    const changed = await rejectionOf(flash({ source: qcow2, device: target, toFile: true, specArg: specPath, allowUnsigned: 'test' }));

    expect(plain).toBeInstanceOf(FlashTargetRefusedError);
    expect(plain.message).toBe(`flash: ${target} is a plain file, not a block device; to write the disk image into a file, add --to-file; nothing was written`);
    expect(changed).toBeInstanceOf(ChecksumMismatchError);
    expect(changed.message).toMatch(/does not match its manifest \(SHA-256 [0-9a-f]{64}, the manifest says [0-9a-f]{64}\); nothing was written to /);
    expect(await sha256Of(target)).toBe(before);
  });

  it('refuses a SHA256SUMS that disagrees with the manifest, and the image as its own target', async () => {
    const { dir, qcow2, specPath } = await makeRelease();
    const target = join(work.dir, 'old.raw');
    const before = await makeOldDisk(target, VIRTUAL);
    await writeFile(join(dir, 'SHA256SUMS'), `${'0'.repeat(64)}  ${ARTIFACT}\n`);

    const sums = await rejectionOf(flash({ source: dir, device: target, toFile: true, specArg: specPath, allowUnsigned: 'test' }));
    await writeFile(join(dir, 'SHA256SUMS'), `${await sha256Of(qcow2)}  ${ARTIFACT}\n`);
    const itself = await rejectionOf(flash({ source: dir, device: qcow2, toFile: true, specArg: specPath, allowUnsigned: 'test' }));

    expect(sums).toBeInstanceOf(ReleaseInconsistentError);
    expect(sums.message).toContain(`gives ${ARTIFACT} SHA-256 ${'0'.repeat(64)}`);
    expect(itself.message).toContain('is the image being flashed');
    expect(await sha256Of(target)).toBe(before);
  });

  it('verifies a signature by an allowed signer, and refuses an unsigned release or another key when allowed_signers is configured', async () => {
    const { dir, specPath } = await makeRelease({ signing: true });
    const target = join(work.dir, 'old.raw');
    const before = await makeOldDisk(target, VIRTUAL);
    await signRelease(dir, { allowed: true });
    const sig = await readFile(join(dir, 'SHA256SUMS.sig'));

    await rm(join(dir, 'SHA256SUMS.sig'));
    const unsigned = await rejectionOf(flash({ source: dir, device: target, toFile: true, specArg: specPath }));
    await writeFile(join(dir, 'SHA256SUMS.sig'), sig);
    await trustOtherKey();
    const otherKey = await rejectionOf(flash({ source: dir, device: target, toFile: true, specArg: specPath, allowUnsigned: 'never accepts a bad signature' }));
    const untouched = await sha256Of(target);
    await signRelease(dir, { allowed: true });
    const { report } = await flash({ source: dir, device: target, toFile: true, specArg: specPath });

    expect(unsigned).toBeInstanceOf(ReleaseUnsignedError);
    expect(unsigned.message).toContain('has no signature (SHA256SUMS.sig); refusing it');
    expect(otherKey).toBeInstanceOf(SignatureInvalidError);
    expect(untouched).toBe(before);
    expect(report.signature).toMatchObject({ status: 'verified', principal: 'release@test', namespace: 'imagebuild-release' });
    expect(report.checks.find((c) => c.check === 'signature')?.status).toBe('pass');
  });

  it('asks for the name typed back without --yes: refuses without a way to ask, refuses a wrong answer, goes on with the right one', async () => {
    const { qcow2, specPath, rawSha256 } = await makeRelease();
    const target = join(work.dir, 'old.raw');
    const before = await makeOldDisk(target, VIRTUAL);
    const asked: string[] = [];

    const nobody = await rejectionOf(flash({ source: qcow2, device: target, toFile: true, yes: false, specArg: specPath, allowUnsigned: 'test' }));
    const wrong = await rejectionOf(flash({ source: qcow2, device: target, toFile: true, yes: false, confirm: async () => 'disk.raw', specArg: specPath, allowUnsigned: 'test' }));
    const untouched = await sha256Of(target);
    await flash({ source: qcow2, device: target, toFile: true, yes: false, confirm: async (q) => (asked.push(q.token), ` ${q.token}\n`), specArg: specPath, allowUnsigned: 'test' });

    expect(nobody).toBeInstanceOf(UsageError);
    expect(wrong.message).toBe(`flash: ${target} was not confirmed: "disk.raw" was typed, not old.raw; nothing was written`);
    expect(untouched).toBe(before);
    expect(asked).toEqual(['old.raw']);
    expect(await sha256Of(target, VIRTUAL)).toBe(rawSha256);
  });

  it('stops before writing when interrupted before the write, saying nothing was written', async () => {
    const { qcow2, specPath } = await makeRelease();
    const target = join(work.dir, 'old.raw');
    const before = await makeOldDisk(target, VIRTUAL);
    const controller = new AbortController();

    const error = await rejectionOf(flash({ source: qcow2, device: target, toFile: true, yes: false, confirm: async (q) => (controller.abort(), q.token), signal: controller.signal, specArg: specPath, allowUnsigned: 'test' }));

    expect(error).toBeInstanceOf(InterruptedError);
    expect(error.message).toBe(`flash interrupted before writing: nothing was written to ${target}`);
    expect(await sha256Of(target)).toBe(before);
  });

  it('stops qemu-img when interrupted while writing, saying the target is partly written', async () => {
    const { qcow2, specPath } = await makeRelease();
    const target = join(work.dir, 'disk.raw');
    const bin = join(work.dir, 'bin');
    await mkdir(bin);
    const real = spawnSync('sh', ['-c', 'command -v qemu-img'], { encoding: 'utf8' }).stdout.trim();
    // A convert that hangs, as a slow disk would; everything else is the real qemu-img.
    await writeFile(join(bin, 'qemu-img'), `#!/bin/sh\nif [ "$1" = convert ]; then exec sleep 60; fi\nexec "${real}" "$@"\n`, { mode: 0o755 });
    const controller = new AbortController();
    const path = process.env.PATH;
    process.env.PATH = `${bin}:${path}`;
    const started = Date.now();

    let error: Error;
    try {
      error = await rejectionOf(flash({ source: qcow2, device: target, toFile: true, signal: controller.signal, onEvent: (e) => void (e.type === 'progress' && e.action === 'verify' && e.done ? setTimeout(() => controller.abort(), 500) : undefined), specArg: specPath, allowUnsigned: 'test' }));
    } finally {
      process.env.PATH = path;
    }

    expect(error).toBeInstanceOf(InterruptedError);
    expect(error.message).toBe(`flash interrupted: ${target} is partly written and will not boot; run the same command again`);
    expect(Date.now() - started).toBeLessThan(20_000);
  });

  it('through the CLI: a version from the download directory; no --yes without a terminal and a wrong answer on one are refused in one line', async () => {
    const { dir, specPath } = await makeRelease();
    await rename(dir, join(work.dir, `${DEMO_NAME}-v${VERSION}`));
    const target = join(work.dir, 'old.raw');
    const before = await makeOldDisk(target, VIRTUAL);
    const args = ['flash', `v${VERSION}`, '--device', target, '--to-file', '--spec', specPath, '--allow-unsigned', 'test'];

    const noTerminal = await runCli(args);
    const wrongAnswer = await runCliOnTerminal(args, 'loop0\n');
    const untouched = await sha256Of(target);
    const yes = await runCli([...args, '--yes', '--json']);

    expect([noTerminal.exitCode, noTerminal.stderr.split('\n').filter((l) => l.startsWith('error:'))]).toEqual([
      2,
      [`error: flash: ${target}: confirm with --yes, or run flash on a terminal to type the name (old.raw) back; nothing was written`],
    ]);
    expect(wrongAnswer.exitCode).toBe(2);
    expect(wrongAnswer.stdout).toContain('Type its name (old.raw) to go on:');
    expect(wrongAnswer.stdout).toContain('was not confirmed: "loop0" was typed, not old.raw; nothing was written');
    expect(untouched).toBe(before);
    expect(yes.exitCode, yes.stderr).toBe(0);
    expect(JSON.parse(yes.stdout)).toMatchObject({ status: 'passed', source: { version: VERSION }, compare: { result: 'identical' } });
  });

  it('fails with a report when the read-back differs from the image (a qemu-img that corrupts one byte after writing)', async () => {
    const { qcow2, specPath } = await makeRelease();
    const target = join(work.dir, 'disk.raw');
    const bin = join(work.dir, 'bin');
    await mkdir(bin);
    const real = spawnSync('sh', ['-c', 'command -v qemu-img'], { encoding: 'utf8' }).stdout.trim();
    await writeFile(
      join(bin, 'qemu-img'),
      `#!/bin/sh\n"${real}" "$@" || exit $?\nif [ "$1" = convert ]; then for last; do :; done; printf 'X' | dd of="$last" bs=1 seek=${5 * MiB + 7} conv=notrunc status=none; fi\n`,
      { mode: 0o755 },
    );

    const result = await runCli(['flash', qcow2, '--device', target, '--to-file', '--yes', '--spec', specPath, '--allow-unsigned', 'test', '--report', 'failed.json'], { PATH: `${bin}:${process.env.PATH}` });

    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(/error: flash failed: .*readback_compare measured "Content mismatch at offset 5242880!".*do not boot it; report: .*failed\.json/);
    const report = FlashReport.parse(JSON.parse(await readFile(join(work.dir, 'failed.json'), 'utf8')));
    expect([report.status, report.compare.result, report.compare.mismatch_offset]).toEqual(['failed', 'mismatch', 5 * MiB]);
    expect(FlashReadbackFailedError.name).toBe('FlashReadbackFailedError');
  });
});

/** Whether root may attach a loop device here, and why not. */
function probeLoopDevices(): { ok: boolean; reason: string } {
  if (process.getuid?.() !== 0) return { ok: false, reason: 'not root: losetup needs root' };
  const file = join(tmpdir(), `imagebuild-flash-probe-${process.pid}`);
  spawnSync('truncate', ['-s', '1M', file]);
  const attached = spawnSync('losetup', ['-f', '--show', file], { encoding: 'utf8' });
  spawnSync('rm', ['-f', file]);
  if (attached.status !== 0) return { ok: false, reason: `losetup cannot attach a loop device: ${attached.stderr.trim() || attached.error?.message || 'failed'}` };
  spawnSync('losetup', ['-d', attached.stdout.trim()]);
  return { ok: true, reason: '' };
}

const LOOP = HAVE_TOOLS ? probeLoopDevices() : { ok: false, reason: 'tools missing' };

describe.skipIf(!LOOP.ok)(`imagebuild flash onto loop devices${LOOP.ok ? '' : ` (skipped: ${LOOP.reason})`}`, () => {
  // Only what this file made is undone: its loop devices, its mounts, its device-mapper table.
  const attached: string[] = [];
  const mounted: string[] = [];
  const mapped: string[] = [];
  beforeEach(() => {
    attached.length = 0;
    mounted.length = 0;
    mapped.length = 0;
  });
  afterEach(async () => {
    for (const point of mounted) await execa('umount', [point], { reject: false });
    for (const name of mapped) await execa('dmsetup', ['remove', name], { reject: false });
    for (const device of attached) await execa('losetup', ['-d', device], { reject: false });
  });

  async function attach(file: string, options: { readOnly?: boolean } = {}): Promise<string> {
    const { stdout } = await execa('losetup', ['-f', '--show', ...(options.readOnly ? ['-r'] : []), file]);
    attached.push(stdout.trim());
    return stdout.trim();
  }

  it('flashes onto a larger disk, reads it back identical over the image, leaves the rest, and records the device', async () => {
    const { dir, specPath, rawSha256 } = await makeRelease();
    const backing = join(work.dir, 'disk.img');
    await makeOldDisk(backing, VIRTUAL + 16 * MiB);
    const tail = (await readFile(backing)).subarray(VIRTUAL);
    const device = await attach(backing);

    const { report } = await flash({ source: dir, device, specArg: specPath, allowUnsigned: 'test' });

    const independent = await execa('qemu-img', ['compare', '--image-opts', `driver=qcow2,file.filename=${join(dir, ARTIFACT)}`, `driver=raw,size=${VIRTUAL},file.driver=host_device,file.filename=${device},cache.direct=on`], { reject: false });
    expect(independent.exitCode, independent.stdout).toBe(0);
    expect(await sha256Of(backing, VIRTUAL)).toBe(rawSha256);
    expect((await readFile(backing)).subarray(VIRTUAL).equals(tail)).toBe(true);
    expect(report.status).toBe('passed');
    expect(report.device).toEqual({ path: device, kind: 'block', name: device.slice('/dev/'.length), model: null, vendor: null, serial: null, size_bytes: VIRTUAL + 16 * MiB });
    expect(report.write).toMatchObject({ bytes_written: 2.5 * MiB, target_was_zero: false });
  });

  it('refuses a read-only device, one smaller than the image, and a device given with --to-file, writing nothing', async () => {
    const { qcow2, specPath } = await makeRelease();
    const readOnlyFile = join(work.dir, 'ro.img');
    const smallFile = join(work.dir, 'small.img');
    const before = [await makeOldDisk(readOnlyFile, VIRTUAL), await makeOldDisk(smallFile, VIRTUAL - MiB)];
    const readOnly = await attach(readOnlyFile, { readOnly: true });
    const small = await attach(smallFile);

    const refusals = [
      await rejectionOf(flash({ source: qcow2, device: readOnly, specArg: specPath, allowUnsigned: 'test' })),
      await rejectionOf(flash({ source: qcow2, device: small, specArg: specPath, allowUnsigned: 'test' })),
      await rejectionOf(flash({ source: qcow2, device: small, toFile: true, specArg: specPath, allowUnsigned: 'test' })),
    ];

    expect(refusals.map((e) => (e as FlashTargetRefusedError).refusals?.map((r) => r.check))).toEqual([['read-only'], ['too-small'], ['not-a-file', 'too-small']]);
    expect(refusals[1]!.message).toBe(`flash: ${small} is 23.0 MiB (${VIRTUAL - MiB} bytes), smaller than the image's 24.0 MiB (${VIRTUAL} bytes); nothing was written`);
    expect([await sha256Of(readOnlyFile), await sha256Of(smallFile)]).toEqual(before);
  });

  it('refuses the file behind a loop device as a --to-file target', async () => {
    const { qcow2, specPath } = await makeRelease();
    const backing = join(work.dir, 'disk.img');
    const before = await makeOldDisk(backing, VIRTUAL);
    const device = await attach(backing);

    const error = await rejectionOf(flash({ source: qcow2, device: backing, toFile: true, specArg: specPath, allowUnsigned: 'test' }));

    expect(error.message).toBe(`flash: ${backing} backs ${device} (losetup -a); detach it first; nothing was written`);
    expect(await sha256Of(backing)).toBe(before);
  });

  it('refuses a mounted device (mkfs.ext4 and mount on a loop device), naming where it is mounted', async (context) => {
    const { qcow2, specPath } = await makeRelease();
    const backing = join(work.dir, 'fs.img');
    await makeOldDisk(backing, VIRTUAL + MiB);
    const device = await attach(backing);
    await execa('mkfs.ext4', ['-q', device]);
    const point = join(work.dir, 'mnt');
    await mkdir(point);
    const mount = await execa('mount', [device, point], { reject: false });
    if (mount.exitCode !== 0) return context.skip(`mount does not work here: ${mount.stderr.trim()}`);
    mounted.push(point);
    await writeFile(join(point, 'keep.txt'), 'customer data\n');
    const before = await sha256Of(backing);

    const error = await rejectionOf(flash({ source: qcow2, device, specArg: specPath, allowUnsigned: 'test' }));

    expect((error as FlashTargetRefusedError).refusals.map((r) => r.check)).toEqual(['mounted']);
    expect(error.message).toContain(`is mounted: ${device.slice('/dev/'.length)} on ${point} (ext4); unmount it first`);
    expect(await sha256Of(backing)).toBe(before);
    expect(await readFile(join(point, 'keep.txt'), 'utf8')).toBe('customer data\n');
  });

  it('refuses a partition, and a disk one of whose partitions is mounted (a GPT on a loop device with partscan)', async (context) => {
    const { qcow2, specPath } = await makeRelease();
    const backing = join(work.dir, 'parted.img');
    await makeOldDisk(backing, VIRTUAL + 16 * MiB);
    await execa('sfdisk', ['-q', backing], { input: 'label: gpt\n,8M\n,\n' });
    const { stdout } = await execa('losetup', ['-f', '--show', '-P', backing]);
    attached.push(stdout.trim());
    const device = stdout.trim();
    await execa('udevadm', ['settle'], { reject: false });
    if (!existsSync(`${device}p2`)) return context.skip(`the kernel made no partition devices for ${device} (losetup -P) here`);
    await execa('mkfs.ext4', ['-q', `${device}p2`]);
    const point = join(work.dir, 'mnt');
    await mkdir(point);
    const mount = await execa('mount', [`${device}p2`, point], { reject: false });
    if (mount.exitCode !== 0) return context.skip(`mount does not work here: ${mount.stderr.trim()}`);
    mounted.push(point);
    const before = await sha256Of(backing);

    const whole = await rejectionOf(flash({ source: qcow2, device, specArg: specPath, allowUnsigned: 'test' }));
    const partition = await rejectionOf(flash({ source: qcow2, device: `${device}p1`, specArg: specPath, allowUnsigned: 'test' }));

    expect(whole.message).toContain(`is mounted: ${device.slice('/dev/'.length)}p2 on ${point} (ext4)`);
    expect((partition as FlashTargetRefusedError).refusals.map((r) => r.check)).toEqual(['partition', 'too-small']);
    expect(await sha256Of(backing)).toBe(before);
  });

  it('refuses a device with a holder (a device-mapper table over the loop device)', async (context) => {
    const { qcow2, specPath } = await makeRelease();
    const backing = join(work.dir, 'held.img');
    const before = await makeOldDisk(backing, VIRTUAL);
    const device = await attach(backing);
    const name = `imagebuild-flash-test-${process.pid}`;
    const created = await execa('dmsetup', ['create', name, '--table', `0 ${VIRTUAL / 512} linear ${device} 0`], { reject: false });
    if (created.exitCode !== 0) return context.skip(`device-mapper is not available here (dmsetup create: ${created.stderr.split('\n')[0]})`);
    mapped.push(name);

    const error = await rejectionOf(flash({ source: qcow2, device, specArg: specPath, allowUnsigned: 'test' }));

    expect((error as FlashTargetRefusedError).refusals.map((r) => r.check)).toEqual(['holders']);
    expect(error.message).toMatch(/is in use by dm-\d+ on loop\d+ \(device-mapper: LVM, dm-crypt or multipath\)/);
    expect(await sha256Of(backing)).toBe(before);
  });
});
