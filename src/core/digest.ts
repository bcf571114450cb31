import { z } from 'zod';

/** A SHA-256 digest as imagebuild writes it everywhere: 64 lower-case hex digits. */
export const Sha256 = z.string().regex(/^[0-9a-f]{64}$/, { error: 'not a SHA-256 digest; expected 64 lower-case hex digits' });
