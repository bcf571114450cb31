import { mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { requireTools } from '../../../test/helpers/require-tools.js';
import { useTempDir } from '../../../test/helpers/temp-dir.js';
import { BASE_PACKAGES, bootstrapBaseImage, espVolumeId, mmdebstrapArgs, writeRootDisk, type BootstrapInput } from './bootstrap-image.js';
import { openBuildLog } from './build-log.js';
import { customizeHookEnv, renderCustomizeHook } from './customize-hook.js';

const HAVE_DISK_TOOLS = requireTools('src/adapters/bootstrap/bootstrap-image.test.ts', 'sfdisk', 'mkfs.fat', 'mke2fs', 'blkid', 'debugfs');
const HAVE_SHELLCHECK = requireTools('src/adapters/bootstrap/bootstrap-image.test.ts', 'shellcheck');
const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKx0mRqIhZ8M2s9mD1O5fQv0aXQ0b2Y3Zz0gZm9vYmFyYmF6 build@ci';

const work = useTempDir('imagebuild-bootstrap-unit-');

function input(overrides: Partial<BootstrapInput> = {}): BootstrapInput {
  return {
    workDir: join(work.dir, 'work'),
    suite: 'bookworm',
    mirror: 'http://deb.debian.org/debian',
    securityMirror: 'http://deb.debian.org/debian-security',
    components: ['main', 'contrib'],
    include: ['curl', 'sudo'],
    hostname: 'box',
    diskSizeGiB: 4,
    buildPublicKey: `${KEY}\n`,
    ...overrides,
  };
}

describe('mmdebstrapArgs', () => {
  it('adds the base packages once, the sources, and a hook that takes its path from the environment', () => {
    const args = mmdebstrapArgs(input(), '/w/rootfs');

    expect(args).toContain(`--include=${[...BASE_PACKAGES, 'curl'].join(',')}`);
    expect(args).toContain('--customize-hook="$IMAGEBUILD_HOOK" "$1"');
    expect(args.slice(-4)).toEqual([
      'bookworm',
      '/w/rootfs',
      'deb http://deb.debian.org/debian bookworm main contrib',
      'deb http://deb.debian.org/debian-security bookworm-security main contrib',
    ]);
    expect(args.join(' ')).not.toContain('grub');
  });

  it('leaves out the security suite when no security mirror is given', () => {
    const args = mmdebstrapArgs(input({ securityMirror: undefined }), '/w/rootfs');

    expect(args.filter((arg) => arg.startsWith('deb '))).toEqual(['deb http://deb.debian.org/debian bookworm main contrib']);
  });
});

describe('bootstrapBaseImage input checks', () => {
  it('rejects every unsafe value at once, before touching the disk', async () => {
    const bad = input({ hostname: 'a b', aptProxy: 'http://proxy:3142/"; rm -rf /', include: ['ok', 'bad;pkg'], diskSizeGiB: 0, buildPublicKey: 'not a key' });

    const error = await bootstrapBaseImage(bad).catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(TypeError);
    expect((error as Error).message.split('\n').slice(1)).toEqual([
      'include: not a package name: bad;pkg',
      'hostname: not a valid host name: a b',
      'diskSizeGiB: must be a whole number >= 1: 0',
      'buildPublicKey: not a single OpenSSH public key line',
      'aptProxy: not an http(s) URL: http://proxy:3142/"; rm -rf /',
    ]);
    expect(await readdir(work.dir)).toEqual([]);
  });
});

describe('customize hook', () => {
  it.skipIf(!HAVE_SHELLCHECK)('is clean under shellcheck', async () => {
    const hook = join(work.dir, 'hook.sh');
    await writeFile(hook, renderCustomizeHook());

    const result = await execa('shellcheck', [hook], { reject: false });

    expect(result.exitCode, result.stdout).toBe(0);
  });

  it('carries every value in the environment, none in the script text', () => {
    const env = customizeHookEnv({ hostname: 'h-unique', rootUuid: 'uuid-unique', espUuid: 'ABCD-1234', buildPublicKey: KEY, aptProxy: 'http://proxy-unique:3142' });

    const script = renderCustomizeHook();

    expect(env).toEqual({ IMAGEBUILD_HOSTNAME: 'h-unique', IMAGEBUILD_ROOT_UUID: 'uuid-unique', IMAGEBUILD_ESP_UUID: 'ABCD-1234', IMAGEBUILD_PUBLIC_KEY: KEY, IMAGEBUILD_APT_PROXY: 'http://proxy-unique:3142' });
    for (const value of Object.values(env)) expect(script).not.toContain(value);
    expect(script).not.toMatch(/chpasswd|passwd root/);
  });
});

describe.skipIf(!HAVE_DISK_TOOLS)('writeRootDisk', () => {
  it('puts a GPT with a BIOS boot partition, a FAT32 ESP and the ext4 root holding the rootfs into a sparse file, without mounts', async () => {
    const rootfs = join(work.dir, 'rootfs');
    await mkdir(join(rootfs, 'etc'), { recursive: true });
    await writeFile(join(rootfs, 'etc', 'marker'), 'from-rootfs\n');
    const raw = join(work.dir, 'disk.raw');
    const uuid = '2b7c2f4e-8d1a-4c3b-9a55-0e6f1d2c3b4a';
    const lines: string[] = [];
    const log = openBuildLog(join(work.dir, 'disk.log'), (line) => lines.push(line));

    const partition = await writeRootDisk(log, { rootfs, raw, sizeGiB: 1, rootUuid: uuid });
    await log.close();

    const root = 111 * 1024 ** 2;
    // sfdisk ends the root on a 1 MiB boundary before the backup GPT (the last 33 sectors).
    expect(partition).toEqual({ partitionStartBytes: root, partitionBytes: 1024 ** 3 - root - 1024 ** 2 });
    expect((await stat(raw)).size).toBe(1024 ** 3);
    expect((await stat(raw)).blocks * 512).toBeLessThan(64 * 1024 ** 2);
    const { stdout: dump } = await execa('sfdisk', ['--dump', raw]);
    expect(dump).toContain('label: gpt');
    expect(dump).toContain('label-id: 2B7C2F4E-8D1A-4C3B-9A55-0E6F1D2C3B4A');
    expect(dump).toMatch(new RegExp(`${raw}1 : start=\\s*227328, size=\\s*1867776, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4`));
    expect(dump).toMatch(new RegExp(`${raw}14 : start=\\s*2048, size=\\s*8192, type=21686148-6449-6E6F-744E-656564454649`));
    expect(dump).toMatch(new RegExp(`${raw}15 : start=\\s*10240, size=\\s*217088, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B`));
    const { exitCode: verified, stdout: verify } = await execa('sfdisk', ['--verify', raw], { reject: false });
    expect(verified, verify).toBe(0);
    const { stdout: esp } = await execa('blkid', ['-p', '-O', String(5 * 1024 ** 2), '-o', 'export', raw]);
    expect(esp).toContain('TYPE=vfat');
    expect(esp).toContain('VERSION=FAT32');
    expect(esp).toContain(`UUID=${espVolumeId(uuid).fstab}`);
    expect(espVolumeId(uuid).fstab).toBe('2B7C-2F4E');
    const { stdout: probe } = await execa('blkid', ['-p', '-O', String(root), '-o', 'export', raw]);
    expect(probe).toContain(`UUID=${uuid}`);
    const { stdout: marker } = await execa('debugfs', ['-R', 'cat /etc/marker', `${raw}?offset=${root}`]);
    expect(marker).toBe('from-rootfs');
    const { exitCode } = await execa('e2fsck', ['-fn', `${raw}?offset=${root}`], { reject: false });
    expect(exitCode).toBe(0);
    expect(lines.filter((line) => line.startsWith('$ ')).map((line) => line.split(' ')[1])).toEqual(['sfdisk', 'sfdisk', 'mkfs.fat', 'mke2fs']);
  });
});
