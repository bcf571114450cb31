import { ImagebuildError } from '../../errors.js';

/** The spec names no artifacts.store, and the command needs one. */
export class StoreNotConfiguredError extends ImagebuildError {
  constructor(message: string) {
    super('STORE_NOT_CONFIGURED', message, 2);
  }
}

/** A store request failed (network, permissions, missing bucket, server error); the message never carries credentials. */
export class StoreAccessError extends ImagebuildError {
  constructor(message: string, options?: ErrorOptions) {
    super('STORE_ACCESS', message.replace(/\s*[\r\n]+\s*/g, ' '), 1, options);
  }
}

/** A conditional write lost: the key already exists, or changed since it was read. */
export class StoreConflictError extends ImagebuildError {
  constructor(
    readonly key: string,
    message: string,
  ) {
    super('STORE_CONFLICT', message, 1);
  }
}
