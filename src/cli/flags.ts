import { parseVersionArgument } from '../core/version/release-version.js';
import { UsageError } from '../errors/index.js';
import type { FlagSpec } from './command.js';

// The flags several commands share, and reading parsed flags with the one-line usage errors every
// command gives. Build flags (layers, accelerator, host profile, verify login) are read by the
// build request codec in src/app/build/options.ts.

export const SPEC_FLAG: FlagSpec = {
  type: 'string',
  value: 'FILE',
  help: 'image spec (YAML); default: $IMAGEBUILD_SPEC, else the shipped manifests/vault-cube-demo-box.yaml',
};

/** --spec of the release commands, which read the spec for its store. */
export const STORE_SPEC_FLAG: FlagSpec = {
  type: 'string',
  value: 'FILE',
  help: 'image spec (YAML) naming artifacts.store; default: $IMAGEBUILD_SPEC, else the shipped manifests/vault-cube-demo-box.yaml',
};

export const JSON_FLAG: FlagSpec = { type: 'boolean', help: 'print the result as JSON on stdout' };

/** --json of the release commands, which otherwise show transfer progress. */
export const STORE_JSON_FLAG: FlagSpec = { type: 'boolean', help: 'print the result as JSON on stdout (no progress output)' };

export const HOST_PROFILE_FLAG: FlagSpec = {
  type: 'string',
  value: 'gpu|cpu',
  help: 'cpu: without GPU passthrough (GPU gates skipped; other layer keys); default gpu follows the spec',
};

/** How the release commands' help names the store. */
export const STORE_NOTE =
  'The store is the spec\'s artifacts.store: S3 (bucket, prefix, region, endpoint; AWS_REGION, AWS_ENDPOINT_URL and\n' +
  'AWS_PROFILE override; credentials from the AWS SDK\'s default chain, never printed) or a directory (filesystem).';

/** A value the user typed, quoted for an error line: control characters escaped, so it stays one line. */
export function quoteInput(value: string): string {
  return JSON.stringify(value);
}

/** A string flag's value; undefined when absent (or given as a boolean). */
export function stringFlag(value: string | boolean | undefined): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/** A release version argument (`v1.1.0` or `1.1.0`) in its canonical form; anything else is a usage error. */
export function versionArg(raw: string): string {
  const parsed = parseVersionArgument(raw);
  if (!parsed.ok) throw new UsageError(parsed.message);
  return parsed.version;
}

/** A version argument that may also be `current`. */
export function releaseRefArg(raw: string): string {
  return raw === 'current' ? 'current' : versionArg(raw);
}
