import { existsSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { firstLine, ToolFailedError } from '../../errors/index.js';
import { startOrphanWatchdog } from '../process/orphan-watchdog.js';
import type { Firmware } from '../../core/spec/schema.js';
import { firmwareArgs } from './firmware.js';

export type BootedVm = {
  /** Host port forwarded to the guest's SSH port, bound to 127.0.0.1 only. */
  readonly sshPort: number;
  readonly serialLog: string;
  /** Stops QEMU (SIGTERM, then SIGKILL) and waits for it; safe to call twice. */
  stop(): Promise<void>;
  /** The serial console output so far. */
  serial(): Promise<string>;
};

/** A free TCP port on 127.0.0.1, chosen by the kernel. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (address && typeof address === 'object' ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/**
 * Boots a disk image the way a machine would (its own bootloader, no -kernel), under SeaBIOS (`bios`, the default)
 * or OVMF (`uefi`), with user networking and SSH forwarded to a loopback port. Never -nographic: the serial
 * console goes to a file and stdin is closed.
 */
export async function bootVm(input: {
  image: string;
  workDir: string;
  accelerator: 'kvm' | 'tcg';
  memoryMiB?: number;
  cpus?: number;
  firmware?: Firmware;
  /** qcow2 (the default) or raw: a flashed disk or an exported image. */
  format?: 'qcow2' | 'raw';
}): Promise<BootedVm> {
  const sshPort = await freePort();
  const serialLog = join(input.workDir, 'serial.log');
  const pidFile = join(input.workDir, 'qemu.pid');
  await rm(serialLog, { force: true });
  await rm(pidFile, { force: true });
  const firmware = await firmwareArgs(input.firmware ?? 'bios', input.workDir);
  // Started before QEMU, on its pid file: a SIGKILL of imagebuild right after the spawn must not orphan the VM.
  // (`cleanup` below stops QEMU when imagebuild exits or is signalled, but not when it is SIGKILLed.)
  // No grace: these VMs boot throwaway overlays (verification, the KVM probe) with nothing to save, and a SIGTERM
  // that a loaded TCG guest is slow to act on would leave the VM running while the machine is busiest.
  const watchdog = startOrphanWatchdog({ pidFile }, 0);
  const child: ResultPromise = execa(
    'qemu-system-x86_64',
    [
      '-accel', input.accelerator,
      '-cpu', input.accelerator === 'kvm' ? 'host' : 'max',
      '-m', String(input.memoryMiB ?? 1024),
      '-smp', String(input.cpus ?? 2),
      '-display', 'none',
      '-no-reboot',
      ...firmware,
      '-drive', `file=${input.image},if=virtio,format=${input.format ?? 'qcow2'}`,
      '-netdev', `user,id=n0,hostfwd=tcp:127.0.0.1:${sshPort}-:22`,
      '-device', 'virtio-net-pci,netdev=n0',
      '-serial', `file:${serialLog}`,
      '-monitor', 'none',
      '-pidfile', pidFile,
    ],
    { stdin: 'ignore', reject: false, detached: false, cleanup: true },
  );
  let stopped = false;
  const exited = child.then((result) => {
    watchdog.cancel();
    return result;
  });
  // Fail fast when QEMU refuses to start (bad image, missing accelerator).
  const early = await Promise.race([exited, new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 1500))]);
  if (early) {
    throw new ToolFailedError('qemu-system-x86_64', `qemu could not boot ${input.image}: ${firstLine(String(early.stderr ?? '')) || `exit ${early.exitCode}`}`, early.exitCode);
  }
  return {
    sshPort,
    serialLog,
    serial: () => (existsSync(serialLog) ? readFile(serialLog, 'utf8') : Promise.resolve('')),
    async stop() {
      if (stopped) return;
      stopped = true;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
      await rm(pidFile, { force: true });
    },
  };
}
