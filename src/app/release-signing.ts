import { basename } from 'node:path';
import { signBytes } from '../adapters/signing/sign.js';
import { loadSigningKey, type SigningKeySource } from '../adapters/signing/signing-key.js';
import { verifySignature } from '../adapters/signing/verify.js';
import { SUMS_FILE } from '../adapters/workspace/release-layout.js';
import { printableText } from '../core/printable-text.js';
import { sshKeygenVerifyCommand } from '../core/signature/verify-signature.js';
import { DEFAULT_SIGNING_NAMESPACE, type SigningSpec } from '../core/spec/schema.js';
import { ReleaseRefusedError, ReleaseUnsignedError } from '../errors/index.js';

// Release signatures (issue 19): publish signs a release's SHA256SUMS — which lists the image, the
// manifest, the SBOM and the provenance statement — with an SSH signature (SSHSIG, Ed25519) beside it
// as SHA256SUMS.sig; download and verify check it against allowed_signers. Anyone can check the same
// with OpenSSH alone: `ssh-keygen -Y verify`, the command verdicts carry.

/** The signature of SHA256SUMS, beside it. */
export const SIGNATURE_FILE = `${SUMS_FILE}.sig`;

/** Where a one-run signing key comes from, over the spec's: a private key file (a CI secret). */
export const SIGNING_KEY_ENV = 'IMAGEBUILD_SIGNING_KEY';

/** The key publish signs with: --signing-key, else $IMAGEBUILD_SIGNING_KEY, else the spec's key_file or agent identity; undefined: publish unsigned. */
export function signingKeySource(signing: SigningSpec | undefined, env: NodeJS.ProcessEnv, keyFileFlag?: string): SigningKeySource | undefined {
  const keyFile = keyFileFlag ?? (env[SIGNING_KEY_ENV] || undefined) ?? signing?.key_file;
  if (keyFile !== undefined) return { keyFile, ...(signing?.passphrase_env === undefined ? {} : { passphraseEnv: signing.passphrase_env }) };
  if (signing?.agent_public_key !== undefined) return { agent: { publicKeyFile: signing.agent_public_key } };
  return undefined;
}

/** A signature made by publish: the armored text for SHA256SUMS.sig and who made it. */
export type ReleaseSignature = { readonly armored: string; readonly fingerprint: string; readonly namespace: string };

/**
 * Signs a release's SHA256SUMS bytes. When the spec names allowed_signers, the new signature must pass
 * the check download will make (a key nobody is told to trust is refused before anything is uploaded).
 */
export async function signReleaseSums(sums: Uint8Array, source: SigningKeySource, signing: SigningSpec | undefined, env: NodeJS.ProcessEnv): Promise<ReleaseSignature> {
  const namespace = signing?.namespace ?? DEFAULT_SIGNING_NAMESPACE;
  const { fingerprint } = await loadSigningKey(source, env);
  const armored = await signBytes(sums, source, namespace, env);
  if (signing?.allowed_signers !== undefined) {
    await verifySignature(sums, armored, { file: signing.allowed_signers }, namespace, signingChecks(signing)).catch((error: unknown) => {
      throw new ReleaseRefusedError(`the release signature made with ${fingerprint} would not verify for its customers: ${(error as Error).message}; sign with a key ${signing.allowed_signers} allows, or add it there`, { cause: error });
    });
  }
  return { armored, fingerprint, namespace };
}

/**
 * Publish's signature over SHA256SUMS, with the key --signing-key (`keyFile`), $IMAGEBUILD_SIGNING_KEY or
 * the spec names. Without one the release goes unsigned (a notice says so) — unless the spec names
 * allowed_signers: its customers would refuse such a release, so publish refuses it first.
 */
export async function signPublishedSums(
  sumsText: string,
  how: { signing: SigningSpec | undefined; env: NodeJS.ProcessEnv; keyFile: string | undefined; version: string; notices: string[] },
): Promise<ReleaseSignature | undefined> {
  const { signing, env } = how;
  const source = signingKeySource(signing, env, how.keyFile);
  if (source === undefined) {
    if (signing?.allowed_signers !== undefined) {
      throw new ReleaseRefusedError(
        `artifacts.signing names allowed_signers (${signing.allowed_signers}), so downloads require a signature, but no key to sign with was given: set artifacts.signing.key_file or agent_public_key, $${SIGNING_KEY_ENV}, or --signing-key FILE`,
      );
    }
    how.notices.push(`published unsigned: no signing key (artifacts.signing.key_file, $${SIGNING_KEY_ENV} or --signing-key); downloads of v${how.version} need --allow-unsigned REASON`);
    return undefined;
  }
  return signReleaseSums(Buffer.from(sumsText), source, signing, env);
}

/** How a download or verify treated a release's signature. */
export type SignatureVerdict =
  | {
      readonly status: 'verified';
      readonly principal: string;
      readonly fingerprint: string;
      readonly namespace: string;
      readonly allowed_signers: string;
      /** The same check with OpenSSH alone, run in the directory holding SHA256SUMS and SHA256SUMS.sig. */
      readonly command: string;
    }
  | {
      readonly status: 'unsigned-allowed';
      /** Whether the release carries a signature (one not checked: no allowed_signers was given). */
      readonly signed: boolean;
      readonly reason: string;
    };

export type SignatureCheck = {
  /** SHA256SUMS as stored. */
  readonly sums: Uint8Array;
  /** SHA256SUMS.sig as stored; undefined when the release has none. */
  readonly signature: Uint8Array | undefined;
  readonly signing: SigningSpec | undefined;
  /** --allowed-signers, over the spec's. */
  readonly allowedSigners?: string;
  /** --allow-unsigned REASON: accept a release without a signature, or without allowed_signers to check one. */
  readonly allowUnsigned?: string;
  /** What the release is, for messages (`v1.2.0 in s3://…`). */
  readonly what: string;
};

/**
 * Checks a release's signature before anything else of it is trusted: a signature by a key allowed_signers
 * allows is verified; a bad one is always refused (--allow-unsigned never accepts a signature that fails);
 * a missing signature, or no allowed_signers to check one against, is refused unless --allow-unsigned gives
 * a reason, which the verdict records.
 */
export async function checkReleaseSignature(check: SignatureCheck): Promise<SignatureVerdict> {
  const allowedSigners = check.allowedSigners ?? check.signing?.allowed_signers;
  const namespace = check.signing?.namespace ?? DEFAULT_SIGNING_NAMESPACE;
  const unsigned = (why: string, remedy: string): SignatureVerdict => {
    if (check.allowUnsigned === undefined) throw new ReleaseUnsignedError(`${check.what}: ${why}; refusing it — ${remedy}accept it with --allow-unsigned REASON`);
    return { status: 'unsigned-allowed', signed: check.signature !== undefined, reason: printableText(check.allowUnsigned) };
  };
  if (check.signature === undefined) return unsigned(`has no signature (${SIGNATURE_FILE})`, '');
  if (allowedSigners === undefined) {
    return unsigned('is signed, but no allowed_signers file says whose signature to trust', 'name one (artifacts.signing.allowed_signers or --allowed-signers), or ');
  }
  const verified = await verifySignature(check.sums, Buffer.from(check.signature), { file: allowedSigners }, namespace, signingChecks(check.signing));
  const principal = check.signing?.principal ?? verified.principal.split(',')[0] ?? verified.principal;
  return {
    status: 'verified',
    principal: verified.principal,
    fingerprint: verified.fingerprint,
    namespace,
    allowed_signers: allowedSigners,
    command: sshKeygenVerifyCommand({
      allowedSignersFile: allowedSigners,
      principal,
      namespace,
      file: SUMS_FILE,
      ...(check.signing?.revoked_keys === undefined ? {} : { revokedKeysFile: check.signing.revoked_keys }),
    }),
  };
}

function signingChecks(signing: SigningSpec | undefined): { revoked?: { file: string }; principal?: string } {
  return {
    ...(signing?.revoked_keys === undefined ? {} : { revoked: { file: signing.revoked_keys } }),
    ...(signing?.principal === undefined ? {} : { principal: signing.principal }),
  };
}

/** One line for people: what a verdict means. */
export function describeVerdict(verdict: SignatureVerdict): string {
  return verdict.status === 'verified'
    ? `signature verified: ${basename(SIGNATURE_FILE)} by ${verdict.principal} (${verdict.fingerprint}), namespace ${verdict.namespace}`
    : `NOT signature-verified (${verdict.signed ? 'signed, but no allowed_signers given' : 'the release is unsigned'}); accepted with --allow-unsigned: ${verdict.reason}`;
}
