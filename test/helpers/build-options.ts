import type { BuildOptions } from '../../src/app/build/options.js';

/**
 * BuildOptions for a build of `box.yaml` in `cwd` with the fake packer: the cpu host profile, no live output, and no
 * verification boot (the fake packer's overlays hold no operating system; the real build tests the boot).
 */
export function fakeBuildOptions(cwd: string, version: string, extra: Partial<BuildOptions> = {}): BuildOptions {
  return {
    specArg: 'box.yaml',
    version,
    cwd,
    hostProfile: 'cpu',
    renderer: 'silent',
    skipVerify: true,
    signal: new AbortController().signal,
    ...extra,
  };
}
