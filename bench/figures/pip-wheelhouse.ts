import { execFileSync } from 'node:child_process';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { serveWheelhouse } from '../../src/adapters/package-cache/wheel-server.js';
import { fillWheelhouse } from '../../src/adapters/package-cache/wheelhouse.js';
import { wheelhouseRequestOf } from '../../src/app/build/wheelhouse-cache.js';
import { frameworksPipSet } from '../../src/core/spec/frameworks-pip.js';
import { parseSpec } from '../../src/core/spec/parse-spec.js';
import { hostWheelhouseTarget } from '../../test/helpers/host-python.js';
import { DEMO_SPEC_PATH, mutateManifest } from '../../test/helpers/spec-builders.js';
import { buildPypiMirror } from '../../test/vendor-mirror/pypi-mirror.js';
import { serveMirror, type ServedMirror } from '../../test/vendor-mirror/serve-mirror.js';
import { formatRatio, goalStatus, skippedRow, type BenchSettings, type Figure, type FigureResult } from '../lib/figure.js';
import { formatSeconds, progress } from '../lib/measure.js';

const FIGURE = 'pip: wheels re-downloaded by a later build (frameworks layer)';
const TOOLS_MISSING = 'needs python3 with pip and venv, and gcc (the NCCL stand-in)';

type Round = { readonly seconds: number; readonly wheelBytes: number; readonly pageBytes: number };

/**
 * What the frameworks layer's pip downloads on a rebuild, with and without the build's wheelhouse: the demo box's
 * version set (torch, vLLM, the spec's NCCL over torch's pin) from the hermetic PyPI stand-in mirror, which counts the
 * bytes it serves. With the wheelhouse: the build's fill on the host (a hit after the first round) and the guest's
 * install from it as the frameworks role runs it (--no-index --require-hashes, over HTTP from the build's server).
 * Without: the role's own installs from the indexes (one resolver run, then the NCCL pin with --no-deps). Each round
 * installs into a fresh venv, as each build VM has one; this host's Python stands in for the guest's.
 */
async function measure(settings: BenchSettings): Promise<FigureResult> {
  const dir = join(settings.workDir, 'pip-wheelhouse');
  await mkdir(dir, { recursive: true });
  progress('pip-wheelhouse: building the hermetic PyPI mirror');
  const pypi = await buildPypiMirror({ dir: join(dir, 'www') });
  const mirror = await serveMirror(pypi.dir);
  try {
    const { pytorchIndexUrl, pypiIndexUrl } = pypi.indexUrls(mirror.hostUrl);
    const specText = mutateManifest(DEMO_SPEC_PATH, [
      [['layers', 'frameworks', 'pytorch', 'index_url'], pytorchIndexUrl],
      [['layers', 'frameworks', 'pip'], { index_url: pypiIndexUrl }],
    ]);
    const set = frameworksPipSet(parseSpec(specText, 'demo.yaml').spec);
    const request = wheelhouseRequestOf(set);
    if ('unsupported' in request) throw new Error(request.unsupported);
    const target = hostWheelhouseTarget();
    const cacheDir = join(dir, 'cache');
    const pipEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir, LANG: 'C.UTF-8', PIP_CONFIG_FILE: '/dev/null', PIP_DISABLE_PIP_VERSION_CHECK: '1', PIP_NO_CACHE_DIR: '1' };
    let roundNo = 0;
    const round = async (via: 'wheelhouse' | 'indexes'): Promise<Round> => {
      roundNo += 1;
      const venv = join(dir, `venv-${roundNo}`);
      await execa('python3', ['-m', 'venv', venv]);
      const pip = async (args: readonly string[], env: Record<string, string> = {}) => {
        const run = await execa(join(venv, 'bin/pip'), args, { env: { ...pipEnv, ...env }, extendEnv: false, reject: false });
        if (run.exitCode !== 0) throw new Error(`pip ${args.join(' ')} (${via}) failed: ${String(run.stderr).trim()}`);
      };
      const before = servedSplit(mirror);
      const started = performance.now();
      if (via === 'wheelhouse') {
        const wheelhouse = await fillWheelhouse({ cacheDir, ...request, target });
        const served = await serveWheelhouse(wheelhouse);
        try {
          const args = ['install', '--no-index', '--find-links', `${served.hostUrl}/wheels/`, '--require-hashes', '--trusted-host', '127.0.0.1'];
          await pip([...args, '-r', `${served.hostUrl}/requirements.lock`]);
          if (wheelhouse.record.noDeps.length > 0) await pip([...args, '--no-deps', '-r', `${served.hostUrl}/no-deps.lock`]);
        } finally {
          await served.close();
        }
      } else {
        const trusted = { PIP_TRUSTED_HOST: '127.0.0.1' };
        await pip(['install', ...set.requirements], { ...trusted, PIP_INDEX_URL: set.indexUrl, PIP_EXTRA_INDEX_URL: set.extraIndexUrls.join(' ') });
        if (set.noDeps.length > 0) await pip(['install', '--no-deps', ...set.noDeps], { ...trusted, PIP_INDEX_URL: set.indexUrl });
      }
      const seconds = (performance.now() - started) / 1000;
      const after = servedSplit(mirror);
      await rm(venv, { recursive: true, force: true });
      return { seconds, wheelBytes: after.wheels - before.wheels, pageBytes: after.pages - before.pages };
    };
    progress('pip-wheelhouse: cold (empty cache), warm (a later build), and without the wheelhouse');
    const cold = await round('wheelhouse');
    const warm: Round[] = [];
    const indexes: Round[] = [];
    for (let rep = 0; rep < settings.reps; rep += 1) {
      warm.push(await round('wheelhouse'));
      indexes.push(await round('indexes'));
    }
    const median = (rounds: Round[]) => [...rounds].sort((a, b) => a.seconds - b.seconds)[Math.floor(rounds.length / 2)]!;
    const w = median(warm);
    const n = median(indexes);
    const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;
    const warmBytes = Math.max(...warm.map((r) => r.wheelBytes + r.pageBytes));
    return {
      rows: [
        {
          figure: FIGURE,
          measured: `${warmBytes} B (wheels and index pages)`,
          baseline: `cold: ${kib(cold.wheelBytes)} of wheels, ${kib(cold.pageBytes)} of index pages`,
          ratio: '—',
          goal: '0 B',
          status: goalStatus(warmBytes === 0),
        },
        {
          figure: "pip: a later build's frameworks install, wheelhouse vs none",
          measured: `wheelhouse: ${formatSeconds(w.seconds)}`,
          baseline: `no wheelhouse: ${formatSeconds(n.seconds)} (${kib(n.wheelBytes + n.pageBytes)} from the mirror)`,
          ratio: formatRatio(w.seconds / n.seconds),
          goal: '—',
          status: { kind: 'info' },
        },
      ],
      notes: [
        `pip wheelhouse: the demo box's version set (${[...set.requirements, ...set.noDeps].join(' ')}) from the hermetic PyPI stand-in mirror (stand-ins: kilobytes, where torch and its NVIDIA wheels are gigabytes). Cold: an empty cache, the host's pip fills the wheelhouse, then a fresh venv installs from it as the frameworks role does (${formatSeconds(cold.seconds)}). Warm: the build's check of the filled wheelhouse (every wheel re-hashed) and the same install; median of ${settings.reps}. No wheelhouse: the role's own installs from the indexes into a fresh venv, in the same rounds. Bytes are what the mirror served. This host's Python stands in for the build VM's: a whole rebuild under TCG is not timed here (the real build test checks the guest installed from the wheelhouse, and that an --offline rebuild asked the mirror for nothing).`,
      ],
    };
  } finally {
    await mirror.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

/** Bytes the mirror has served so far: wheel files, and index pages. */
function servedSplit(mirror: ServedMirror): { wheels: number; pages: number } {
  let wheels = 0;
  let pages = 0;
  for (const [path, bytes] of mirror.served().byPath) {
    if (path.endsWith('.whl')) wheels += bytes;
    else pages += bytes;
  }
  return { wheels, pages };
}

export const pipWheelhouse: Figure = {
  name: 'pip-wheelhouse',
  title: "The build's pip wheelhouse: what a later build downloads again",
  run: async (settings) => {
    try {
      execFileSync('python3', ['-c', 'import pip, venv'], { stdio: 'ignore' });
      execFileSync('gcc', ['--version'], { stdio: 'ignore' });
    } catch {
      return { rows: [skippedRow(FIGURE, '0 B', TOOLS_MISSING)], notes: [] };
    }
    return measure(settings);
  },
};
