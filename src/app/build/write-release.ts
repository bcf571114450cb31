import { hostname } from 'node:os';
import { join } from 'node:path';
import { copyTree, makeReadOnly, moveIntoPlace, pathExists, removeTree, writeTextFile } from '../../adapters/fs/directories.js';
import { readGitCommit } from '../../adapters/tools/git-commit.js';
import { writeManifestFile } from '../../adapters/workspace/manifest-file.js';
import { MANIFEST_FILE, sumsFileText, SUMS_FILE } from '../../adapters/workspace/release-layout.js';
import type { GuestFacts } from '../../core/gate/gate-report.js';
import { assembleManifest, type ArtifactVerification, type ImageManifest } from '../../core/manifest/image-manifest.js';
import type { BuildPlan } from '../../core/plan/plan-build.js';
import { ImagebuildError } from '../../errors/index.js';
import type { BuildRun } from './build-run.js';
import type { LayerOutcome } from './options.js';
import { stagingDirOf } from './seal-flatten.js';

/** What the steps before made of this release. */
export type ReleaseContents = {
  readonly plan: BuildPlan;
  readonly outcomes: readonly LayerOutcome[];
  /** The facts read inside the top layer. */
  readonly facts: GuestFacts | undefined;
  readonly artifact: { readonly sha256: string; readonly sizeBytes: number };
  readonly accelerator: 'kvm' | 'tcg';
  readonly verification: ArtifactVerification | undefined;
  readonly sealKey: string;
  /** The earlier release whose image this one shares. */
  readonly reusedFrom: string | undefined;
  readonly started: number;
  readonly finalizeStarted: number;
};

/**
 * Writes image-manifest.json, SHA256SUMS, the logs and this run's gate reports into the staging
 * directory and publishes it as output/<name>/v<version>/ with one rename. Returns the manifest.
 */
export async function writeRelease(run: BuildRun, contents: ReleaseContents): Promise<ImageManifest> {
  if (!contents.facts) throw new ImagebuildError('NO_FACTS', 'no facts were read from the image; cannot write a manifest');
  const staging = stagingDirOf(run);
  const now = Date.now();
  const manifest = assembleManifest({
    spec: run.spec,
    version: contents.plan.version,
    buildDate: new Date(now),
    facts: contents.facts,
    tools: run.tools,
    artifact: { fileName: run.release.artifactName, sha256: contents.artifact.sha256, sizeBytes: contents.artifact.sizeBytes },
    layers: contents.outcomes.flatMap((o) =>
      o.gate ? [{ layer: o.layer, key: o.key, parentKey: contents.plan.layers.find((l) => l.layer === o.layer)?.parentKey ?? null, reused: o.action === 'reused', durationS: o.durationS, verdict: o.gate }] : [],
    ),
    specHash: run.specHash,
    gitCommit: await readGitCommit(run.projectDir),
    host: { hostname: hostname(), accelerator: contents.accelerator },
    durations: { totalS: (now - contents.started) / 1000, finalizeS: (now - contents.finalizeStarted) / 1000 },
    verify: contents.verification,
    sealKey: contents.sealKey,
    artifactReusedFrom: contents.reusedFrom,
  });
  // Read-only before it is published: nothing writes a release's image in place (boot a copy or an overlay).
  await makeReadOnly(join(staging, run.release.artifactName));
  await writeManifestFile(join(staging, MANIFEST_FILE), manifest);
  await writeTextFile(join(staging, SUMS_FILE), sumsFileText(contents.artifact.sha256, run.release.artifactName));
  await copyTree(run.dir.logs, join(staging, 'logs'));
  // The gate reports of the layers built in this run (reused layers keep theirs in their cache entry).
  if (pathExists(run.dir.reports)) await copyTree(run.dir.reports, join(staging, 'reports'));
  await moveIntoPlace(staging, run.release.dir);
  await removeTree(run.dir.work);
  return manifest;
}
