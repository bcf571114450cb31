// The error hierarchy: one base class whose code (codes.ts) fixes the exit status; classes by domain.
export { ERROR_CODES, INTERNAL_ERROR_EXIT, type ErrorCode } from './codes.js';
export { firstLine, ImagebuildError, oneLine } from './imagebuild-error.js';
export { SpecInvalidError, UsageError, VersionExistsError } from './input-errors.js';
export { GateFailedError, GateReportInvalidError, InterruptedError, PreflightError, ToolFailedError, VerifyFailedError } from './build-errors.js';
export { BumpMismatchError, ChecksumMismatchError, DownloadDestinationUnsafeError, ManifestInvalidError, ReleaseIndexInvalidError, ReleaseIndexMissingError, ReleaseInconsistentError, ReleaseNotFoundError, ReleaseRefusedError, ReleaseUnsignedError, FlashReadbackFailedError } from './release-errors.js';
export { FileAccessError, HostKeyError, LockHeldError, StoreAccessError, StoredJsonInvalidError, StoreConflictError, StoreNotConfiguredError, StoreSettingsInvalidError, type LockOwner } from './access-errors.js';
export { AllowedSignersInvalidError, SignatureInvalidError, SigningKeyInvalidError, type SignatureProblem } from './signature-errors.js';
