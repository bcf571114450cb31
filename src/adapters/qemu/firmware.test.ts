import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { PreflightError } from '../../errors/index.js';
import { findOvmf, firmwareArgs } from './firmware.js';

let dir: string | undefined;
afterEach(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = undefined;
});

describe('firmwareArgs', () => {
  it('adds nothing for BIOS: SeaBIOS is QEMU’s default', async () => {
    expect(await firmwareArgs('bios', '/nonexistent', [])).toEqual([]);
  });

  it('boots UEFI from the read-only OVMF code and a fresh copy of its variable store in the work folder', async () => {
    dir = await mkdtemp(join(tmpdir(), 'imagebuild-ovmf-'));
    const code = join(dir, 'CODE.fd');
    const varsTemplate = join(dir, 'VARS.fd');
    await writeFile(code, 'code');
    await writeFile(varsTemplate, 'pristine vars');
    const work = await mkdtemp(join(dir, 'boot-'));
    await writeFile(join(work, 'ovmf-vars.fd'), 'an earlier boot wrote NVRAM here');

    const args = await firmwareArgs('uefi', work, [{ code: join(dir, 'missing.fd'), varsTemplate }, { code, varsTemplate }]);

    expect(args).toEqual(['-drive', `if=pflash,format=raw,unit=0,readonly=on,file=${code}`, '-drive', `if=pflash,format=raw,unit=1,file=${join(work, 'ovmf-vars.fd')}`]);
    expect(await readFile(join(work, 'ovmf-vars.fd'), 'utf8')).toBe('pristine vars');
    expect(await readFile(varsTemplate, 'utf8')).toBe('pristine vars');
  });

  it('refuses UEFI without OVMF, saying what to install', async () => {
    const missing = [{ code: '/nonexistent/CODE.fd', varsTemplate: '/nonexistent/VARS.fd' }];
    expect(findOvmf(missing)).toBeUndefined();

    const error = await firmwareArgs('uefi', '/nonexistent', missing).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(PreflightError);
    expect((error as Error).message).toMatch(/^preflight: no OVMF firmware to boot under uefi .*apt-get install ovmf/);
  });
});
