import { readFile } from 'node:fs/promises';
import { parseAllowedSigners, parseRevokedKeys, type AllowedSigners, type CivilTime, type RevokedKeys } from '../../core/signature/allowed-signers.js';
import { checkSignature, type VerifiedSignature } from '../../core/signature/verify-signature.js';
import { FileAccessError } from '../../errors/index.js';
import { describeFsError } from '../fs/describe-fs-error.js';

/** A text input: a file to read, or text already in hand with the name its errors should carry. */
export type TextSource = { readonly file: string } | { readonly text: string; readonly name: string };

/** What else verifySignature checks. */
export type VerifySignatureOptions = {
  /** Revoked public keys (`ssh-keygen -Y verify -r`), one key line each. */
  readonly revoked?: TextSource;
  /** The principal the signer must be allowed as (`-I`); absent: any principal in allowed_signers. */
  readonly principal?: string;
  /** The time of verification (default now), for valid-after/valid-before. */
  readonly now?: Date;
};

/** Seconds since the epoch of a local wall-clock time, in this host's time zone (as ssh-keygen's mktime reads allowed_signers times without Z). */
export function localTimeToEpoch(time: CivilTime): number {
  return Math.floor(new Date(time.year, time.month - 1, time.day, time.hour, time.minute, time.second).getTime() / 1000);
}

/** Reads and parses an allowed_signers file; throws FileAccessError or AllowedSignersInvalidError (`file:line: …`). */
export async function readAllowedSigners(source: TextSource): Promise<AllowedSigners> {
  const { text, name } = await readSource(source, 'allowed_signers file');
  return parseAllowedSigners(text, { file: name, localTimeToEpoch });
}

/** Reads and parses a revoked-keys file (public key lines); throws FileAccessError or AllowedSignersInvalidError. */
export async function readRevokedKeys(source: TextSource): Promise<RevokedKeys> {
  const { text, name } = await readSource(source, 'revoked-keys file');
  return parseRevokedKeys(text, name);
}

/**
 * Verifies `armoredSignature` over `message` for `namespace` against allowed_signers, as
 * `ssh-keygen -Y verify` would; returns the principal and the signer's fingerprint, or throws
 * SignatureInvalidError whose `reason` says why (bad-signature, wrong-namespace, unknown-signer,
 * revoked, expired, not-yet-valid, namespace-not-allowed, malformed, unsupported).
 */
export async function verifySignature(message: Uint8Array, armoredSignature: string | Buffer, allowedSigners: TextSource, namespace: string, options: VerifySignatureOptions = {}): Promise<VerifiedSignature> {
  const allowed = await readAllowedSigners(allowedSigners);
  const revoked = options.revoked ? await readRevokedKeys(options.revoked) : undefined;
  return checkSignature({
    message,
    signature: armoredSignature,
    allowedSigners: allowed,
    namespace,
    now: Math.floor((options.now ?? new Date()).getTime() / 1000),
    ...(revoked ? { revoked } : {}),
    ...(options.principal === undefined ? {} : { principal: options.principal }),
  });
}

/** Verifies the file at `path` against its signature (`<path>.sig` unless `signatureFile` is given); see verifySignature. */
export async function verifySignedFile(path: string, allowedSigners: TextSource, namespace: string, options: VerifySignatureOptions & { readonly signatureFile?: string } = {}): Promise<VerifiedSignature> {
  const { text: signature } = await readSource({ file: options.signatureFile ?? `${path}.sig` }, 'signature file');
  let message: Buffer;
  try {
    message = await readFile(path);
  } catch (error) {
    throw new FileAccessError(`${path}: the signed file cannot be read: ${describeFsError(error)}`, { cause: error });
  }
  return verifySignature(message, signature, allowedSigners, namespace, options);
}

async function readSource(source: TextSource, what: string): Promise<{ text: string; name: string }> {
  if ('text' in source) return { text: source.text, name: source.name };
  try {
    return { text: await readFile(source.file, 'utf8'), name: source.file };
  } catch (error) {
    throw new FileAccessError(`${source.file}: the ${what} cannot be read: ${describeFsError(error)}`, { cause: error });
  }
}
