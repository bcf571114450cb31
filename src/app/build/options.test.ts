import { parseArgs } from 'node:util';
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../errors/index.js';
import { BUILD_REQUEST_FLAGS, decodeBuildFlags, encodeBuildRequest, type BuildRequest } from './options.js';

const OPTIONS = Object.fromEntries(Object.entries(BUILD_REQUEST_FLAGS).map(([name, type]) => [name, { type }]));

/** The argv as `imagebuild build` reads it: parseArgs with the codec's flags, then the codec. */
function decodeArgv(argv: readonly string[], cwd: string): BuildRequest {
  const { values, positionals } = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true, strict: true });
  return { version: positionals[0]!, ...decodeBuildFlags(values, cwd) };
}

describe('build request codec', () => {
  it('reads back every option it writes', () => {
    const request: BuildRequest = {
      version: '1.2.0',
      specArg: 'spec.yaml',
      fromLayer: 'driver',
      untilLayer: 'frameworks',
      accel: 'tcg',
      hostProfile: 'cpu',
      verifyLogin: { user: 'ops', privateKey: '/keys/ops' },
      skipVerify: true,
      noPackageCache: true,
      offline: false,
      ansibleStrategy: 'linear',
      renderedDir: '/work/rendered',
      publish: true,
      allowBumpMismatch: 'hot fix; rm -rf /',
    };

    const argv = encodeBuildRequest(request);

    expect(decodeArgv(argv, '/elsewhere')).toEqual(request);
  });

  it('reads back --offline', () => {
    const request: BuildRequest = { version: '1.2.1', specArg: 'spec.yaml', offline: true, noPackageCache: false };

    expect(encodeBuildRequest(request)).toContain('--offline');
    expect(decodeArgv(encodeBuildRequest(request), '/work')).toMatchObject(request);
  });

  it('writes only the options given, with paths as given so they resolve where the build runs', () => {
    const argv = encodeBuildRequest({ version: '1.0.0', specArg: 'spec.yaml', renderedDir: 'rendered', hostProfile: 'cpu', skipVerify: false });

    expect(argv).toEqual(['1.0.0', '--spec', 'spec.yaml', '--rendered', 'rendered', '--host-profile', 'cpu']);
    expect(decodeArgv(argv, '/home/ops/box')).toMatchObject({ specArg: 'spec.yaml', renderedDir: '/home/ops/box/rendered', publish: false, skipVerify: false });
  });

  it.each([
    [['--from-layer', 'kernel'], '--from-layer "kernel" is not a layer; valid: base, driver, runtime, frameworks, validation'],
    [['--from-layer', 'runtime', '--until-layer', 'driver'], '--from-layer runtime is above --until-layer driver; the from layer must be at or below the until layer'],
    [['--accel', 'hvf'], '--accel "hvf" is not valid; valid: kvm, tcg'],
    [['--host-profile', 'tpu'], '--host-profile "tpu" is not valid; valid: gpu, cpu'],
    [['--ansible-strategy', 'free'], '--ansible-strategy "free" is not valid; valid: auto, mitogen, linear'],
    [['--verify-user', 'ops'], '--verify-user and --verify-key go together: a spec user and their private key'],
    [['--allow-bump-mismatch', 'why'], '--allow-bump-mismatch goes with --publish'],
    [['--offline', '--no-package-cache'], '--offline builds from the package caches, which --no-package-cache turns off; give one of them'],
  ])('refuses %j as a usage error', (flags, message) => {
    const decode = () => decodeArgv(['1.0.0', ...flags], '/work');

    expect(decode).toThrow(UsageError);
    expect(decode).toThrow(message);
  });
});
