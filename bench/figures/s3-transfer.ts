import { copyFile, link, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ImageManifest, serializeManifest } from '../../src/core/manifest/image-manifest.js';
import { startS3Server, type TestS3Server } from '../../test/helpers/s3-server.js';
import { benchSpecText, cliPath, createBenchProject, IMAGE_NAME, runBuild, versionDir } from '../lib/bench-project.js';
import { formatRatio, goalStatus, skippedRow, type BenchSettings, type Figure, type FigureResult, type FigureRow } from '../lib/figure.js';
import { canMeasureRss, commandPath, flushWrites, formatBytes, formatRate, formatSeconds, median, pairedRatio, progress, runCommand, type CommandRun } from '../lib/measure.js';
import { ensureRandomArtifact, type RandomArtifact } from '../lib/random-artifact.js';

const GOAL = 1.0;
const VERSION = '1.0.0';

/** A built release whose image is replaced by the random artifact (hard link), its manifest and SHA256SUMS rewritten to match. */
async function createRelease(dir: string, artifact: RandomArtifact): Promise<string> {
  const project = await createBenchProject(dir);
  await runBuild(project, VERSION);
  const release = versionDir(project, VERSION);
  const manifestPath = join(release, 'image-manifest.json');
  const built = ImageManifest.parse(JSON.parse(await readFile(manifestPath, 'utf8')));
  const image = join(release, built.artifact);
  await rm(image);
  await link(artifact.path, image).catch(() => copyFile(artifact.path, image));
  const manifest = ImageManifest.parse({ ...built, checksum_sha256: artifact.sha256, size_bytes: artifact.bytes });
  await writeFile(manifestPath, serializeManifest(manifest));
  await writeFile(join(release, 'SHA256SUMS'), `${artifact.sha256}  ${built.artifact}\n`);
  return project;
}

type Transfer = { seconds: number[]; rss: number[]; cpu: number[] };

async function measure(settings: BenchSettings): Promise<FigureResult> {
  const goal = `≥ ${GOAL.toFixed(1)}× throughput`;
  const aws = await commandPath('aws');
  if (!aws) {
    const reason = 'aws CLI not found (apt-get install awscli)';
    return { rows: [skippedRow('S3 upload (publish) vs aws s3 cp', goal, reason), skippedRow('S3 download (verified) vs aws s3 cp', goal, reason)], notes: [] };
  }
  const artifact = await ensureRandomArtifact(settings.cacheDir, settings.sizeGiB);
  const dir = join(settings.workDir, 's3');
  progress('s3: a release of the random artifact (cold build with the fake packer, image swapped in)');
  const project = await createRelease(join(dir, 'project'), artifact);
  const fileName = `${IMAGE_NAME}-v${VERSION}.qcow2`;
  const image = join(versionDir(project, VERSION), fileName);
  let server: TestS3Server | undefined;
  try {
    server = await startS3Server('images');
    const s3 = server;
    // Neither tool reads the user's AWS configuration: same credentials, region and endpoint for both.
    const noConfig = join(dir, 'no-aws-config');
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      AWS_ACCESS_KEY_ID: s3.accessKeyId,
      AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
      AWS_DEFAULT_REGION: 'us-east-1',
      AWS_CONFIG_FILE: noConfig,
      AWS_SHARED_CREDENTIALS_FILE: noConfig,
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      NO_COLOR: '1',
    };
    const rssDir = join(dir, 'rss');
    await mkdir(rssDir, { recursive: true });
    const run = (command: string, args: string[]): Promise<CommandRun> => runCommand(command, args, { cwd: project, env, rssDir });
    const awsCp = (from: string, to: string) => run(aws, ['--endpoint-url', s3.endpoint, 's3', 'cp', '--only-show-errors', from, to]);

    const transfers = { oursUp: { seconds: [], rss: [], cpu: [] }, oursDown: { seconds: [], rss: [], cpu: [] }, awsUp: { seconds: [], rss: [], cpu: [] }, awsDown: { seconds: [], rss: [], cpu: [] } } satisfies Record<string, Transfer>;
    const record = (t: Transfer, r: CommandRun) => {
      t.seconds.push(r.seconds);
      if (r.maxRssBytes !== undefined) t.rss.push(r.maxRssBytes);
      if (r.cpuSeconds !== undefined) t.cpu.push(r.cpuSeconds);
    };
    const ours = async (rep: number) => {
      const spec = `s3-${rep}.yaml`;
      const store = s3.storeSpec(`ours-${rep}`);
      await writeFile(join(project, spec), benchSpecText([[['artifacts', 'store'], store]]));
      await flushWrites();
      const up = await run('node', [cliPath(), 'publish', `v${VERSION}`, '--spec', spec]);
      await flushWrites();
      const down = await run('node', [cliPath(), 'download', `v${VERSION}`, '--spec', spec, '--dest', `dl-ours-${rep}`]);
      await rm(join(project, `dl-ours-${rep}`), { recursive: true, force: true });
      await rm(join(s3.dir, s3.bucket, `ours-${rep}`), { recursive: true, force: true });
      return { up, down };
    };
    const theirs = async (rep: number) => {
      const key = `s3://${s3.bucket}/aws-${rep}/${fileName}`;
      await flushWrites();
      const up = await awsCp(image, key);
      await flushWrites();
      const down = await awsCp(key, join(project, `dl-aws-${rep}`, fileName));
      await rm(join(project, `dl-aws-${rep}`), { recursive: true, force: true });
      await rm(join(s3.dir, s3.bucket, `aws-${rep}`), { recursive: true, force: true });
      return { up, down };
    };

    // No warm-up round (it would cost as much as a measured one): both read the image from the page cache,
    // warmed here, and the order alternates so neither side always goes first.
    await runCommand('dd', [`if=${image}`, 'of=/dev/null', 'bs=4M']);
    for (let rep = 0; rep < settings.transferReps; rep += 1) {
      progress(`s3: rep ${rep + 1}/${settings.transferReps}`);
      const order = rep % 2 === 0 ? [ours, theirs] : [theirs, ours];
      for (const side of order) {
        const { up, down } = await side(rep);
        record(side === ours ? transfers.oursUp : transfers.awsUp, up);
        record(side === ours ? transfers.oursDown : transfers.awsDown, down);
      }
    }

    const rssText = (t: Transfer) => (t.rss.length > 0 ? `peak RSS ${formatBytes(Math.max(...t.rss))}` : 'peak RSS not measured (no /usr/bin/time)');
    const row = (label: string, ourT: Transfer, awsT: Transfer): FigureRow => {
      const a = median(ourT.seconds);
      const b = median(awsT.seconds);
      const ratio = pairedRatio(awsT.seconds, ourT.seconds);
      return {
        figure: label,
        measured: `${formatRate(artifact.bytes, a)} (${formatSeconds(a)}), ${rssText(ourT)}`,
        baseline: `aws s3 cp: ${formatRate(artifact.bytes, b)} (${formatSeconds(b)}), ${rssText(awsT)}`,
        ratio: formatRatio(ratio),
        goal,
        status: goalStatus(ratio >= GOAL),
      };
    };
    const cpuText = (t: Transfer) => (t.cpu.length > 0 ? `${median(t.cpu).toFixed(1)} s` : 'not measured');
    const awsVersion = (await runCommand(aws, ['--version'], { env, check: false })).stdout.trim() || 'unknown version';
    return {
      rows: [row('S3 upload: imagebuild publish vs aws s3 cp', transfers.oursUp, transfers.awsUp), row('S3 download: imagebuild download (verified) vs aws s3 cp', transfers.oursDown, transfers.awsDown)],
      notes: [
        `S3: the built CLI's \`imagebuild publish\` (multipart upload with per-part CRC32 through the AWS SDK, then manifest, SHA256SUMS, spec and release index) and \`imagebuild download\` (streamed, SHA-256 verified before the final rename, manifest saved beside it) vs \`${awsVersion}\` \`aws s3 cp\` of the same ${formatBytes(artifact.bytes)} random image, both against one local s3rver on 127.0.0.1 run by the bench process. Each command is a process of its own, wall time from spawn to exit (node or python start-up included); \`sync\` before each. Image read once beforehand (page cache warm for both), alternating order, median of ${settings.transferReps}; ratio = aws time / ours per round (throughput ratio), median over rounds. Peak RSS is the largest maximum resident set over the runs, from GNU time${canMeasureRss() ? '' : ' (not installed here)'}.`,
        `S3 CPU time (user + system, median; the client shares the 2 cores with s3rver): publish ${cpuText(transfers.oursUp)} vs aws upload ${cpuText(transfers.awsUp)}; download ${cpuText(transfers.oursDown)} vs aws download ${cpuText(transfers.awsDown)}.`,
      ],
    };
  } finally {
    await server?.close();
    await rm(dir, { recursive: true, force: true });
  }
}

export const s3Transfer: Figure = {
  name: 's3',
  title: 'S3 upload and download vs aws s3 cp (local s3rver)',
  run: measure,
};
