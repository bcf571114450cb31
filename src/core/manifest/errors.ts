import { ImagebuildError } from '../../errors.js';

/** An image manifest that does not validate, on assembly or on write; names the image and the first problem. */
export class ManifestInvalidError extends ImagebuildError {
  /** The problem without the manifest's location, e.g. `size_bytes: expected number`. */
  readonly detail: string;

  constructor(
    readonly problem: string,
    options?: ErrorOptions & { readonly detail?: string },
  ) {
    super('MANIFEST_INVALID', `image-manifest.json: ${problem.replace(/\s*[\r\n]+\s*/g, ' ').trim()}`, 1, options);
    this.detail = options?.detail ?? problem;
  }
}
