import { resolve } from 'node:path';

// What imagebuild keeps under the working directory's .imagebuild/ besides the cache (whose place the spec sets).

/** Where `imagebuild render` writes a spec's files by default: `.imagebuild/rendered/<name>/` under the working directory. */
export function defaultRenderDir(cwd: string, name: string): string {
  return resolve(cwd, '.imagebuild', 'rendered', name);
}

/** Where a remote build stages what it renders for a host before uploading: `.imagebuild/remote/<host>-<port>/<name>/`. */
export function remoteStagingDir(cwd: string, host: string, port: number, name: string): string {
  return resolve(cwd, '.imagebuild', 'remote', `${host}-${port}`, name);
}
