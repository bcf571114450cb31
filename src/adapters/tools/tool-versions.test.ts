import { readFileSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeTempDir } from '../../../test/helpers/temp-dir.js';
import { parseAnsibleVersion, parsePackerVersion, parseQemuImgVersion, readToolVersions, toolVersionCacheFile } from './tool-versions.js';

const fixture = (name: string) => readFileSync(join(import.meta.dirname, '../../../test/fixtures/tool-output', name), 'utf8');

describe('tool version parsers on recorded output', () => {
  it('reads Debian packer 1.6.6', () => {
    expect(parsePackerVersion(fixture('packer-version-1.6.6.txt'))).toBe('1.6.6');
  });

  it('reads current packer, which adds an update notice after the version', () => {
    expect(parsePackerVersion('Packer v1.11.2\n\nYour version of Packer is out of date! The latest version\nis 1.12.0.\n')).toBe('1.11.2');
  });

  it('reads ansible-core from `ansible --version`', () => {
    expect(parseAnsibleVersion(fixture('ansible-version-2.14.txt'))).toBe('2.14.18');
  });

  it('reads qemu-img with a Debian package suffix', () => {
    expect(parseQemuImgVersion(fixture('qemu-img-version-7.2.txt'))).toBe('7.2.22');
  });

  it.each([
    [parsePackerVersion, 'command not found'],
    [parseAnsibleVersion, 'Usage: ansible'],
    [parseQemuImgVersion, ''],
  ])('returns null for unrecognised output (%#)', (parse, output) => {
    expect(parse(output)).toBeNull();
  });
});

describe('readToolVersions', () => {
  it('remembers a version while the binary is the same file, and probes again when it is replaced', async () => {
    const { dir, cleanup } = await makeTempDir('imagebuild-tools-');
    try {
      const bin = join(dir, 'bin');
      const calls = join(dir, 'calls');
      await mkdir(bin);
      const fake = (version: string) => `#!/bin/sh\necho "$0" >> ${calls}\necho "Packer v${version}"\n`;
      await writeFile(join(bin, 'packer'), fake('1.6.6'), { mode: 0o755 });
      const env = { PATH: bin, HOME: dir };
      const count = async () => (await readFile(calls, 'utf8')).trim().split('\n').length;

      const first = await readToolVersions(env);
      const second = await readToolVersions(env);
      await writeFile(join(bin, 'packer.new'), fake('1.11.2'), { mode: 0o755 });
      await rename(join(bin, 'packer.new'), join(bin, 'packer'));
      const third = await readToolVersions(env);

      expect([first.packer.version, second.packer.version, third.packer.version]).toEqual(['1.6.6', '1.6.6', '1.11.2']);
      expect(await count()).toBe(2);
      expect(first.ansible).toEqual({ tool: 'ansible', version: null, error: 'not installed (not on PATH)' });
      expect(JSON.parse(await readFile(toolVersionCacheFile(env), 'utf8'))).toEqual({ [join(bin, 'packer')]: { stamp: expect.stringContaining(join(bin, 'packer')), version: '1.11.2' } });
    } finally {
      await cleanup();
    }
  });
});
