import { generateKeyPairSync, sign } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { catchErrorOf } from '../../../test/helpers/catch-error.js';
import { SignatureInvalidError, UsageError } from '../../errors/index.js';
import { keyBlobFingerprint } from '../remote/known-hosts.js';
import { armorSshSignature, checkNamespace, decodeSshSignature, ed25519PublicKeyBlob, encodeSshSignature, parseSshSignature, sshString, sshsigSignedData, verifySshSignature, type SshsigHashAlgorithm } from './sshsig.js';

const NAMESPACE = 'imagebuild-release';
const MESSAGE = Buffer.from('e3b0c442  image.qcow2\n');

function makeKey() {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const raw = Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url');
  return { privateKey, blob: ed25519PublicKeyBlob(raw) };
}

function signedBlob(options: { namespace?: string; hashAlgorithm?: SshsigHashAlgorithm; message?: Buffer } = {}) {
  const key = makeKey();
  const namespace = options.namespace ?? NAMESPACE;
  const hashAlgorithm = options.hashAlgorithm ?? 'sha512';
  const signature = sign(null, sshsigSignedData(options.message ?? MESSAGE, namespace, hashAlgorithm), key.privateKey);
  return { key, blob: encodeSshSignature({ publicKey: key.blob, namespace, hashAlgorithm, signature }) };
}

function malformedMessage(text: string | Buffer): string {
  const error = catchErrorOf(SignatureInvalidError, () => parseSshSignature(text));
  expect(error.reason).toBe('malformed');
  return error.message;
}

describe('SSHSIG armor', () => {
  it('wraps the base64 at 70 columns between the header and footer lines, and reads back every field', () => {
    const { key, blob } = signedBlob();

    const armored = armorSshSignature(blob);
    const parsed = parseSshSignature(armored);

    const lines = armored.split('\n');
    expect(lines[0]).toBe('-----BEGIN SSH SIGNATURE-----');
    expect(lines.at(-2)).toBe('-----END SSH SIGNATURE-----');
    expect(lines.at(-1)).toBe('');
    expect(lines.slice(1, -3).every((line) => line.length === 70)).toBe(true);
    expect(lines.at(-3)!.length).toBeLessThanOrEqual(70);
    expect(parsed).toMatchObject({ version: 1, keyType: 'ssh-ed25519', namespace: NAMESPACE, hashAlgorithm: 'sha512', signatureAlgorithm: 'ssh-ed25519' });
    expect(parsed.publicKey.equals(key.blob)).toBe(true);
    expect(parsed.signature).toHaveLength(64);
  });

  it('reads CRLF line ends and ignores what follows the footer, as ssh-keygen does', () => {
    const { blob } = signedBlob();
    const crlf = armorSshSignature(blob).replace(/\n/g, '\r\n') + 'trailing notes\n';

    expect(parseSshSignature(crlf).namespace).toBe(NAMESPACE);
  });

  it('refuses what is not an armored SSHSIG blob, saying what is wrong', () => {
    const { blob } = signedBlob();
    const armored = armorSshSignature(blob);
    const version2 = Buffer.from(blob);
    version2.writeUInt32BE(2, 6);

    expect(malformedMessage(`\n${armored}`)).toBe('the signature is not a valid SSH signature: it does not start with -----BEGIN SSH SIGNATURE-----');
    expect(malformedMessage(armored.replace('-----END SSH SIGNATURE-----\n', ''))).toBe('the signature is not a valid SSH signature: no -----END SSH SIGNATURE----- line');
    expect(malformedMessage(armored.replace('U1NI', 'U1N!'))).toBe('the signature is not a valid SSH signature: its body is not base64');
    expect(malformedMessage(armorSshSignature(Buffer.concat([blob, Buffer.from([0])])))).toBe('the signature is not a valid SSH signature: 1 bytes follow the signature');
    expect(malformedMessage(armorSshSignature(blob.subarray(0, 60)))).toMatch(/runs past the end|ends before/);
    expect(malformedMessage(armorSshSignature(version2))).toBe('the signature is not a valid SSH signature: version 2 is newer than the version 1 imagebuild (and OpenSSH) read');
    expect(malformedMessage(armorSshSignature(Buffer.from('SSHSIH\0\0\0\x01')))).toBe('the signature is not a valid SSH signature: it does not start with SSHSIG');
  });
});

describe('verifySshSignature', () => {
  it('accepts a good signature (sha512 or sha256) and names the signing key by its fingerprint', () => {
    const sha512 = signedBlob();
    const sha256 = signedBlob({ hashAlgorithm: 'sha256' });

    const signer = verifySshSignature(decodeSshSignature(sha512.blob), MESSAGE, NAMESPACE);

    expect(signer.fingerprint).toBe(keyBlobFingerprint(sha512.key.blob));
    expect(signer.fingerprint).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
    expect(verifySshSignature(decodeSshSignature(sha256.blob), MESSAGE, NAMESPACE).keyType).toBe('ssh-ed25519');
  });

  it('refuses changed bytes, another namespace and an altered signature, each for its own reason', () => {
    const { blob } = signedBlob();
    const changed = Buffer.from(MESSAGE);
    changed[0] = changed[0]! ^ 1;
    const altered = Buffer.from(blob);
    altered[altered.length - 1] = altered[altered.length - 1]! ^ 1;

    const reasons = [
      catchErrorOf(SignatureInvalidError, () => verifySshSignature(decodeSshSignature(blob), changed, NAMESPACE)),
      catchErrorOf(SignatureInvalidError, () => verifySshSignature(decodeSshSignature(blob), MESSAGE, 'file')),
      catchErrorOf(SignatureInvalidError, () => verifySshSignature(decodeSshSignature(altered), MESSAGE, NAMESPACE)),
    ];

    expect(reasons.map((e) => e.reason)).toEqual(['bad-signature', 'wrong-namespace', 'bad-signature']);
    expect(reasons[1]!.message).toMatch(/^the signature is for namespace "imagebuild-release", not "file" \(key SHA256:/);
  });

  it('refuses a hash or key type it does not verify as unsupported, not as a bad signature', () => {
    const { key } = signedBlob();
    const sha1 = encodeSshSignature({ publicKey: key.blob, namespace: NAMESPACE, hashAlgorithm: 'sha1' as SshsigHashAlgorithm, signature: Buffer.alloc(64) });
    const rsaKey = Buffer.concat([sshString('ssh-rsa'), sshString(Buffer.from([1, 0, 1])), sshString(Buffer.alloc(256, 7))]);
    const rsa = encodeSshSignature({ publicKey: rsaKey, namespace: NAMESPACE, hashAlgorithm: 'sha512', signature: Buffer.alloc(256) });

    const errors = [sha1, rsa].map((blob) => catchErrorOf(SignatureInvalidError, () => verifySshSignature(decodeSshSignature(blob), MESSAGE, NAMESPACE)));

    expect(errors.map((e) => e.reason)).toEqual(['unsupported', 'unsupported']);
    expect(errors[1]!.message).toMatch(/made with a ssh-rsa key .*; imagebuild verifies ssh-ed25519 signatures only$/);
  });
});

describe('checkNamespace', () => {
  it('refuses an empty namespace or one with spaces, and takes a word', () => {
    expect(() => checkNamespace('')).toThrow(UsageError);
    expect(() => checkNamespace('image build')).toThrow(UsageError);
    expect(() => checkNamespace(NAMESPACE)).not.toThrow();
  });
});
