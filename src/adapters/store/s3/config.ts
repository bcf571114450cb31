import { StoreSettingsInvalidError } from '../../../errors/index.js';

/** How long a request may wait, in milliseconds; see `resolveS3Settings` for the defaults and the variables that set them. */
export type S3Timeouts = {
  /** To open the TCP (and TLS) connection. */
  readonly connectMs: number;
  /** From sending a request to the response's headers (uploads of a part or a file are bounded by `idleMs` alone). */
  readonly requestMs: number;
  /** Without a byte moving either way on the connection: a stalled upload, a response that stops mid-body. */
  readonly idleMs: number;
};

/** Settings of an S3 store after the environment's overrides. */
export type S3StoreSettings = {
  readonly bucket: string;
  /** Key prefix, empty or ending in `/`. */
  readonly prefix: string;
  readonly region: string;
  readonly endpoint: string | undefined;
  readonly forcePathStyle: boolean;
  readonly timeouts: S3Timeouts;
};

/** The spec's `artifacts.store` (kind s3) as the store uses it. */
export type S3StoreSpec = { readonly bucket: string; readonly prefix: string; readonly region: string; readonly endpoint?: string; readonly force_path_style: boolean };

/** The timeouts when the environment sets none (seconds): the AWS CLI's 60 s read timeout, a quicker connect. */
export const DEFAULT_S3_TIMEOUTS: S3Timeouts = { connectMs: 10_000, requestMs: 60_000, idleMs: 60_000 };

const TIMEOUT_VARIABLES = {
  connectMs: 'IMAGEBUILD_S3_CONNECT_TIMEOUT',
  requestMs: 'IMAGEBUILD_S3_REQUEST_TIMEOUT',
  idleMs: 'IMAGEBUILD_S3_IDLE_TIMEOUT',
} as const satisfies Record<keyof S3Timeouts, string>;

/**
 * Spec values, overridden by the usual AWS environment: AWS_REGION (or AWS_DEFAULT_REGION), and
 * AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL. An endpoint means an S3-compatible server: path-style.
 * Timeouts (seconds) from IMAGEBUILD_S3_CONNECT_TIMEOUT, IMAGEBUILD_S3_REQUEST_TIMEOUT and
 * IMAGEBUILD_S3_IDLE_TIMEOUT. Credentials are not settings: the SDK's default chain finds them
 * (AWS_PROFILE, environment, SSO, roles). A prefix that is not plain `/`-separated names is refused.
 */
export function resolveS3Settings(store: S3StoreSpec, env: NodeJS.ProcessEnv): S3StoreSettings {
  const endpoint = nonEmpty(env.AWS_ENDPOINT_URL_S3) ?? nonEmpty(env.AWS_ENDPOINT_URL) ?? store.endpoint;
  const prefix = checkPrefix(store.prefix);
  return {
    bucket: store.bucket,
    prefix: prefix === '' ? '' : `${prefix}/`,
    region: nonEmpty(env.AWS_REGION) ?? nonEmpty(env.AWS_DEFAULT_REGION) ?? store.region,
    endpoint,
    forcePathStyle: store.force_path_style || endpoint !== undefined,
    timeouts: {
      connectMs: timeoutFrom(env, 'connectMs'),
      requestMs: timeoutFrom(env, 'requestMs'),
      idleMs: timeoutFrom(env, 'idleMs'),
    },
  };
}

/**
 * The prefix without its trailing `/`. Keys are names, not paths: a server that normalises paths would
 * put `a/../b` (or `/a`) somewhere other than the prefix says, so `.`/`..`/empty segments and a
 * leading `/` are refused rather than cleaned up.
 */
function checkPrefix(prefix: string): string {
  const trimmed = prefix.replace(/\/$/, '');
  if (trimmed === '') return '';
  const segments = trimmed.split('/');
  const bad = trimmed.startsWith('/') ? 'starts with /' : segments.includes('') ? 'has an empty segment (//)' : segments.find((s) => s === '.' || s === '..');
  if (bad !== undefined) {
    const why = bad === '.' || bad === '..' ? `has a "${bad}" segment` : bad;
    throw new StoreSettingsInvalidError(`S3 store prefix "${prefix}" ${why}; use /-separated names without . or .. segments, e.g. images/demo-box`);
  }
  return trimmed;
}

function timeoutFrom(env: NodeJS.ProcessEnv, which: keyof S3Timeouts): number {
  const variable = TIMEOUT_VARIABLES[which];
  const text = nonEmpty(env[variable]);
  if (text === undefined) return DEFAULT_S3_TIMEOUTS[which];
  const seconds = Number(text);
  if (!/^\d+(\.\d+)?$/.test(text) || seconds < 0.1 || seconds > 3600) {
    throw new StoreSettingsInvalidError(`${variable}="${text}" is not a timeout; give seconds between 0.1 and 3600, e.g. ${DEFAULT_S3_TIMEOUTS[which] / 1000}`);
  }
  return Math.round(seconds * 1000);
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}
