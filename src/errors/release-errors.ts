import { errorWithCode, ImagebuildError, oneLine } from './imagebuild-error.js';

// Releases: their manifests, the release index, and the bytes they promise.

/** An image manifest that does not validate, on assembly, on read or on write; names the image or file and the first problem. */
export class ManifestInvalidError extends ImagebuildError {
  /** The problem without the manifest's location, e.g. `size_bytes: expected number`. */
  readonly detail: string;

  constructor(
    readonly problem: string,
    /** `detail`: the problem without its location; `located`: the problem starts with the manifest file's path already. */
    options?: ErrorOptions & { readonly detail?: string; readonly located?: boolean },
  ) {
    super('MANIFEST_INVALID', options?.located ? oneLine(problem) : `image-manifest.json: ${oneLine(problem)}`, options);
    this.detail = options?.detail ?? problem;
  }
}

/** The version bump does not match what changed since the previous release (semver policy); names the change and the bump it demands. */
export class BumpMismatchError extends errorWithCode('BUMP_MISMATCH') {}

/** A release version or `current` that the store (or the output directory) does not hold. */
export class ReleaseNotFoundError extends errorWithCode('RELEASE_NOT_FOUND') {}

/** A release that cannot be made current or published: its gates or its verification failed. */
export class ReleaseRefusedError extends errorWithCode('RELEASE_REFUSED') {}

/** A release index (releases.json) that does not parse or validate. */
export class ReleaseIndexInvalidError extends ImagebuildError {
  constructor(message: string, options?: ErrorOptions) {
    super('RELEASE_INDEX_INVALID', oneLine(message), options);
  }
}

/** A store that holds releases (their manifests) but no release index: nothing may treat it as empty. */
export class ReleaseIndexMissingError extends errorWithCode('RELEASE_INDEX_MISSING') {}

/** A release that cannot be signature-verified (none, or no allowed_signers to check it), without --allow-unsigned. */
export class ReleaseUnsignedError extends errorWithCode('RELEASE_UNSIGNED') {}

/** The store contradicts itself (a manifest that disagrees with the release index): corrupted state, not bad input. */
export class ReleaseInconsistentError extends errorWithCode('RELEASE_INCONSISTENT') {}

/** A downloaded (or pulled) file whose SHA-256 is not the one its manifest records. */
export class ChecksumMismatchError extends errorWithCode('CHECKSUM_MISMATCH') {}

/** Something at a download's destination that the download did not write (a link, a directory, another user's file or directory): never followed, never replaced. */
export class DownloadDestinationUnsafeError extends errorWithCode('DOWNLOAD_DEST_UNSAFE') {}

/** A flash whose read-back or re-hash found a difference: the target must not be trusted. */
export class FlashReadbackFailedError extends errorWithCode('FLASH_READBACK_FAILED') {}
