import { errorWithCode, ImagebuildError } from './imagebuild-error.js';

// What the user gave is wrong: exit 2, fix the input and run again.

/** A spec file that does not parse or validate; carries every problem as one `file: path: message` line. */
export class SpecInvalidError extends ImagebuildError {
  constructor(
    readonly file: string,
    readonly problems: readonly string[],
    /** Follow-up lines that help fix the problems (e.g. the minimum versions a GPU needs). */
    readonly hints: readonly string[] = [],
  ) {
    super('SPEC_INVALID', [...problems, ...hints].join('\n'));
  }
}

/** Wrong command-line usage: unknown flag, missing or malformed argument. */
export class UsageError extends errorWithCode('USAGE') {}

/** A version that was already built from other inputs: versions are immutable. */
export class VersionExistsError extends errorWithCode('VERSION_EXISTS') {}
