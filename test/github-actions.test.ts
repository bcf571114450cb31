import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUILT_CLI, PROJECT_ROOT } from './helpers/project-root.js';
import { smallDemoSpec } from './helpers/spec-builders.js';
import { makeTempDir } from './helpers/temp-dir.js';
import { FAKE_BIN, FAKE_BUILD_TOOLS } from './helpers/fake-tools.js';
import { requireTools } from './helpers/require-tools.js';

// `imagebuild build` as a GitHub Actions step: the built CLI in a child process with
// GITHUB_ACTIONS=true and a temporary $GITHUB_STEP_SUMMARY, over the fake packer of test/fixtures/bin.
const hasBuildTools = requireTools('test/github-actions.test.ts', ...FAKE_BUILD_TOOLS);

describe.skipIf(!hasBuildTools)('build under GitHub Actions', () => {
  let work: { dir: string; cleanup: () => Promise<void> };

  beforeAll(async () => {
    work = await makeTempDir('imagebuild-gha-');
    await writeFile(join(work.dir, 'box.yaml'), smallDemoSpec());
    // The guest measures, the host judges: a root filesystem below the spec's 1 GiB fails the base gate.
    const gate = JSON.parse(readFileSync(join(PROJECT_ROOT, 'test/fixtures/packer-replay/no-gpu/base.gate.json'), 'utf8')) as { checks: { check: string; value?: unknown }[] };
    gate.checks = gate.checks.map((c) => (c.check === 'root_fs_gib' ? { ...c, value: 0.5 } : c));
    await writeFile(join(work.dir, 'small-root-gate.json'), JSON.stringify(gate));
  });
  afterAll(() => work.cleanup());

  async function build(version: string, summary: string, extraEnv: Record<string, string> = {}) {
    return execa('node', [BUILT_CLI, 'build', version, '--spec', 'box.yaml', '--host-profile', 'cpu', '--no-verify'], {
      cwd: work.dir,
      reject: false,
      stdin: 'ignore',
      env: { PATH: `${FAKE_BIN}:${process.env.PATH}`, GITHUB_ACTIONS: 'true', GITHUB_STEP_SUMMARY: summary, ...extraEnv },
      extendEnv: false,
    });
  }

  it('prints a group per step and per layer, annotations for warnings, and appends a summary table', async () => {
    const summary = join(work.dir, 'summary-1.md');
    await writeFile(summary, '# earlier step\n');

    const result = await build('1.0.0', summary);

    expect(result.exitCode).toBe(0);
    const lines = result.stdout.split('\n');
    const groups = lines.filter((l) => l.startsWith('::group::'));
    expect(groups.map((g) => g.replace(/^::group::/, '').split(/[: ]/)[0])).toEqual(['Preflight', 'Prepare', 'Start', 'Fill', 'base', 'driver', 'runtime', 'frameworks', 'validation', 'Seal', 'Checksum', 'Write']);
    expect(lines.filter((l) => l === '::endgroup::')).toHaveLength(groups.length);
    // Groups never nest: each opens after the previous one closed.
    const markers = lines.filter((l) => l.startsWith('::group::') || l === '::endgroup::');
    expect(markers.every((l, i) => l.startsWith('::group::') === (i % 2 === 0))).toBe(true);
    expect(lines.filter((l) => l.startsWith('::warning title=imagebuild%3A compatibility,file=box.yaml::box.yaml: '))).toEqual([expect.stringContaining('hardware.gpu.count: 4x NVIDIA GeForce RTX 5090 have no PCIe peer-to-peer')]);
    expect(lines.some((l) => /^::warning title=imagebuild::base: GPU checks skipped/.test(l))).toBe(false); // base has no GPU checks
    expect(lines.some((l) => /^::warning title=imagebuild::driver: GPU checks skipped \(.*gpu_count.*\) — this image is not GPU-validated$/.test(l))).toBe(true);

    const text = readFileSync(summary, 'utf8');
    expect(text.startsWith('# earlier step\n## ✅ vault-cube-demo-box v1.0.0: built in ')).toBe(true);
    const rows = text.split('\n').filter((l) => /^\| (base|driver|runtime|frameworks|validation) \|/.test(l));
    expect(rows.map((r) => r.split(' | ')[1])).toEqual(['🔨 built', '🔨 built', '🔨 built', '🔨 built', '🔨 built']);
    expect(rows[0]).toMatch(/\| ✅ base gate passed: 10 passed \| system_running running \(== running\); ssh_listening true/);
    expect(rows[0]).toMatch(/root_fs_gib 252 \(>= 1\)/);
    expect(text).toMatch(/\| SHA-256 \| `[0-9a-f]{64}` \|/);
    expect(text).toContain('| GPU-validated | **no**');
    expect(text).toMatch(/Artifact: `.*\/output\/vault-cube-demo-box\/v1\.0\.0\/vault-cube-demo-box-v1\.0\.0\.qcow2`/);
  });

  it('summarises an identical rebuild as a no-op with every layer reused', async () => {
    const summary = join(work.dir, 'summary-2.md');

    const result = await build('1.0.0', summary);

    const text = readFileSync(summary, 'utf8');
    expect(result.exitCode).toBe(0);
    expect(text).toMatch(/^## ✅ vault-cube-demo-box v1\.0\.0: already built from identical inputs \(no-op, /);
    expect(text.split('\n').filter((l) => l.includes('♻️ reused'))).toHaveLength(5);
  });

  it('annotates a failed gate as an error, closes its group, and marks the layer failed in the summary', async () => {
    const summary = join(work.dir, 'summary-3.md');

    const result = await build('1.1.0', summary, { FAKE_PACKER_GATE_OVERRIDE: `base:${join(work.dir, 'small-root-gate.json')}`, IMAGEBUILD_CACHE_DIR: join(work.dir, 'other-cache') });

    expect(result.exitCode).toBe(1);
    const lines = result.stdout.split('\n');
    const error = lines.find((l) => l.startsWith('::error '));
    expect(error).toMatch(/^::error title=imagebuild%3A layer base failed::base gate failed: root_fs_gib measured 0\.5, expected >= 1/);
    expect(lines.filter((l) => l.startsWith('::group::')).length).toBe(lines.filter((l) => l === '::endgroup::').length);
    expect(lines.indexOf(error!)).toBeGreaterThan(lines.lastIndexOf('::endgroup::'));
    const text = readFileSync(summary, 'utf8');
    expect(text).toMatch(/^## ❌ vault-cube-demo-box v1\.1\.0: build failed after /);
    expect(text).toMatch(/\n\| base \| ❌ failed \| \d+s \| ❌ base gate failed: root_fs_gib measured 0\.5/);
    expect(text).not.toContain('🔨 built');
  });

  it('outside GitHub Actions, prints plain lines and the failure once: a pointer on the ✖ line, the error as the last line', async () => {
    const result = await build('1.2.0', join(work.dir, 'unused-summary.md'), {
      GITHUB_ACTIONS: 'false',
      FAKE_PACKER_GATE_OVERRIDE: `base:${join(work.dir, 'small-root-gate.json')}`,
      IMAGEBUILD_CACHE_DIR: join(work.dir, 'plain-cache'),
    });

    const everything = `${result.stdout}\n${result.stderr}`;
    expect(result.exitCode).toBe(1);
    expect(everything.match(/root_fs_gib measured 0\.5/g)).toHaveLength(1);
    expect(everything).toMatch(/^✖ \[\d\d:\d\d:\d\d\] base: .*\[FAILED: see below\]$/m);
    expect(result.stderr.trimEnd().split('\n').at(-1)).toMatch(/^error: base gate failed: root_fs_gib measured 0\.5, expected >= 1/);
    expect(everything).not.toContain('::group::');
  });
});
