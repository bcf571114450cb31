import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseSpec } from '../spec/parse-spec.js';
import { evaluateGate } from './evaluate-gate.js';
import { parseGuestGateReport } from './gate-report.js';

const root = join(import.meta.dirname, '../../..');
const spec = parseSpec(readFileSync(join(root, 'manifests/vault-cube-demo-box.yaml'), 'utf8'), 'demo.yaml').spec;
const report = parseGuestGateReport(JSON.parse(readFileSync(join(root, 'test/fixtures/packer-replay/no-gpu/base.gate.json'), 'utf8')), 'base.gate.json');

describe('evaluateGate for a verification boot', () => {
  it('demands the idempotence run report while building a layer', () => {
    const verdict = evaluateGate({ layer: 'base', spec, report });

    expect(verdict.status).toBe('failed');
    expect(verdict.checks.find((c) => c.check === 'ansible_idempotent')?.status).toBe('error');
  });

  it('judges only the in-image checks when the finished image is verified', () => {
    const verdict = evaluateGate({ layer: 'base', spec, report, imageChecksOnly: true });

    expect(verdict.status).toBe('passed');
    expect(verdict.checks.map((c) => c.check)).not.toContain('ansible_idempotent');
  });
});
