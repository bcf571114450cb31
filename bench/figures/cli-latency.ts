import { join } from 'node:path';
import { cliPath, installedPackage, PROJECT_ROOT, recordedAnsibleDir } from '../lib/bench-project.js';
import { formatRatio, goalStatus, type Figure, type FigureResult, type FigureRow } from '../lib/figure.js';
import { commandPath, formatSeconds, median, pairedRatio, progress, runCommand } from '../lib/measure.js';

const GOAL = 1.5;
const TRACE_PACKAGES = join(PROJECT_ROOT, 'bench/fixtures/trace-packages.mjs');

type Probe = { readonly label: string; readonly command: string; readonly args: readonly string[]; readonly goal: boolean; readonly env?: NodeJS.ProcessEnv };

/** The two commands with a goal, and what their start-up is made of (context rows, no goal). */
function probes(ansible: string | undefined, fastAnsibleEnv: NodeJS.ProcessEnv | undefined): Probe[] {
  const cli = cliPath();
  const importOf = (pkg: string): Probe => ({ label: `  import('${pkg}') alone`, command: 'node', args: ['--input-type=module', '-e', `await import('${pkg}')`], goal: false });
  return [
    { label: 'CLI latency: plan v1.1.0', command: 'node', args: [cli, 'plan', 'v1.1.0'], goal: true },
    { label: 'CLI latency: validate', command: 'node', args: [cli, 'validate'], goal: true },
    { label: '  validate, unbundled (tsc output: dist/cli/bin.js)', command: 'node', args: [join(installedPackage(), 'dist/cli/bin.js'), 'validate'], goal: false },
    { label: '  imagebuild --version (start-up path only)', command: 'node', args: [cli, '--version'], goal: false },
    importOf('zod'),
    importOf('yaml'),
    importOf('execa'),
    ...(ansible ? [{ label: '  ansible --version (plan keys layers by it)', command: ansible, args: ['--version'], goal: false }] : []),
    ...(fastAnsibleEnv ? [{ label: '  plan v1.1.0 with an instant ansible --version', command: 'node', args: [cli, 'plan', 'v1.1.0'], goal: false, env: fastAnsibleEnv }] : []),
  ];
}

/** Which node_modules packages a CLI command resolves, most modules first: "zod (226), yaml (1)". */
async function packagesLoaded(args: readonly string[]): Promise<string> {
  const run = await runCommand('node', ['--import', TRACE_PACKAGES, ...args], { cwd: installedPackage(), check: false });
  const counts = new Map<string, number>();
  for (const line of run.stderr.split('\n')) {
    const name = /^bench-package (.+)$/.exec(line)?.[1];
    if (name) counts.set(name, (counts.get(name) ?? 0) + 1);
  }
  return [...counts].sort((a, b) => b[1] - a[1]).map(([name, n]) => `${name} (${n})`).join(', ') || 'none';
}

async function measure(reps: number, workDir: string): Promise<FigureResult> {
  const ansible = await commandPath('ansible');
  const recorded = await recordedAnsibleDir(join(workDir, 'recorded-ansible'));
  const list = probes(ansible, recorded ? { ...process.env, PATH: `${recorded}:${process.env.PATH ?? ''}` } : undefined);
  const baseline: Probe = { label: 'node -e 0', command: 'node', args: ['-e', '0'], goal: false };
  const all = [baseline, ...list];
  const times = new Map<Probe, number[]>(all.map((p) => [p, []]));
  const run = (p: Probe) => runCommand(p.command, p.args, { cwd: installedPackage(), ...(p.env ? { env: p.env } : {}) });

  // One untimed round warms the page cache and node's compile cache for every command alike.
  for (const p of all) await run(p);
  for (let rep = 0; rep < reps; rep += 1) {
    progress(`cli-latency: rep ${rep + 1}/${reps}`);
    // A different order each round, so drift on a shared machine does not favour one command.
    for (let i = 0; i < all.length; i += 1) {
      const p = all[(i + rep) % all.length]!;
      times.get(p)!.push((await run(p)).seconds);
    }
  }

  const base = median(times.get(baseline)!);
  const rows: FigureRow[] = list.map((p) => {
    const value = median(times.get(p)!);
    const ratio = pairedRatio(times.get(p)!, times.get(baseline)!);
    return {
      figure: p.label,
      measured: formatSeconds(value),
      baseline: `node -e 0: ${formatSeconds(base)}`,
      ratio: formatRatio(ratio),
      goal: p.goal ? `≤ ${GOAL.toFixed(1)}×` : '—',
      status: p.goal ? goalStatus(ratio <= GOAL) : { kind: 'info' },
    };
  });
  const notes = [
    `CLI latency: wall time of the built CLI (bin/imagebuild.js → dist/bundle/, the esbuild bundle npm run build makes, in the bench's snapshot of the package) from spawn to exit, run in the package's root (empty layer cache), median of ${reps} after one warm-up round; the baseline is \`node -e 0\` in the same rounds; ratio = command time / node -e 0 time per round, median over rounds. Rows marked "—" are context, not goals.`,
    `validate loads from node_modules (outside the bundle): ${await packagesLoaded([cliPath(), 'validate'])}.`,
    `plan v1.1.0 loads from node_modules (outside the bundle): ${await packagesLoaded([cliPath(), 'plan', 'v1.1.0'])}; and it runs \`packer version\`, \`ansible --version\` and \`qemu-img --version\` to key the layers.`,
  ];
  return { rows, notes };
}

export const cliLatency: Figure = {
  name: 'cli-latency',
  title: 'CLI latency (plan, validate) vs node -e 0',
  run: (settings) => measure(settings.reps, settings.workDir),
};
