/** Settings of an S3 store after the environment's overrides. */
export type S3StoreSettings = {
  readonly bucket: string;
  /** Key prefix, empty or ending in `/`. */
  readonly prefix: string;
  readonly region: string;
  readonly endpoint: string | undefined;
  readonly forcePathStyle: boolean;
};

/** The spec's `artifacts.store` (kind s3) as the store uses it. */
export type S3StoreSpec = { readonly bucket: string; readonly prefix: string; readonly region: string; readonly endpoint?: string; readonly force_path_style: boolean };

/**
 * Spec values, overridden by the usual AWS environment: AWS_REGION (or AWS_DEFAULT_REGION), and
 * AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL. An endpoint means an S3-compatible server: path-style.
 * Credentials are not settings: the SDK's default chain finds them (AWS_PROFILE, environment, SSO, roles).
 */
export function resolveS3Settings(store: S3StoreSpec, env: NodeJS.ProcessEnv): S3StoreSettings {
  const endpoint = nonEmpty(env.AWS_ENDPOINT_URL_S3) ?? nonEmpty(env.AWS_ENDPOINT_URL) ?? store.endpoint;
  const prefix = store.prefix.replace(/^\/+|\/+$/g, '');
  return {
    bucket: store.bucket,
    prefix: prefix === '' ? '' : `${prefix}/`,
    region: nonEmpty(env.AWS_REGION) ?? nonEmpty(env.AWS_DEFAULT_REGION) ?? store.region,
    endpoint,
    forcePathStyle: store.force_path_style || endpoint !== undefined,
  };
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}
