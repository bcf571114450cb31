import { join, resolve } from 'node:path';
import { releaseDirName } from '../../core/version/release-version.js';

/** The manifest beside every release's image. */
export const MANIFEST_FILE = 'image-manifest.json';
/** `sha256sum -c` input beside every release's image. */
export const SUMS_FILE = 'SHA256SUMS';
/** The link in output/<name>/ to the version customers get. */
export const CURRENT_LINK = 'current';

/** The content of a SHA256SUMS file for one image, as `sha256sum -c` reads it. */
export function sumsFileText(sha256: string, artifactName: string): string {
  return `${sha256}  ${artifactName}\n`;
}

/** output/<name>/current: the link to the version customers get. */
export function currentLinkPath(outputRoot: string): string {
  return join(outputRoot, CURRENT_LINK);
}

/** `<name>-v<version>.qcow2`: the file name of a release's image. */
export function artifactFileName(name: string, version: string): string {
  return `${name}-v${version}.qcow2`;
}

/** `output/<name>/` of a spec, absolute: the releases built here live below it. */
export function outputRootOf(cwd: string, spec: { readonly name: string; readonly output: { readonly dir: string } }): string {
  return resolve(cwd, spec.output.dir, spec.name);
}

/** Where one release lives in output/<name>/: `v<version>/` with its image, manifest, sums, logs and reports. */
export type ReleaseLayout = {
  readonly dir: string;
  readonly manifest: string;
  readonly sums: string;
  readonly logs: string;
  readonly reports: string;
  readonly artifactName: string;
  readonly artifact: string;
  /** The directory a build fills before one rename publishes it (pid-named: one owner). */
  staging(pid: number): string;
  /** What every staging directory of this version starts with, for removing leftovers of killed runs. */
  readonly stagingPrefix: string;
  /** A dot-named sibling a release is renamed to before it is deleted (pid-named: one owner). */
  retired(pid: number): string;
};

/** The layout of release `version` of image `name` under `outputRoot` (output/<name>/). */
export function releaseLayout(outputRoot: string, name: string, version: string): ReleaseLayout {
  const dirName = releaseDirName(version);
  const dir = join(outputRoot, dirName);
  const artifactName = artifactFileName(name, version);
  return {
    dir,
    manifest: join(dir, MANIFEST_FILE),
    sums: join(dir, SUMS_FILE),
    logs: join(dir, 'logs'),
    reports: join(dir, 'reports'),
    artifactName,
    artifact: join(dir, artifactName),
    staging: (pid) => `${dir}.partial-${pid}`,
    stagingPrefix: `${dirName}.partial-`,
    retired: (pid) => join(outputRoot, `.prune-${dirName}-${pid}`),
  };
}
