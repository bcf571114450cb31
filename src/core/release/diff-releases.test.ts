import { describe, expect, it } from 'vitest';
import { diffReleases, formatReleaseDiff } from './diff-releases.js';
import { testManifest } from '../../../test/helpers/test-manifest.js';
import { formatBytes } from './transfer-rate.js';
import type { SbomPackage } from '../sbom/sbom-packages.js';

describe('diffReleases', () => {
  it('reports the GPU stack components (NCCL, cuDNN, toolkit, Docker), and an older manifest without them as none', () => {
    const before = testManifest();
    const after = testManifest({
      version: '1.0.1',
      components: { cudnn: '9.28.1.4', nccl: '2.31.2', container_toolkit: '1.20.0', docker: '28.3.3' },
    });

    const diff = diffReleases(before, after);
    const text = formatReleaseDiff(diff, formatBytes);

    expect(diff.fields.filter((f) => f.changed).map((f) => [f.field, f.from, f.to])).toEqual([
      ['cudnn', null, '9.28.1.4'],
      ['nccl', null, '2.31.2'],
      ['container_toolkit', null, '1.20.0'],
      ['docker', null, '28.3.3'],
    ]);
    expect(text).toContain('  nccl                   (none) → 2.31.2');
  });

  it('reports changed image facts, gate check changes, size and the bump the changes require', () => {
    const a = testManifest();
    const [base, driver] = a.layers;
    const b = testManifest({
      version: '1.1.0',
      kernel: '6.8.0-60-generic',
      frameworks: { pytorch: '2.7.1+cu128', tensorflow: '2.19.0', vllm: '0.10.1' },
      size_bytes: 3072,
      checksum_sha256: 'd'.repeat(64),
      layers: [base!, { ...driver!, key: '9'.repeat(64), gate: { ...driver!.gate, checks: [{ check: 'gpu_count', status: 'skipped', measured: 0, expected: '== 4', gpu: true }] } }],
    });

    const diff = diffReleases(a, b);
    const text = formatReleaseDiff(diff, formatBytes);

    expect(diff.fields.filter((f) => f.changed).map((f) => f.field)).toEqual(['kernel', 'frameworks.tensorflow']);
    expect(diff.gates[1]).toMatchObject({ layer: 'driver', key_changed: true, checks: [{ check: 'gpu_count', from: { measured: 'null' }, to: { measured: '0' } }] });
    expect(diff.size).toEqual({ from: 1024, to: 3072, delta: 2048 });
    expect(diff.bump).toMatchObject({ actual: 'minor', required: 'minor' });
    expect(text).toContain('  frameworks.tensorflow  (none) → 2.19.0');
    expect(text).toContain('size: 1.0 KiB → 3.0 KiB (+2.0 KiB)');
  });
});

describe('diffReleases: packages from the two SBOMs', () => {
  const pkg = (kind: SbomPackage['kind'], name: string, version: string, ref = `${kind}:${name}`): SbomPackage => ({ kind, ref, name, version });
  const before = [pkg('deb', 'bash', '5.2.15-2+b8', 'deb:bash:amd64'), pkg('deb', 'libfoo1', '1.2-3', 'deb:libfoo1:amd64'), pkg('pypi', 'torch', '2.7.1+cu128')];
  const after = [pkg('deb', 'bash', '5.2.15-2+b9', 'deb:bash:amd64'), pkg('pypi', 'torch', '2.7.1+cu128'), pkg('pypi', 'flash-attn', '2.8.3')];

  it('lists packages added, removed and whose version changed, and a new framework package demands MINOR', () => {
    const diff = diffReleases(testManifest(), testManifest({ version: '1.0.1' }), { from: { packages: before }, to: { packages: after } });
    const text = formatReleaseDiff(diff, formatBytes);

    expect(diff.packages).toEqual({
      added: [{ kind: 'pypi', name: 'flash-attn', version: '2.8.3' }],
      removed: [{ kind: 'deb', name: 'libfoo1', version: '1.2-3' }],
      changed: [{ kind: 'deb', name: 'bash', from: '5.2.15-2+b8', to: '5.2.15-2+b9' }],
    });
    expect(diff.packages_unavailable).toBeNull();
    expect(diff.bump).toMatchObject({ actual: 'patch', required: 'minor' });
    expect(diff.bump.changes).toContainEqual({ subject: 'package pypi:flash-attn', from: null, to: '2.8.3', demands: 'minor', reason: 'new framework package flash-attn in the venv (a new capability)' });
    expect(text).toEqual(expect.arrayContaining(['packages: 1 added, 1 removed, 1 changed version', '  + pypi flash-attn 2.8.3', '  - deb libfoo1 1.2-3', '  ~ deb bash 5.2.15-2+b8 → 5.2.15-2+b9']));
  });

  it('says why packages were not compared when a release has no SBOM', () => {
    const diff = diffReleases(testManifest(), testManifest({ version: '1.0.1' }), { from: { problem: 'built before releases carried an SBOM' }, to: { packages: after } });

    expect(diff.packages).toBeNull();
    expect(diff.packages_unavailable).toBe('v1.0.0: built before releases carried an SBOM');
    expect(formatReleaseDiff(diff, formatBytes)).toContain('packages: not compared (v1.0.0: built before releases carried an SBOM)');
    expect(diff.bump.required).toBe('patch');
  });

  it('shows at most 40 packages per list as text, and says how many more there are', () => {
    const many = Array.from({ length: 45 }, (_, i) => pkg('deb', `lib${String(i).padStart(2, '0')}`, '1.0'));

    const text = formatReleaseDiff(diffReleases(testManifest(), testManifest({ version: '1.0.1' }), { from: { packages: [] }, to: { packages: many } }), formatBytes);

    expect(text.filter((l) => l.startsWith('  + deb '))).toHaveLength(40);
    expect(text).toContain('    … 5 more (imagebuild diff --json lists all)');
  });
});
