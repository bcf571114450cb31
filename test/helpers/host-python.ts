import { execFileSync } from 'node:child_process';
import { manylinuxPlatforms, type WheelhouseTarget } from '../../src/adapters/package-cache/wheelhouse-record.js';

/** This host's python3 as a wheelhouse target, so a venv here can install what was filled for it. */
export function hostWheelhouseTarget(): WheelhouseTarget {
  const probe = 'import json, platform, sys; print(json.dumps([f"{sys.version_info[0]}.{sys.version_info[1]}", platform.libc_ver()[1], platform.machine()]))';
  const [pythonVersion, glibc, arch] = JSON.parse(execFileSync('python3', ['-c', probe], { encoding: 'utf8' })) as [string, string, string];
  return { pythonVersion, implementation: 'cp', abi: `cp${pythonVersion.replace('.', '')}`, platforms: manylinuxPlatforms(glibc, arch) };
}
