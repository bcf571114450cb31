import { createHash, createPublicKey, verify } from 'node:crypto';
import { SignatureInvalidError, UsageError } from '../../errors/index.js';
import { keyBlobFingerprint } from '../remote/known-hosts.js';

// SSH signatures as `ssh-keygen -Y sign` makes and `-Y verify` checks them (OpenSSH >= 8.1), from
// OpenSSH's PROTOCOL.sshsig and sshsig.c:
//   blob        = "SSHSIG" uint32(1) string(publickey) string(namespace) string(reserved) string(hash_algorithm) string(signature)
//   signed data = "SSHSIG" string(namespace) string(reserved="") string(hash_algorithm) string(H(message))
// armored between -----BEGIN/END SSH SIGNATURE----- lines, base64 wrapped at 70 columns (sshbuf_dtob64).
// imagebuild signs and verifies Ed25519 keys only.

const MAGIC = Buffer.from('SSHSIG');
const VERSION = 1;
const BEGIN = '-----BEGIN SSH SIGNATURE-----';
const END = '-----END SSH SIGNATURE-----';
const ARMOR_COLUMNS = 70;

/** The key type imagebuild signs and verifies with. */
export const ED25519 = 'ssh-ed25519';

/** The hash over the message that the signature covers; ssh-keygen signs with sha512 and verifies either. */
export type SshsigHashAlgorithm = 'sha256' | 'sha512';

/** A decoded SSHSIG blob. */
export type SshSignature = {
  readonly version: number;
  /** The signer's public key, SSH wire encoding (what `ssh-keygen -l` fingerprints). */
  readonly publicKey: Buffer;
  /** The public key's type, e.g. `ssh-ed25519`. */
  readonly keyType: string;
  readonly namespace: string;
  readonly hashAlgorithm: string;
  /** The signature's algorithm, e.g. `ssh-ed25519`. */
  readonly signatureAlgorithm: string;
  /** The raw signature bytes (64 for Ed25519). */
  readonly signature: Buffer;
};

/** What a good signature says about its signer. */
export type SshSigner = {
  /** `SHA256:…` of the signing key, as ssh-keygen prints it. */
  readonly fingerprint: string;
  readonly keyType: string;
  /** The signing key's SSH wire encoding. */
  readonly publicKey: Buffer;
};

/** An SSH wire `string`: uint32 length, then the bytes. */
export function sshString(value: Uint8Array | string): Buffer {
  const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : Buffer.from(value);
  const length = Buffer.alloc(4);
  length.writeUInt32BE(bytes.length);
  return Buffer.concat([length, bytes]);
}

/** Reads SSH wire fields in order; any short or overlong field throws `malformed`. */
class SshWireReader {
  private offset = 0;

  constructor(
    private readonly bytes: Buffer,
    private readonly what: string,
  ) {}

  uint32(field: string): number {
    if (this.offset + 4 > this.bytes.length) throw malformed(`${this.what} ends before its ${field}`);
    const value = this.bytes.readUInt32BE(this.offset);
    this.offset += 4;
    return value;
  }

  string(field: string): Buffer {
    const length = this.uint32(field);
    if (this.offset + length > this.bytes.length) throw malformed(`${this.what}: its ${field} runs past the end`);
    const value = this.bytes.subarray(this.offset, this.offset + length);
    this.offset += length;
    return value;
  }

  text(field: string): string {
    return this.string(field).toString('utf8');
  }

  get remaining(): number {
    return this.bytes.length - this.offset;
  }
}

function malformed(detail: string): SignatureInvalidError {
  return new SignatureInvalidError('malformed', `the signature is not a valid SSH signature: ${detail}`);
}

/** The key type named inside an SSH public key blob, or undefined when the blob does not start with one. */
export function sshKeyBlobType(blob: Buffer): string | undefined {
  if (blob.length < 4) return undefined;
  const length = blob.readUInt32BE(0);
  if (length === 0 || length > 64 || 4 + length > blob.length) return undefined;
  return blob.subarray(4, 4 + length).toString('latin1');
}

/** The SSH wire encoding of a raw 32-byte Ed25519 public key. */
export function ed25519PublicKeyBlob(rawPublicKey: Uint8Array): Buffer {
  return Buffer.concat([sshString(ED25519), sshString(rawPublicKey)]);
}

/** The bytes a signer signs: what PROTOCOL.sshsig calls the signed data, over the message's hash. */
export function sshsigSignedData(message: Uint8Array, namespace: string, hashAlgorithm: SshsigHashAlgorithm = 'sha512'): Buffer {
  const digest = createHash(hashAlgorithm).update(message).digest();
  return Buffer.concat([MAGIC, sshString(namespace), sshString(''), sshString(hashAlgorithm), sshString(digest)]);
}

/** Refuses a namespace ssh-keygen would refuse (PROTOCOL.sshsig: it must not be empty). */
export function checkNamespace(namespace: string): void {
  if (namespace === '' || /[\s\0]/.test(namespace)) throw new UsageError(`signature namespace "${namespace}": must be a non-empty word without spaces, e.g. imagebuild-release`);
}

/** The SSHSIG blob of an Ed25519 signature `signature` (raw, 64 bytes) made by `publicKey` (wire encoding) over sshsigSignedData(…, namespace, hashAlgorithm). */
export function encodeSshSignature(input: { readonly publicKey: Buffer; readonly namespace: string; readonly hashAlgorithm: SshsigHashAlgorithm; readonly signature: Uint8Array }): Buffer {
  const version = Buffer.alloc(4);
  version.writeUInt32BE(VERSION);
  const keyType = sshKeyBlobType(input.publicKey) ?? '';
  return Buffer.concat([
    MAGIC,
    version,
    sshString(input.publicKey),
    sshString(input.namespace),
    sshString(''),
    sshString(input.hashAlgorithm),
    sshString(Buffer.concat([sshString(keyType), sshString(input.signature)])),
  ]);
}

/** The armored text of an SSHSIG blob, byte for byte what `ssh-keygen -Y sign` writes to `<file>.sig`. */
export function armorSshSignature(blob: Buffer): string {
  const base64 = blob.toString('base64');
  const lines: string[] = [];
  for (let at = 0; at < base64.length; at += ARMOR_COLUMNS) lines.push(base64.slice(at, at + ARMOR_COLUMNS));
  return `${BEGIN}\n${lines.join('\n')}\n${END}\n`;
}

/** Decodes an armored SSH signature (as ssh-keygen reads it: the header first, then the footer after a newline); throws `malformed`. */
export function parseSshSignature(armored: string | Buffer): SshSignature {
  const text = typeof armored === 'string' ? armored : armored.toString('latin1');
  if (!text.startsWith(BEGIN)) throw malformed(`it does not start with ${BEGIN}`);
  const afterHeader = text.slice(BEGIN.length);
  const eol = afterHeader.startsWith('\r\n') ? 2 : afterHeader.startsWith('\n') ? 1 : 0;
  if (eol === 0) throw malformed(`no line break after ${BEGIN}`);
  const body = afterHeader.slice(eol);
  const footer = body.indexOf(`\n${END}`);
  if (footer < 0) throw malformed(`no ${END} line`);
  const base64 = body.slice(0, footer).replace(/[\s]/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(base64) || base64.length % 4 !== 0) throw malformed('its body is not base64');
  return decodeSshSignature(Buffer.from(base64, 'base64'));
}

/** Decodes an SSHSIG blob; throws `malformed` for a bad preamble, a newer version, short fields or trailing bytes. */
export function decodeSshSignature(blob: Buffer): SshSignature {
  if (blob.length < MAGIC.length || !blob.subarray(0, MAGIC.length).equals(MAGIC)) throw malformed('it does not start with SSHSIG');
  const reader = new SshWireReader(blob.subarray(MAGIC.length), 'the SSHSIG blob');
  const version = reader.uint32('version');
  if (version > VERSION) throw malformed(`version ${version} is newer than the version ${VERSION} imagebuild (and OpenSSH) read`);
  const publicKey = Buffer.from(reader.string('public key'));
  const namespace = reader.text('namespace');
  reader.string('reserved field');
  const hashAlgorithm = reader.text('hash algorithm');
  const wrapped = reader.string('signature');
  if (reader.remaining !== 0) throw malformed(`${reader.remaining} bytes follow the signature`);
  const keyType = sshKeyBlobType(publicKey);
  if (keyType === undefined) throw malformed('its public key names no key type');
  const inner = new SshWireReader(wrapped, 'the signature field');
  const signatureAlgorithm = inner.text('algorithm');
  const signature = Buffer.from(inner.string('bytes'));
  if (inner.remaining !== 0) throw malformed(`${inner.remaining} bytes follow the signature bytes`);
  return { version, publicKey, keyType, namespace, hashAlgorithm, signatureAlgorithm, signature };
}

/**
 * Checks a decoded signature over `message` for `namespace`, as `ssh-keygen -Y verify` does before it
 * looks at allowed_signers: namespace first, then the hash and key type, then the signature itself.
 * Says who signed (not whether they may: that is allowed_signers' job); throws SignatureInvalidError.
 */
export function verifySshSignature(signature: SshSignature, message: Uint8Array, namespace: string): SshSigner {
  const fingerprint = keyBlobFingerprint(signature.publicKey);
  if (signature.namespace !== namespace) {
    throw new SignatureInvalidError('wrong-namespace', `the signature is for namespace "${signature.namespace}", not "${namespace}" (key ${fingerprint})`);
  }
  const hashAlgorithm = signature.hashAlgorithm;
  if (hashAlgorithm !== 'sha256' && hashAlgorithm !== 'sha512') {
    throw new SignatureInvalidError('unsupported', `the signature hashes with "${hashAlgorithm}"; SSH signatures use sha256 or sha512`);
  }
  if (signature.keyType !== ED25519 || signature.signatureAlgorithm !== ED25519) {
    throw new SignatureInvalidError('unsupported', `the signature was made with a ${signature.keyType} key (key ${fingerprint}); imagebuild verifies ssh-ed25519 signatures only`);
  }
  const key = new SshWireReader(signature.publicKey, 'the public key');
  key.string('type');
  const raw = key.string('Ed25519 key');
  if (raw.length !== 32 || key.remaining !== 0) throw malformed('its ssh-ed25519 public key is not 32 bytes');
  const publicKey = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url') }, format: 'jwk' });
  const good = signature.signature.length === 64 && verify(null, sshsigSignedData(message, namespace, hashAlgorithm), publicKey, signature.signature);
  if (!good) {
    throw new SignatureInvalidError('bad-signature', `the signature by key ${fingerprint} does not match these bytes: the file changed after it was signed, or the signature was altered`);
  }
  return { fingerprint, keyType: signature.keyType, publicKey: signature.publicKey };
}
