import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAnsibleVersion, parsePackerVersion, parseQemuImgVersion } from './tool-versions.js';

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
