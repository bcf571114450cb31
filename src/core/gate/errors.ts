import { ImagebuildError } from '../../errors.js';

/** A gate, Ansible or facts file from the build VM that is not what imagebuild expects; names the file and the first problem. */
export class GateReportInvalidError extends ImagebuildError {
  constructor(
    readonly source: string,
    readonly problem: string,
    options?: ErrorOptions,
  ) {
    super('GATE_REPORT_INVALID', `${oneLine(source)}: ${oneLine(problem)}`, 1, options);
  }
}

// The CLI prints the message as one line; a file name or guest text with a newline would break that.
function oneLine(text: string): string {
  return text.replace(/\s*[\r\n]+\s*/g, ' ').trim();
}
