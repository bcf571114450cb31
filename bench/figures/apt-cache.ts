import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { freeProxyablePort, startAptProxy } from '../../src/adapters/package-cache/apt-proxy.js';
import { routeAptRepositories } from '../../src/adapters/package-cache/apt-routes.js';
import { APT_MIRROR_PATHS, buildAptMirror } from '../../test/vendor-mirror/apt-mirror.js';
import { makeIsolatedApt } from '../../test/vendor-mirror/isolated-apt.js';
import { serveMirror, type ServedMirror } from '../../test/vendor-mirror/serve-mirror.js';
import { formatRatio, goalStatus, skippedRow, type BenchSettings, type Figure, type FigureResult } from '../lib/figure.js';
import { formatSeconds, progress } from '../lib/measure.js';
import { existsSync } from 'node:fs';

const ACNG = '/usr/sbin/apt-cacher-ng';
const TOOLS_MISSING = 'needs apt-cacher-ng, dpkg-deb, apt-ftparchive and gpg (scripts/install-deps.sh installs them)';

type Round = { readonly seconds: number; readonly debBytes: number; readonly indexBytes: number; readonly packages: number };

/**
 * What the driver layer's apt downloads on a rebuild, with and without the build's apt cache: the real apt-get and the
 * build's real apt-cacher-ng (its config as a build makes it: the loopback mirror remapped) against the hermetic vendor
 * mirror, which counts the bytes it serves. The host's apt stands in for the build VM's: same sources line (the mirror
 * as a guest names it, 10.0.2.2), same Acquire::http::Proxy, a fresh apt state per round as each build VM has. A whole
 * rebuild under TCG (30 min here) is not in the bench: the real build test checks the guest's traffic went through.
 */
async function measure(settings: BenchSettings): Promise<FigureResult> {
  const dir = join(settings.workDir, 'apt-cache');
  await mkdir(dir, { recursive: true });
  const mirror = await serveMirror(join(dir, 'www'), { port: await freeProxyablePort() });
  try {
    progress('apt-cache: building the hermetic vendor mirror');
    const apt = await buildAptMirror({ dir: join(dir, 'www'), guestUrl: mirror.guestUrl });
    const repo = apt.repos.find((r) => r.path === APT_MIRROR_PATHS.debian12)!;
    // Every package of NVIDIA's Debian 12 repository, each file fetched as apt fetches it (apt-get download: no resolver).
    const wanted = repo.packages.map((p) => `${p.name}=${p.version}`);
    const routes = routeAptRepositories([`${mirror.guestUrl}/${repo.path}/`]);
    const proxy = await startAptProxy({ cacheDir: join(dir, 'apt-cache'), remaps: routes.remaps, upstreamPorts: routes.upstreamPorts });
    let roundNo = 0;
    const round = async (via: 'proxy' | 'direct'): Promise<Round> => {
      roundNo += 1;
      // Direct: the host reaches the mirror as 127.0.0.1 (10.0.2.2 is the guest's name for it).
      const base = via === 'proxy' ? mirror.guestUrl : mirror.hostUrl;
      const box = await makeIsolatedApt(join(dir, `apt-${roundNo}`), { sources: [`deb [signed-by=${apt.keyrings[repo.key]}] ${base}/${repo.path}/ /`] });
      if (via === 'proxy') await writeFile(join(box.dir, 'etc/apt.conf.d/01imagebuild-proxy'), `Acquire::http::Proxy "${proxy.hostUrl}";\n`);
      const before = servedSplit(mirror);
      const started = performance.now();
      const update = await box.aptGet(['update']);
      if (update.exitCode !== 0) throw new Error(`apt-get update (${via}) failed: ${update.stderr.trim()}`);
      const download = await box.aptGet(['download', ...wanted]);
      if (download.exitCode !== 0) throw new Error(`apt-get download (${via}) failed: ${download.stderr.trim()}`);
      const seconds = (performance.now() - started) / 1000;
      const after = servedSplit(mirror);
      return { seconds, debBytes: after.deb - before.deb, indexBytes: after.index - before.index, packages: wanted.length };
    };
    try {
      progress('apt-cache: cold (empty cache), warm (a later build), and without the cache');
      const cold = await round('proxy');
      const warm: Round[] = [];
      const direct: Round[] = [];
      for (let rep = 0; rep < settings.reps; rep += 1) {
        warm.push(await round('proxy'));
        direct.push(await round('direct'));
      }
      const median = (rounds: Round[]) => [...rounds].sort((a, b) => a.seconds - b.seconds)[Math.floor(rounds.length / 2)]!;
      const w = median(warm);
      const d = median(direct);
      const mib = (bytes: number) => `${(bytes / 1_048_576).toFixed(2)} MiB`;
      const warmDebBytes = Math.max(...warm.map((r) => r.debBytes));
      return {
        rows: [
          {
            figure: 'apt: packages re-downloaded by a later build (driver layer)',
            measured: `${warmDebBytes} B of packages, ${mib(w.indexBytes)} of indexes`,
            baseline: `cold: ${mib(cold.debBytes)} of packages, ${mib(cold.indexBytes)} of indexes`,
            ratio: '—',
            goal: '0 B of packages',
            status: goalStatus(warmDebBytes === 0),
          },
          {
            figure: 'apt: a later build\'s downloads, cache vs none',
            measured: `warm cache: ${formatSeconds(w.seconds)}`,
            baseline: `no cache: ${formatSeconds(d.seconds)} (${mib(d.debBytes + d.indexBytes)} from the mirror)`,
            ratio: formatRatio(w.seconds / d.seconds),
            goal: '—',
            status: { kind: 'info' },
          },
        ],
        notes: [
          `apt cache: ${cold.packages} packages of the hermetic mirror's NVIDIA Debian 12 repository (stand-ins: kilobytes each, where the real CUDA and cuDNN packages are gigabytes), fetched by the real apt-get (update, then download) through the build's apt-cacher-ng, its loopback mirror remapped as a build configures it. Cold: an empty cache (${formatSeconds(cold.seconds)}). Warm: a fresh apt state, as each build VM has, on the cache the cold round filled; median of ${settings.reps}. No cache: the same apt straight from the mirror, in the same rounds. Bytes are what the mirror served; indexes (InRelease, Packages) are revalidated each time, as apt-cacher-ng does for volatile files. The host's apt stands in for the build VM's: a whole rebuild under TCG is not timed here.`,
        ],
      };
    } finally {
      await proxy.stop();
    }
  } finally {
    await mirror.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

/** Bytes the mirror has served so far: package files, and everything else (indexes, keys). */
function servedSplit(mirror: ServedMirror): { deb: number; index: number } {
  let deb = 0;
  let index = 0;
  for (const [path, bytes] of mirror.served().byPath) {
    if (path.endsWith('.deb')) deb += bytes;
    else index += bytes;
  }
  return { deb, index };
}

export const aptCache: Figure = {
  name: 'apt-cache',
  title: "The build's apt cache: what a later build downloads again",
  run: async (settings) => {
    if (!existsSync(ACNG)) return { rows: [skippedRow("apt: packages re-downloaded by a later build (driver layer)", '0 B of packages', TOOLS_MISSING)], notes: [] };
    return measure(settings);
  },
};
