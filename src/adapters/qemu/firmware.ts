import { copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathExists } from '../fs/directories.js';
import type { Firmware } from '../../core/spec/schema.js';
import { PreflightError } from '../../errors/index.js';

/** An OVMF build: the read-only code and the template of its variable store, which each boot gets a copy of. */
export type OvmfFiles = { readonly code: string; readonly varsTemplate: string };

/**
 * Where distributions install OVMF without Secure Boot keys, in order of preference. Debian and Ubuntu (`ovmf`):
 * /usr/share/OVMF/OVMF_CODE_4M.fd (4 MiB flash, the default since bookworm) and the older 2 MiB build; Fedora and
 * RHEL (`edk2-ovmf`): /usr/share/edk2/ovmf; Arch (`edk2-ovmf`): /usr/share/edk2/x64.
 */
export const OVMF_CANDIDATES: readonly OvmfFiles[] = [
  { code: '/usr/share/OVMF/OVMF_CODE_4M.fd', varsTemplate: '/usr/share/OVMF/OVMF_VARS_4M.fd' },
  { code: '/usr/share/OVMF/OVMF_CODE.fd', varsTemplate: '/usr/share/OVMF/OVMF_VARS.fd' },
  { code: '/usr/share/edk2/ovmf/OVMF_CODE.fd', varsTemplate: '/usr/share/edk2/ovmf/OVMF_VARS.fd' },
  { code: '/usr/share/edk2/x64/OVMF_CODE.4m.fd', varsTemplate: '/usr/share/edk2/x64/OVMF_VARS.4m.fd' },
];

/** The first OVMF build installed on this host, or undefined. */
export function findOvmf(candidates: readonly OvmfFiles[] = OVMF_CANDIDATES): OvmfFiles | undefined {
  return candidates.find((c) => pathExists(c.code) && pathExists(c.varsTemplate));
}

/** What to install for OVMF, for messages. */
export const OVMF_INSTALL_HINT = 'install OVMF (Debian/Ubuntu: apt-get install ovmf; Fedora: dnf install edk2-ovmf)';

/** Firmware as QEMU is told it and as people call it. */
export const FIRMWARE_NAMES: Readonly<Record<Firmware, string>> = { bios: 'SeaBIOS', uefi: 'OVMF (UEFI)' };

/**
 * QEMU arguments that boot under `firmware`: none for BIOS (SeaBIOS is QEMU's default on the pc and q35 machines),
 * two pflash drives for UEFI, the variable store a fresh copy in `workDir` so no boot sees another's NVRAM
 * (a freshly flashed disk has no boot entry either: the loader must sit at the removable path).
 */
export async function firmwareArgs(firmware: Firmware, workDir: string, candidates: readonly OvmfFiles[] = OVMF_CANDIDATES): Promise<string[]> {
  if (firmware === 'bios') return [];
  const ovmf = findOvmf(candidates);
  if (ovmf === undefined) throw new PreflightError([`no OVMF firmware to boot under uefi (looked for ${candidates.map((c) => c.code).join(', ')}); ${OVMF_INSTALL_HINT}`]);
  const vars = join(workDir, 'ovmf-vars.fd');
  await copyFile(ovmf.varsTemplate, vars);
  return ['-drive', `if=pflash,format=raw,unit=0,readonly=on,file=${ovmf.code}`, '-drive', `if=pflash,format=raw,unit=1,file=${vars}`];
}
