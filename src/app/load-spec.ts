import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { readTextFile } from '../adapters/fs/read-files.js';
import { findPackageRoot } from '../adapters/fs/project-root.js';
import { parseSpec, type ParsedSpec } from '../core/spec/parse-spec.js';
import type { SigningSpec, StoreSpec } from '../core/spec/schema.js';
import { UsageError } from '../errors/index.js';

/** The spec used when no --spec is given: the reference demo box shipped with imagebuild. */
export const DEFAULT_SPEC = 'manifests/vault-cube-demo-box.yaml';

export type LoadedSpec = ParsedSpec & {
  /** Absolute path of the spec file. */
  readonly path: string;
  /** The path as shown to the user (relative to the working directory when inside it). */
  readonly displayPath: string;
};

/** Resolves --spec (or IMAGEBUILD_SPEC, or the shipped demo box) to an absolute path. */
export function resolveSpecPath(specArg: string | undefined, cwd: string, env: NodeJS.ProcessEnv = process.env): string {
  const given = specArg ?? env.IMAGEBUILD_SPEC;
  if (given) return resolve(cwd, given);
  return join(findPackageRoot(), DEFAULT_SPEC);
}

/**
 * Reads and validates a spec file. Its host directories — cache.dir, output.dir and a filesystem
 * store's dir (artifacts.store, cache.store) — come back absolute: a relative one, given or defaulted,
 * is relative to the spec file's directory, so the same spec names the same places from any working
 * directory. (The shipped demo box, used when no spec is named, keeps them under the working directory.)
 * $IMAGEBUILD_CACHE_DIR and $IMAGEBUILD_OUTPUT_DIR override cache.dir and output.dir, relative to the
 * working directory as a shell variable is (e.g. on a CI runner, outside a workspace checkout wipes).
 */
export async function loadSpec(specArg: string | undefined, cwd: string, env: NodeJS.ProcessEnv = process.env): Promise<LoadedSpec> {
  const path = resolveSpecPath(specArg, cwd, env);
  const displayPath = displayPathOf(path, cwd);
  const text = await readTextFile(path, 'spec file');
  const parsed = parseSpec(text, displayPath, { today: todayOf(env) });
  const specDir = (specArg ?? env.IMAGEBUILD_SPEC) ? dirname(path) : cwd;
  const cacheDir = env.IMAGEBUILD_CACHE_DIR;
  const outputDir = env.IMAGEBUILD_OUTPUT_DIR;
  const { cache, output, artifacts } = parsed.spec;
  const spec = {
    ...parsed.spec,
    cache: { ...cache, dir: cacheDir ? resolve(cwd, cacheDir) : resolve(specDir, cache.dir), ...(cache.store ? { store: storeBesideSpec(cache.store, specDir) } : {}) },
    output: { ...output, dir: outputDir ? resolve(cwd, outputDir) : resolve(specDir, output.dir) },
    artifacts: {
      ...artifacts,
      ...(artifacts.store ? { store: storeBesideSpec(artifacts.store, specDir) } : {}),
      ...(artifacts.signing ? { signing: signingBesideSpec(artifacts.signing, specDir) } : {}),
    },
  };
  return { ...parsed, spec, path, displayPath };
}

/** A filesystem store with its directory made absolute against the spec's directory; an S3 store as it is. */
function signingBesideSpec(signing: SigningSpec, specDir: string): SigningSpec {
  return {
    ...signing,
    ...(signing.key_file === undefined ? {} : { key_file: resolve(specDir, signing.key_file) }),
    ...(signing.agent_public_key === undefined ? {} : { agent_public_key: resolve(specDir, signing.agent_public_key) }),
    ...(signing.allowed_signers === undefined ? {} : { allowed_signers: resolve(specDir, signing.allowed_signers) }),
    ...(signing.revoked_keys === undefined ? {} : { revoked_keys: resolve(specDir, signing.revoked_keys) }),
  };
}

function storeBesideSpec(store: StoreSpec, specDir: string): StoreSpec {
  return store.kind === 'filesystem' ? { ...store, dir: resolve(specDir, store.dir) } : store;
}

/**
 * Today's date (UTC, YYYY-MM-DD) for the driver-lifecycle check; IMAGEBUILD_TODAY overrides it, so a CI job can
 * ask "is this spec still supported on the release date?" and tests do not depend on the calendar.
 */
export function todayOf(env: NodeJS.ProcessEnv = process.env, now: Date = new Date()): string {
  const given = env.IMAGEBUILD_TODAY;
  if (given !== undefined && given !== '') {
    // The round trip refuses dates Date.parse would roll over (2026-02-30 → 2026-03-02).
    const parsed = /^\d{4}-\d{2}-\d{2}$/.test(given) ? new Date(`${given}T00:00:00Z`) : undefined;
    if (parsed === undefined || Number.isNaN(parsed.getTime()) || parsed.toISOString().slice(0, 10) !== given || given < '1970-01-01') {
      throw new UsageError(`IMAGEBUILD_TODAY=${JSON.stringify(given.slice(0, 40))} is not a date; use YYYY-MM-DD, e.g. 2026-12-05`);
    }
    return given;
  }
  return now.toISOString().slice(0, 10);
}

/** Shows a path relative to `cwd` when it lies inside it, absolute otherwise. */
export function displayPathOf(path: string, cwd: string): string {
  const rel = relative(cwd, path);
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : path;
}
