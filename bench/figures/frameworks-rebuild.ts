import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { benchSpecText, createBenchProject, readPackerLog, runBuild } from '../lib/bench-project.js';
import { goalStatus, type BenchSettings, type Figure, type FigureResult } from '../lib/figure.js';
import { formatSeconds, progress } from '../lib/measure.js';

const EXPECTED = ['frameworks', 'validation'];

async function measure(settings: BenchSettings): Promise<FigureResult> {
  const project = await createBenchProject(join(settings.workDir, 'frameworks'));
  progress('frameworks-rebuild: cold build, then a build after a frameworks change');
  const coldLog = join(project, 'packer-cold.txt');
  await runBuild(project, '1.0.0', { packerLog: coldLog });
  await writeFile(join(project, 'box.yaml'), benchSpecText([[['layers', 'frameworks', 'gate', 'matmul_size'], 2048]]));
  const log = join(project, 'packer-change.txt');
  const rebuild = await runBuild(project, '1.1.0', { packerLog: log });

  const layersOf = (units: string[]) => units.filter((u) => u !== 'seal');
  const cold = (await readPackerLog(coldLog)).map((r) => r.unit);
  const changed = (await readPackerLog(log)).map((r) => r.unit);
  const built = layersOf(changed);
  await rm(project, { recursive: true, force: true });
  const describe = (units: string[]) => `${layersOf(units).join(', ') || 'none'}${units.includes('seal') ? ' (+ seal)' : ''}`;
  return {
    rows: [
      {
        figure: 'Rebuild after a frameworks change: Packer runs',
        measured: describe(changed),
        baseline: `cold: ${describe(cold)}`,
        ratio: `${built.length} of ${layersOf(cold).length} layers`,
        goal: 'layers 4–5 only',
        status: goalStatus(JSON.stringify(built) === JSON.stringify(EXPECTED)),
      },
    ],
    notes: [
      `Rebuild after a frameworks change: after a cold build of v1.0.0, layers.frameworks.gate.matmul_size changes and v1.1.0 is built (${formatSeconds(rebuild.seconds)}); the bench's packer wrapper logs every invocation. A count, not a time: one run. The seal step runs Packer too whenever any layer changed; it is not a layer.`,
    ],
  };
}

export const frameworksRebuild: Figure = {
  name: 'frameworks-rebuild',
  title: 'Packer invocations after a frameworks change',
  run: measure,
};
