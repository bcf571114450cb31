import { createHash, randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { copyTree, ensureDirectory, makeReadOnly, moveIntoPlace, pathExists, removeTree, writeTextFile } from '../../adapters/fs/directories.js';
import { readGitCommit } from '../../adapters/tools/git-commit.js';
import { packageVersion } from '../../adapters/tools/package-version.js';
import { writeManifestFile } from '../../adapters/workspace/manifest-file.js';
import { readTextFile } from '../../adapters/fs/read-files.js';
import { INVENTORY_FILE, MANIFEST_FILE, PROVENANCE_FILE, releaseLayout, releaseSumsText, SBOM_FILE, SUMS_FILE } from '../../adapters/workspace/release-layout.js';
import { parseGuestInventory, type GuestFacts, type GuestInventory } from '../../core/gate/gate-report.js';
import { assembleManifest, serializeManifest, type ArtifactVerification, type ImageManifest } from '../../core/manifest/image-manifest.js';
import { sumsWithManifest } from '../../core/release/release-sums.js';
import { assembleProvenance, buildRunnerOf } from '../../core/provenance/image-provenance.js';
import { assembleSbom } from '../../core/sbom/image-sbom.js';
import type { BuildPlan } from '../../core/plan/plan-build.js';
import { GateReportInvalidError, ImagebuildError } from '../../errors/index.js';
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
 * Writes image-manifest.json, sbom.cdx.json, provenance.intoto.json, SHA256SUMS, the logs and this
 * run's gate reports into the staging directory and publishes it as output/<name>/v<version>/ with one
 * rename. Returns the manifest.
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
  await copyTree(run.dir.logs, join(staging, 'logs'));
  // The gate reports of the layers built in this run (reused layers keep theirs in their cache entry).
  if (pathExists(run.dir.reports)) await copyTree(run.dir.reports, join(staging, 'reports'));
  const described = await writeSbomAndProvenance(run, contents, manifest, new Date(now));
  await writeManifestFile(join(staging, MANIFEST_FILE), described);
  await writeTextFile(join(staging, SUMS_FILE), sumsWithManifest(releaseSumsText(described), MANIFEST_FILE, serializeManifest(described)));
  await moveIntoPlace(staging, run.release.dir);
  await removeTree(run.dir.work);
  return described;
}

/**
 * Writes sbom.cdx.json (from the seal's inventory, kept in the release's reports) and
 * provenance.intoto.json into the staging directory; returns the manifest naming both with their SHA-256.
 */
async function writeSbomAndProvenance(run: BuildRun, contents: ReleaseContents, manifest: ImageManifest, now: Date): Promise<ImageManifest> {
  const staging = stagingDirOf(run);
  const inventory = await keptInventory(run, contents.reusedFrom);
  const sbom = assembleSbom({
    image: { name: manifest.name, version: manifest.version, artifact: manifest.artifact, sha256: manifest.checksum_sha256 },
    inventory,
    timestamp: now,
    serialNumber: `urn:uuid:${randomUUID()}`,
  });
  await writeTextFile(join(staging, SBOM_FILE), sbom);
  const sbomFile = { file: SBOM_FILE, sha256: sha256Text(sbom) };
  const provenance = assembleProvenance({
    manifest,
    source: run.spec.os.source,
    bootstrapKey: contents.plan.layers[0]?.inputs.bootstrapKey,
    projectDigests: run.project.digests,
    byproducts: [{ name: SBOM_FILE, sha256: sbomFile.sha256, mediaType: 'application/vnd.cyclonedx+json' }],
    startedOn: new Date(contents.started).toISOString(),
    finishedOn: now.toISOString(),
    invocationId: `urn:uuid:${randomUUID()}`,
    runner: buildRunnerOf(process.env),
    builderVersion: packageVersion(),
  });
  await writeTextFile(join(staging, PROVENANCE_FILE), provenance);
  return { ...manifest, sbom: sbomFile, provenance: { file: PROVENANCE_FILE, sha256: sha256Text(provenance) } };
}

/**
 * The seal's inventory, now in the staging directory's reports/seal/: brought back by this run's seal,
 * or, for an identical earlier release's image, copied from that release (same seal key, same bytes).
 */
async function keptInventory(run: BuildRun, reusedFrom: string | undefined): Promise<GuestInventory> {
  const kept = join(stagingDirOf(run), relative(run.release.dir, run.release.inventory));
  if (reusedFrom !== undefined) {
    const earlier = releaseLayout(run.outputRoot, run.spec.name, reusedFrom).inventory;
    if (!pathExists(earlier)) throw new GateReportInvalidError(earlier, `missing: v${reusedFrom}, whose image this release reuses, kept no inventory of it, so no SBOM can be written; remove v${reusedFrom} to build the image anew`);
    await ensureDirectory(dirname(kept));
    await copyTree(earlier, kept);
  } else if (!pathExists(kept)) {
    throw new GateReportInvalidError(join(run.dir.reportsOf('seal'), INVENTORY_FILE), 'missing: the seal step brought back no inventory of the image (ansible/roles/seal/tasks/inventory.yml), so no SBOM can be written; see the seal log');
  }
  const text = await readTextFile(kept, 'inventory');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new GateReportInvalidError(kept, `not JSON (truncated or damaged, ${text.length} bytes)`, { cause: error });
  }
  return parseGuestInventory(json, kept);
}

function sha256Text(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
