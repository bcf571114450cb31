import { shellQuote } from '../remote/remote-command.js';
import { checkAllowedSigner, checkNotRevoked, type AllowedSigners, type RevokedKeys } from './allowed-signers.js';
import { parseSshSignature, verifySshSignature } from './sshsig.js';

/** What checkSignature checks: the signed bytes, the armored signature, who may sign, and when. */
export type CheckSignatureInput = {
  readonly message: Uint8Array;
  /** The armored signature (`<file>.sig`). */
  readonly signature: string | Buffer;
  readonly allowedSigners: AllowedSigners;
  readonly namespace: string;
  readonly revoked?: RevokedKeys;
  /** The principal the signer must be allowed as (`ssh-keygen -Y verify -I`); absent: any principal. */
  readonly principal?: string;
  /** The time of verification, seconds since the epoch (valid-after/valid-before are checked against it). */
  readonly now: number;
};

/** A good signature by an allowed signer. */
export type VerifiedSignature = {
  /**
   * The principal asked for; otherwise the first plain name (no `*`, `?` or `!`) on the allowing line, or that
   * line's pattern list as written when it has none. Either works as `ssh-keygen -Y verify -I`.
   */
  readonly principal: string;
  /** The allowing line's principal patterns, as written. */
  readonly principals: string;
  /** `SHA256:…` of the signing key, as ssh-keygen prints it. */
  readonly fingerprint: string;
  readonly keyType: string;
  /** The allowed_signers line that allowed the key. */
  readonly line: number;
};

/**
 * Verifies an SSH signature as `ssh-keygen -Y verify` does, in its order: the signature itself (format,
 * namespace, bytes), then the revoked keys, then allowed_signers (principal, namespaces=, valid-after,
 * valid-before). Throws SignatureInvalidError whose `reason` and message say which check refused it.
 */
export function checkSignature(input: CheckSignatureInput): VerifiedSignature {
  const signer = verifySshSignature(parseSshSignature(input.signature), input.message, input.namespace);
  if (input.revoked) checkNotRevoked(input.revoked, signer.publicKey);
  const allowed = checkAllowedSigner(input.allowedSigners, { publicKey: signer.publicKey, namespace: input.namespace, now: input.now, ...(input.principal === undefined ? {} : { principal: input.principal }) });
  const plain = allowed.principals.split(',').find((name) => name !== '' && !/[*?!]/.test(name));
  return { principal: input.principal ?? plain ?? allowed.principals, principals: allowed.principals, fingerprint: signer.fingerprint, keyType: signer.keyType, line: allowed.line };
}

/** The files of a `ssh-keygen -Y verify` command line. */
export type VerifyCommandInput = {
  readonly allowedSignersFile: string;
  readonly principal: string;
  readonly namespace: string;
  /** The signed file; its signature is `<file>.sig` unless signatureFile says otherwise. */
  readonly file: string;
  readonly signatureFile?: string;
  readonly revokedKeysFile?: string;
};

/** The shell command a user runs to check a signature with OpenSSH alone (>= 8.1), every word quoted for a POSIX shell. */
export function sshKeygenVerifyCommand(input: VerifyCommandInput): string {
  const words = ['ssh-keygen', '-Y', 'verify', '-f', input.allowedSignersFile, '-I', input.principal, '-n', input.namespace, '-s', input.signatureFile ?? `${input.file}.sig`];
  if (input.revokedKeysFile !== undefined) words.push('-r', input.revokedKeysFile);
  return `${words.map(shellQuote).join(' ')} < ${shellQuote(input.file)}`;
}
