import { join } from 'node:path';
import { dropLayerAndDescendants, keepFailedLayer, registerLayer } from '../../adapters/cache/layer-cache.js';
import { proveLayerImage, recordLayerImage, rewriteLayerImage } from '../../adapters/cache/layer-integrity.js';
import { readCacheEntry } from '../../adapters/cache/read-cache.js';
import { pathExists, removeTree, writeTextFile } from '../../adapters/fs/directories.js';
import { readTextFile } from '../../adapters/fs/read-files.js';
import { readImageInfo, rebaseUnsafe } from '../../adapters/qemu-img/qemu-img.js';
import { describeGateFailure, evaluateGate, GateVerdict } from '../../core/gate/evaluate-gate.js';
import { parseAnsibleRunReport, parseGuestFacts, parseGuestGateReport, type GuestFacts } from '../../core/gate/gate-report.js';
import type { BuildPlan, LayerPlan } from '../../core/plan/plan-build.js';
import { GateFailedError, ImagebuildError } from '../../errors/index.js';
import type { BuildRun } from './build-run.js';
import type { LayerOutcome } from './options.js';
import { runPackerUnit, type UnitBase } from './packer-unit.js';

/** A layer ready to build on: its image, the facts read inside it, and what happened to it. */
export type LayerResult = {
  readonly image: string;
  readonly facts: GuestFacts | undefined;
  readonly outcome: LayerOutcome;
  readonly notices: readonly string[];
};

/**
 * Takes a cached layer as it is: checks its overlay points at the parent's current place (re-pointing
 * it after the cache directory moved) and reads its recorded gate verdict and facts.
 */
export async function reuseLayer(run: BuildRun, layerPlan: LayerPlan, parentImage: string | undefined): Promise<LayerResult> {
  const entry = await readCacheEntry(run.cache.root, layerPlan.key, layerPlan.layer);
  const image = run.cache.layerImage(layerPlan.key);
  const notices: string[] = [];
  // Overlays record their parent's absolute path; after the cache directory moved, point them at the parent's new place.
  const expectedParent = layerPlan.layer === 'base' ? (entry.bootstrapKey ? run.cache.bootstrapImage(entry.bootstrapKey) : undefined) : parentImage;
  if (expectedParent) {
    const info = await readImageInfo(image, { chain: false });
    if (info.backingFile !== expectedParent) {
      if (!pathExists(expectedParent)) {
        throw new ImagebuildError('CACHE_BROKEN', `${image}: its parent ${expectedParent} is missing; run \`imagebuild rollback --layer ${layerPlan.layer}\` and build again`);
      }
      // The header changes, so the recorded digest is made again (the bytes were proven just before, by proveReusedLayers).
      await rewriteLayerImage(run.cache.root, entry, (path) => rebaseUnsafe(path, expectedParent));
      notices.push(`${layerPlan.layer}: cache moved; re-pointed its overlay from ${info.backingFile} to ${expectedParent}`);
    }
  }
  const facts = entry.facts === undefined ? undefined : parseGuestFacts(entry.facts, `${layerPlan.layer} cache entry`);
  const gate = GateVerdict.safeParse(entry.gate);
  if (!gate.success) {
    throw new ImagebuildError('CACHE_ENTRY_INVALID', `${image}: cache entry has no valid gate verdict; run \`imagebuild rollback --layer ${layerPlan.layer}\` to drop it`);
  }
  return { image, facts, outcome: { layer: layerPlan.layer, key: layerPlan.key, action: 'reused', durationS: entry.durationS ?? 0, gate: gate.data }, notices };
}

/** What proving the layers a plan reuses found: notices to show, and the keys dropped (the plan must be made again). */
export type ReuseProof = { readonly notices: readonly string[]; readonly dropped: readonly string[]; readonly hashedBytes: number };

/**
 * Proves each layer the plan reuses is the bytes its gate passed, bottom-up, before any is used: an
 * unchanged stat proves it without reading a byte; otherwise its image is hashed again. A layer whose
 * bytes changed is dropped with every cached layer on it, so the plan builds them again; an entry an
 * older imagebuild wrote (no digest) gets the digest of its bytes as they are now.
 */
export async function proveReusedLayers(run: BuildRun, plan: BuildPlan): Promise<ReuseProof> {
  const notices: string[] = [];
  let hashedBytes = 0;
  for (const layerPlan of plan.layers.filter((l) => l.action === 'reuse')) {
    const entry = await readCacheEntry(run.cache.root, layerPlan.key, layerPlan.layer);
    const proof = await proveLayerImage(run.cache.root, entry);
    hashedBytes += proof.hashedBytes;
    if (proof.status === 'changed') {
      const dropped = await dropLayerAndDescendants(run.cache.root, layerPlan.key);
      notices.push(`${layerPlan.layer}: cached layer ${layerPlan.key.slice(0, 12)} is not the bytes its gate passed (${proof.reason}); dropped it and the ${dropped.length - 1} cached layer(s) on it, building again`);
      return { notices, dropped, hashedBytes };
    }
    if (proof.status === 'unrecorded') {
      await recordLayerImage(run.cache.root, entry, proof.sha256);
      notices.push(`${layerPlan.layer}: cached layer ${layerPlan.key.slice(0, 12)} had no recorded digest (an older imagebuild registered it); recorded SHA-256 ${proof.sha256} of its bytes as found`);
    } else if (proof.hashedBytes > 0) {
      // Same bytes, new stat (the cache was copied or pulled): record it, so the next reuse reads nothing.
      await recordLayerImage(run.cache.root, entry, entry.imageSha256!);
    }
  }
  return { notices, dropped: [], hashedBytes };
}

/**
 * Builds a layer with Packer, judges its gate from the guest's reports, and registers it in the cache
 * only when the gate passed. A failed build or gate keeps the layer for debugging under failed/ and
 * registers nothing; whatever fails while judging leaves no work directory behind.
 */
export async function buildLayer(run: BuildRun, layerPlan: LayerPlan, base: UnitBase, onLine: (line: string) => void): Promise<LayerResult> {
  const layer = layerPlan.layer;
  const reportsDir = run.dir.reportsOf(layer);
  const workDir = run.dir.outputOf(layer);
  const logFile = run.dir.log(layer);
  const failure = (reason: string) => ({ layer, key: layerPlan.key, stamp: run.stamp, workDir, reportsDir, logFile, reason });
  // A base layer is an overlay of the bootstrap image (bootstrap sources) or of nothing (installer, cloud image).
  const bootstrapKey = layerPlan.inputs.bootstrapKey;
  const unitBase = layer === 'base' ? { ...base, parentImage: bootstrapKey === undefined ? undefined : run.cache.bootstrapImage(bootstrapKey) } : base;
  let built: { image: string; durationS: number };
  try {
    built = await runPackerUnit(run, layer, unitBase, onLine);
  } catch (error) {
    if (!run.signal.aborted) await keepFailedLayer(run.cache.root, failure(error instanceof Error ? error.message : String(error)));
    else await removeTree(workDir);
    throw error;
  }

  let judged: { gate: GateVerdict; facts: GuestFacts };
  try {
    judged = await judgeLayer(run, layerPlan, reportsDir);
    if (judged.gate.status === 'failed') {
      const failedDir = await keepFailedLayer(run.cache.root, failure(describeGateFailure(judged.gate)));
      throw new GateFailedError(layer, `${describeGateFailure(judged.gate)}; the layer is kept for debugging in ${failedDir} and was not cached; layers below it stay cached`, failedDir);
    }
    await registerLayer(
      run.cache.root,
      {
        format: 1,
        key: layerPlan.key,
        layer,
        specName: run.spec.name,
        createdAt: new Date().toISOString(),
        inputs: layerPlan.inputs,
        image: 'layer.qcow2',
        bootstrapKey: layerPlan.inputs.bootstrapKey ?? null,
        durationS: built.durationS,
        gate: judged.gate,
        facts: judged.facts,
      },
      { image: built.image, reportsDir },
    );
  } catch (error) {
    await removeTree(workDir).catch(() => undefined);
    throw error;
  }
  await removeTree(workDir);
  const { gate, facts } = judged;
  return {
    image: run.cache.layerImage(layerPlan.key),
    facts,
    outcome: { layer, key: layerPlan.key, action: 'built', durationS: built.durationS, gate },
    notices: gate.gpuValidated ? [] : [`${layer}: GPU checks skipped (${gate.skipped.join(', ')}) — this image is not GPU-validated`],
  };
}

/** Reads the guest's reports of a built layer and evaluates its gate; the verdict is written beside them. */
async function judgeLayer(run: BuildRun, layerPlan: LayerPlan, reportsDir: string): Promise<{ gate: GateVerdict; facts: GuestFacts }> {
  const source = (name: string) => join(reportsDir, name);
  const readJson = async (name: string) => JSON.parse(await readTextFile(source(name), 'gate report')) as unknown;
  const optionalRun = async (name: string) => (pathExists(source(name)) ? parseAnsibleRunReport(await readJson(name), source(name)) : undefined);
  const report = parseGuestGateReport(await readJson('gate.json'), source('gate.json'));
  const facts = parseGuestFacts(await readJson('facts.json'), source('facts.json'));
  const ansible = { run: await optionalRun('ansible-run.json'), idempotence: await optionalRun('ansible-idempotence.json') };
  const gate = evaluateGate({ layer: layerPlan.layer, spec: run.spec, report, ansible });
  await writeTextFile(source('verdict.json'), `${JSON.stringify(gate, null, 2)}\n`);
  return { gate, facts };
}
