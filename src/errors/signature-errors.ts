import { ImagebuildError, oneLine } from './imagebuild-error.js';

// SSH signatures (SSHSIG, as `ssh-keygen -Y sign` makes them) over a release's files: why one does not verify, and why one cannot be made.

/** Why a signature was refused; each has its own message, and callers may branch on it. */
export type SignatureProblem =
  /** Not an armored SSHSIG signature, or one whose blob does not decode. */
  | 'malformed'
  /** Made with a key type or hash imagebuild does not verify (only ssh-ed25519, sha256/sha512). */
  | 'unsupported'
  /** Made for another namespace than the one asked for. */
  | 'wrong-namespace'
  /** The bytes are not the ones signed (or the signature was altered). */
  | 'bad-signature'
  /** The signing key is listed in the revoked-keys file. */
  | 'revoked'
  /** No allowed_signers line holds the signing key (for the principal asked for, when one was). */
  | 'unknown-signer'
  /** The allowed_signers line's namespaces="…" does not include the namespace. */
  | 'namespace-not-allowed'
  /** The allowed_signers line's valid-after is later than the verification time. */
  | 'not-yet-valid'
  /** The allowed_signers line's valid-before is earlier than the verification time. */
  | 'expired';

/** A signature that does not verify; `reason` says which check refused it, the message says exactly why. */
export class SignatureInvalidError extends ImagebuildError {
  constructor(
    readonly reason: SignatureProblem,
    message: string,
    options?: ErrorOptions,
  ) {
    super('SIGNATURE_INVALID', oneLine(message), options);
  }
}

/** An allowed_signers or revoked-keys file with a line that does not parse; the message starts `file:line:`. */
export class AllowedSignersInvalidError extends ImagebuildError {
  constructor(message: string, options?: ErrorOptions) {
    super('ALLOWED_SIGNERS_INVALID', oneLine(message), options);
  }
}

/** A signing key that cannot be used (unreadable, wrong passphrase, too open, not in the agent); never carries key material or a passphrase. */
export class SigningKeyInvalidError extends ImagebuildError {
  constructor(message: string, options?: ErrorOptions) {
    super('SIGNING_KEY_INVALID', oneLine(message), options);
  }
}
