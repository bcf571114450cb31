import { randomUUID } from 'node:crypto';
import { copyFile, mkdir, open, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { join, resolve, sep } from 'node:path';
import { FileAccessError, ImagebuildError } from '../../errors/index.js';
import { createQcow2FromRaw } from '../qemu-img/qemu-img.js';
import { openBuildLog, runLogged, type BuildLog } from './build-log.js';
import { customizeHookEnv, renderCustomizeHook } from './customize-hook.js';

/** What the base image is built from. */
export type BootstrapInput = {
  /** Created if missing; receives base.qcow2, vmlinuz, initrd.img and bootstrap.log. */
  readonly workDir: string;
  readonly suite: string;
  readonly mirror: string;
  /** Adds `<suite>-security` from this mirror when set. */
  readonly securityMirror?: string;
  readonly components: readonly string[];
  /** Extra packages; the ones a bootable, SSH-reachable, Ansible-ready base needs are always added. */
  readonly include: readonly string[];
  readonly hostname: string;
  readonly diskSizeGiB: number;
  /** One OpenSSH public key line, authorized for the build account. */
  readonly buildPublicKey: string;
  /** An http(s) proxy for apt inside the guest, written to the image's /etc/apt/apt.conf.d/01proxy. */
  readonly aptProxy?: string;
  /** A proxy on the host (the build's apt cache, http://127.0.0.1:<port>) that mmdebstrap's own downloads go through; never written into the image. */
  readonly hostProxy?: string;
  readonly onLine?: (line: string) => void;
};

/** The bootstrap steps, in order. */
export type BootstrapStepName = 'mmdebstrap' | 'kernel' | 'partition' | 'mkfs.fat' | 'mke2fs' | 'qcow2';

/** How long one step took. */
export type BootstrapStep = { readonly name: BootstrapStepName; readonly durationS: number };

/** A base image bootable by direct kernel boot (`-kernel kernel -initrd initrd -append root=/dev/vda1`). */
export type BootstrapResult = {
  readonly image: string;
  readonly kernel: string;
  readonly initrd: string;
  readonly kernelVersion: string;
  readonly rootPartition: '/dev/vda1';
  readonly rootUuid: string;
  /** The EFI System Partition's FAT volume id as /etc/fstab names it (`UUID=XXXX-XXXX`). */
  readonly espUuid: string;
  readonly durationS: number;
  readonly steps: readonly BootstrapStep[];
  /** Everything the tools printed; kept after success and failure. */
  readonly logPath: string;
};

/** What the base always needs: systemd as init, a kernel + initramfs, sshd, python3 for Ansible, sudo for the build account, DNS from DHCP. */
export const BASE_PACKAGES = ['systemd-sysv', 'udev', 'dbus', 'systemd-resolved', 'linux-image-amd64', 'openssh-server', 'python3', 'iproute2', 'sudo'] as const;

const SECTOR_BYTES = 512;
const MiB = 1024 * 1024;

/**
 * The GPT layout of every bootstrapped disk, the one Ubuntu's cloud images use: a BIOS boot partition (GRUB i386-pc
 * embeds its core there), an EFI System Partition (GRUB x86_64-efi at the removable path), and the root partition
 * after them so it can grow into a bigger disk. The root keeps number 1 (/dev/vda1) whatever its place on the disk.
 */
export const DISK_LAYOUT = {
  biosBoot: { number: 14, startBytes: 1 * MiB, bytes: 4 * MiB, type: '21686148-6449-6E6F-744E-656564454649', name: 'BIOS boot' },
  esp: { number: 15, startBytes: 5 * MiB, bytes: 106 * MiB, type: 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B', name: 'EFI System' },
  root: { number: 1, startBytes: 111 * MiB, type: '0FC63DAF-8483-4772-8E79-3D69D8477DE4', name: 'root' },
} as const;

/** Where the root partition starts (after the BIOS boot partition and the ESP). */
export const PARTITION_OFFSET_BYTES = DISK_LAYOUT.root.startBytes;
const GiB = 1024 * 1024 * 1024;

const PACKAGE_NAME = /^[a-z0-9][a-z0-9+.-]+(?:=[A-Za-z0-9.+~:-]+)?$/;
const HOSTNAME = /^(?=.{1,63}$)[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/i;
const APT_WORD = /^[a-z0-9][a-z0-9.-]*$/i;
const PUBLIC_KEY = /^(?:ssh-[a-z0-9-]+|ecdsa-sha2-[a-z0-9-]+|sk-[a-z0-9@.-]+) [A-Za-z0-9+/]+={0,3}(?: [^\n\r]*)?$/;

/** Rejects values that would break the generated sources, hook or apt config; the spec schema should have caught them. */
function validateBootstrapInput(input: BootstrapInput): string[] {
  const problems: string[] = [];
  const isUrl = (value: string): boolean => /^(?:https?|file):\/\/[^\s"';]+$/.test(value);
  if (!APT_WORD.test(input.suite)) problems.push(`suite: not a Debian suite name: ${input.suite}`);
  if (!isUrl(input.mirror)) problems.push(`mirror: not an http(s) or file URL: ${input.mirror}`);
  if (input.securityMirror !== undefined && !isUrl(input.securityMirror)) problems.push(`securityMirror: not an http(s) or file URL: ${input.securityMirror}`);
  if (input.components.length === 0 || !input.components.every((component) => APT_WORD.test(component))) {
    problems.push(`components: need one or more archive areas such as main: ${input.components.join(' ')}`);
  }
  for (const name of input.include) if (!PACKAGE_NAME.test(name)) problems.push(`include: not a package name: ${name}`);
  if (!HOSTNAME.test(input.hostname)) problems.push(`hostname: not a valid host name: ${input.hostname}`);
  if (!Number.isInteger(input.diskSizeGiB) || input.diskSizeGiB < 1) problems.push(`diskSizeGiB: must be a whole number >= 1: ${input.diskSizeGiB}`);
  if (!PUBLIC_KEY.test(input.buildPublicKey.trim())) problems.push('buildPublicKey: not a single OpenSSH public key line');
  if (input.aptProxy !== undefined && !/^https?:\/\/[^\s"';\\]+$/.test(input.aptProxy)) problems.push(`aptProxy: not an http(s) URL: ${input.aptProxy}`);
  return problems;
}

/** The mmdebstrap command line; the hook path and all values travel in the environment. */
export function mmdebstrapArgs(input: BootstrapInput, rootfs: string): string[] {
  const include = [...new Set([...BASE_PACKAGES, ...input.include])];
  const components = input.components.join(' ');
  const sources = [`deb ${input.mirror} ${input.suite} ${components}`];
  if (input.securityMirror) sources.push(`deb ${input.securityMirror} ${input.suite}-security ${components}`);
  return [
    '--variant=minbase',
    // Root mode: the hook chroots, and mke2fs -d must see real ownership (unshare mode maps it to subuids).
    '--mode=root',
    `--include=${include.join(',')}`,
    '--customize-hook="$IMAGEBUILD_HOOK" "$1"',
    input.suite,
    rootfs,
    ...sources,
  ];
}

/** Mount points at or under `dir`; mmdebstrap bind-mounts /dev, /proc and /sys into the rootfs while it runs. */
async function mountsUnder(dir: string): Promise<string[]> {
  const mountinfo = await readFile('/proc/self/mountinfo', 'utf8').catch(() => '');
  return mountinfo
    .split('\n')
    .map((line) => (line.split(' ')[4] ?? '').replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8))))
    .filter((point) => point === dir || point.startsWith(dir + sep));
}

/** Deletes the rootfs, but never through a mount: a leftover bind mount of /dev would take the host's devices with it. */
async function removeRootfs(rootfs: string): Promise<void> {
  const mounts = await mountsUnder(rootfs);
  if (mounts.length > 0) {
    throw new FileAccessError(`${rootfs}: not removing it, still mounted: ${mounts.join(', ')} (umount them, then retry)`);
  }
  await rm(rootfs, { recursive: true, force: true });
}

/** Node fs errors (ENOSPC while copying the kernel, EACCES on workDir) become FileAccessError; the rest pass through. */
function asFileAccessError(error: unknown): unknown {
  if (error instanceof ImagebuildError || !(error instanceof Error)) return error;
  const { code, path, syscall } = error as NodeJS.ErrnoException;
  if (typeof code !== 'string') return error;
  return new FileAccessError(`${path ?? 'bootstrap'}: ${syscall ?? 'file operation'} failed (${code})`, { cause: error });
}

/** The single `prefix*` file in `dir`, or a FileAccessError naming what was found. */
async function singleFile(dir: string, prefix: string): Promise<string> {
  const matches = (await readdir(dir)).filter((name) => name.startsWith(prefix)).sort();
  const [only] = matches;
  if (only === undefined || matches.length > 1) {
    throw new FileAccessError(`${dir}: expected exactly one ${prefix}* file, found ${matches.length === 0 ? 'none' : matches.join(', ')}`);
  }
  return only;
}

/** The ESP's FAT volume id, from the root UUID so it is not random: 8 hex digits for mkfs.fat, XXXX-XXXX for fstab. */
export function espVolumeId(rootUuid: string): { hex: string; fstab: string } {
  const hex = rootUuid.replaceAll('-', '').slice(0, 8).toUpperCase();
  return { hex, fstab: `${hex.slice(0, 4)}-${hex.slice(4)}` };
}

/**
 * Partition table for sfdisk (`<disk>N :` lines set the partition numbers): the GPT of DISK_LAYOUT, the root
 * filling the rest of the disk. The disk's GUID comes from the root UUID so it is not random.
 */
function partitionScript(raw: string, rootUuid: string): string {
  const sectors = (bytes: number) => bytes / SECTOR_BYTES;
  const { biosBoot, esp, root } = DISK_LAYOUT;
  const line = (part: { number: number; startBytes: number; type: string; name: string }, size: string) =>
    `${raw}${part.number} : start=${sectors(part.startBytes)}${size}, type=${part.type}, name="${part.name}"`;
  return [
    'label: gpt',
    `label-id: ${rootUuid.toUpperCase()}`,
    'unit: sectors',
    `first-lba: ${sectors(biosBoot.startBytes)}`,
    '',
    line(biosBoot, `, size=${sectors(biosBoot.bytes)}`),
    line(esp, `, size=${sectors(esp.bytes)}`),
    line(root, ''),
    '',
  ].join('\n');
}

/** `sfdisk --json` output, the part imagebuild reads. */
type SfdiskJson = { partitiontable?: { label?: string; partitions?: { node: string; start: number; size: number; type: string }[] } };

/**
 * Makes a sparse raw disk of `sizeGiB` at `raw` with the GPT of DISK_LAYOUT: an empty FAT32 ESP and the ext4 root
 * filled from `rootfs`, without loop devices or mounts: sfdisk, mkfs.fat (`--offset`) and mke2fs (`-E offset=`,
 * `-d`) work on the plain file. GRUB goes on later, inside the guest (the base layer's bootloader role).
 */
export async function writeRootDisk(
  log: BuildLog,
  input: { rootfs: string; raw: string; sizeGiB: number; rootUuid: string },
  time: <T>(name: BootstrapStepName, run: () => Promise<T>) => Promise<T> = (_name, run) => run(),
): Promise<{ partitionStartBytes: number; partitionBytes: number }> {
  const partition = await time('partition', async () => {
    const file = await open(input.raw, 'w');
    try {
      await file.truncate(input.sizeGiB * GiB);
    } finally {
      await file.close();
    }
    await runLogged(log, 'sfdisk', ['--no-reread', '--no-tell-kernel', '--quiet', input.raw], { input: partitionScript(input.raw, input.rootUuid) });
    const table = JSON.parse(await runLogged(log, 'sfdisk', ['--json', input.raw])) as SfdiskJson;
    const partitions = table.partitiontable?.partitions ?? [];
    const find = (number: number) => partitions.find((p) => p.node === `${input.raw}${number}`);
    for (const part of Object.values(DISK_LAYOUT)) {
      const made = find(part.number);
      if (table.partitiontable?.label !== 'gpt' || !made || made.start * SECTOR_BYTES !== part.startBytes || made.type !== part.type) {
        throw new FileAccessError(`${input.raw}: sfdisk did not create GPT partition ${part.number} (${part.name}) at ${part.startBytes} bytes`);
      }
    }
    const root = find(DISK_LAYOUT.root.number);
    return { partitionStartBytes: DISK_LAYOUT.root.startBytes, partitionBytes: (root?.size ?? 0) * SECTOR_BYTES };
  });
  await time('mkfs.fat', () =>
    runLogged(log, 'mkfs.fat', [
      // FAT32 as the UEFI specification asks of an ESP; one sector per cluster keeps 106 MiB above FAT32's minimum cluster count.
      '-F', '32', '-s', '1', '-n', 'ESP',
      '-i', espVolumeId(input.rootUuid).hex,
      '--offset', String(DISK_LAYOUT.esp.startBytes / SECTOR_BYTES),
      input.raw,
      String(DISK_LAYOUT.esp.bytes / 1024),
    ]),
  );
  await time('mke2fs', () =>
    runLogged(log, 'mke2fs', [
      '-q',
      '-F',
      '-t',
      'ext4',
      '-U',
      input.rootUuid,
      // nodiscard: the file is new and sparse, there is nothing to discard.
      '-E',
      `offset=${partition.partitionStartBytes},nodiscard`,
      '-d',
      input.rootfs,
      input.raw,
      // An explicit size, or mke2fs sizes the file system to the whole file and runs past the disk's end.
      `${partition.partitionBytes / 1024}k`,
    ]),
  );
  return partition;
}

/**
 * Builds a Debian base image with mmdebstrap: a qcow2 holding a GPT disk (DISK_LAYOUT) whose partition 1 is the ext4 root,
 * plus the kernel and initrd to boot it directly. Needs root (mmdebstrap root mode) but no mounts or loop devices.
 */
export async function bootstrapBaseImage(input: BootstrapInput): Promise<BootstrapResult> {
  const problems = validateBootstrapInput(input);
  if (problems.length > 0) throw new TypeError(`bootstrapBaseImage: invalid input:\n${problems.join('\n')}`);
  const started = performance.now();
  const workDir = resolve(input.workDir);
  const paths = {
    rootfs: join(workDir, 'rootfs'),
    hook: join(workDir, 'customize-hook.sh'),
    raw: join(workDir, 'disk.raw'),
    image: join(workDir, 'base.qcow2'),
    kernel: join(workDir, 'vmlinuz'),
    initrd: join(workDir, 'initrd.img'),
    log: join(workDir, 'bootstrap.log'),
  };
  try {
    await mkdir(workDir, { recursive: true });
  } catch (error) {
    throw new FileAccessError(`${workDir}: cannot create the bootstrap work directory: ${(error as Error).message}`, { cause: error });
  }
  // mmdebstrap refuses a non-empty target; these names are ours, so leftovers of an interrupted run can go.
  await removeRootfs(paths.rootfs);
  await rm(paths.raw, { force: true });

  const log = openBuildLog(paths.log, input.onLine);
  const steps: BootstrapStep[] = [];
  const time = async <T>(name: BootstrapStepName, run: () => Promise<T>): Promise<T> => {
    log.line(`==> ${name}`);
    const stepStarted = performance.now();
    const value = await run();
    const durationS = (performance.now() - stepStarted) / 1000;
    steps.push({ name, durationS });
    log.line(`<== ${name} ${durationS.toFixed(1)} s`);
    return value;
  };
  const rootUuid = randomUUID();
  // Intermediates always go (the rootfs alone is ~730 MB); on failure the outputs go too, so a half
  // bootstrap can never be mistaken for a finished one. The log stays for the post-mortem.
  const removeLeftovers = async (outputsToo: boolean): Promise<void> => {
    const files = [paths.raw, paths.hook, ...(outputsToo ? [paths.image, `${paths.image}.partial`, paths.kernel, paths.initrd] : [])];
    await Promise.all(files.map((path) => rm(path, { force: true })));
    await removeRootfs(paths.rootfs);
  };
  let kernelVersion: string;
  try {
    await time('mmdebstrap', async () => {
      await writeFile(paths.hook, renderCustomizeHook(), { mode: 0o755 });
      // aptProxy is the guest's view (e.g. http://10.0.2.2:3142 through QEMU user networking), so it is not
      // used for mmdebstrap on the host. A host-side proxy is http_proxy in mmdebstrap's environment (its apt runs
      // outside the chroot and honours it); --aptopt would be left in the image's apt.conf.d.
      const hookEnv = customizeHookEnv({ hostname: input.hostname, rootUuid, espUuid: espVolumeId(rootUuid).fstab, buildPublicKey: input.buildPublicKey.trim(), aptProxy: input.aptProxy });
      await runLogged(log, 'mmdebstrap', mmdebstrapArgs(input, paths.rootfs), { env: { ...hookEnv, IMAGEBUILD_HOOK: paths.hook, ...(input.hostProxy ? { http_proxy: input.hostProxy } : {}) } });
    });
    kernelVersion = await time('kernel', async () => {
      const boot = join(paths.rootfs, 'boot');
      const vmlinuz = await singleFile(boot, 'vmlinuz-');
      const initrd = await singleFile(boot, 'initrd.img-');
      await copyFile(join(boot, vmlinuz), paths.kernel);
      await copyFile(join(boot, initrd), paths.initrd);
      return vmlinuz.slice('vmlinuz-'.length);
    });
    await writeRootDisk(log, { rootfs: paths.rootfs, raw: paths.raw, sizeGiB: input.diskSizeGiB, rootUuid }, time);
    await time('qcow2', () => createQcow2FromRaw(paths.raw, paths.image));
    await removeLeftovers(false);
  } catch (error) {
    // The original failure is what the user needs; a cleanup problem only goes to the log.
    await removeLeftovers(true).catch((cleanupError: unknown) => log.line(`cleanup after failure: ${(cleanupError as Error).message}`));
    await log.close();
    throw asFileAccessError(error);
  }
  const durationS = (performance.now() - started) / 1000;
  log.line(`bootstrap done in ${durationS.toFixed(1)} s: ${paths.image} (kernel ${kernelVersion}, root UUID ${rootUuid})`);
  await log.close();
  return { image: paths.image, kernel: paths.kernel, initrd: paths.initrd, kernelVersion, rootPartition: '/dev/vda1', rootUuid, espUuid: espVolumeId(rootUuid).fstab, durationS, steps, logPath: paths.log };
}
