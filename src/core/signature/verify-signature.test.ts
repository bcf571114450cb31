import { generateKeyPairSync, sign } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { catchErrorOf } from '../../../test/helpers/catch-error.js';
import { SignatureInvalidError } from '../../errors/index.js';
import { parseAllowedSigners, parseRevokedKeys, utcToEpoch } from './allowed-signers.js';
import { armorSshSignature, ed25519PublicKeyBlob, encodeSshSignature, sshsigSignedData } from './sshsig.js';
import { checkSignature, sshKeygenVerifyCommand } from './verify-signature.js';

const NAMESPACE = 'imagebuild-release';
const MESSAGE = Buffer.from('abc  image.qcow2\n');
const NOW = 1_800_000_000;

function signer() {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const blob = ed25519PublicKeyBlob(Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url'));
  const armored = armorSshSignature(encodeSshSignature({ publicKey: blob, namespace: NAMESPACE, hashAlgorithm: 'sha512', signature: sign(null, sshsigSignedData(MESSAGE, NAMESPACE), privateKey) }));
  return { line: `ssh-ed25519 ${blob.toString('base64')}`, armored };
}

const allowedOf = (text: string) => parseAllowedSigners(text, { file: 'allowed_signers', localTimeToEpoch: utcToEpoch });

describe('checkSignature', () => {
  it('returns the principal asked for, the fingerprint and the allowing line', () => {
    const key = signer();

    const verified = checkSignature({ message: MESSAGE, signature: key.armored, allowedSigners: allowedOf(`# keys\n*@example.com ${key.line}`), namespace: NAMESPACE, principal: 'release@example.com', now: NOW });

    expect(verified).toMatchObject({ principal: 'release@example.com', principals: '*@example.com', keyType: 'ssh-ed25519', line: 2 });
    expect(verified.fingerprint).toMatch(/^SHA256:/);
  });

  it('without a principal asked for, names the first plain principal of the allowing line, one ssh-keygen -I accepts', () => {
    const key = signer();
    const check = (line: string) => checkSignature({ message: MESSAGE, signature: key.armored, allowedSigners: allowedOf(`${line} ${key.line}`), namespace: NAMESPACE, now: NOW }).principal;

    expect([check('!old@example.com,*@ops.example.com,release@example.com,ci@example.com'), check('*@example.com')]).toEqual(['release@example.com', '*@example.com']);
  });

  it('checks in ssh-keygen order: the signature, then revocation, then allowed_signers', () => {
    const [key, other] = [signer(), signer()];
    const revoked = parseRevokedKeys(`${key.line}\n`, 'revoked');
    const check = (input: { message?: Buffer; namespace?: string; allowed?: string }) =>
      catchErrorOf(SignatureInvalidError, () =>
        checkSignature({ message: input.message ?? MESSAGE, signature: key.armored, allowedSigners: allowedOf(input.allowed ?? `x ${other.line}`), namespace: input.namespace ?? NAMESPACE, revoked, now: NOW }),
      ).reason;

    // Every case below also fails the later checks (revoked, not in allowed_signers): the first one names it.
    expect(check({ message: Buffer.from('changed') })).toBe('bad-signature');
    expect(check({ namespace: 'file' })).toBe('wrong-namespace');
    expect(check({})).toBe('revoked');
    expect(catchErrorOf(SignatureInvalidError, () => checkSignature({ message: MESSAGE, signature: key.armored, allowedSigners: allowedOf(`x ${other.line}`), namespace: NAMESPACE, now: NOW })).reason).toBe('unknown-signer');
  });
});

describe('sshKeygenVerifyCommand', () => {
  it('prints the ssh-keygen -Y verify line with every odd word single-quoted', () => {
    expect(sshKeygenVerifyCommand({ allowedSignersFile: 'allowed_signers', principal: 'release@example.com', namespace: NAMESPACE, file: 'SHA256SUMS' })).toBe(
      'ssh-keygen -Y verify -f allowed_signers -I release@example.com -n imagebuild-release -s SHA256SUMS.sig < SHA256SUMS',
    );
    expect(sshKeygenVerifyCommand({ allowedSignersFile: "/keys/it's here", principal: 'a b', namespace: NAMESPACE, file: '/rel/$HOME/SUMS', signatureFile: '/sig dir/SUMS.sig', revokedKeysFile: '/keys/revoked' })).toBe(
      `ssh-keygen -Y verify -f '/keys/it'\\''s here' -I 'a b' -n imagebuild-release -s '/sig dir/SUMS.sig' -r /keys/revoked < '/rel/$HOME/SUMS'`,
    );
  });
});
