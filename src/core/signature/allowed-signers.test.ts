import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { catchErrorOf } from '../../../test/helpers/catch-error.js';
import { AllowedSignersInvalidError, SignatureInvalidError } from '../../errors/index.js';
import { checkAllowedSigner, checkNotRevoked, findAllowedSigners, formatUtc, matchPatternList, parseAllowedSigners, parseRevokedKeys, utcToEpoch, type AllowedSigners } from './allowed-signers.js';
import { ed25519PublicKeyBlob } from './sshsig.js';

const FILE = 'allowed_signers';

function makeKey(): { blob: Buffer; line: string } {
  const raw = Buffer.from(generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' }).x!, 'base64url');
  const blob = ed25519PublicKeyBlob(raw);
  return { blob, line: `ssh-ed25519 ${blob.toString('base64')}` };
}

// A "local" time zone two hours east of UTC, so the tests see which times took the local path.
const localTimeToEpoch = (time: Parameters<typeof utcToEpoch>[0]) => utcToEpoch(time) - 2 * 3600;

function parse(text: string): AllowedSigners {
  return parseAllowedSigners(text, { file: FILE, localTimeToEpoch });
}

function parseError(text: string): string {
  return catchErrorOf(AllowedSignersInvalidError, () => parse(text)).message;
}

describe('parseAllowedSigners', () => {
  it('reads principals, options, keys and comments, skipping blank and comment lines, as ssh-keygen does', () => {
    const [a, b, c] = [makeKey(), makeKey(), makeKey()];
    const text = [
      '# release signers',
      '',
      `   release@example.com,*@ops.example.com ${a.line} alice's laptop`,
      `"build bot@example.com" NAMESPACES="imagebuild-release,file",Valid-After="20260101",valid-before="20270101123000Z" ${b.line}\r`,
      `\t!old@example.com,* namespaces="a\\"b" ${c.line}`,
    ].join('\n');

    const { file, signers } = parse(text);

    expect(file).toBe(FILE);
    expect(signers.map(({ publicKey: _, ...rest }) => rest)).toEqual([
      { line: 3, principals: 'release@example.com,*@ops.example.com', keyType: 'ssh-ed25519' },
      { line: 4, principals: 'build bot@example.com', namespaces: 'imagebuild-release,file', validAfter: utcToEpoch({ year: 2026, month: 1, day: 1, hour: 0, minute: 0, second: 0 }) - 7200, validBefore: utcToEpoch({ year: 2027, month: 1, day: 1, hour: 12, minute: 30, second: 0 }), keyType: 'ssh-ed25519' },
      { line: 5, principals: '!old@example.com,*', namespaces: 'a"b', keyType: 'ssh-ed25519' },
    ]);
    expect(signers[0]!.publicKey.equals(a.blob)).toBe(true);
  });

  it('refuses a line that does not parse with one line naming file:line and what would be valid', () => {
    const key = makeKey();

    expect(parseError(`# ok\nrelease@example.com\n`)).toBe(`${FILE}:2: nothing after the principals; a line is: principals [options] keytype base64-key [comment]`);
    expect(parseError(`release@example.com namespaces="x"\n`)).toBe(`${FILE}:1: no public key after the options; a line is: principals [options] keytype base64-key [comment]`);
    expect(parseError(`release@example.com namespace="x" ${key.line}`)).toBe(`${FILE}:1: unknown option "namespace"; allowed_signers options are namespaces="…", valid-after="…", valid-before="…" (and cert-authority, which imagebuild does not support)`);
    expect(parseError(`release@example.com namespaces=x ${key.line}`)).toBe(`${FILE}:1: namespaces= takes a double-quoted value, e.g. namespaces="imagebuild-release"`);
    expect(parseError(`release@example.com cert-authority ${key.line}`)).toMatch(new RegExp(`^${FILE}:1: cert-authority \\(signatures by SSH certificates\\) is not supported by imagebuild`));
    expect(parseError(`release@example.com valid-after="2026-01-01" ${key.line}`)).toBe(`${FILE}:1: valid-after="2026-01-01" is not a time; write YYYYMMDD, YYYYMMDDHHMM or YYYYMMDDHHMMSS, with a trailing Z for UTC`);
    expect(parseError(`release@example.com valid-after="20260230" ${key.line}`)).toMatch(/is not a time/);
    expect(parseError(`release@example.com valid-after="20270101Z",valid-before="20260101Z" ${key.line}`)).toBe(`${FILE}:1: valid-before is not after valid-after`);
    expect(parseError(`release@example.com namespaces="a",namespaces="b" ${key.line}`)).toBe(`${FILE}:1: namespaces is given twice`);
    expect(parseError(`release@example.com ssh-ed25519 not*base64`)).toBe(`${FILE}:1: the ssh-ed25519 key is not base64`);
    expect(parseError(`release@example.com ssh-rsa ${key.line.split(' ')[1]}`)).toBe(`${FILE}:1: the key says ssh-rsa but its base64 holds a ssh-ed25519 key`);
    expect(parseError(`"release@example.com ${key.line}`)).toBe(`${FILE}:1: the principals' opening " has no closing "`);
  });

  it('never quotes more than the start of a long bad token', () => {
    const options = parseError(`release@example.com ${'A'.repeat(500)} ssh-ed25519 AAAA`);
    const revoked = catchErrorOf(AllowedSignersInvalidError, () => parseRevokedKeys(`${'B'.repeat(500)} x`, 'revoked_keys')).message;

    expect(options).toBe(`${FILE}:1: unknown option "${'A'.repeat(40)}…"; allowed_signers options are namespaces="…", valid-after="…", valid-before="…" (and cert-authority, which imagebuild does not support)`);
    expect(revoked).toMatch(new RegExp(`^revoked_keys:1: "${'B'.repeat(40)}…" is not an SSH key type`));
  });
});

describe('matchPatternList', () => {
  it('matches OpenSSH pattern lists: * and ?, case-sensitive, and a matching !negation wins', () => {
    expect(matchPatternList('release@example.com', '*@example.com')).toBe(true);
    expect(matchPatternList('release@example.com', 'other@example.com,release@example.co?')).toBe(true);
    expect(matchPatternList('Release@example.com', 'release@example.com')).toBe(false);
    expect(matchPatternList('old@example.com', '!old@example.com,*')).toBe(false);
    expect(matchPatternList('new@example.com', '!old@example.com,*')).toBe(true);
    expect(matchPatternList('x', '!y')).toBe(false);
    expect(matchPatternList('a.b', 'a?b')).toBe(true);
    expect(matchPatternList('axb', 'a.b')).toBe(false);
  });
});

describe('checkAllowedSigner', () => {
  const now = utcToEpoch({ year: 2026, month: 6, day: 1, hour: 0, minute: 0, second: 0 });

  it('returns the first line that lets the key sign for the principal, namespace and time', () => {
    const key = makeKey();
    const allowed = parse([`release@example.com namespaces="file" ${key.line}`, `release@example.com namespaces="imagebuild-*" ${key.line}`, `*@example.com ${key.line}`].join('\n'));

    const found = checkAllowedSigner(allowed, { publicKey: key.blob, namespace: 'imagebuild-release', principal: 'release@example.com', now });

    expect(found.line).toBe(2);
    expect(findAllowedSigners(allowed, { publicKey: key.blob, namespace: 'imagebuild-release', now }).map((s) => s.line)).toEqual([2, 3]);
  });

  it('says why a key may not sign: not listed, listed for others, another namespace, not yet valid, expired', () => {
    const [listed, stranger] = [makeKey(), makeKey()];
    const check = (text: string, principal = 'release@example.com', publicKey = listed.blob) =>
      catchErrorOf(SignatureInvalidError, () => checkAllowedSigner(parse(text), { publicKey, namespace: 'imagebuild-release', principal, now }));

    const errors = [
      check(`release@example.com ${listed.line}`, 'release@example.com', stranger.blob),
      check(`ops@example.com,!release@example.com ${listed.line}\n*@example.com,!release@example.com ${listed.line}`),
      check(`release@example.com namespaces="file,git" ${listed.line}`),
      check(`release@example.com valid-after="20260601000001Z" ${listed.line}`),
      check(`release@example.com valid-before="20260531235959Z" ${listed.line}`),
    ];

    expect(errors.map((e) => e.reason)).toEqual(['unknown-signer', 'unknown-signer', 'namespace-not-allowed', 'not-yet-valid', 'expired']);
    const fp = errors[0]!.message.match(/SHA256:\S+/)![0];
    expect(errors[0]!.message).toBe(`${FILE}: the signing key ${fp} is not an allowed signer`);
    expect(errors[1]!.message).toBe(`${FILE}: the signing key ${errors[1]!.message.match(/SHA256:\S+/)![0]} is allowed for other principals (line 1: "ops@example.com,!release@example.com", line 2: "*@example.com,!release@example.com"), not for "release@example.com"`);
    expect(errors[2]!.message).toMatch(/^allowed_signers:1: the signing key SHA256:\S+ may sign only for namespaces="file,git", not "imagebuild-release"$/);
    expect(errors[3]!.message).toMatch(/is not valid yet: valid-after 2026-06-01T00:00:01Z, verified at 2026-06-01T00:00:00Z$/);
    expect(errors[4]!.message).toMatch(/has expired: valid-before 2026-05-31T23:59:59Z, verified at 2026-06-01T00:00:00Z$/);
  });

  it('takes a valid-after equal to the time of verification, as ssh-keygen does', () => {
    const key = makeKey();

    const found = checkAllowedSigner(parse(`release@example.com valid-after="20260601Z",valid-before="20260601000001Z" ${key.line}`), { publicKey: key.blob, namespace: 'imagebuild-release', now });

    expect(found.line).toBe(1);
  });
});

describe('revoked keys', () => {
  it('refuses a listed key naming file:line, and lets others through', () => {
    const [revoked, fine] = [makeKey(), makeKey()];
    const keys = parseRevokedKeys(`# compromised\n\n  ${revoked.line} old laptop\n`, 'revoked_keys');

    const error = catchErrorOf(SignatureInvalidError, () => checkNotRevoked(keys, revoked.blob));

    expect(error.reason).toBe('revoked');
    expect(error.message).toMatch(/^revoked_keys:3: the signing key SHA256:\S+ is revoked$/);
    expect(() => checkNotRevoked(keys, fine.blob)).not.toThrow();
  });

  it('refuses a line that is not a key and a binary KRL, rather than skip them', () => {
    expect(catchErrorOf(AllowedSignersInvalidError, () => parseRevokedKeys('release@example.com ssh-ed25519 AAAA\n', 'revoked_keys')).message).toMatch(/^revoked_keys:1: "release@example.com" is not an SSH key type/);
    expect(catchErrorOf(AllowedSignersInvalidError, () => parseRevokedKeys('SSHKRL\n\0\0\0\x01', 'revoked.krl')).message).toMatch(/^revoked.krl: is a binary key revocation list \(KRL\)/);
  });
});

describe('UTC times without a clock', () => {
  it('agrees with Date on epoch seconds and ISO text, leap days included', () => {
    const samples = ['1970-01-01T00:00:00Z', '2000-02-29T12:34:56Z', '2026-12-05T14:10:48Z', '2100-03-01T00:00:00Z'];

    for (const iso of samples) {
      const epoch = Date.parse(iso) / 1000;
      const [, y, mo, d, h, mi, s] = /^(\d+)-(\d+)-(\d+)T(\d+):(\d+):(\d+)Z$/.exec(iso)!.map(Number) as number[];
      expect(utcToEpoch({ year: y!, month: mo!, day: d!, hour: h!, minute: mi!, second: s! })).toBe(epoch);
      expect(formatUtc(epoch)).toBe(iso);
    }
  });
});
