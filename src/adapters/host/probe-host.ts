import { existsSync } from 'node:fs';
import { readdir, readFile, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { execa } from 'execa';
import { cacheLayout } from '../workspace/cache-layout.js';
import { firstLine } from '../../errors/index.js';

/** The device id of the filesystem `path` is (or would be created) on. */
export async function filesystemOf(path: string): Promise<string> {
  let dir = path;
  while (!existsSync(dir) && dirname(dir) !== dir) dir = dirname(dir);
  return String((await stat(dir)).dev);
}

/** Whether a command is on PATH. */
export async function commandExists(command: string): Promise<boolean> {
  const result = await execa('sh', ['-c', 'command -v "$1"', 'sh', command], { reject: false, stdin: 'ignore' });
  return result.exitCode === 0;
}

/** The kernel driver bound to a PCI function, from sysfs (null: absent or unbound). */
export async function pciDriverOf(address: string, sysfs = '/sys/bus/pci/devices'): Promise<string | null> {
  try {
    return basename(await readlink(join(sysfs, address, 'driver')));
  } catch {
    return null;
  }
}

/**
 * Decides whether KVM really works by booting a kernel for a few seconds: on some hosts /dev/kvm opens
 * but Linux guests hang before printing anything (nested virtualisation), so its existence proves nothing.
 * Success is the kernel reaching its panic for lack of a root filesystem, which QEMU ends with -no-reboot.
 */
export async function probeKvm(kernel: string | undefined, workDir: string, timeoutMs = 30_000): Promise<{ usable: boolean; reason: string }> {
  if (!existsSync('/dev/kvm')) return { usable: false, reason: '/dev/kvm does not exist' };
  if (!kernel || !existsSync(kernel)) return { usable: false, reason: 'no kernel to run the KVM boot probe with' };
  const serial = join(workDir, `kvm-probe-${process.pid}.log`);
  const started = Date.now();
  const result = await execa(
    'qemu-system-x86_64',
    ['-accel', 'kvm', '-cpu', 'host', '-m', '256', '-smp', '1', '-display', 'none', '-no-reboot', '-kernel', kernel, '-append', 'console=ttyS0 panic=-1 root=/dev/null', '-serial', `file:${serial}`, '-monitor', 'none'],
    { reject: false, timeout: timeoutMs, stdin: 'ignore' },
  );
  const log = await readFile(serial, 'utf8').catch(() => '');
  await rm(serial, { force: true });
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  if (/Kernel panic|Run \/init|VFS: /.test(log)) return { usable: true, reason: `a kernel booted under KVM in ${seconds} s` };
  if (result.timedOut) return { usable: false, reason: `/dev/kvm opens but a kernel did not boot under KVM within ${timeoutMs / 1000} s` };
  return { usable: false, reason: `the KVM boot probe failed: ${firstLine(result.stderr || 'no output')}` };
}

/** The newest host kernel under /boot, for the KVM probe when no image kernel is at hand. */
export async function hostKernel(): Promise<string | undefined> {
  try {
    const kernels = (await readdir('/boot')).filter((f) => f.startsWith('vmlinuz-')).sort();
    const newest = kernels.at(-1);
    return newest ? join('/boot', newest) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The KVM probe, remembered for the host's current boot (keyed by /proc/sys/kernel/random/boot_id and
 * the kernel probed): on a host where KVM hangs, every build would otherwise wait out the probe again.
 */
export async function probeKvmOncePerBoot(kernel: string | undefined, cacheDir: string): Promise<{ usable: boolean; reason: string }> {
  const bootId = (await readFile('/proc/sys/kernel/random/boot_id', 'utf8').catch(() => '')).trim();
  const memo = cacheLayout(cacheDir).kvmProbe;
  const key = JSON.stringify({ bootId, kernel: kernel ?? null, kvm: existsSync('/dev/kvm') });
  if (bootId) {
    try {
      const saved: unknown = JSON.parse(await readFile(memo, 'utf8'));
      if (saved && typeof saved === 'object' && 'key' in saved && saved.key === key && 'usable' in saved && typeof saved.usable === 'boolean' && 'reason' in saved && typeof saved.reason === 'string') {
        return { usable: saved.usable, reason: `${saved.reason}; probed earlier this boot` };
      }
    } catch {
      // No memo yet, or unreadable: probe.
    }
  }
  const result = await probeKvm(kernel, cacheDir);
  if (bootId) await writeFile(memo, `${JSON.stringify({ key, ...result })}\n`).catch(() => undefined);
  return result;
}
