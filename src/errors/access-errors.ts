import { errorWithCode, ImagebuildError, oneLine } from './imagebuild-error.js';

// Something imagebuild must reach could not be reached or refused it: files, the store, the cache lock, a remote host.

/** A file the tool must read or write could not be, for a reason the user can act on. */
export class FileAccessError extends errorWithCode('FILE_ACCESS') {}

/** The spec names no artifacts.store, and the command needs one. */
export class StoreNotConfiguredError extends errorWithCode('STORE_NOT_CONFIGURED') {}

/** A store setting (from the spec or the environment) that cannot be used: the message names it and what would be valid. */
export class StoreSettingsInvalidError extends errorWithCode('STORE_SETTINGS_INVALID') {}

/** A store request failed (network, permissions, missing bucket, server error); the message never carries credentials. */
export class StoreAccessError extends ImagebuildError {
  constructor(message: string, options?: ErrorOptions) {
    super('STORE_ACCESS', oneLine(message), options);
  }
}

/** A stored document that should be JSON is not (truncated, overwritten by something else): readers decide what that means for them. */
export class StoredJsonInvalidError extends StoreAccessError {}

/** A conditional write lost: the key already exists, or changed since it was read. */
export class StoreConflictError extends ImagebuildError {
  constructor(
    readonly key: string,
    message: string,
  ) {
    super('STORE_CONFLICT', message);
  }
}

/** Who holds a lock: written into the lock file so a refused build can say who to wait for. */
export type LockOwner = { readonly pid: number; readonly hostname: string; readonly command: string; readonly startedAt: string };

/** Another live process holds the lock. */
export class LockHeldError extends ImagebuildError {
  constructor(
    readonly path: string,
    readonly owner: LockOwner | undefined,
  ) {
    const who = owner ? `pid ${owner.pid} on ${owner.hostname} (${owner.command}) since ${owner.startedAt}` : 'a process that left an unreadable lock file';
    super('LOCKED', `${path}: held by ${who}; wait for it to finish, or remove the file if that process is gone`);
  }
}

/** A remote host's SSH key is not the one known_hosts records (or none is recorded and none may be learned). */
export class HostKeyError extends errorWithCode('HOST_KEY_REFUSED') {}
