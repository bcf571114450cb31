import type { S3Client, ServiceInputTypes, ServiceOutputTypes } from '@aws-sdk/client-s3';
// The SDK's own middleware types (a dependency of @aws-sdk/client-s3; types only, nothing is loaded).
import type { FinalizeRequestMiddleware } from '@smithy/types';
import type { S3Timeouts } from './config.js';

// The SDK's timeouts (node-http-handler) fail a request with name TimeoutError; its standard retry
// strategy then tries it again, up to maxAttempts, like a throttled one. A server that accepted the
// connection and went quiet rarely answers the third try: a timeout is tried twice at most, so a stalled
// endpoint fails after about two timeouts rather than five.

/** Attempts of one request that may end in a timeout. */
export const TIMEOUT_ATTEMPTS = 2;

/** Which timeout ended a request: the connect, the wait for the response's headers, or a quiet connection. */
export type TimeoutKind = 'connect' | 'request' | 'idle';

const VARIABLE: Readonly<Record<TimeoutKind, { variable: string; ms: keyof S3Timeouts }>> = {
  connect: { variable: 'IMAGEBUILD_S3_CONNECT_TIMEOUT', ms: 'connectMs' },
  request: { variable: 'IMAGEBUILD_S3_REQUEST_TIMEOUT', ms: 'requestMs' },
  idle: { variable: 'IMAGEBUILD_S3_IDLE_TIMEOUT', ms: 'idleMs' },
};

/** Options for a request that sends a file's bytes (a part, a single PUT): bounded by the idle timeout alone, so a slow uplink is not cut off. */
export const UPLOAD_REQUEST_OPTIONS = { requestTimeout: 0 } as const;

/** The timeout an SDK error reports, if any (by the handler's wording: its errors carry no other mark). */
export function timeoutKindOf(error: { name?: string; code?: string; message?: string; imagebuildTimeout?: TimeoutKind }): TimeoutKind | undefined {
  if (error.imagebuildTimeout) return error.imagebuildTimeout;
  // The handler also names ECONNRESET/ECONNREFUSED errors TimeoutError: those are not timeouts.
  if (error.name !== 'TimeoutError' || (error.code !== undefined && error.code !== 'ETIMEDOUT')) return undefined;
  const message = error.message ?? '';
  if (/establish a connection/.test(message)) return 'connect';
  if (/inactivity/.test(message)) return 'idle';
  return 'request';
}

/** The line for a request a timeout ended: which endpoint, how long, how many tries, and which variable changes it. */
export function describeTimeout(kind: TimeoutKind, endpoint: string, timeouts: S3Timeouts, attempts: number | undefined): string {
  const { variable, ms } = VARIABLE[kind];
  const seconds = `${timeouts[ms] / 1000} s`;
  const tries = attempts !== undefined && attempts > 1 ? `, ${attempts} attempts` : '';
  const what =
    kind === 'connect' ? `no connection to ${endpoint} within ${seconds}` : kind === 'request' ? `no answer from ${endpoint} within ${seconds}` : `${endpoint} sent nothing for ${seconds}`;
  return `${what} (${kind} timeout${tries}); check that the endpoint is up and reachable, or raise ${variable} (seconds)`;
}

/** Installs the bound on timeout retries: inside the retry loop, a request's second timeout becomes an error the strategy does not retry. */
export function limitTimeoutRetries(client: S3Client): void {
  const bound: FinalizeRequestMiddleware<ServiceInputTypes, ServiceOutputTypes> = (next, context) => async (args) => {
      try {
        return await next(args);
      } catch (error) {
        const kind = timeoutKindOf(error as Error);
        if (kind === undefined) throw error;
        const seen = ((context as { imagebuildTimeouts?: number }).imagebuildTimeouts ?? 0) + 1;
        (context as { imagebuildTimeouts?: number }).imagebuildTimeouts = seen;
        if (seen < TIMEOUT_ATTEMPTS) throw error;
        // Not a TimeoutError, no code and no cause: nothing the standard strategy classifies as transient.
        throw Object.assign(new Error((error as Error).message), { name: 'StoreTimeout', imagebuildTimeout: kind });
      }
    };
  client.middlewareStack.addRelativeTo(bound, { relation: 'after', toMiddleware: 'retryMiddleware', name: 'imagebuildLimitTimeoutRetries' });
}
