// End to end: mmdebstrap a Debian base image, check its disk layout, then boot it under TCG and log in
// over SSH as the build account. Needs root, mmdebstrap, sfdisk, mke2fs, qemu-system-x86_64 and the mirror.
import { existsSync, readFileSync } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootstrapBaseImage, type BootstrapResult } from '../src/adapters/bootstrap/bootstrap-image.js';
import { STALL_LIMIT_MS } from '../src/adapters/bootstrap/build-log.js';
import { createOverlay, readImageInfo } from '../src/adapters/qemu-img/qemu-img.js';
import { makeTempDir } from './helpers/temp-dir.js';
import { missingTools, requireTools } from './helpers/require-tools.js';
import { freePort } from './helpers/free-port.js';

const DISK_SIZE_GIB = 2;
const BOOT_DEADLINE_MS = 120_000;
const REQUIRED_TOOLS = ['mmdebstrap', 'sfdisk', 'mke2fs', 'qemu-img', 'qemu-system-x86_64', 'ssh', 'ssh-keygen'];

function prerequisiteProblem(): string | null {
  if (!requireTools('test/bootstrap.test.ts', ...REQUIRED_TOOLS)) return `not installed: ${missingTools(...REQUIRED_TOOLS).join(', ')}`;
  if (process.getuid?.() !== 0) return 'needs root (mmdebstrap --mode=root)';
  return null;
}

/** The mirror apt itself uses here (deb822 `URIs:` of the stanza for the suite, and of `<suite>-security`). */
function readMirrors(suite: string): { mirror: string; securityMirror?: string } {
  const sourcesPath = '/etc/apt/sources.list.d/debian.sources';
  const stanzas = existsSync(sourcesPath) ? readFileSync(sourcesPath, 'utf8').split(/\n\s*\n/) : [];
  const field = (stanza: string, name: string): string[] => new RegExp(`^${name}:\\s*(.+)$`, 'm').exec(stanza)?.[1]?.trim().split(/\s+/) ?? [];
  const uriFor = (wanted: string): string | undefined => {
    const stanza = stanzas.find((candidate) => field(candidate, 'Suites').includes(wanted));
    return stanza === undefined ? undefined : field(stanza, 'URIs')[0];
  };
  return { mirror: uriFor(suite) ?? 'http://deb.debian.org/debian', securityMirror: uriFor(`${suite}-security`) ?? 'http://deb.debian.org/debian-security' };
}

function isAlive(pid: number): boolean {
  if (pid <= 1) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Kills the QEMU named in `pidFile`: TERM, then KILL if it is still there after 10 s. Returns its pid. */
async function killByPidFile(pidFile: string): Promise<number | null> {
  const pid = Number((await readFile(pidFile, 'utf8').catch(() => '')).trim());
  // Guard the pid: kill(0) and kill(-1) would address the whole process group or every process.
  if (!Number.isInteger(pid) || pid <= 1) return null;
  if (!isAlive(pid)) return pid;
  process.kill(pid, 'SIGTERM');
  for (let waited = 0; waited < 10_000 && isAlive(pid); waited += 100) await new Promise((resolve) => setTimeout(resolve, 100));
  if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  return pid;
}

const problem = prerequisiteProblem();
const underCi = process.env.CI === 'true';

describe.skipIf(problem !== null && !underCi)(`bootstrapBaseImage end to end${problem && !underCi ? ` (skipped: ${problem})` : ''}`, () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let result: BootstrapResult;
  let publicKey: string;
  const lines: string[] = [];

  beforeAll(async () => {
    if (problem) throw new Error(`bootstrap end-to-end prerequisites missing under CI: ${problem}`);
    ({ dir, cleanup } = await makeTempDir('imagebuild-bootstrap-'));
    await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'imagebuild-test', '-f', join(dir, 'id_ed25519')]);
    publicKey = await readFile(join(dir, 'id_ed25519.pub'), 'utf8');

    result = await bootstrapBaseImage({
      workDir: join(dir, 'work'),
      suite: 'bookworm',
      ...readMirrors('bookworm'),
      components: ['main'],
      include: ['ca-certificates'],
      hostname: 'ib-test',
      diskSizeGiB: DISK_SIZE_GIB,
      buildPublicKey: publicKey,
      onLine: (line) => lines.push(line),
    });
    // A ceiling against a hung test, not a time limit: mmdebstrap is stopped by the product when it prints nothing
    // for STALL_LIMIT_MS, so a slow but moving bootstrap on a loaded machine finishes however long it takes.
  }, 3 * STALL_LIMIT_MS);

  afterAll(async () => {
    await cleanup?.();
  });

  it('leaves the image, kernel and initrd and removes the intermediates', async () => {
    const files = (await readdir(join(dir, 'work'))).sort();

    expect(files).toEqual(['base.qcow2', 'bootstrap.log', 'initrd.img', 'vmlinuz']);
    expect(result.kernelVersion).toMatch(/-amd64$/);
    expect(result.steps.map((step) => step.name)).toEqual(['mmdebstrap', 'kernel', 'partition', 'mkfs.fat', 'mke2fs', 'qcow2']);
    expect(lines.some((line) => line.startsWith('$ mmdebstrap'))).toBe(true);
    console.log(`bootstrap timings: ${result.steps.map((step) => `${step.name} ${step.durationS.toFixed(1)} s`).join(', ')}; total ${result.durationS.toFixed(1)} s`);
  });

  it('is a qcow2 of the requested size with a GPT: BIOS boot, a FAT32 ESP and the ext4 root filling the rest', async () => {
    const raw = join(dir, 'check.raw');
    await execa('qemu-img', ['convert', '-f', 'qcow2', '-O', 'raw', result.image, raw]);

    const info = await readImageInfo(result.image);
    const { stdout: table } = await execa('sfdisk', ['--json', raw]);
    const { stdout: probe } = await execa('blkid', ['-p', '-O', String(111 * 1024 ** 2), '-o', 'export', raw]);
    const { stdout: esp } = await execa('blkid', ['-p', '-O', String(5 * 1024 ** 2), '-o', 'export', raw]);

    expect(info).toMatchObject({ format: 'qcow2', virtualSize: DISK_SIZE_GIB * 1024 ** 3, backingFile: null });
    const partitions = (JSON.parse(table) as { partitiontable: { label: string; partitions: { node: string; start: number; size: number; type: string }[] } }).partitiontable;
    expect(partitions.label).toBe('gpt');
    expect(partitions.partitions.map((p) => [p.node.slice(raw.length), p.start, p.type])).toEqual([
      ['1', 227328, '0FC63DAF-8483-4772-8E79-3D69D8477DE4'],
      ['14', 2048, '21686148-6449-6E6F-744E-656564454649'],
      ['15', 10240, 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B'],
    ]);
    expect(probe).toContain('TYPE=ext4');
    expect(probe).toContain(`UUID=${result.rootUuid}`);
    expect(esp).toContain('TYPE=vfat');
    expect(esp).toContain(`UUID=${result.espUuid}`);
  }, 60_000);

  it('boots under TCG and lets the build account in over SSH with passwordless sudo', async () => {
    const overlay = join(dir, 'run.qcow2');
    const pidFile = join(dir, 'qemu.pid');
    const serialLog = join(dir, 'serial.log');
    const port = await freePort();
    await createOverlay(overlay, result.image, { backingFormat: 'qcow2' });
    const bootStarted = performance.now();
    const qemu = execa(
      'qemu-system-x86_64',
      [
        ...['-accel', 'tcg', '-cpu', 'max', '-m', '1024', '-smp', '2', '-display', 'none', '-no-reboot'],
        ...['-kernel', result.kernel, '-initrd', result.initrd, '-append', 'root=/dev/vda1 rw console=ttyS0 net.ifnames=0'],
        ...['-drive', `file=${overlay},if=virtio,format=qcow2`],
        ...['-netdev', `user,id=n0,hostfwd=tcp:127.0.0.1:${port}-:22`, '-device', 'virtio-net-pci,netdev=n0'],
        ...['-serial', `file:${serialLog}`, '-monitor', 'none', '-pidfile', pidFile],
      ],
      // Never -nographic: stdin stays /dev/null so QEMU cannot take over the terminal.
      { stdin: 'ignore', reject: false },
    );
    let qemuExited = false;
    void qemu.then(() => {
      qemuExited = true;
    });
    const probe =
      'sudo -n true && echo SUDO=ok; echo STATE=$(systemctl is-system-running --wait); echo ROOT=$(findmnt -no SOURCE /); ' +
      'echo UUID=$(findmnt -no UUID /); echo HOST=$(hostname); echo ROOTPW=$(sudo -n getent shadow root | cut -d: -f2); ' +
      'echo KEYMODE=$(stat -c %a ~/.ssh/authorized_keys); echo FAILED=$(systemctl --failed --no-legend --plain | cut -d" " -f1); ' +
      // The ESP is mounted from fstab; DNS comes from DHCP through systemd-resolved, not a file naming the build host's resolver.
      'echo ESP=$(findmnt -no FSTYPE /boot/efi); echo RESOLV=$(readlink /etc/resolv.conf); echo DNS=$(resolvectl dns 2>/dev/null | grep -c 10.0.2.3)';
    const ssh = (command: string): Promise<{ exitCode?: number; stdout: string }> =>
      execa(
        'ssh',
        [
          ...['-i', join(dir, 'id_ed25519'), '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null'],
          ...['-o', 'ConnectTimeout=3', '-o', 'LogLevel=ERROR', '-p', String(port), 'imagebuild@127.0.0.1', command],
        ],
        { stdin: 'ignore', reject: false, timeout: 60_000 },
      );
    let output: string | null = null;
    let sshS: number | null = null;
    let runningS: number | null = null;
    let qemuPid: number | null;
    try {
      while (sshS === null && !qemuExited && performance.now() - bootStarted < BOOT_DEADLINE_MS) {
        if ((await ssh('true')).exitCode === 0) sshS = (performance.now() - bootStarted) / 1000;
        else await new Promise((resolve) => setTimeout(resolve, 1000));
      }
      if (sshS !== null) {
        output = (await ssh(probe)).stdout;
        runningS = (performance.now() - bootStarted) / 1000;
      }
    } finally {
      qemuPid = await killByPidFile(pidFile);
      qemu.kill('SIGKILL');
      await qemu;
    }
    const serial = await readFile(serialLog, 'utf8').catch(() => '');

    expect(sshS, `no SSH login within ${BOOT_DEADLINE_MS / 1000} s (QEMU exited: ${qemuExited}); serial tail:\n${serial.slice(-3000)}`).not.toBeNull();
    const values = Object.fromEntries((output ?? '').split('\n').map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]));
    expect(values).toMatchObject({ SUDO: 'ok', ROOT: '/dev/vda1', UUID: result.rootUuid, HOST: 'ib-test', KEYMODE: '600', STATE: 'running', FAILED: '', ESP: 'vfat' });
    expect(values).toMatchObject({ RESOLV: '../run/systemd/resolve/stub-resolv.conf', DNS: '1' });
    expect(['*', '!', '!*']).toContain(values.ROOTPW);
    expect(qemuPid).not.toBeNull();
    expect(isAlive(qemuPid ?? 0)).toBe(false);
    console.log(`boot: SSH login after ${sshS?.toFixed(1)} s, probe (is-system-running --wait) done after ${runningS?.toFixed(1)} s`);
  }, 200_000);
});
