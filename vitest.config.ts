import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

// The real build (test/real-build.test.ts: two image builds under TCG, about 35 min on 2 cores) is the longest file
// by far, and its QEMU keeps one core busy while the build's own host processes (Packer, Ansible with Mitogen) need
// little: it starts first, on a worker of its own, and every other file runs on the second worker beside it.
// Vitest's default on 2 cores is one worker, which runs the two in sequence.
const LONG_FIRST = /(^|\/)test\/real-build\.test\.ts$/;

class LongestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    return [...sorted.filter((f) => LONG_FIRST.test(f.moduleId)), ...sorted.filter((f) => !LONG_FIRST.test(f.moduleId))];
  }
}

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    maxWorkers: Math.max(2, availableParallelism() - 1),
    sequence: { sequencer: LongestFirst },
  },
});
