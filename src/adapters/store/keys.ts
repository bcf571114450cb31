import { StoreAccessError } from '../../errors/index.js';

/** Checks a store key: `/`-separated, no empty, `.` or `..` segments, printable and path-safe. */
export function assertStoreKey(key: string): string {
  const segments = key.split('/');
  if (key.length === 0 || key.length > 1024 || !/^[A-Za-z0-9._+=@-][A-Za-z0-9._+=@/-]*$/.test(key) || segments.some((s) => s === '' || s === '.' || s === '..')) {
    throw new StoreAccessError(`"${key}" is not a valid store key; use /-separated names of letters, digits and ._+=@-`);
  }
  return key;
}
