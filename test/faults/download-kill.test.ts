import { existsSync } from 'node:fs';
import { readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ImageManifest } from '../../src/core/manifest/image-manifest.js';
import { makePublishedRelease, runCli, seededRandom, startCli } from '../helpers/fault-harness.js';
import { sleep } from '../helpers/wait.js';
import { flipByte, sha256Of } from '../helpers/release-project.js';
import { startS3Server, type TestS3Server } from '../helpers/s3-server.js';
import { makeTempDir, type TempDir } from '../helpers/temp-dir.js';
import { DEMO_NAME } from '../helpers/spec-builders.js';

// `imagebuild download` SIGKILLed at 20 seeded random points against a real S3-protocol server (s3rver:
// HTTP bodies arrive in small chunks, so the .part file ends at arbitrary byte offsets and every resume
// is a ranged GET from one). Kills come in episodes of one to three — a resume can itself be killed,
// while it re-hashes the part it found or while it fetches — and every episode ends with a run that
// must finish with a verified file. Then a flipped byte in the stored object must be caught.

const SEED = 0x5eed_0007;
const KILLS = 20;
const MIB = 1024 * 1024;
const SIZE = 8 * MIB;

describe('download killed at random points', () => {
  let s3: TestS3Server;
  let temp: TempDir | undefined;
  let project: string;
  let manifest: ImageManifest;
  let source: Buffer;
  let env: Record<string, string>;
  const dest = () => join(project, 'dl');
  const finalPath = () => join(dest(), manifest.artifact);
  const partPath = () => `${finalPath()}.part`;
  const DOWNLOAD = ['download', 'v1.0.0', '--spec', 'box.yaml', '--dest', 'dl', '--limit-rate', '16M'];

  beforeAll(async () => {
    s3 = await startS3Server();
    temp = await makeTempDir('imagebuild-fault-download-');
    project = temp.dir;
    env = s3.credentialsEnv;
    manifest = await makePublishedRelease(project, SIZE, s3.storeSpec('team'));
    source = await readFile(join(project, 'output', DEMO_NAME, 'v1.0.0', manifest.artifact));
    const published = await runCli(['publish', 'v1.0.0', '--spec', 'box.yaml'], project, env);
    expect(published.exitCode, published.stderr).toBe(0);
  });
  afterAll(async () => {
    await s3?.close();
    await temp?.cleanup();
  });

  const partSize = () => stat(partPath()).then((s) => s.size, () => 0);

  /** Where s3rver keeps the published image's bytes: its key (under a publish id) comes from the release index. */
  async function storedImage(): Promise<string> {
    const index = JSON.parse(await readFile(s3.objectFile(`team/${DEMO_NAME}/releases.json`), 'utf8')) as { releases: { version: string; artifact_key: string }[] };
    return s3.objectFile(`team/${index.releases.find((r) => r.version === '1.0.0')!.artifact_key}`);
  }

  /** The .part's size now (0 when absent), and whether its bytes are exactly the image's first bytes. */
  async function partState(): Promise<{ size: number; prefixOfImage: boolean }> {
    if (!existsSync(partPath())) return { size: 0, prefixOfImage: true };
    const bytes = await readFile(partPath());
    return { size: bytes.length, prefixOfImage: bytes.length <= source.length && bytes.equals(source.subarray(0, bytes.length)) };
  }

  it(`is killed ${KILLS} times at seeded random points; every episode's last run ends with the verified image, and no kill leaves a wrong byte`, async () => {
    const random = seededRandom(SEED);
    const kills: { target: number; part: number }[] = [];
    let verifiedResumes = 0;

    while (kills.length < KILLS) {
      const before = await partSize();
      // Beyond the part already there: kill once the .part reaches it. At or below it (or 0): kill at a
      // random moment of the run's start, while it loads, reads the index or re-hashes the part.
      const target = Math.floor(random() * SIZE);
      const child = startCli(DOWNLOAD, project, env);
      if (target > before) {
        while ((await partSize()) < target && child.exitCode === null) await sleep(2);
      } else {
        await sleep(Math.floor(random() * 400));
      }
      child.kill('SIGKILL');
      const killed = await child;
      if (killed.exitCode === 0) {
        // It finished before the kill landed: a complete download, not a kill point.
        expect(await sha256Of(finalPath())).toBe(manifest.checksum_sha256);
        await rm(dest(), { recursive: true });
        continue;
      }
      expect(killed.signal, String(killed.stderr)).toBe('SIGKILL');
      if (existsSync(finalPath())) {
        // Killed after the final rename, before it exited: the image under its final name must be the
        // verified one, with its manifest and SHA256SUMS already beside it (and the record and the lock
        // file, if the kill came before they were removed). That ends the episode.
        kills.push({ target, part: SIZE });
        expect(await sha256Of(finalPath())).toBe(manifest.checksum_sha256);
        expect((await readdir(dest())).filter((n) => !n.endsWith('.part.json') && !n.endsWith('.lock')).sort()).toEqual(['SHA256SUMS', 'SHA256SUMS.sig', manifest.artifact, 'download.json', 'image-manifest.json'].sort());
        await rm(dest(), { recursive: true });
        continue;
      }
      const after = await partState();
      kills.push({ target, part: after.size });

      expect(after.prefixOfImage).toBe(true);
      expect(after.size).toBeGreaterThanOrEqual(before);

      // One to three kills per episode; then the same command runs to the end.
      if (random() < 0.5 || kills.length === KILLS) {
        const resumed = await runCli(DOWNLOAD, project, env);

        expect(resumed.exitCode, resumed.stderr).toBe(0);
        expect(await sha256Of(finalPath())).toBe(manifest.checksum_sha256);
        expect((await readdir(dest())).sort()).toEqual(['SHA256SUMS', 'SHA256SUMS.sig', manifest.artifact, 'download.json', 'image-manifest.json'].sort());
        verifiedResumes++;
        await rm(dest(), { recursive: true });
      }
    }

    // The points really were spread over the image, not all at its start or end.
    const landed = kills.map((k) => k.part);
    expect(verifiedResumes).toBeGreaterThanOrEqual(5);
    expect(landed.filter((b) => b > 0 && b < SIZE).length).toBeGreaterThanOrEqual(10);
    expect(new Set(landed.map((b) => Math.floor((b / SIZE) * 4))).size).toBeGreaterThanOrEqual(3);
    // Some 30 CLI runs: ~40 s on an idle machine, 80 s on two busy cores.
  }, 180_000);

  it('catches a flipped byte in the stored object: exit 1, one line, nothing under the final name, no partial left', async () => {
    const stored = await storedImage();
    const offset = Math.floor(seededRandom(SEED + 1)() * SIZE);
    await flipByte(stored, offset);
    try {
      const result = await runCli(DOWNLOAD, project, env);

      const lines = result.stderr.split('\n').filter((l) => l.startsWith('error') || l.includes('    at '));
      expect(result.exitCode).toBe(1);
      expect(lines).toEqual([expect.stringMatching(/^error: .*: verification failed: SHA-256 [0-9a-f]{64}, expected [0-9a-f]{64}; the partial download was removed and nothing was written under /)]);
      expect(existsSync(dest()) ? await readdir(dest()) : []).toEqual([]);
    } finally {
      await flipByte(stored, offset);
    }
  });

  it('catches a flipped byte beyond a killed download: the resume fails verification and leaves nothing under the final name', async () => {
    const stored = await storedImage();
    const child = startCli(DOWNLOAD, project, env);
    while ((await partSize()) < SIZE / 4 && child.exitCode === null) await sleep(2);
    child.kill('SIGKILL');
    await child;
    const kept = (await stat(partPath())).size;
    await flipByte(stored, SIZE - 1);
    try {
      const result = await runCli(DOWNLOAD, project, env);

      expect(kept).toBeLessThan(SIZE - 1);
      expect(result.exitCode).toBe(1);
      expect(result.stderr).toMatch(/verification failed: SHA-256 [0-9a-f]{64}, expected [0-9a-f]{64}/);
      expect(existsSync(finalPath())).toBe(false);
      expect(await readdir(dest())).toEqual([]);
    } finally {
      await flipByte(stored, SIZE - 1);
    }
  });
});
