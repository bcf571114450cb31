import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { checkHostKey, keyFingerprint, knownHostName, parseKnownHosts } from './known-hosts.js';

const KEY_A = 'AAAAC3NzaC1lZDI1NTE5AAAAICAk7L1ODAIaQrVgpSXYc3NmSy/HEHp/SEokchKdBmlr';
const KEY_B = 'AAAAC3NzaC1lZDI1NTE5AAAAIOs8SLdnpRZ2aQpNf5d3g1eN4j/PX2pH5TYsrvgA8Wfx';

function hashed(name: string): string {
  const salt = Buffer.from('0123456789abcdefghij');
  return `|1|${salt.toString('base64')}|${createHmac('sha1', salt).update(name).digest('base64')}`;
}

describe('known_hosts', () => {
  it('names a non-22 port as [host]:port', () => {
    expect(knownHostName('gpu1', 22)).toBe('gpu1');
    expect(knownHostName('10.0.0.5', 2222)).toBe('[10.0.0.5]:2222');
  });

  it('matches plain, wildcard and hashed names, and an entry with several names', () => {
    const entries = parseKnownHosts([`gpu1,10.0.0.5 ssh-ed25519 ${KEY_A}`, `*.lab ssh-ed25519 ${KEY_A}`, `${hashed('[127.0.0.1]:2222')} ssh-ed25519 ${KEY_A} comment`].join('\n'));

    expect(checkHostKey(entries, '10.0.0.5', 22, KEY_A)).toEqual({ status: 'match', line: 1 });
    expect(checkHostKey(entries, 'box.lab', 22, KEY_A)).toEqual({ status: 'match', line: 2 });
    expect(checkHostKey(entries, '127.0.0.1', 2222, KEY_A)).toEqual({ status: 'match', line: 3 });
    expect(checkHostKey(entries, '127.0.0.1', 22, KEY_A)).toEqual({ status: 'unknown' });
  });

  it('reports a known host presenting another key as a mismatch, and a negated or revoked name', () => {
    const entries = parseKnownHosts([`# comment`, `gpu1 ssh-ed25519 ${KEY_A}`, `*.lab,!gpu2.lab ssh-ed25519 ${KEY_B}`, `@revoked gpu3 ssh-ed25519 ${KEY_B}`, 'garbage line'].join('\n'));

    expect(checkHostKey(entries, 'gpu1', 22, KEY_B)).toEqual({ status: 'mismatch', lines: [2] });
    expect(checkHostKey(entries, 'gpu2.lab', 22, KEY_B)).toEqual({ status: 'unknown' });
    expect(checkHostKey(entries, 'gpu7.lab', 22, KEY_B)).toEqual({ status: 'match', line: 3 });
    expect(checkHostKey(entries, 'gpu3', 22, KEY_B)).toEqual({ status: 'revoked', line: 4 });
  });

  it('fingerprints a key as ssh-keygen -l does', () => {
    // ssh-keygen -lf on the public key "ssh-ed25519 KEY_A" printed this fingerprint.
    expect(keyFingerprint(KEY_A)).toBe('SHA256:c3itzKVmxIIWbSqknAS4sY1JuArhwSbsz/oxtRgoBPw');
  });
});
