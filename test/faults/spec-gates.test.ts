import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/fault-harness.js';
import { packerRuns } from '../helpers/fake-tools.js';
import { DEMO_SPEC_PATH, mutateManifest, smallDemoSpec } from '../helpers/spec-builders.js';
import { makeTempDir } from '../helpers/temp-dir.js';

// The spec cannot ask for the impossible or the vacuous (issue 17, rule 10): a gate no machine can
// pass (more GPU memory than the model has, a root filesystem the disk cannot hold) or one that
// proves nothing (a 0 s soak, a soak too short for a sample, a 0 % utilisation floor) is refused by
// validate — and so by plan and build, before any layer — in one line naming the field and what is valid.

const CASES: { name: string; spec: () => string; line: RegExp }[] = [
  { name: 'GPU memory above the model’s', spec: () => mutateManifest(DEMO_SPEC_PATH, [[['layers', 'driver', 'gate', 'min_memory_mib'], 48000]]), line: /^error: box\.yaml: layers\.driver\.gate\.min_memory_mib: expects 48000 MiB per GPU, but a NVIDIA GeForce RTX 5090 has 32607 MiB .*; at most 32607$/ },
  { name: 'a root filesystem larger than the disk', spec: () => smallDemoSpec([[['layers', 'base', 'gate', 'min_root_fs_gib'], 8]]), line: /^error: box\.yaml: layers\.base\.gate\.min_root_fs_gib: expects a root filesystem of 8 GiB on a 4 GiB disk \(os\.disk_size_gib\).*; give less than 4, or a larger disk$/ },
  { name: 'a 0 s soak', spec: () => smallDemoSpec([[['layers', 'validation', 'gate', 'soak_duration'], '0s']]), line: /^error: box\.yaml: layers\.validation\.gate\.soak_duration: "0s" is no soak at all, .*; give at least 10s \(2 × sample_interval_s\), e\.g\. "24h"$/ },
  { name: 'a soak shorter than two samples', spec: () => smallDemoSpec([[['layers', 'validation', 'gate', 'soak_duration'], '30s'], [['layers', 'validation', 'gate', 'sample_interval_s'], 60]]), line: /^error: box\.yaml: layers\.validation\.gate\.soak_duration: "30s" takes fewer than 2 samples at sample_interval_s 60, .*; give at least 2m, or a shorter sample_interval_s$/ },
  { name: 'a 0 % utilisation floor', spec: () => smallDemoSpec([[['layers', 'validation', 'gate', 'min_gpu_utilization_pct'], 0]]), line: /^error: box\.yaml: layers\.validation\.gate\.min_gpu_utilization_pct: 0 accepts an idle GPU, so the check proves nothing; give 1-100/ },
];

let work: { dir: string; cleanup: () => Promise<void> };
beforeEach(async () => {
  work = await makeTempDir('imagebuild-fault-spec-gates-');
});
afterEach(async () => {
  await work.cleanup();
});

describe('gates no machine can pass, or that prove nothing', () => {
  it.each(CASES)('$name: validate, plan and build refuse it in one line (exit 2), before any layer', async ({ spec, line }) => {
    await writeFile(join(work.dir, 'box.yaml'), spec());
    const record = join(work.dir, 'packer-runs.txt');

    for (const args of [['validate'], ['plan', 'v1.0.0'], ['build', 'v1.0.0', '--host-profile', 'cpu', '--no-verify']]) {
      const result = await runCli([...args, '--spec', 'box.yaml'], work.dir, { FAKE_PACKER_RECORD: record });

      expect(result.exitCode, `${args[0]}: ${result.stderr}`).toBe(2);
      expect(result.stderr.split('\n').filter((l) => l.startsWith('error:')), args[0]).toEqual([expect.stringMatching(line)]);
    }
    expect(packerRuns(record)).toEqual([]);
  });
});
