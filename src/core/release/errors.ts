import { ImagebuildError } from '../../errors.js';

/** The version bump does not match what changed since the previous release (semver policy); names the change and the bump it demands. */
export class BumpMismatchError extends ImagebuildError {
  constructor(message: string) {
    super('BUMP_MISMATCH', message, 2);
  }
}

/** A release version or `current` that the store (or the output directory) does not hold. */
export class ReleaseNotFoundError extends ImagebuildError {
  constructor(message: string) {
    super('RELEASE_NOT_FOUND', message, 2);
  }
}

/** A release that cannot be made current or published: its gates or its verification failed. */
export class ReleaseRefusedError extends ImagebuildError {
  constructor(message: string) {
    super('RELEASE_REFUSED', message, 2);
  }
}

/** A release index (releases.json) that does not parse or validate. */
export class ReleaseIndexInvalidError extends ImagebuildError {
  constructor(message: string, options?: ErrorOptions) {
    super('RELEASE_INDEX_INVALID', message.replace(/\s*[\r\n]+\s*/g, ' '), 1, options);
  }
}

/** The store contradicts itself (a manifest that disagrees with the release index): corrupted state, not bad input. */
export class ReleaseInconsistentError extends ImagebuildError {
  constructor(message: string) {
    super('RELEASE_INCONSISTENT', message, 1);
  }
}

/** A downloaded (or pulled) file whose SHA-256 is not the one its manifest records. */
export class ChecksumMismatchError extends ImagebuildError {
  constructor(message: string) {
    super('CHECKSUM_MISMATCH', message, 1);
  }
}
