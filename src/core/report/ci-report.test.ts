import { describe, expect, it } from 'vitest';
import { annotation, formatStepSummary, groupStart, measuredText } from './ci-report.js';

describe('workflow commands', () => {
  it('escapes data and properties the way the runner unescapes them', () => {
    expect(annotation('error', '50% done\r\nnext line', { title: 'a: b, c', file: 'specs/box.yaml' })).toBe('::error title=a%3A b%2C c,file=specs/box.yaml::50%25 done%0D%0Anext line');
    expect(annotation('notice', 'plain')).toBe('::notice::plain');
    expect(groupStart('base: build 1a2b\n::endgroup::')).toBe('::group::base: build 1a2b%0A::endgroup::');
  });
});

describe('step summary', () => {
  const gate = {
    layer: 'base' as const,
    status: 'failed' as const,
    checks: [
      { check: 'root_fs_gib', status: 'fail' as const, measured: 0.5, expected: '>= 1', gpu: false },
      { check: 'gpu_count', status: 'skipped' as const, measured: null, expected: '== 4', gpu: true },
    ],
    skipped: ['gpu_count'],
    gpuValidated: false,
    summary: 'base gate failed: root_fs_gib | measured 0.5',
  };

  it('shows failed measurements in bold, counts skipped checks, and keeps pipes out of the table', () => {
    expect(measuredText(gate)).toBe('**fail** root_fs_gib 0.50 (>= 1); 1 skipped');
    const text = formatStepSummary({ image: 'box', version: '1.0.0', status: 'failed', durationS: 75, layers: [{ step: 'base', status: 'failed', durationS: 75, title: 'base', gate }], notices: ['a | b'] });
    expect(text).toContain('## ❌ box v1.0.0: build failed after 1m15s');
    expect(text).toContain('| base | ❌ failed | 1m15s | ❌ base gate failed: root_fs_gib \\| measured 0.5 | **fail** root_fs_gib 0.50 (>= 1); 1 skipped |');
    expect(text).toContain('- a \\| b');
  });
});
