import { describe, expect, it } from 'vitest';
import { bumpOf, checkVersionBump, classifyManifestChanges, classifyPackageChanges, classifySpecChanges, requiredBump } from './bump-policy.js';
import { BumpMismatchError } from '../../errors/index.js';
import { testManifest } from '../../../test/helpers/test-manifest.js';

describe('classifyManifestChanges', () => {
  it('demands MAJOR for an OS release change and PATCH for a point release', () => {
    const before = testManifest();

    const release = classifyManifestChanges(before, testManifest({ os: 'Ubuntu 26.04 LTS' }));
    const point = classifyManifestChanges(before, testManifest({ os: 'Ubuntu 24.04.4 LTS' }));
    const distro = classifyManifestChanges(before, testManifest({ os: 'Debian GNU/Linux 12 (bookworm)' }));

    expect(release).toEqual([expect.objectContaining({ subject: 'os', demands: 'major', reason: 'OS release change' })]);
    expect(point).toEqual([expect.objectContaining({ subject: 'os', demands: 'patch' })]);
    expect(distro[0]).toMatchObject({ demands: 'major', reason: 'OS distro change' });
  });

  it('demands at least MINOR for a new framework and MAJOR for a removed one', () => {
    const before = testManifest();

    const added = classifyManifestChanges(before, testManifest({ frameworks: { pytorch: '2.7.1+cu128', tensorflow: '2.19.0', vllm: '0.10.1' } }));
    const removed = classifyManifestChanges(before, testManifest({ frameworks: { pytorch: '2.7.1+cu128', tensorflow: null, vllm: null } }));

    expect(added).toEqual([expect.objectContaining({ subject: 'frameworks.tensorflow', from: null, to: '2.19.0', demands: 'minor' })]);
    expect(removed).toEqual([expect.objectContaining({ subject: 'frameworks.vllm', demands: 'major' })]);
  });

  it('treats a driver or CUDA patch as PATCH and a new driver branch or CUDA minor as MINOR', () => {
    const before = testManifest();

    const patches = classifyManifestChanges(before, testManifest({ nvidia_driver: '570.195.03', cuda_version: '12.8.93', kernel: '6.8.0-60-generic' }));
    const series = classifyManifestChanges(before, testManifest({ nvidia_driver: '575.51.02', cuda_version: '12.9.0' }));

    expect(patches.map((c) => [c.subject, c.demands])).toEqual([
      ['kernel', 'patch'],
      ['nvidia_driver', 'patch'],
      ['cuda_version', 'patch'],
    ]);
    expect(series.map((c) => [c.subject, c.demands])).toEqual([
      ['nvidia_driver', 'minor'],
      ['cuda_version', 'minor'],
    ]);
  });

  it('reports a layer whose inputs changed as PATCH, and a new layer as MINOR', () => {
    const before = testManifest();
    const [base, driver] = before.layers;

    const changed = classifyManifestChanges(before, testManifest({ layers: [base!, { ...driver!, key: '3'.repeat(64) }] }));
    const fewer = classifyManifestChanges(testManifest({ layers: [base!], gpu_validated: false }), before);

    expect(changed).toEqual([expect.objectContaining({ subject: 'layer driver', demands: 'patch' })]);
    expect(fewer).toEqual([expect.objectContaining({ subject: 'layers', to: 'driver', demands: 'minor' })]);
  });
});

describe('classifySpecChanges', () => {
  const spec = { os: { distro: 'ubuntu', release: '24.04' }, hardware: { gpu: { model: 'rtx-5090', passthrough: [] }, build_vm: { cpus: 4 } }, layers: { base: { packages: ['htop'] }, frameworks: { pytorch: { version: '2.7.1' } } }, description: 'x' };

  it('classifies OS, new frameworks, version series and plain settings, ignoring how the image is built and stored', () => {
    const next = {
      os: { distro: 'ubuntu', release: '26.04' },
      layers: { base: { packages: ['htop', 'tmux'] }, frameworks: { pytorch: { version: '2.8.0' }, vllm: { version: '0.10.1' } } },
      description: 'changed text does not count',
      hardware: { gpu: { model: 'rtx-5090', passthrough: ['0000:01:00.0'] }, build_vm: { cpus: 16 } },
      artifacts: { retention: 5 },
    };

    const changes = classifySpecChanges(spec, next);

    expect(changes.map((c) => [c.subject, c.demands])).toEqual([
      ['spec layers.base.packages', 'patch'],
      ['spec layers.frameworks.pytorch.version', 'minor'],
      ['spec layers.frameworks.vllm', 'minor'],
      ['spec os.release', 'major'],
    ]);
  });
});

describe('checkVersionBump', () => {
  const minorChange = classifyManifestChanges(testManifest(), testManifest({ frameworks: { pytorch: '2.7.1+cu128', tensorflow: '2.19.0', vllm: '0.10.1' } }));

  it('refuses a PATCH bump for a new framework, naming the change, the bump it demands and the version to use', () => {
    const check = () => checkVersionBump({ from: '1.0.1', to: '1.0.2', changes: minorChange });

    expect(check).toThrow(BumpMismatchError);
    expect(check).toThrow(/v1\.0\.1 → v1\.0\.2 is a PATCH bump, but frameworks\.tensorflow \(none\) → 2\.19\.0: MINOR .* demands MINOR; publish it as v1\.1\.0/);
  });

  it('accepts MINOR for a new framework, and records an override for a mismatch', () => {
    const ok = checkVersionBump({ from: '1.0.1', to: '1.1.0', changes: minorChange });
    const overridden = checkVersionBump({ from: '1.0.1', to: '1.0.2', changes: minorChange, override: 'hotfix for customer X' });

    expect(ok).toMatchObject({ actual: 'minor', required: 'minor', override: null });
    expect(overridden).toMatchObject({ actual: 'patch', required: 'minor', override: 'hotfix for customer X' });
  });

  it('refuses MAJOR without an OS or architecture change, and a version that is not newer', () => {
    expect(() => checkVersionBump({ from: '1.0.1', to: '2.0.0', changes: [] })).toThrow(/is a MAJOR bump, but only an OS .* publish it as v1\.0\.2/);
    expect(() => checkVersionBump({ from: '1.2.0', to: '1.1.0', changes: [] })).toThrow(/not newer than v1\.2\.0/);
  });

  it('needs no bump check for the first release, and PATCH when nothing changed', () => {
    expect(checkVersionBump({ from: null, to: '1.0.0', changes: [] }).actual).toBe('initial');
    expect(requiredBump([])).toBe('patch');
    expect(bumpOf('1.1.9', '1.2.0-rc.1')).toBe('minor');
  });
});

describe('classifyPackageChanges', () => {
  it('demands MINOR for each distribution new in the frameworks venv, nothing more for Debian or changed packages', () => {
    const changes = classifyPackageChanges({
      added: [
        { kind: 'pypi', name: 'flash-attn', version: '2.8.3' },
        { kind: 'deb', name: 'htop', version: '3.2.2-2' },
      ],
      removed: [{ kind: 'pypi', name: 'triton', version: '3.3.1' }],
      changed: [{ kind: 'pypi', name: 'torch', from: '2.7.1+cu128', to: '2.7.2+cu128' }],
    });

    expect(changes).toEqual([{ subject: 'package pypi:flash-attn', from: null, to: '2.8.3', demands: 'minor', reason: 'new framework package flash-attn in the venv (a new capability)' }]);
    expect(requiredBump(changes)).toBe('minor');
  });
});
