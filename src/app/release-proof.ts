import { join, resolve } from 'node:path';
import { readSmallFile } from '../adapters/block-device/flash-files.js';
import { MANIFEST_FILE, SUMS_FILE } from '../adapters/workspace/release-layout.js';
import { sha256Hex } from '../core/digest.js';
import type { ImageManifest } from '../core/manifest/image-manifest.js';
import { checkSums, parseSumsText } from '../core/release/release-sums.js';
import type { SigningSpec } from '../core/spec/schema.js';
import { ReleaseUnsignedError } from '../errors/index.js';
import { checkReleaseSignature, SIGNATURE_FILE, type SignatureVerdict } from './release-signing.js';
import { RELEASE_FILE_MAX_BYTES } from '../core/release/release-file-limits.js';

// What a release directory on this machine (a build's output/<name>/vX.Y.Z/, a download's directory)
// proves before its image is trusted by flash or verify: the signature over SHA256SUMS, and SHA256SUMS
// against the manifest beside the image. The image's own bytes are the caller's to hash.

/** Who may have signed, and what to accept without a signature (flags over the spec's artifacts.signing). */
export type ReleaseTrust = {
  readonly signing: SigningSpec | undefined;
  /** --allowed-signers, relative to cwd. */
  readonly allowedSigners?: string;
  /** --allow-unsigned REASON. */
  readonly allowUnsigned?: string;
  readonly cwd: string;
};

/** What the directory proved: the signature verdict, and whether SHA256SUMS was there to agree with the manifest. */
export type LocalReleaseProof = { readonly signature: SignatureVerdict; readonly sums: 'agrees' | 'absent' };

/**
 * Proves a release directory's SHA256SUMS and its signature: the signature first (checkReleaseSignature:
 * a bad one always refused, none only with --allow-unsigned), then SHA256SUMS, which must give the image
 * the manifest's SHA-256 and the manifest (where it lists it) the digest of `manifestBytes`. A directory
 * without SHA256SUMS has nothing a signature could cover: refused unless --allow-unsigned.
 */
export async function proveLocalRelease(dir: string, manifest: ImageManifest, manifestBytes: Uint8Array, trust: ReleaseTrust): Promise<LocalReleaseProof> {
  const what = `${manifest.name} v${manifest.version} in ${dir}`;
  const sumsPath = join(dir, SUMS_FILE);
  const sumsBytes = await readSmallFile(sumsPath, RELEASE_FILE_MAX_BYTES.sums);
  if (sumsBytes === undefined) {
    if (trust.allowUnsigned === undefined) throw new ReleaseUnsignedError(`${what}: has no ${SUMS_FILE}, so no signature can cover it; refusing it — accept it with --allow-unsigned REASON`);
    return { signature: { status: 'unsigned-allowed', signed: false, reason: trust.allowUnsigned }, sums: 'absent' };
  }
  const signature = await checkReleaseSignature({
    sums: sumsBytes,
    signature: await readSmallFile(join(dir, SIGNATURE_FILE), RELEASE_FILE_MAX_BYTES.signature),
    signing: trust.signing,
    ...(trust.allowedSigners === undefined ? {} : { allowedSigners: resolve(trust.cwd, trust.allowedSigners) }),
    ...(trust.allowUnsigned === undefined ? {} : { allowUnsigned: trust.allowUnsigned }),
    what,
  });
  const sums = parseSumsText(sumsBytes.toString('utf8'), sumsPath);
  const listsManifest = sums.some((s) => s.name === MANIFEST_FILE);
  checkSums(sums, [{ name: manifest.artifact, sha256: manifest.checksum_sha256 }, ...(listsManifest ? [{ name: MANIFEST_FILE, sha256: sha256Hex(manifestBytes) }] : [])], sumsPath);
  return { signature, sums: 'agrees' };
}
