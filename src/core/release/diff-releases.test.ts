import { describe, expect, it } from 'vitest';
import { diffReleases, formatReleaseDiff } from './diff-releases.js';
import { testManifest } from '../../../test/helpers/test-manifest.js';
import { formatBytes } from './transfer-rate.js';

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
