import { rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { readImageInfo } from '../../src/adapters/qemu-img/qemu-img.js';
import { createBenchProject, IMAGE_NAME, readIoCounters, runBuild, versionDir, VIRTUAL_DISK_GIB } from '../lib/bench-project.js';
import { formatRatio, goalStatus, type BenchSettings, type Figure, type FigureResult, type FigureRow } from '../lib/figure.js';
import { bytesHashed, parseImageReads, type ImageReads } from '../lib/image-reads.js';
import { commandPath, formatBytes, formatSeconds, median, progress, runCommand, type CommandRun } from '../lib/measure.js';

const GOAL_SECONDS = 2;

function describeReads(reads: ImageReads | undefined): string {
  if (!reads) return 'not traced (strace not found)';
  if (reads.size === 0) return 'no process read any qcow2 file';
  return [...reads].map(([name, bytes]) => `${name} read ${formatBytes(bytes)} of qcow2 files`).join(', ');
}

function expectOutput(run: CommandRun, text: string, what: string): void {
  if (!`${run.stdout}\n${run.stderr}`.includes(text)) throw new Error(`${what}: expected "${text}" in the CLI's output, got:\n${run.stdout}\n${run.stderr}`);
}

async function measure(settings: BenchSettings): Promise<FigureResult> {
  const { reps, sizeGiB } = settings;
  const project = await createBenchProject(join(settings.workDir, 'no-change'), [], VIRTUAL_DISK_GIB);
  const dataMiB = Math.round(sizeGiB * 1024);
  progress(`no-change-rebuild: cold build of an image with ${sizeGiB} GiB of data (fake packer, real qemu-img, real hashing; not timed)`);
  const cold = await runBuild(project, '1.0.0', { baseDataMiB: dataMiB });
  const artifact = join(versionDir(project, '1.0.0'), `${IMAGE_NAME}-v1.0.0.qcow2`);
  const artifactBytes = (await stat(artifact)).size;
  const info = await readImageInfo(artifact, { chain: false });

  const noop: number[] = [];
  const relink: number[] = [];
  const rehash: number[] = [];
  const rchar: { noop: number[]; relink: number[] } = { noop: [], relink: [] };
  const io = join(settings.workDir, 'no-change-io.txt');
  // Warm-up: the first no-op run pays for cold node and tool start-up, like the first of any command.
  await runBuild(project, '1.0.0');
  for (let rep = 0; rep < reps; rep += 1) {
    progress(`no-change-rebuild: rep ${rep + 1}/${reps}`);
    const same = await runBuild(project, '1.0.0', { ioFile: io });
    expectOutput(same, 'already built from identical inputs', 'same version');
    noop.push(same.seconds);
    rchar.noop.push((await readIoCounters(io)).rchar ?? NaN);

    const next = await runBuild(project, `1.0.${rep + 1}`, { ioFile: io });
    expectOutput(next, 'Reused the identical image of v1.0.', 'new version');
    relink.push(next.seconds);
    rchar.relink.push((await readIoCounters(io)).rchar ?? NaN);

    rehash.push((await runCommand('sha256sum', [artifact])).seconds);
  }

  // One traced run of each, untimed: which process read which image bytes.
  let sameReads: ImageReads | undefined;
  let nextReads: ImageReads | undefined;
  if (await commandPath('strace')) {
    progress('no-change-rebuild: one traced run of each (strace, untimed)');
    const trace = join(settings.workDir, 'no-change.strace');
    await runBuild(project, '1.0.0', { straceFile: trace });
    sameReads = await parseImageReads(trace);
    await runBuild(project, `1.0.${reps + 1}`, { straceFile: trace });
    nextReads = await parseImageReads(trace);
  }

  await rm(project, { recursive: true, force: true });
  const rehashS = median(rehash);
  const row = (label: string, times: number[], reads: ImageReads | undefined): FigureRow => {
    const value = median(times);
    const hashed = reads ? bytesHashed(reads) : undefined;
    return {
      figure: label,
      measured: `${formatSeconds(value)}; ${hashed === undefined ? 're-hashed bytes not traced' : `${formatBytes(hashed)} re-hashed`}`,
      baseline: `sha256sum of the image: ${formatSeconds(rehashS)}`,
      ratio: formatRatio(value / rehashS),
      goal: `≤ ${GOAL_SECONDS} s, 0 B re-hashed`,
      status: goalStatus(value <= GOAL_SECONDS && hashed === 0),
    };
  };
  return {
    rows: [
      row('No-change rebuild: same version again', noop, sameReads),
      row('No-change rebuild: new version, layers unchanged', relink, nextReads),
    ],
    notes: [
      `No-change rebuild: \`imagebuild build\` (built CLI, fake packer first on PATH) on a cache holding all five layers of an image with ${formatBytes(artifactBytes)} of data in a ${formatBytes(info.virtualSize)} virtual disk (cold build: ${formatSeconds(cold.seconds)}, not part of the figure). "Same version again" is the second \`build v1.0.0\` (the no-op path); "new version" builds v1.0.N from the same inputs (every layer reused, the earlier release's image cloned: a reflink, else a kernel copy, never a hard link). Median of ${reps} after one warm-up run. The baseline is what re-hashing the image would cost: \`sha256sum\` of it, warm, in the same rounds; the ratio is build time / that.`,
      `Re-hashed bytes come from one extra \`strace -f -y\` run of each (untimed): bytes read from *.qcow2 files by any process but qemu-img (whose reads are header and chain metadata). Same version: ${describeReads(sameReads)}. New version: ${describeReads(nextReads)}.`,
      `Whole process tree's rchar (/proc/<pid>/io, all bytes read through read(2), incl. node's own modules), median: same version ${formatBytes(median(rchar.noop))}, new version ${formatBytes(median(rchar.relink))} — against a ${formatBytes(artifactBytes)} image.`,
    ],
  };
}

export const noChangeRebuild: Figure = {
  name: 'no-change-rebuild',
  title: 'No-change rebuild of an image of realistic size',
  run: measure,
};
