import { sha256File } from '../../src/adapters/fs/sha256.js';
import { formatRatio, goalStatus, type BenchSettings, type Figure, type FigureResult } from '../lib/figure.js';
import { formatBytes, formatRate, formatSeconds, median, pairedRatio, progress, runCommand, timeCall } from '../lib/measure.js';
import { ensureRandomArtifact } from '../lib/random-artifact.js';

const GOAL = 0.9;

async function measure(settings: BenchSettings): Promise<FigureResult> {
  const artifact = await ensureRandomArtifact(settings.cacheDir, settings.sizeGiB);
  const ours = async () => {
    const { seconds, value } = await timeCall(() => sha256File(artifact.path));
    if (value !== artifact.sha256) throw new Error(`sha256File gave ${value}, expected ${artifact.sha256}`);
    return seconds;
  };
  const theirs = async () => {
    const run = await runCommand('sha256sum', [artifact.path]);
    if (!run.stdout.startsWith(artifact.sha256)) throw new Error(`sha256sum gave ${run.stdout.trim()}, expected ${artifact.sha256}`);
    return run.seconds;
  };

  // Both read the file once untimed, so both hash from the page cache.
  await ours();
  await theirs();
  const oursS: number[] = [];
  const theirsS: number[] = [];
  for (let rep = 0; rep < settings.reps; rep += 1) {
    progress(`sha256: rep ${rep + 1}/${settings.reps}`);
    if (rep % 2 === 0) {
      oursS.push(await ours());
      theirsS.push(await theirs());
    } else {
      theirsS.push(await theirs());
      oursS.push(await ours());
    }
  }
  const a = median(oursS);
  const b = median(theirsS);
  const ratio = pairedRatio(theirsS, oursS);
  return {
    rows: [
      {
        figure: `SHA-256 of a ${settings.sizeGiB} GiB artifact`,
        measured: `${formatSeconds(a)} (${formatRate(artifact.bytes, a)})`,
        baseline: `sha256sum: ${formatSeconds(b)} (${formatRate(artifact.bytes, b)})`,
        ratio: formatRatio(ratio),
        goal: `≥ ${GOAL.toFixed(1)}×`,
        status: goalStatus(ratio >= GOAL),
      },
    ],
    notes: [
      `SHA-256: the project's \`sha256File\` (src/adapters/fs/sha256.ts, called in the bench process) vs coreutils \`sha256sum\` (spawned) on the same ${formatBytes(artifact.bytes)} non-sparse random file, both warm (each read it once first), alternating order, median of ${settings.reps}; ratio = sha256sum time / ours per round, median over rounds (above 1: ours is faster).`,
    ],
  };
}

export const sha256: Figure = {
  name: 'sha256',
  title: 'SHA-256 of a multi-GiB artifact vs sha256sum',
  run: measure,
};
