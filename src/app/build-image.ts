import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, cp, link, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { execa } from 'execa';
import { Listr, PRESET_TIMESTAMP } from 'listr2';
import { bootstrapBaseImage } from '../adapters/bootstrap/bootstrap-image.js';
import { keepFailedLayer, registerLayer, removeLeftovers } from '../adapters/cache/layer-cache.js';
import { cacheLayout } from '../adapters/workspace/cache-layout.js';
import { readCacheEntries } from '../adapters/cache/read-cache.js';
import { acquireLock } from '../adapters/fs/lock.js';
import { findPackageRoot } from '../adapters/fs/project-root.js';
import { loadTemplateSources, readTextFile } from '../adapters/fs/read-files.js';
import { sha256File } from '../adapters/fs/sha256.js';
import { readTree } from '../adapters/fs/read-files.js';
import { RENDER_MARKER, replaceDirectory } from '../adapters/fs/write-files.js';
import { compareRendered } from '../core/render/compare-rendered.js';
import { freeBytes } from '../adapters/fs/free-bytes.js';
import { commandExists, filesystemOf, hostKernel, pciDriverOf, probeKvmOncePerBoot } from '../adapters/host/probe-host.js';
import { runPackerBuild } from '../adapters/packer/run-packer.js';
import { flattenImage, readImageInfo, rebaseUnsafe } from '../adapters/qemu-img/qemu-img.js';
import { qemuImgShimDir } from '../adapters/qemu-img/qemu-img-shim.js';
import { ensureBuildKey, readBuildKeyFingerprint, type BuildKey } from '../adapters/ssh/build-key.js';
import type { ArtifactStore } from '../adapters/store/types.js';
import { openStore } from '../adapters/store/open-store.js';
import { readToolVersions } from '../adapters/tools/tool-versions.js';
import { describeGateFailure, evaluateGate, GateVerdict } from '../core/gate/evaluate-gate.js';
import { parseAnsibleRunReport, parseGuestFacts, parseGuestGateReport, type GuestFacts } from '../core/gate/gate-report.js';
import { assembleManifest, ImageManifest, serializeManifest, type ArtifactVerification } from '../core/manifest/image-manifest.js';
import { parseJsonOrUndefined } from '../core/parse-json.js';
import { CacheEntry } from '../core/plan/cache-entry.js';
import { computeSealKey, planBuild, type BuildPlan, type LayerPlan, type ProjectFiles, type ToolVersions } from '../core/plan/plan-build.js';
import { checkPreflight, estimateDiskNeeds, type PreflightNeeds } from '../core/preflight/check-preflight.js';
import { formatBytes, formatTransfer } from '../core/release/transfer-rate.js';
import { encodeCanonicalJson } from '../core/render/encode.js';
import { renderImage } from '../core/render/render-image.js';
import { applyHostProfile } from '../core/spec/host-profile.js';
import type { ImageSpec } from '../core/spec/schema.js';
import { specHashOf } from '../core/spec/spec-hash.js';
import { BuildInterruptedError, GateFailedError, ImagebuildError, PreflightError, VerifyFailedError, VersionExistsError } from '../errors.js';
import { collectProjectFiles } from './project-files.js';
import { loadSpec, type LoadedSpec } from './load-spec.js';
import { pullLayerChain, pushLayer } from './release-layer-cache.js';
import { verifyArtifact } from './verify-image.js';
import { releaseDirName } from '../core/version/release-version.js';
import type { BuildOptions, BuildReport, BuildStep, LayerOutcome } from './build/options.js';

export type { BuildEvent, BuildOptions, BuildReport, BuildStep, LayerOutcome } from './build/options.js';

type Context = {
  spec: ImageSpec;
  loaded: LoadedSpec;
  projectDir: string;
  cacheDir: string;
  versionDir: string;
  buildDir: string;
  plan: BuildPlan;
  tools: ToolVersions;
  accelerator: 'kvm' | 'tcg';
  buildKey?: BuildKey;
  shimDir?: string;
  kernelDir?: string;
  /** The qcow2 the next unit builds on. */
  parentImage?: string;
  lastFacts?: GuestFacts;
  outcomes: LayerOutcome[];
  notices: string[];
  artifactPath?: string;
  sha256?: string;
  sizeBytes?: number;
  finalizeStarted?: number;
  gpuValidated?: boolean;
  verification?: ArtifactVerification;
  sealKey: string;
  /** An earlier release holding the byte-identical sealed image (same seal key): linked, not rebuilt or re-hashed. */
  reuse?: { version: string; artifact: string; manifest: ImageManifest };
  /** Plans again from the cache as it is now (after the key was made or layers were pulled). */
  replan: (entries: readonly CacheEntry[], buildKey: string) => BuildPlan;
  outputRoot: string;
  /** The shared layer cache (spec cache.store), opened on first use. */
  sharedStore?: ArtifactStore;
  /** Pushes of built layers to the shared cache, running while the next layer builds. */
  pushes: Promise<void>[];
};

const MANIFEST = 'image-manifest.json';

/** The part of a listr2 task a step uses: its title, its live output line, and skipping. */
type TaskHandle = { title: string; output: string; skip(message: string): void };

/** Builds a versioned image: preflight, plan, layers (reused or built with Packer and gated), seal, flatten, checksum and manifest. */
export async function buildImage(options: BuildOptions): Promise<BuildReport> {
  const started = Date.now();
  const loaded = await loadSpec(options.specArg, options.cwd);
  options.onEvent?.({ type: 'start', image: loaded.spec.name, version: options.version });
  for (const warning of loaded.warnings) options.onEvent?.({ type: 'warning', message: warning, file: loaded.displayPath });
  const spec = applyHostProfile(loaded.spec, options.hostProfile);
  const projectDir = options.projectDir ?? findPackageRoot();
  const cacheDir = resolve(options.cwd, spec.cache.dir);
  const outputRoot = resolve(options.cwd, spec.output.dir, spec.name);
  const versionDir = join(outputRoot, releaseDirName(options.version));
  const artifactName = `${spec.name}-v${options.version}.qcow2`;

  const [project, toolVersions, cache] = await Promise.all([collectProjectFiles(projectDir), readToolVersions(), readCacheEntries(cacheDir)]);
  const tools: ToolVersions = {
    packer: toolVersions.packer.version ?? 'missing',
    ansible: toolVersions.ansible.version ?? 'missing',
    qemuImg: toolVersions.qemuImg.version ?? 'missing',
  };
  const replan = (entries: readonly CacheEntry[], buildKey: string | undefined) =>
    planBuild(spec, options.version, project, tools, entries, { fromLayer: options.fromLayer, untilLayer: options.untilLayer, buildKey });
  // The key's fingerprint is read, not made, here: an identical rebuild must stay a no-op that writes nothing.
  const plan = replan(cache.entries, await readBuildKeyFingerprint(cacheDir));
  const specHash = specHashOf(spec);

  const existing = await readExistingManifest(join(versionDir, MANIFEST));
  if (existing) {
    const builtKeys = existing.layers.map((l) => l.key);
    const plannedKeys = plan.layers.filter((l) => l.action !== 'skip').map((l) => l.key);
    if (existing.spec_hash === specHash && encodeCanonicalJson(builtKeys) === encodeCanonicalJson(plannedKeys)) {
      return {
        status: 'unchanged',
        version: options.version,
        artifact: join(versionDir, artifactName),
        manifestPath: join(versionDir, MANIFEST),
        layers: plan.layers.map((l) => ({ layer: l.layer, key: l.key, action: l.action === 'skip' ? 'skipped' : 'reused', durationS: 0 })),
        gpuValidated: existing.gpu_validated,
        notices: [`v${options.version} was already built from identical inputs on ${existing.build_date}; nothing to do`],
        durationS: (Date.now() - started) / 1000,
      };
    }
    throw new VersionExistsError(
      `v${options.version} already exists (${join(versionDir, MANIFEST)}) and was built from different inputs; versions are immutable: build a new version`,
    );
  }

  await mkdir(cacheDir, { recursive: true });
  const lock = await acquireLock(join(cacheDir, 'lock'), `imagebuild build v${options.version} (${spec.name})`);
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '');
  const ctx: Context = {
    spec,
    loaded,
    projectDir,
    cacheDir,
    versionDir,
    buildDir: join(cacheDir, 'builds', `${stamp}-v${options.version}`),
    plan,
    tools,
    accelerator: 'tcg',
    sealKey: '',
    replan,
    outputRoot,
    pushes: [],
    outcomes: [],
    notices: [...cache.problems, ...(lock.tookOverFrom ? [`took over a stale lock of pid ${lock.tookOverFrom.pid} (${lock.tookOverFrom.command})`] : [])],
  };

  try {
    // With the lock held no live run owns a staging directory: what is there was left by a killed one.
    const leftovers = await removeLeftovers(cacheDir);
    if (leftovers.length > 0) ctx.notices.push(`removed what an interrupted run left in the cache: ${leftovers.join(', ')}`);
    // The key first: the bootstrap image's cache key includes it, and preflight probes KVM with that image's kernel.
    ctx.buildKey = await ensureBuildKey(cacheDir);
    if (ctx.buildKey.fingerprint !== plan.layers[0]!.inputs.buildKey) ctx.plan = replan((await readCacheEntries(cacheDir)).entries, ctx.buildKey.fingerprint);
    await settlePlan(ctx, project);
    await runTasks(ctx, options, artifactName, specHash, started, stamp, project);
  } catch (error) {
    if (options.signal.aborted && !(error instanceof BuildInterruptedError)) {
      const next = ctx.plan.layers.find((l) => l.action === 'build' && !ctx.outcomes.some((o) => o.layer === l.layer));
      throw new BuildInterruptedError(
        `build interrupted${next ? ` during ${next.layer}` : ''}; nothing half-done was registered — re-run the same command to resume${next ? ` from ${next.layer}` : ''}`,
      );
    }
    throw error;
  } finally {
    // Layers that passed their gate finish uploading even when a later layer failed (not after Ctrl-C).
    if (!options.signal.aborted) await Promise.all(ctx.pushes);
    await lock.release();
  }

  return {
    status: 'built',
    version: options.version,
    artifact: join(versionDir, artifactName),
    manifestPath: join(versionDir, MANIFEST),
    layers: ctx.outcomes,
    gpuValidated: ctx.gpuValidated ?? false,
    notices: ctx.notices,
    durationS: (Date.now() - started) / 1000,
    logsDir: join(versionDir, 'logs'),
  };
}

/** A build step as listr2 runs it, named for observers. */
type StepTask = { step: BuildStep; title: string; startTitle?: () => string; enabled?: () => boolean; task: (ctx: Context, task: TaskHandle) => Promise<void> };

/**
 * What a failed step throws into listr: its plain renderer appends the message to the ✖ line, and the
 * CLI prints the error once more as its last line; so listr gets a pointer and runTasks rethrows the
 * real error after it.
 */
class StepFailure extends Error {
  constructor(readonly original: unknown) {
    super('see below');
  }
}

/** The listr2 task of a step, telling `onEvent` when it starts, ends (with the layer's outcome) or fails. */
function observed(ctx: Context, step: StepTask, onEvent: BuildOptions['onEvent']) {
  return {
    title: step.title,
    enabled: step.enabled,
    task: async (_: Context, task: TaskHandle) => {
      const started = Date.now();
      const seconds = () => (Date.now() - started) / 1000;
      onEvent?.({ type: 'step-start', step: step.step, title: step.startTitle?.() ?? task.title });
      try {
        await step.task(ctx, task);
      } catch (error) {
        onEvent?.({ type: 'step-failed', step: step.step, title: task.title, message: error instanceof Error ? error.message : String(error), durationS: seconds() });
        throw new StepFailure(error);
      }
      const outcome = ctx.outcomes.find((o) => o.layer === step.step);
      onEvent?.({ type: 'step-end', step: step.step, title: task.title, durationS: seconds(), ...(outcome ? { outcome } : {}) });
    },
  };
}

/** The seal key and the identical earlier release of the plan as it now stands. */
async function settlePlan(ctx: Context, project: ProjectFiles): Promise<void> {
  const active = ctx.plan.layers.filter((l) => l.action !== 'skip');
  ctx.sealKey = computeSealKey(active.at(-1)!.key, project, ctx.tools, ctx.spec.output.compress);
  ctx.reuse = active.every((l) => l.action === 'reuse') ? await findRelease(ctx.outputRoot, ctx.sealKey) : undefined;
}

async function runTasks(ctx: Context, options: BuildOptions, artifactName: string, specHash: string, started: number, stamp: string, project: ProjectFiles): Promise<void> {
  // Each task reads its layer's plan when it runs: pulling from the shared cache may have changed it.
  const layerTasks = ctx.plan.layers.map((initial, index): StepTask => ({
    step: initial.layer,
    title: `${initial.layer}`,
    startTitle: () => {
      const l = ctx.plan.layers[index]!;
      return `${l.layer}: ${l.action} ${l.key.slice(0, 12)} (${l.reasons.join('; ')})`;
    },
    task: async (_: Context, task: TaskHandle) => {
      const layerPlan = ctx.plan.layers[index]!;
      if (layerPlan.action === 'skip') {
        ctx.outcomes.push({ layer: layerPlan.layer, key: layerPlan.key, action: 'skipped', durationS: 0 });
        task.skip(`${layerPlan.layer}: skipped (${layerPlan.reasons.join('; ')})`);
        return;
      }
      if (layerPlan.action === 'reuse') {
        await reuseLayer(ctx, layerPlan);
        task.title = `${layerPlan.layer}: reused ${layerPlan.key.slice(0, 12)} (${layerPlan.reasons[0]})`;
        return;
      }
      task.title = `${layerPlan.layer}: building ${layerPlan.key.slice(0, 12)} — ${layerPlan.reasons.join('; ')} (log ${join(ctx.buildDir, 'logs', `${layerPlan.layer}.log`)})`;
      const outcome = await buildLayer(ctx, layerPlan, options.signal, stamp, (line) => (task.output = line));
      task.title = `${layerPlan.layer}: built ${layerPlan.key.slice(0, 12)} in ${outcome.durationS.toFixed(0)} s, gate ${outcome.gate?.summary ?? 'n/a'}`;
    },
  }));

  const steps: StepTask[] = [
      {
        step: 'shared-cache',
        title: 'Pull layers from the shared cache',
        enabled: () => ctx.spec.cache.store !== undefined && ctx.plan.layers.some((l) => l.action === 'build'),
        task: async (_, task) => {
          task.title = await pullShared(ctx, options, project, (line) => (task.output = line));
        },
      },
      {
        step: 'preflight',
        title: 'Preflight',
        task: async (_, task) => {
          await preflight(ctx, options);
          task.title = `Preflight: ${ctx.accelerator}, ${ctx.plan.layers.filter((l) => l.action === 'build').length} layer(s) to build`;
        },
      },
      {
        step: 'prepare',
        title: 'Prepare build directory, key and rendered files',
        task: async () => prepare(ctx, options.renderedDir),
      },
      {
        step: 'bootstrap',
        title: 'Bootstrap base image',
        enabled: () => ctx.spec.os.source.kind === 'bootstrap',
        task: async (_, task) => {
          const result = await ensureBootstrap(ctx, (line) => (task.output = line));
          task.title = result;
        },
      },
      ...layerTasks,
      {
        step: 'reuse-release',
        title: 'Reuse the identical image of an earlier release',
        enabled: () => ctx.reuse !== undefined,
        task: async (_, task) => {
          ctx.finalizeStarted = Date.now();
          await reuseRelease(ctx, artifactName);
          task.title = `Reused the identical image of v${ctx.reuse!.version} (same layers and seal): no Packer run, no re-hash`;
        },
      },
      {
        step: 'seal',
        title: 'Seal and flatten',
        enabled: () => ctx.reuse === undefined,
        task: async (_, task) => {
          ctx.finalizeStarted = Date.now();
          await sealAndFlatten(ctx, options.signal, artifactName, stamp, (line) => (task.output = line));
          task.title = `Sealed and flattened into ${artifactName}`;
        },
      },
      {
        step: 'checksum',
        title: 'Checksum',
        enabled: () => ctx.reuse === undefined,
        task: async (_, task) => {
          ctx.sha256 = await sha256File(ctx.artifactPath!);
          task.title = `SHA-256 ${ctx.sha256}`;
        },
      },
      {
        step: 'verify',
        title: 'Verify: boot the artifact, check it over SSH, re-check its SHA-256',
        enabled: () => options.skipVerify !== true && ctx.reuse === undefined,
        task: async (_, task) => {
          ctx.verification = await verifyArtifact({
            artifact: ctx.artifactPath!,
            spec: ctx.spec,
            accelerator: ctx.accelerator,
            workDir: join(ctx.buildDir, 'work', 'verify'),
            projectDir: ctx.projectDir,
            expectedSha256: ctx.sha256,
            buildKey: ctx.buildKey!.privateKeyFile,
            login: options.verifyLogin,
            onLine: (line) => (task.output = line),
          });
          if (ctx.verification.status === 'failed') {
            throw new VerifyFailedError(`the artifact failed verification: ${ctx.verification.problems.join('; ')}; it stays unpublished in ${stagingVersionDir(ctx)}`);
          }
          task.title = `Verified in ${ctx.verification.duration_s.toFixed(0)} s: boots, SSH ${ctx.verification.ssh_host_key_sha256}, build account refused, in-guest gate ${ctx.verification.gate.status}`;
          if (ctx.verification.gate.status === 'skipped') ctx.notices.push(`verify: ${ctx.verification.gate.summary}`);
        },
      },
      {
        step: 'release',
        title: 'Write image-manifest.json and publish the version directory',
        task: async () => writeRelease(ctx, artifactName, specHash, started),
      },
  ];

  const list = new Listr<Context, 'default' | 'simple' | 'silent', 'simple' | 'silent'>(
    steps.map((step) => observed(ctx, step, options.onEvent)),
    {
      renderer: options.renderer,
      fallbackRenderer: options.renderer === 'silent' ? 'silent' : 'simple',
      // A terminal gets the live task list; a pipe or file gets plain timestamped lines.
      rendererOptions: options.renderer === 'simple' ? { timestamp: PRESET_TIMESTAMP } : { collapseSubtasks: false, showErrorMessage: false },
      fallbackRendererOptions: { timestamp: PRESET_TIMESTAMP },
      exitOnError: true,
      registerSignalListeners: false,
      ctx,
    },
  );
  await list.run(ctx).catch((error: unknown) => {
    throw error instanceof StepFailure ? error.original : error;
  });
}

async function preflight(ctx: Context, options: BuildOptions): Promise<void> {
  const building = ctx.plan.layers.some((l) => l.action === 'build');
  const bootstrapNeeded = ctx.spec.os.source.kind === 'bootstrap';
  const tools: PreflightNeeds['tools'] = [
    { command: 'packer', why: 'to build layers and seal the image' },
    { command: 'qemu-img', why: 'to create and flatten qcow2 images' },
    { command: 'qemu-system-x86_64', why: 'to run build VMs' },
    { command: 'ansible-playbook', why: 'by Packer’s Ansible provisioner' },
    { command: 'ssh-keygen', why: 'to create the build key' },
    ...(bootstrapNeeded ? [
      { command: 'mmdebstrap', why: 'to bootstrap the base root filesystem (os.source.kind: bootstrap)' },
      { command: 'mke2fs', why: 'to turn the root filesystem into a disk image' },
      { command: 'sfdisk', why: 'to partition the disk image' },
    ] : []),
  ];
  const accelerator = options.accel ?? ctx.spec.hardware.build_vm.accelerator;
  const needs: PreflightNeeds = {
    disk: estimateDiskNeeds(ctx.spec, ctx.plan, { cache: ctx.cacheDir, output: ctx.versionDir }),
    tools,
    accelerator,
    passthrough: building ? ctx.spec.hardware.gpu.passthrough : [],
  };
  const commands = Object.fromEntries(await Promise.all(tools.map(async (t) => [t.command, await commandExists(t.command)] as const)));
  const freeBytesByPath = Object.fromEntries(await Promise.all(needs.disk.map(async (d) => [d.path, await freeBytes(d.path)] as const)));
  const filesystems = Object.fromEntries(await Promise.all(needs.disk.map(async (d) => [d.path, await filesystemOf(d.path)] as const)));
  const kvm = accelerator === 'tcg' ? undefined : await probeKvmOncePerBoot(await probeKernel(ctx), ctx.cacheDir);
  const pciDrivers = Object.fromEntries(await Promise.all(needs.passthrough.map(async (a) => [a, await pciDriverOf(a)] as const)));
  const result = checkPreflight(needs, { freeBytes: freeBytesByPath, filesystems, commands, kvm, pciDrivers });
  ctx.notices.push(...result.notices);
  if (result.problems.length > 0) throw new PreflightError(result.problems);
  ctx.accelerator = result.accelerator;
}

async function probeKernel(ctx: Context): Promise<string | undefined> {
  const bootstrapKernel = join(bootstrapDir(ctx), 'vmlinuz');
  return existsSync(bootstrapKernel) ? bootstrapKernel : hostKernel();
}

async function prepare(ctx: Context, renderedDir: string | undefined): Promise<void> {
  for (const dir of ['logs', 'reports', 'work']) await mkdir(join(ctx.buildDir, dir), { recursive: true });
  ctx.shimDir = await qemuImgShimDir(join(ctx.cacheDir, 'shim'));
  const files = renderImage(ctx.spec, await loadTemplateSources(findPackageRoot()), { packerVersion: ctx.tools.packer === 'missing' ? undefined : ctx.tools.packer });
  if (renderedDir !== undefined) {
    const differences = compareRendered(files, await readTree(renderedDir, [RENDER_MARKER]));
    if (differences.length > 0) {
      throw new ImagebuildError(
        'RENDERED_MISMATCH',
        `${renderedDir}: not what this imagebuild renders for the spec (${differences.slice(0, 3).join(', ')}${differences.length > 3 ? `, +${differences.length - 3} more` : ''}); render with the same imagebuild version and Packer version`,
        2,
      );
    }
  }
  await replaceDirectory(join(ctx.buildDir, 'rendered'), files);
  if (ctx.spec.os.source.kind === 'iso') await cp(ctx.buildKey!.publicKeyFile, join(ctx.buildDir, 'rendered', 'base', 'http', 'build-key.pub'));
}

function bootstrapKey(ctx: Context): string {
  const source = ctx.spec.os.source;
  return createHash('sha256')
    .update(encodeCanonicalJson({ source, hostname: ctx.spec.os.hostname, disk: ctx.spec.os.disk_size_gib, key: ctx.buildKey?.publicKey ?? '', proxy: ctx.spec.cache.apt_proxy ?? '' }))
    .digest('hex');
}

function bootstrapDir(ctx: Context): string {
  return join(ctx.cacheDir, 'bootstrap', bootstrapKey(ctx));
}

async function ensureBootstrap(ctx: Context, onLine: (line: string) => void): Promise<string> {
  const source = ctx.spec.os.source;
  if (source.kind !== 'bootstrap') return 'Bootstrap: not needed';
  const dir = bootstrapDir(ctx);
  ctx.kernelDir = dir;
  const base = ctx.plan.layers[0]!;
  if (existsSync(join(dir, 'base.qcow2'))) return `Bootstrap: reused ${dir}`;
  if (base.action !== 'build') return 'Bootstrap: not needed (base layer reused)';
  const staging = `${dir}.staging-${process.pid}`;
  await rm(staging, { recursive: true, force: true });
  await mkdir(staging, { recursive: true });
  try {
    const result = await bootstrapBaseImage({
      workDir: staging,
      suite: source.suite,
      mirror: source.mirror,
      securityMirror: source.security_mirror,
      components: source.components,
      include: source.include,
      hostname: ctx.spec.os.hostname,
      diskSizeGiB: ctx.spec.os.disk_size_gib,
      buildPublicKey: ctx.buildKey!.publicKey,
      aptProxy: ctx.spec.cache.apt_proxy,
      onLine,
    });
    await writeFile(join(staging, 'bootstrap.json'), `${JSON.stringify({ key: bootstrapKey(ctx), rootUuid: result.rootUuid, durationS: result.durationS }, null, 2)}\n`);
    await rename(staging, dir);
    return `Bootstrap: ${source.suite} root filesystem into a ${ctx.spec.os.disk_size_gib} GiB image in ${result.durationS.toFixed(0)} s`;
  } catch (error) {
    await rm(staging, { recursive: true, force: true });
    throw error;
  }
}

async function reuseLayer(ctx: Context, layerPlan: LayerPlan): Promise<void> {
  const entry = await readEntry(ctx.cacheDir, layerPlan.key);
  const image = cacheLayout(ctx.cacheDir).layerImage(layerPlan.key);
  // Overlays record their parent's absolute path; after the cache directory moved, point them at the parent's new place.
  const expectedParent = layerPlan.layer === 'base' ? (entry.bootstrapKey ? join(ctx.cacheDir, 'bootstrap', entry.bootstrapKey, 'base.qcow2') : undefined) : ctx.parentImage;
  if (expectedParent) {
    const info = await readImageInfo(image, { chain: false });
    if (info.backingFile !== expectedParent) {
      if (!existsSync(expectedParent)) {
        throw new ImagebuildError('CACHE_BROKEN', `${image}: its parent ${expectedParent} is missing; run \`imagebuild rollback --layer ${layerPlan.layer}\` and build again`);
      }
      await rebaseUnsafe(image, expectedParent);
      ctx.notices.push(`${layerPlan.layer}: cache moved; re-pointed its overlay from ${info.backingFile} to ${expectedParent}`);
    }
  }
  ctx.parentImage = image;
  if (entry.facts !== undefined) ctx.lastFacts = parseGuestFacts(entry.facts, `${layerPlan.layer} cache entry`);
  const gate = GateVerdict.safeParse(entry.gate);
  if (!gate.success) {
    throw new ImagebuildError('CACHE_ENTRY_INVALID', `${cacheLayout(ctx.cacheDir).layerImage(layerPlan.key)}: cache entry has no valid gate verdict; run \`imagebuild rollback --layer ${layerPlan.layer}\` to drop it`, 1);
  }
  ctx.outcomes.push({ layer: layerPlan.layer, key: layerPlan.key, action: 'reused', durationS: entry.durationS ?? 0, gate: gate.data });
}

async function readEntry(cacheDir: string, key: string): Promise<CacheEntry> {
  return CacheEntry.parse(JSON.parse(await readFile(join(cacheDir, 'layers', key, 'entry.json'), 'utf8')));
}

function packerVars(ctx: Context, unit: string, parentImage: string | undefined): Record<string, string> {
  return {
    project_dir: ctx.projectDir,
    report_dir: join(ctx.buildDir, 'reports', unit),
    output_directory: join(ctx.buildDir, 'work', `${unit}-out`),
    parent_image: parentImage ?? '',
    kernel_dir: ctx.kernelDir ?? '',
    ssh_private_key_file: ctx.buildKey!.privateKeyFile,
    build_key_pub: ctx.buildKey!.publicKeyFile,
    accelerator: ctx.accelerator,
  };
}

async function runUnit(ctx: Context, unit: string, parentImage: string | undefined, signal: AbortSignal, onLine: (line: string) => void): Promise<{ image: string; durationS: number }> {
  const vars = packerVars(ctx, unit, parentImage);
  await mkdir(vars.report_dir!, { recursive: true });
  await rm(vars.output_directory!, { recursive: true, force: true });
  if (signal.aborted) throw new BuildInterruptedError('interrupted');
  const { durationS } = await runPackerBuild({
    templateDir: join(ctx.buildDir, 'rendered', unit),
    templateFile: `${unit}.pkr.hcl`,
    vars,
    logFile: join(ctx.buildDir, 'logs', `${unit}.log`),
    env: { PATH: `${ctx.shimDir}:${process.env.PATH ?? ''}` },
    signal,
    // The log keeps Packer's own timestamps; the progress display has its own.
    onLine: (line) => onLine(line.replace(/^\d{4}-\d\d-\d\dT[\d:]+Z: /, '')),
  });
  const image = join(vars.output_directory!, `${unit}.qcow2`);
  if (!existsSync(image)) throw new ImagebuildError('PACKER_NO_ARTIFACT', `packer build ${unit} succeeded but produced no ${image}; log: ${join(ctx.buildDir, 'logs', `${unit}.log`)}`);
  return { image, durationS };
}

async function readJsonReport(path: string): Promise<unknown> {
  return JSON.parse(await readTextFile(path, 'gate report'));
}

async function buildLayer(ctx: Context, layerPlan: LayerPlan, signal: AbortSignal, stamp: string, onLine: (line: string) => void): Promise<LayerOutcome> {
  const layer = layerPlan.layer;
  const reportsDir = join(ctx.buildDir, 'reports', layer);
  const workDir = join(ctx.buildDir, 'work', `${layer}-out`);
  const logFile = join(ctx.buildDir, 'logs', `${layer}.log`);
  const parent = layer === 'base' ? (ctx.spec.os.source.kind === 'bootstrap' ? join(bootstrapDir(ctx), 'base.qcow2') : undefined) : ctx.parentImage;
  let built: { image: string; durationS: number };
  try {
    built = await runUnit(ctx, layer, parent, signal, onLine);
  } catch (error) {
    if (!signal.aborted) {
      await keepFailedLayer(ctx.cacheDir, { layer, key: layerPlan.key, stamp, workDir, reportsDir, logFile, reason: error instanceof Error ? error.message : String(error) });
    } else {
      await rm(workDir, { recursive: true, force: true });
    }
    throw error;
  }

  // Judge and register; whatever fails here (a bad report, a full disk) leaves no work directory behind.
  let judged: { gate: GateVerdict; facts: GuestFacts };
  try {
    const source = (name: string) => join(reportsDir, name);
    const report = parseGuestGateReport(await readJsonReport(source('gate.json')), source('gate.json'));
    const facts = parseGuestFacts(await readJsonReport(source('facts.json')), source('facts.json'));
    const run = existsSync(source('ansible-run.json')) ? parseAnsibleRunReport(await readJsonReport(source('ansible-run.json')), source('ansible-run.json')) : undefined;
    const idempotence = existsSync(source('ansible-idempotence.json'))
      ? parseAnsibleRunReport(await readJsonReport(source('ansible-idempotence.json')), source('ansible-idempotence.json'))
      : undefined;
    const gate = evaluateGate({ layer, spec: ctx.spec, report, ansible: { run, idempotence } });
    await writeFile(join(reportsDir, 'verdict.json'), `${JSON.stringify(gate, null, 2)}\n`);

    if (gate.status === 'failed') {
      const failedDir = await keepFailedLayer(ctx.cacheDir, { layer, key: layerPlan.key, stamp, workDir, reportsDir, logFile, reason: describeGateFailure(gate) });
      throw new GateFailedError(layer, `${describeGateFailure(gate)}; the layer is kept for debugging in ${failedDir} and was not cached; layers below it stay cached`, failedDir);
    }

    await registerLayer(
      ctx.cacheDir,
      {
        format: 1,
        key: layerPlan.key,
        layer,
        specName: ctx.spec.name,
        createdAt: new Date().toISOString(),
        inputs: layerPlan.inputs,
        image: 'layer.qcow2',
        bootstrapKey: layer === 'base' && ctx.spec.os.source.kind === 'bootstrap' ? bootstrapKey(ctx) : null,
        durationS: built.durationS,
        gate,
        facts,
      },
      { image: built.image, reportsDir },
    );
    judged = { gate, facts };
  } catch (error) {
    await rm(workDir, { recursive: true, force: true }).catch(() => undefined);
    throw error;
  }
  const { gate, facts } = judged;
  await rm(workDir, { recursive: true, force: true });
  ctx.parentImage = cacheLayout(ctx.cacheDir).layerImage(layerPlan.key);
  ctx.lastFacts = facts;
  const outcome: LayerOutcome = { layer, key: layerPlan.key, action: 'built', durationS: built.durationS, gate };
  ctx.outcomes.push(outcome);
  if (ctx.spec.cache.store && ctx.spec.cache.push) ctx.pushes.push(pushShared(ctx, layerPlan));
  if (!gate.gpuValidated) ctx.notices.push(`${layer}: GPU checks skipped (${gate.skipped.join(', ')}) — this image is not GPU-validated`);
  return outcome;
}

async function sharedStore(ctx: Context): Promise<ArtifactStore> {
  ctx.sharedStore ??= await openStore(ctx.spec.cache.store, { cwd: dirname(ctx.loaded.path) });
  return ctx.sharedStore;
}

/**
 * Pulls, bottom-up, the layers the plan would build from the shared cache (each verified before it is
 * renamed into the local cache), then plans again. A layer the store lacks, or one that fails its
 * check, ends the chain: it and those above it are built here. Never fails the build.
 */
async function pullShared(ctx: Context, options: BuildOptions, project: ProjectFiles, onLine: (line: string) => void): Promise<string> {
  const fromIndex = options.fromLayer ? ctx.plan.layers.findIndex((l) => l.layer === options.fromLayer) : ctx.plan.layers.length;
  const wanted = ctx.plan.layers.filter((l, i) => l.action !== 'skip' && i < fromIndex);
  let result: Awaited<ReturnType<typeof pullLayerChain>>;
  try {
    result = await pullLayerChain({ store: await sharedStore(ctx), cacheDir: ctx.cacheDir, keys: wanted.map((l) => l.key), onProgress: (p) => onLine(formatTransfer(p.label, p)) });
  } catch (error) {
    ctx.notices.push(`shared cache: ${(error as Error).message.split('\n')[0]}; building locally`);
    return 'Shared cache unavailable; building locally';
  }
  if (result.problem) ctx.notices.push(`shared cache: ${result.problem}; building it locally`);
  if (result.pulled.length === 0) return `Shared cache: nothing to pull (${wanted.filter((l) => l.action === 'build').length} layer(s) not there)`;
  ctx.plan = ctx.replan((await readCacheEntries(ctx.cacheDir)).entries, ctx.buildKey!.fingerprint);
  await settlePlan(ctx, project);
  const names = result.pulled.map((key) => ctx.plan.layers.find((l) => l.key === key)?.layer ?? key.slice(0, 12));
  return `Pulled ${names.join(', ')} from the shared cache (${formatBytes(result.bytes)}, every file's SHA-256 checked)`;
}

/** Pushes a layer that passed its gate to the shared cache; a failure is a notice, never a failed build. */
async function pushShared(ctx: Context, layerPlan: LayerPlan): Promise<void> {
  try {
    const report = await pushLayer({ store: await sharedStore(ctx), cacheDir: ctx.cacheDir, key: layerPlan.key });
    ctx.notices.push(`shared cache: ${layerPlan.layer} ${layerPlan.key.slice(0, 12)} ${report.status === 'pushed' ? `pushed (${report.files} files)` : 'already there'}`);
  } catch (error) {
    ctx.notices.push(`shared cache: pushing ${layerPlan.layer} ${layerPlan.key.slice(0, 12)} failed: ${(error as Error).message.split('\n')[0]}; it stays in the local cache`);
  }
}

async function sealAndFlatten(ctx: Context, signal: AbortSignal, artifactName: string, stamp: string, onLine: (line: string) => void): Promise<void> {
  if (!ctx.parentImage) throw new ImagebuildError('NO_LAYERS', 'no layer was built or reused; nothing to seal');
  const { image } = await runUnit(ctx, 'seal', ctx.parentImage, signal, onLine).catch(async (error: unknown) => {
    if (!signal.aborted) await keepFailedLayer(ctx.cacheDir, { layer: 'seal', key: '0'.repeat(12), stamp, workDir: join(ctx.buildDir, 'work', 'seal-out'), logFile: join(ctx.buildDir, 'logs', 'seal.log'), reason: String(error) });
    throw error;
  });
  const staging = stagingVersionDir(ctx);
  // Leftovers of interrupted or failed finalisations of this version (we hold the cache lock).
  const parent = dirname(ctx.versionDir);
  const prefix = `${basename(ctx.versionDir)}.partial-`;
  for (const name of existsSync(parent) ? await readdir(parent) : []) {
    if (name.startsWith(prefix)) await rm(join(parent, name), { recursive: true, force: true });
  }
  ctx.artifactPath = join(staging, artifactName);
  try {
    await mkdir(staging, { recursive: true });
    const flat = await flattenImage(image, ctx.artifactPath, { compress: ctx.spec.output.compress, onProgress: (p) => onLine(`flatten ${p.toFixed(0)}%`) });
    ctx.sizeBytes = (await stat(flat.path)).size;
  } catch (error) {
    // A half-written artifact is worth nothing (a full disk, say): the re-run seals and flattens again.
    await rm(staging, { recursive: true, force: true }).catch(() => undefined);
    throw error;
  } finally {
    await rm(join(ctx.buildDir, 'work', 'seal-out'), { recursive: true, force: true }).catch(() => undefined);
  }
}

/** A release of this image (any version) whose sealed image has this seal key and whose artifact is still there. */
async function findRelease(outputRoot: string, sealKey: string): Promise<Context['reuse']> {
  const versions = existsSync(outputRoot) ? (await readdir(outputRoot)).filter((v) => /^v\d+\.\d+\.\d+/.test(v) && !v.includes('.partial-')) : [];
  for (const version of versions.sort().reverse()) {
    const manifestPath = join(outputRoot, version, MANIFEST);
    if (!existsSync(manifestPath)) continue;
    // An unreadable manifest (truncated, say) disqualifies its release from reuse, nothing more.
    const parsed = ImageManifest.safeParse(parseJsonOrUndefined(await readFile(manifestPath, 'utf8')));
    if (!parsed.success || parsed.data.seal_key !== sealKey) continue;
    const artifact = join(outputRoot, version, parsed.data.artifact);
    if (existsSync(artifact) && parsed.data.verify?.status !== 'failed') return { version: parsed.data.version, artifact, manifest: parsed.data };
  }
  return undefined;
}

async function reuseRelease(ctx: Context, artifactName: string): Promise<void> {
  const reuse = ctx.reuse!;
  const staging = stagingVersionDir(ctx);
  await rm(staging, { recursive: true, force: true });
  await mkdir(staging, { recursive: true });
  ctx.artifactPath = join(staging, artifactName);
  // A hard link: releases are immutable, so sharing the bytes is safe and costs nothing; copy across filesystems.
  await link(reuse.artifact, ctx.artifactPath).catch(() => copyFile(reuse.artifact, ctx.artifactPath!));
  ctx.sha256 = reuse.manifest.checksum_sha256;
  ctx.sizeBytes = reuse.manifest.size_bytes;
  ctx.verification = reuse.manifest.verify;
}

function stagingVersionDir(ctx: Context): string {
  return `${ctx.versionDir}.partial-${process.pid}`;
}

async function gitCommit(dir: string): Promise<string | null> {
  const result = await execa('git', ['rev-parse', 'HEAD'], { cwd: dir, reject: false, stdin: 'ignore' });
  return result.exitCode === 0 ? result.stdout.trim() : null;
}

async function writeRelease(ctx: Context, artifactName: string, specHash: string, started: number): Promise<void> {
  if (!ctx.lastFacts) throw new ImagebuildError('NO_FACTS', 'no facts were read from the image; cannot write a manifest');
  const staging = stagingVersionDir(ctx);
  const now = new Date();
  const manifest = assembleManifest({
    spec: ctx.spec,
    version: ctx.plan.version,
    buildDate: now,
    facts: ctx.lastFacts,
    tools: ctx.tools,
    artifact: { fileName: artifactName, sha256: ctx.sha256!, sizeBytes: ctx.sizeBytes! },
    layers: ctx.outcomes.flatMap((o) =>
      o.gate ? [{ layer: o.layer, key: o.key, parentKey: ctx.plan.layers.find((l) => l.layer === o.layer)?.parentKey ?? null, reused: o.action === 'reused', durationS: o.durationS, verdict: o.gate }] : [],
    ),
    specHash,
    gitCommit: await gitCommit(ctx.projectDir),
    host: { hostname: hostname(), accelerator: ctx.accelerator },
    durations: { totalS: (Date.now() - started) / 1000, finalizeS: (Date.now() - (ctx.finalizeStarted ?? Date.now())) / 1000 },
    verify: ctx.verification,
    sealKey: ctx.sealKey,
    artifactReusedFrom: ctx.reuse?.version,
  });
  ctx.gpuValidated = manifest.gpu_validated;
  await writeFile(join(staging, MANIFEST), serializeManifest(manifest));
  await writeFile(join(staging, 'SHA256SUMS'), `${ctx.sha256}  ${artifactName}\n`);
  await cp(join(ctx.buildDir, 'logs'), join(staging, 'logs'), { recursive: true });
  // The gate reports of the layers built in this run (reused layers keep theirs in their cache entry).
  if (existsSync(join(ctx.buildDir, 'reports'))) await cp(join(ctx.buildDir, 'reports'), join(staging, 'reports'), { recursive: true });
  await mkdir(join(ctx.versionDir, '..'), { recursive: true });
  await rename(staging, ctx.versionDir);
  await rm(join(ctx.buildDir, 'work'), { recursive: true, force: true });
}

async function readExistingManifest(path: string): Promise<ImageManifest | undefined> {
  if (!existsSync(path)) return undefined;
  const text = await readFile(path, 'utf8');
  const json = parseJsonOrUndefined(text);
  if (json === undefined) throw new ImagebuildError('MANIFEST_INVALID', `${path}: not JSON (truncated or damaged, ${text.length} bytes); move it away or restore it`);
  const parsed = ImageManifest.safeParse(json);
  if (!parsed.success) throw new ImagebuildError('MANIFEST_INVALID', `${path}: not a valid image manifest (${parsed.error.issues[0]?.message}); move it away or restore it`);
  return parsed.data;
}


