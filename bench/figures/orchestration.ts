import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { createBenchProject, readPackerLog, recordedAnsibleDir, runBuild } from '../lib/bench-project.js';
import { goalStatus, type BenchSettings, type Figure, type FigureResult, type FigureRow } from '../lib/figure.js';
import { formatSeconds, median, progress } from '../lib/measure.js';

const GOAL_SECONDS = 1;

type ColdBuild = { total: number; packer: number; units: string[] };

/** One cold build in a fresh project and cache; returns its wall time and the time inside Packer. */
async function coldBuild(dir: string, pathPrefix: string | undefined): Promise<ColdBuild> {
  const project = await createBenchProject(dir);
  const log = join(project, 'packer-runs.txt');
  const run = await runBuild(project, '1.0.0', { packerLog: log, ...(pathPrefix ? { pathPrefix } : {}) });
  const runs = await readPackerLog(log);
  await rm(project, { recursive: true, force: true });
  return { total: run.seconds, packer: runs.reduce((sum, r) => sum + r.seconds, 0), units: runs.map((r) => r.unit) };
}

async function measure(settings: BenchSettings): Promise<FigureResult> {
  const { reps } = settings;
  const recorded = await recordedAnsibleDir(join(settings.workDir, 'recorded-ansible'));
  const plain: ColdBuild[] = [];
  const instant: ColdBuild[] = [];
  // One untimed cold build first: the first build on a machine pays for cold caches (node, python, qemu-img).
  progress('orchestration: warm-up cold build');
  await coldBuild(join(settings.workDir, 'orchestration-warm-up'), undefined);
  for (let rep = 0; rep < reps; rep += 1) {
    progress(`orchestration: rep ${rep + 1}/${reps}`);
    plain.push(await coldBuild(join(settings.workDir, `orchestration-${rep}`), undefined));
    if (recorded) instant.push(await coldBuild(join(settings.workDir, `orchestration-instant-${rep}`), recorded));
  }
  const overhead = (builds: ColdBuild[]) => median(builds.map((b) => b.total - b.packer));
  const value = overhead(plain);
  const rows: FigureRow[] = [
    {
      figure: 'Orchestration overhead: cold 5-layer build',
      measured: formatSeconds(value),
      baseline: `Packer: ${formatSeconds(median(plain.map((b) => b.packer)))} of ${formatSeconds(median(plain.map((b) => b.total)))}`,
      ratio: '—',
      goal: `< ${GOAL_SECONDS} s`,
      status: goalStatus(value < GOAL_SECONDS),
    },
  ];
  if (instant.length > 0) {
    rows.push({
      figure: '  the same with an instant ansible --version',
      measured: formatSeconds(overhead(instant)),
      baseline: `Packer: ${formatSeconds(median(instant.map((b) => b.packer)))} of ${formatSeconds(median(instant.map((b) => b.total)))}`,
      ratio: '—',
      goal: '—',
      status: { kind: 'info' },
    });
  }
  const units = plain[0]?.units ?? [];
  return {
    rows,
    notes: [
      `Orchestration overhead: a cold \`imagebuild build\` (fresh project and cache: build key, render, five layers, seal, flatten, checksum, manifest; no verification boot) with the fake packer, whose runs only create and write 64 KiB into each overlay and copy recorded reports. Its wall time minus the time spent inside the ${units.length} Packer invocations (${units.join(', ')}), as the bench wrapper timed them; median of ${reps} after one warm-up build. The context row runs the same builds, interleaved, with a recorded \`ansible --version\` answer first on PATH: what caching the tool versions would save.`,
    ],
  };
}

export const orchestration: Figure = {
  name: 'orchestration',
  title: 'Orchestration overhead of a cold 5-layer build (fake packer)',
  run: measure,
};
