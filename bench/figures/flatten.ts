import { mkdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { flattenImage, readImageInfo } from '../../src/adapters/qemu-img/qemu-img.js';
import { VIRTUAL_DISK_GIB } from '../lib/bench-project.js';
import { formatRatio, goalStatus, type BenchSettings, type Figure, type FigureResult } from '../lib/figure.js';
import { flushWrites, formatBytes, formatRate, formatSeconds, median, pairedRatio, progress, runCommand, timeCall } from '../lib/measure.js';

const GOAL = 0.9;
const WRITE_MIB = 256;

/** qemu-io commands writing `mib` MiB of `pattern` from `startMiB`, in requests of WRITE_MIB. */
function writes(startMiB: number, mib: number, pattern: number): string[] {
  const args: string[] = [];
  for (let done = 0; done < mib; done += WRITE_MIB) {
    args.push('-c', `write -P 0x${pattern.toString(16)} ${startMiB + done}M ${Math.min(WRITE_MIB, mib - done)}M`);
  }
  return args;
}

/**
 * A three-image chain like a build's: a base of the bench's virtual disk size holding half the data, and two overlays each
 * adding a quarter, the top one also overwriting an eighth of the base. Returns the top image.
 */
async function createChain(dir: string, sizeGiB: number): Promise<string> {
  const total = Math.round(sizeGiB * 1024);
  const [base, mid, top] = ['base.qcow2', 'mid.qcow2', 'top.qcow2'].map((n) => join(dir, n)) as [string, string, string];
  await mkdir(dir, { recursive: true });
  await runCommand('qemu-img', ['create', '-q', '-f', 'qcow2', base, `${VIRTUAL_DISK_GIB}G`]);
  await runCommand('qemu-io', ['-f', 'qcow2', ...writes(0, total / 2, 0x11), base]);
  await runCommand('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', 'qcow2', '-b', base, mid]);
  await runCommand('qemu-io', ['-f', 'qcow2', ...writes(total / 2, total / 4, 0x22), mid]);
  await runCommand('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', 'qcow2', '-b', mid, top]);
  await runCommand('qemu-io', ['-f', 'qcow2', ...writes((total * 3) / 4, total / 4, 0x33), ...writes(0, Math.max(1, Math.round(total / 8)), 0x44), top]);
  return top;
}

async function measure(settings: BenchSettings): Promise<FigureResult> {
  const dir = join(settings.workDir, 'flatten');
  progress(`flatten: writing a 3-image qcow2 chain with ${settings.sizeGiB} GiB of data`);
  const top = await createChain(dir, settings.sizeGiB);
  const oursOut = join(dir, 'ours.qcow2');
  const bareOut = join(dir, 'bare.qcow2');
  let bytes = 0;
  // Each run starts from the same state: no earlier output on disk, nothing dirty, its deletion (and the
  // discards of this ext4 mount) done before the clock starts.
  const settle = async (path: string) => {
    await rm(path, { force: true });
    await flushWrites();
  };
  const ours = async () => {
    await settle(oursOut);
    // As finalisation calls it: progress parsed from `qemu-img convert -p`, written beside and renamed.
    const { seconds, value } = await timeCall(() => flattenImage(top, oursOut, { compress: false, onProgress: () => undefined }));
    bytes = (await stat(value.path)).size;
    await flushWrites();
    const info = await readImageInfo(oursOut, { chain: false });
    if (info.backingFile !== null) throw new Error(`${oursOut} still has a backing file`);
    await settle(oursOut);
    return seconds;
  };
  const bare = async () => {
    await settle(bareOut);
    const { seconds } = await runCommand('qemu-img', ['convert', '-f', 'qcow2', '-O', 'qcow2', top, bareOut]);
    await settle(bareOut);
    return seconds;
  };

  await ours();
  await bare();
  const oursS: number[] = [];
  const bareS: number[] = [];
  // Twice --reps rounds: a conversion is short and the most exposed to neighbours' writeback.
  const rounds = settings.reps * 2;
  for (let rep = 0; rep < rounds; rep += 1) {
    progress(`flatten: rep ${rep + 1}/${rounds}`);
    if (rep % 2 === 0) {
      oursS.push(await ours());
      bareS.push(await bare());
    } else {
      bareS.push(await bare());
      oursS.push(await ours());
    }
  }
  await rm(dir, { recursive: true, force: true });
  const a = median(oursS);
  const b = median(bareS);
  const ratio = pairedRatio(bareS, oursS);
  return {
    rows: [
      {
        figure: 'Flatten: finalisation vs qemu-img convert',
        measured: `${formatSeconds(a)} (${formatRate(bytes, a)})`,
        baseline: `qemu-img convert: ${formatSeconds(b)}`,
        ratio: formatRatio(ratio),
        goal: `≈ 1.0× (≥ ${GOAL.toFixed(1)}×)`,
        status: goalStatus(ratio >= GOAL),
      },
    ],
    notes: [
      `Flatten: \`flattenImage\` (src/adapters/qemu-img/qemu-img.ts, as the build's finalisation calls it: \`qemu-img convert -p\` with progress parsing, to a .partial file renamed into place) vs a bare \`qemu-img convert -f qcow2 -O qcow2\` of the same 3-image chain (${formatBytes(bytes)} flattened, ${VIRTUAL_DISK_GIB} GiB virtual; no compression, as the demo box's output.compress: false). each run starts with no earlier output on disk and nothing dirty (its output is removed and \`sync\` run after it, untimed), so one run's writeback does not land in the next; alternating order, median of ${rounds} (twice --reps: the figure most exposed to neighbours' writeback); ratio = bare time / ours per round, median over rounds.`,
    ],
  };
}

export const flatten: Figure = {
  name: 'flatten',
  title: 'Flatten (finalisation) vs a bare qemu-img convert',
  run: measure,
};
