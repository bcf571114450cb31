/** Base of every error imagebuild raises on purpose; the CLI prints `message` and exits with `exitCode`. */
export class ImagebuildError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly exitCode = 1,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A spec file that does not parse or validate; carries every problem as one `file: path: message` line. */
export class SpecInvalidError extends ImagebuildError {
  constructor(
    readonly file: string,
    readonly problems: readonly string[],
    /** Follow-up lines that help fix the problems (e.g. the minimum versions a GPU needs). */
    readonly hints: readonly string[] = [],
  ) {
    super('SPEC_INVALID', [...problems, ...hints].join('\n'), 2);
  }
}

/** Wrong command-line usage: unknown flag, missing or malformed argument. */
export class UsageError extends ImagebuildError {
  constructor(message: string) {
    super('USAGE', message, 2);
  }
}

/** An external tool (packer, qemu-img, ansible) exited non-zero or could not be started. */
export class ToolFailedError extends ImagebuildError {
  constructor(
    readonly tool: string,
    message: string,
    readonly toolExitCode?: number,
    readonly stderrTail?: string,
    readonly logPath?: string,
    options?: ErrorOptions,
  ) {
    super('TOOL_FAILED', message, 1, options);
  }
}

/** A file the tool must read or write could not be, for a reason the user can act on. */
export class FileAccessError extends ImagebuildError {
  constructor(message: string, options?: ErrorOptions) {
    super('FILE_ACCESS', message, 1, options);
  }
}

/** A layer's gate judged the built layer and found it wanting; names the layer, check, threshold and measurement. */
export class GateFailedError extends ImagebuildError {
  constructor(
    readonly layer: string,
    message: string,
    readonly failedDir?: string,
  ) {
    super('GATE_FAILED', message, 1);
  }
}

/** The host cannot run this build (disk, tools, KVM, VFIO); carries every problem. */
export class PreflightError extends ImagebuildError {
  constructor(readonly problems: readonly string[]) {
    super('PREFLIGHT', problems.map((p) => `preflight: ${p}`).join('\n'), 1);
  }
}

/** A version that was already built from other inputs: versions are immutable. */
export class VersionExistsError extends ImagebuildError {
  constructor(message: string) {
    super('VERSION_EXISTS', message, 2);
  }
}

/** The build was stopped by SIGINT/SIGTERM; nothing half-done was registered. */
export class BuildInterruptedError extends ImagebuildError {
  constructor(message: string) {
    super('INTERRUPTED', message, 130);
  }
}

/** The finished artifact failed its verification boot; it is not published. */
export class VerifyFailedError extends ImagebuildError {
  constructor(message: string) {
    super('VERIFY_FAILED', message, 1);
  }
}

/** The first line of an error's message: what a notice or a one-line error quotes of a cause. */
export function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split('\n')[0]!;
}
