// `npm run bench [-- --reps N] [--only NAME[,NAME…]] [--size-gib N] [--record] [--keep]`: measures each
// figure of issue 7 against a baseline in the same run and prints one table. See bench/README.md.
import { rmSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { aptCache } from './figures/apt-cache.js';
import { cliLatency } from './figures/cli-latency.js';
import { flatten } from './figures/flatten.js';
import { frameworksRebuild } from './figures/frameworks-rebuild.js';
import { imageCache } from './figures/image-cache.js';
import { noChangeRebuild } from './figures/no-change-rebuild.js';
import { orchestration } from './figures/orchestration.js';
import { pipWheelhouse } from './figures/pip-wheelhouse.js';
import { s3Transfer } from './figures/s3-transfer.js';
import { sha256 } from './figures/sha256.js';
import { PROJECT_ROOT, snapshotPackage, staleDistWarning } from './lib/bench-project.js';
import type { BenchSettings, Figure, FigureResult } from './lib/figure.js';
import { describeMachine } from './lib/machine.js';
import { formatSeconds, progress } from './lib/measure.js';
import { formatSection, formatTable, recordResults } from './lib/results-file.js';

const FIGURES: readonly Figure[] = [cliLatency, noChangeRebuild, frameworksRebuild, orchestration, sha256, s3Transfer, flatten, aptCache, pipWheelhouse, imageCache];

const USAGE = `Usage: npm run bench -- [--reps N] [--transfer-reps N] [--only NAME[,NAME…]] [--size-gib N] [--record] [--keep]

  --reps N        repetitions per figure, median quoted (default 5)
  --transfer-reps N  repetitions of the S3 figure (default: --reps, at most 3: a round moves the artifact 4 times)
  --only NAMES    run only these figures: ${FIGURES.map((f) => f.name).join(', ')}
  --size-gib N    data in the large-file figures (no-change image, SHA-256, S3, flatten; default 2)
  --record        add this run's section at the top of bench/RESULTS.md
  --keep          keep the run's temporary directory
Run from the project root after \`npm run build\`: the CLI figures measure dist/.`;

function parseOptions(): { reps: number; transferReps: number; only: readonly Figure[]; sizeGiB: number; record: boolean; keep: boolean } {
  const { values } = parseArgs({
    options: {
      reps: { type: 'string', default: '5' },
      'transfer-reps': { type: 'string' },
      only: { type: 'string', multiple: true },
      'size-gib': { type: 'string', default: '2' },
      record: { type: 'boolean', default: false },
      keep: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const reps = Number(values.reps);
  const sizeGiB = Number(values['size-gib']);
  const transferReps = values['transfer-reps'] === undefined ? Math.min(reps, 3) : Number(values['transfer-reps']);
  if (!Number.isInteger(reps) || reps < 1) throw new Error(`--reps: expected a whole number ≥ 1, got ${values.reps}`);
  if (!Number.isInteger(transferReps) || transferReps < 1) throw new Error(`--transfer-reps: expected a whole number ≥ 1, got ${values['transfer-reps']}`);
  if (!(sizeGiB > 0) || sizeGiB > 64) throw new Error(`--size-gib: expected a number in (0, 64], got ${values['size-gib']}`);
  const names = (values.only ?? []).flatMap((v) => v.split(',')).map((v) => v.trim()).filter(Boolean);
  const unknown = names.filter((n) => !FIGURES.some((f) => f.name === n));
  if (unknown.length > 0) throw new Error(`--only: unknown figure ${unknown.join(', ')}; figures: ${FIGURES.map((f) => f.name).join(', ')}`);
  const only = names.length === 0 ? FIGURES : FIGURES.filter((f) => names.includes(f.name));
  return { reps, transferReps, only, sizeGiB, record: values.record, keep: values.keep };
}

async function main(): Promise<number> {
  let options: ReturnType<typeof parseOptions>;
  try {
    options = parseOptions();
  } catch (error) {
    process.stderr.write(`bench: ${(error as Error).message}\n\n${USAGE}\n`);
    return 2;
  }
  if (process.cwd() !== PROJECT_ROOT) process.chdir(PROJECT_ROOT);
  const stale = await staleDistWarning();
  if (stale) process.stderr.write(`bench: warning: ${stale}\n`);

  const workDir = await mkdtemp(join(tmpdir(), 'imagebuild-bench-'));
  const cleanup = () => {
    if (!options.keep) rmSync(workDir, { recursive: true, force: true });
  };
  process.once('SIGINT', () => {
    cleanup();
    process.exit(130);
  });
  // The CLI figures run a copy of the package taken now, so concurrent edits of the checkout cannot change it mid-run.
  await snapshotPackage(join(workDir, 'imagebuild'));
  const settings: BenchSettings = { reps: options.reps, transferReps: options.transferReps, sizeGiB: options.sizeGiB, workDir, cacheDir: join(tmpdir(), 'imagebuild-bench-cache') };
  const started = Date.now();
  const results: FigureResult[] = [];
  let failed = false;
  try {
    for (const figure of options.only) {
      progress(`${figure.name}: ${figure.title}`);
      const figureStarted = Date.now();
      try {
        results.push(await figure.run(settings));
      } catch (error) {
        // A broken figure is reported as such, never as a number; the others still run.
        failed = true;
        process.stderr.write(`bench: ${figure.name} failed: ${(error as Error).stack ?? String(error)}\n`);
        const message = (error as Error).message.split('\n').slice(0, 3).join(' / ');
        results.push({ rows: [{ figure: figure.title, measured: '—', baseline: '—', ratio: '—', goal: '—', status: { kind: 'skipped', reason: `failed: ${message}` } }], notes: [] });
      }
      progress(`${figure.name}: done in ${formatSeconds((Date.now() - figureStarted) / 1000)}`);
    }
  } finally {
    cleanup();
  }

  const machine = await describeMachine();
  const settingsText = `--reps ${options.reps}, --transfer-reps ${options.transferReps}, --size-gib ${options.sizeGiB}${options.only.length < FIGURES.length ? `, --only ${options.only.map((f) => f.name).join(',')}` : ''}; whole run ${formatSeconds((Date.now() - started) / 1000)}${stale ? `; warning: ${stale}` : ''}`;
  process.stdout.write(`\n${formatTable(results.flatMap((r) => r.rows))}\n\n`);
  for (const note of results.flatMap((r) => r.notes)) process.stdout.write(`- ${note}\n`);
  process.stdout.write(`\nMachine: ${Object.entries(machine).map(([k, v]) => `${k} ${v}`).join('; ')}.\nSettings: ${settingsText}.\n`);
  if (options.keep) process.stdout.write(`Kept ${workDir}\n`);
  if (options.record) {
    const path = join(PROJECT_ROOT, 'bench/RESULTS.md');
    await recordResults(path, formatSection(machine, settingsText, results));
    process.stdout.write(`Recorded in ${path}\n`);
  }
  return failed ? 1 : 0;
}

process.exitCode = await main();
