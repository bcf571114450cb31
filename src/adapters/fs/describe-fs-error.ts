import { firstLine } from '../../errors/index.js';

/**
 * A system error as a reason a user can act on, without the syscall and path Node appends:
 * "ENOSPC: no space left on device, write" → "no space left on device (ENOSPC)"; others: the first line.
 */
export function describeFsError(error: unknown): string {
  const { code, message } = error as NodeJS.ErrnoException;
  const text = firstLine(String(message ?? error));
  if (typeof code !== 'string' || !text.startsWith(`${code}: `)) return text;
  return `${text.slice(code.length + 2).replace(/, \w+( '.*')?$/, '')} (${code})`;
}
