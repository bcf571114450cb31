import { ERROR_CODES, type ErrorCode } from './codes.js';

/** Base of every error imagebuild raises on purpose; the CLI prints `message` and exits with the code's status. */
export class ImagebuildError extends Error {
  readonly exitCode: number;

  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = new.target.name;
    this.exitCode = ERROR_CODES[code].exit;
  }
}

/** The first line of an error's message (or of any text): what a notice or a one-line error quotes of a cause. */
export function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split('\n')[0]!;
}

/** Text folded onto one line: the CLI prints an error as one line, and a file name or guest output with a newline would break it. */
export function oneLine(text: string): string {
  return text.replace(/\s*[\r\n]+\s*/g, ' ').trim();
}

/** The base of an error class whose every instance has `code` and takes a message: `class ReleaseNotFoundError extends errorWithCode('RELEASE_NOT_FOUND') {}`. */
export function errorWithCode(code: ErrorCode) {
  return class extends ImagebuildError {
    constructor(message: string, options?: ErrorOptions) {
      super(code, message, options);
    }
  };
}
