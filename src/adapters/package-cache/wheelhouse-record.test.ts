import { describe, expect, it } from 'vitest';
import { manylinuxPlatforms, parseWheelName, renderWheelhouseLock, wheelhouseInstallArgs, wheelhouseKey, type WheelhouseRequest } from './wheelhouse-record.js';

const REQUEST: WheelhouseRequest = {
  requirements: ['torch==2.13.0+cu130', 'vllm==0.29.0'],
  noDeps: ['nvidia-nccl-cu13==2.31.2'],
  indexUrl: 'https://pypi.org/simple',
  extraIndexUrls: ['https://download.pytorch.org/whl/cu130'],
  target: { pythonVersion: '3.12', implementation: 'cp', abi: 'cp312', platforms: ['manylinux_2_39_x86_64'] },
};

describe('wheelhouseKey', () => {
  it('is the same for the same set however it is written: order, repeats, blanks, a trailing slash', () => {
    const reordered = { ...REQUEST, requirements: [' vllm==0.29.0', 'torch==2.13.0+cu130', 'vllm==0.29.0'], indexUrl: 'https://pypi.org/simple/' };

    expect(wheelhouseKey(reordered)).toBe(wheelhouseKey(REQUEST));
    expect(wheelhouseKey(REQUEST)).toMatch(/^[0-9a-f]{64}$/);
  });

  it('changes with anything that changes the wheels: a pin, a --no-deps pin, an index, the target', () => {
    const keys = [
      REQUEST,
      { ...REQUEST, requirements: ['torch==2.13.0+cu130', 'vllm==0.29.1'] },
      { ...REQUEST, noDeps: [] },
      { ...REQUEST, requirements: [...REQUEST.requirements, 'nvidia-nccl-cu13==2.31.2'], noDeps: [] },
      { ...REQUEST, extraIndexUrls: ['https://download.pytorch.org/whl/cu128'] },
      { ...REQUEST, target: { ...REQUEST.target, pythonVersion: '3.11', abi: 'cp311' } },
      { ...REQUEST, target: { ...REQUEST.target, platforms: ['manylinux_2_35_x86_64'] } },
    ].map(wheelhouseKey);

    expect(new Set(keys).size).toBe(keys.length);
  });
});

describe('manylinuxPlatforms', () => {
  it('lists a glibc\'s manylinux tags best first, with the legacy aliases where they belong', () => {
    const tags = manylinuxPlatforms('2.39', 'x86_64');

    expect(tags.slice(0, 2)).toEqual(['manylinux_2_39_x86_64', 'manylinux_2_38_x86_64']);
    expect(tags.slice(tags.indexOf('manylinux_2_17_x86_64'), tags.indexOf('manylinux_2_17_x86_64') + 2)).toEqual(['manylinux_2_17_x86_64', 'manylinux2014_x86_64']);
    expect(tags.at(-1)).toBe('manylinux1_x86_64');
    expect(tags).toContain('manylinux2010_x86_64');
    expect(() => manylinuxPlatforms('musl-1.2', 'x86_64')).toThrow(RangeError);
  });
});

describe('renderWheelhouseLock', () => {
  it('pins each wheel by its normalised name, version and SHA-256, sorted by name', () => {
    const lock = renderWheelhouseLock('k'.repeat(64), [
      { name: 'vllm-0.29.0-py3-none-any.whl', sha256: 'b'.repeat(64), bytes: 1 },
      { name: 'Nvidia_NCCL_cu13-2.29.7-py3-none-manylinux_2_28_x86_64.whl', sha256: 'a'.repeat(64), bytes: 1 },
      { name: 'torch-2.13.0+cu130-1-cp312-cp312-manylinux_2_28_x86_64.whl', sha256: 'c'.repeat(64), bytes: 1 },
    ]);

    expect(lock.split('\n').slice(1)).toEqual([
      `nvidia-nccl-cu13==2.29.7 --hash=sha256:${'a'.repeat(64)}`,
      `torch==2.13.0+cu130 --hash=sha256:${'c'.repeat(64)}`,
      `vllm==0.29.0 --hash=sha256:${'b'.repeat(64)}`,
      '',
    ]);
    expect(() => parseWheelName('torch-2.13.0.tar.gz')).toThrow(/not a wheel file name/);
  });
});

describe('wheelhouseInstallArgs', () => {
  it('installs with no index and every hash checked; a --no-deps install only when there are such pins', () => {
    expect(wheelhouseInstallArgs('/mnt/wheelhouse', { noDeps: [] })).toEqual([
      ['install', '--no-index', '--find-links', '/mnt/wheelhouse/wheels', '--require-hashes', '-r', '/mnt/wheelhouse/requirements.lock'],
    ]);
  });
});
