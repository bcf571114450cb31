import { createHash } from 'node:crypto';
import { z } from 'zod';

/** A SHA-256 digest as imagebuild writes it everywhere: 64 lower-case hex digits. */
export const Sha256 = z.string().regex(/^[0-9a-f]{64}$/, { error: 'not a SHA-256 digest; expected 64 lower-case hex digits' });

/** The SHA-256 of bytes (or UTF-8 text) as imagebuild writes digests: 64 lower-case hex digits. */
export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}
