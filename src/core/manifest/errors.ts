import { ImagebuildError } from '../../errors.js';

/** An image manifest that does not validate, on assembly or on write; names the image and the first problem. */
export class ManifestInvalidError extends ImagebuildError {
  constructor(
    readonly problem: string,
    options?: ErrorOptions,
  ) {
    super('MANIFEST_INVALID', `image-manifest.json: ${problem.replace(/\s*[\r\n]+\s*/g, ' ').trim()}`, 1, options);
  }
}
