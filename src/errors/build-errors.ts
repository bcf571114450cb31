import { errorWithCode, ImagebuildError, oneLine } from './imagebuild-error.js';

// A build that failed or was stopped: what ran, what it found, where the evidence is kept.

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
    super('TOOL_FAILED', message, options);
  }
}

/** The host cannot run this build (disk, tools, KVM, VFIO); carries every problem. */
export class PreflightError extends ImagebuildError {
  constructor(readonly problems: readonly string[]) {
    super('PREFLIGHT', problems.map((p) => `preflight: ${p}`).join('\n'));
  }
}

/** A layer's gate judged the built layer and found it wanting; names the layer, check, threshold and measurement. */
export class GateFailedError extends ImagebuildError {
  constructor(
    readonly layer: string,
    message: string,
    readonly failedDir?: string,
  ) {
    super('GATE_FAILED', message);
  }
}

/** A gate, Ansible or facts file from the build VM that is not what imagebuild expects; names the file and the first problem. */
export class GateReportInvalidError extends ImagebuildError {
  constructor(
    readonly source: string,
    readonly problem: string,
    options?: ErrorOptions,
  ) {
    super('GATE_REPORT_INVALID', `${oneLine(source)}: ${oneLine(problem)}`, options);
  }
}

/** The finished artifact failed its verification boot; it is not published. */
export class VerifyFailedError extends errorWithCode('VERIFY_FAILED') {}

/** Work stopped by SIGINT/SIGTERM (a build, an upload, a download); nothing half-done was registered. */
export class InterruptedError extends errorWithCode('INTERRUPTED') {}
