import { sha256File } from '../../adapters/fs/sha256.js';
import { readCacheEntries } from '../../adapters/cache/read-cache.js';
import type { GuestFacts } from '../../core/gate/gate-report.js';
import type { ArtifactVerification, ImageManifest } from '../../core/manifest/image-manifest.js';
import { computeSealKey, type BuildPlan } from '../../core/plan/plan-build.js';
import { InterruptedError } from '../../errors/index.js';
import type { AnsibleStrategy } from '../../adapters/tools/ansible-strategy.js';
import { describeAptCache, openAptCache, type BuildAptCache } from './apt-cache.js';
import { describeWheelhouse, openWheelhouse, type BuildWheelhouse } from './wheelhouse-cache.js';
import { describeImageCache, openImageCache, type BuildImageCache } from './image-cache.js';
import { bootstrapDirOf, ensureBootstrap } from './bootstrap.js';
import { buildLayer, proveReusedLayers, reuseLayer, type LayerResult } from './layer.js';
import { openBuild } from './open-build.js';
import type { AptCacheReport, BuildOptions, BuildReport, ImageCacheReport, LayerOutcome, WheelhouseReport } from './options.js';
import { runPreflight } from './preflight.js';
import { prepareBuildDirectory } from './render-build.js';
import { runSteps, type StepTask } from './run-steps.js';
import { findIdenticalRelease, sealAndFlatten, stageIdenticalRelease, type IdenticalRelease, type StagedArtifact } from './seal-flatten.js';
import { pullSharedLayers, pushSharedLayer, sharedCacheOf } from './shared-cache.js';
import { verifyStagedArtifact } from './verify.js';
import { writeRelease } from './write-release.js';

/** Builds a versioned image: preflight, plan, layers (reused or built with Packer and gated), seal, flatten, checksum, verify and manifest. */
export async function buildImage(options: BuildOptions): Promise<BuildReport> {
  const started = Date.now();
  const opened = await openBuild(options, started).catch((error: unknown) => {
    // Ctrl-C while the lock is taken or the build key made: nothing was built yet, the same command starts over.
    if (!options.signal.aborted || error instanceof InterruptedError) throw error;
    throw new InterruptedError('build interrupted before its first step; nothing was registered — re-run the same command');
  });
  if (opened.status === 'unchanged') return opened.report;
  const { run, lock } = opened;
  const shared = sharedCacheOf(run);
  const notices = [...opened.notices];
  const outcomes: LayerOutcome[] = [];
  const pushes: Promise<void>[] = [];
  const kernelDir = () => bootstrapDirOf(run, plan);
  let plan: BuildPlan = opened.plan;
  let sealKey = '';
  let reuse: IdenticalRelease | undefined;
  let accelerator: 'kvm' | 'tcg' = 'tcg';
  let ansible: AnsibleStrategy | undefined;
  let shimDir = '';
  let parentImage: string | undefined;
  let facts: GuestFacts | undefined;
  let artifact: StagedArtifact | undefined;
  let sha256: string | undefined;
  let verification: ArtifactVerification | undefined;
  let finalizeStarted = started;
  let manifest: ImageManifest | undefined;
  let aptCache: BuildAptCache | undefined;
  let aptReport: AptCacheReport | undefined;
  let wheelhouse: BuildWheelhouse | undefined;
  let wheelhouseReport: WheelhouseReport | undefined;
  let imageCache: BuildImageCache | undefined;
  let imageCacheReport: ImageCacheReport | undefined;

  // The seal key and the identical earlier release of the plan as it now stands.
  const settlePlan = async (next: BuildPlan) => {
    plan = next;
    const active = plan.layers.filter((l) => l.action !== 'skip');
    sealKey = computeSealKey(active.at(-1)!.key, run.project, run.tools, run.spec.output.compress);
    reuse = active.every((l) => l.action === 'reuse') ? await findIdenticalRelease(run.outputRoot, run.spec.name, sealKey) : undefined;
  };
  const took = (result: LayerResult) => {
    parentImage = result.image;
    facts = result.facts ?? facts;
    outcomes.push(result.outcome);
    notices.push(...result.notices);
  };
  const base = () => ({ parentImage, kernelDir: kernelDir(), accelerator, shimDir, aptProxy: aptCache?.guestUrl ?? '', aptHttpsProxied: aptCache?.httpsProxied ?? false, wheelhouseUrl: '', imageCacheUrl: '', ansibleEnv: ansible?.env ?? {} });

  // Each layer task reads its layer's plan when it runs: pulling from the shared cache may have changed it.
  const layerSteps = plan.layers.map((initial, index): StepTask => ({
    step: initial.layer,
    title: initial.layer,
    startTitle: () => `${plan.layers[index]!.layer}: ${plan.layers[index]!.action} ${plan.layers[index]!.key.slice(0, 12)} (${plan.layers[index]!.reasons.join('; ')})`,
    run: async (task) => {
      const layerPlan = plan.layers[index]!;
      const { layer, key, action, reasons } = layerPlan;
      if (action === 'skip') {
        outcomes.push({ layer, key, action: 'skipped', durationS: 0 });
        return task.skip(`${layer}: skipped (${reasons.join('; ')})`);
      }
      if (action === 'reuse') {
        took(await reuseLayer(run, layerPlan, parentImage));
        task.title = `${layer}: reused ${key.slice(0, 12)} (${reasons[0]})`;
        return;
      }
      task.title = `${layer}: building ${key.slice(0, 12)} — ${reasons.join('; ')} (log ${run.dir.log(layer)})`;
      // Only the frameworks layer installs from the pip wheelhouse, only the runtime layer loads saved images.
      const unitBase = { ...base(), wheelhouseUrl: layer === 'frameworks' ? (wheelhouse?.guestUrl ?? '') : '', imageCacheUrl: layer === 'runtime' ? (imageCache?.guestUrl ?? '') : '' };
      const built = await buildLayer(run, layerPlan, unitBase, (line) => (task.output = line));
      took(built);
      if (run.spec.cache.store && run.spec.cache.push) pushes.push(pushSharedLayer(run, shared, layerPlan).then((notice) => void notices.push(notice)));
      task.title = `${layer}: built ${key.slice(0, 12)} in ${built.outcome.durationS.toFixed(0)} s, gate ${built.outcome.gate?.summary ?? 'n/a'}`;
    },
  }));

  const steps: StepTask[] = [
    { step: 'shared-cache', title: 'Pull layers from the shared cache', enabled: () => run.spec.cache.store !== undefined && plan.layers.some((l) => l.action === 'build'), run: async (task) => {
      const pull = await pullSharedLayers(run, shared, plan, (line) => (task.output = line));
      notices.push(...pull.notices);
      if (pull.pulled.length > 0) await settlePlan(opened.replan((await readCacheEntries(run.cache.root)).entries, { build: run.buildKey.fingerprint, verify: run.verifyKey?.fingerprint }));
      task.title = pull.title;
    } },
    { step: 'prove-cache', title: 'Prove the cached layers are the bytes their gates passed', enabled: () => plan.layers.some((l) => l.action === 'reuse'), run: async (task) => {
      const proof = await proveReusedLayers(run, plan);
      notices.push(...proof.notices);
      if (proof.dropped.length > 0) await settlePlan(opened.replan((await readCacheEntries(run.cache.root)).entries, { build: run.buildKey.fingerprint, verify: run.verifyKey?.fingerprint }));
      task.title = proof.dropped.length > 0 ? `Cached layers: ${proof.dropped.length} dropped (changed since their gate passed), to be built again` : `Cached layers proven (${proof.hashedBytes === 0 ? 'unchanged since registered, nothing re-hashed' : `${proof.hashedBytes} bytes re-hashed`})`;
    } },
    { step: 'preflight', title: 'Preflight', run: async (task) => {
      const result = await runPreflight(run, plan, options.accel, { verify: options.skipVerify !== true, ansibleStrategy: options.ansibleStrategy });
      notices.push(...result.notices);
      ({ accelerator, ansible } = result);
      task.title = `Preflight: ${accelerator}, ${plan.layers.filter((l) => l.action === 'build').length} layer(s) to build, Ansible: ${ansible.summary}`;
    } },
    { step: 'prepare', title: 'Prepare build directory, key and rendered files', run: async () => void ({ shimDir } = await prepareBuildDirectory(run, options.renderedDir)) },
    { step: 'apt-cache', title: 'Start the apt cache', enabled: () => plan.layers.some((l) => l.action === 'build'), run: async (task) => {
      aptCache = await openAptCache(run, plan, { disabled: options.noPackageCache === true, offline: options.offline === true, onLine: (line) => (task.output = line) });
      notices.push(...aptCache.notices);
      task.title = aptCache.title;
    } },
    { step: 'wheelhouse', title: 'Fill the pip wheelhouse', enabled: () => plan.layers.some((l) => l.layer === 'frameworks' && l.action === 'build'), run: async (task) => {
      wheelhouse = await openWheelhouse(run, plan, { disabled: options.noPackageCache === true, offline: options.offline === true, onLine: (line) => (task.output = line) });
      notices.push(...wheelhouse.notices);
      task.title = wheelhouse.title;
    } },
    { step: 'image-cache', title: 'Save the container images', enabled: () => run.spec.layers.runtime.images.length > 0 && plan.layers.some((l) => l.layer === 'runtime' && l.action === 'build'), run: async (task) => {
      imageCache = await openImageCache(run, plan, { disabled: options.noPackageCache === true, offline: options.offline === true, onLine: (line) => (task.output = line) });
      notices.push(...imageCache.notices);
      task.title = imageCache.title;
    } },
    { step: 'bootstrap', title: 'Bootstrap base image', enabled: () => run.spec.os.source.kind === 'bootstrap', run: async (task) => void (task.title = await ensureBootstrap(run, plan, aptCache?.hostUrl ?? '', (line) => (task.output = line))) },
    ...layerSteps,
    { step: 'reuse-release', title: 'Reuse the identical image of an earlier release', enabled: () => reuse !== undefined, run: async (task) => {
      finalizeStarted = Date.now();
      artifact = await stageIdenticalRelease(run, reuse!);
      ({ sha256, verification } = artifact);
      task.title = `Reused the identical image of v${reuse!.version} (same layers and seal): no Packer run, no re-hash`;
    } },
    { step: 'seal', title: 'Seal and flatten', enabled: () => reuse === undefined, run: async (task) => {
      finalizeStarted = Date.now();
      artifact = await sealAndFlatten(run, base(), (line) => (task.output = line));
      task.title = `Sealed and flattened into ${run.release.artifactName}`;
    } },
    { step: 'checksum', title: 'Checksum', enabled: () => reuse === undefined, run: async (task) => void (task.title = `SHA-256 ${(sha256 = await sha256File(artifact!.path))}`) },
    { step: 'verify', title: 'Verify: boot the artifact, check it over SSH, re-check its SHA-256', enabled: () => options.skipVerify !== true && reuse === undefined, run: async (task) => {
      const result = await verifyStagedArtifact(run, { path: artifact!.path, sha256: sha256! }, accelerator, options.verifyLogin, (line) => (task.output = line));
      ({ verification } = result);
      notices.push(...result.notices);
      task.title = result.title;
    } },
    { step: 'release', title: 'Write image-manifest.json and publish the version directory', run: async () => {
      const contents = { plan, outcomes, facts, artifact: { sha256: sha256!, sizeBytes: artifact!.sizeBytes }, accelerator, verification, sealKey, reusedFrom: reuse?.version, started, finalizeStarted };
      manifest = await writeRelease(run, contents);
      if (manifest.stand_ins) notices.push(`built against imagebuild's test stand-ins (${manifest.stand_ins.length} packages): this image can never be published`);
    } },
  ];

  try {
    await settlePlan(plan);
    await runSteps(steps, { renderer: options.renderer, onEvent: options.onEvent, outcomeOf: (step) => outcomes.find((o) => o.layer === step) });
  } catch (error) {
    if (!options.signal.aborted || error instanceof InterruptedError) throw error;
    const next = plan.layers.find((l) => l.action === 'build' && !outcomes.some((o) => o.layer === l.layer));
    throw new InterruptedError(`build interrupted${next ? ` during ${next.layer}` : ''}; nothing half-done was registered — re-run the same command to resume${next ? ` from ${next.layer}` : ''}`);
  } finally {
    // The proxy stops with the build, whatever ended it; what it carried is told either way.
    aptReport = await aptCache?.finish().catch(() => undefined);
    if (aptReport !== undefined && aptReport.servedBytes > 0) notices.push(describeAptCache(aptReport));
    wheelhouseReport = await wheelhouse?.finish().catch(() => undefined);
    if (wheelhouseReport !== undefined) notices.push(describeWheelhouse(wheelhouseReport));
    imageCacheReport = await imageCache?.finish().catch(() => undefined);
    if (imageCacheReport !== undefined) notices.push(describeImageCache(imageCacheReport));
    // Layers that passed their gate finish uploading even when a later layer failed (not after Ctrl-C).
    if (!options.signal.aborted) await Promise.all(pushes);
    await lock.release();
  }
  const { release } = run;
  return { status: 'built', version: options.version, artifact: release.artifact, manifestPath: release.manifest, manifest: manifest!, layers: outcomes, gpuValidated: manifest!.gpu_validated, notices, durationS: (Date.now() - started) / 1000, logsDir: release.logs, ...(aptReport === undefined ? {} : { aptCache: aptReport }), ...(wheelhouseReport === undefined ? {} : { wheelhouse: wheelhouseReport }), ...(imageCacheReport === undefined ? {} : { imageCache: imageCacheReport }), ...(ansible === undefined ? {} : { ansibleStrategy: ansible.strategy }) };
}
