import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { saveImage } from '../../src/adapters/package-cache/image-cache.js';
import { startRegistry } from '../../test/helpers/registry.js';
import { formatRatio, goalStatus, skippedRow, type BenchSettings, type Figure, type FigureResult } from '../lib/figure.js';
import { formatSeconds, progress } from '../lib/measure.js';

const FIGURE = 'images: bytes copied again by a later build (runtime layer)';
const TOOLS_MISSING = 'needs skopeo and docker-registry (scripts/install-deps.sh installs them)';
const IMAGE_MIB = 8;

/**
 * What the runtime layer's image cache copies on a rebuild: a stand-in image (one layer of random bytes, so the
 * registry's gzip cannot shrink it) in a real registry on loopback (Debian's docker-registry), saved by the build's
 * saveImage with the real skopeo. Cold: an empty cache. Warm: a later build (the registry asked for the digest, the
 * archive re-hashed). Without the cache: skopeo copying the image afresh each time, as a build VM's `docker pull` would
 * fetch it. Bytes are the docker-archive skopeo wrote.
 */
async function measure(settings: BenchSettings): Promise<FigureResult> {
  const dir = join(settings.workDir, 'image-cache');
  await mkdir(dir, { recursive: true });
  progress(`image-cache: a registry with a ${IMAGE_MIB} MiB stand-in image`);
  const registry = await startRegistry();
  try {
    await registry.push('imagebuild/bench:1.0', randomBytes(IMAGE_MIB * 1_048_576 * 0.75).toString('base64'));
    const ref = `${registry.hostName}/imagebuild/bench:1.0`;
    const cacheDir = join(dir, 'cache');
    const timed = async <T>(run: () => Promise<T>): Promise<{ seconds: number; value: T }> => {
      const started = performance.now();
      const value = await run();
      return { seconds: (performance.now() - started) / 1000, value };
    };
    const save = async () => {
      const saved = await saveImage({ cacheDir, ref });
      if ('missing' in saved) throw new Error(saved.missing);
      return saved;
    };
    progress('image-cache: cold (empty cache), warm (a later build), and without the cache');
    const cold = await timed(save);
    const warm: { seconds: number; bytes: number }[] = [];
    const none: { seconds: number; bytes: number }[] = [];
    for (let rep = 0; rep < settings.reps; rep += 1) {
      const hit = await timed(save);
      warm.push({ seconds: hit.seconds, bytes: hit.value.bytesDownloaded });
      const archive = join(dir, `fresh-${rep}.tar`);
      const fresh = await timed(() => execa('skopeo', ['copy', '--src-tls-verify=false', `docker://${ref}`, `docker-archive:${archive}:${ref}`]));
      none.push({ seconds: fresh.seconds, bytes: cold.value.record.bytes });
      await rm(archive, { force: true });
    }
    const median = (rounds: { seconds: number }[]) => [...rounds].sort((a, b) => a.seconds - b.seconds)[Math.floor(rounds.length / 2)]!.seconds;
    const mib = (bytes: number) => `${(bytes / 1_048_576).toFixed(1)} MiB`;
    const warmBytes = Math.max(...warm.map((r) => r.bytes));
    return {
      rows: [
        { figure: FIGURE, measured: `${warmBytes} B`, baseline: `cold: ${mib(cold.value.bytesDownloaded)} (${formatSeconds(cold.seconds)})`, ratio: '—', goal: '0 B', status: goalStatus(warmBytes === 0) },
        {
          figure: "images: a later build's image step, cache vs none",
          measured: `warm cache: ${formatSeconds(median(warm))}`,
          baseline: `no cache: ${formatSeconds(median(none))} (${mib(cold.value.record.bytes)} copied)`,
          ratio: formatRatio(median(warm) / median(none)),
          goal: '—',
          status: { kind: 'info' },
        },
      ],
      notes: [
        `image cache: a ${IMAGE_MIB} MiB stand-in image (one layer of random bytes) in Debian's docker-registry on loopback, saved by the build's saveImage with the real skopeo. Warm: a later build on the cache the cold round filled (the registry asked for the digest only; the archive re-hashed against its record); median of ${settings.reps}. No cache: skopeo copying it afresh, in the same rounds. Loading into the build VM's Docker is not timed here (the real build test loads one).`,
      ],
    };
  } finally {
    await registry.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

export const imageCache: Figure = {
  name: 'image-cache',
  title: "The build's container image cache: what a later build copies again",
  run: async (settings) => {
    try {
      execFileSync('skopeo', ['--version'], { stdio: 'ignore' });
      execFileSync('docker-registry', ['--version'], { stdio: 'ignore' });
    } catch {
      return { rows: [skippedRow(FIGURE, '0 B', TOOLS_MISSING)], notes: [] };
    }
    return measure(settings);
  },
};
