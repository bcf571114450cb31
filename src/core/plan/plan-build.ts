import { createHash } from 'node:crypto';
import { parseDocument } from 'yaml';
import { encodeCanonicalJson } from '../render/encode.js';
import { LAYER_NAMES, type LayerName } from '../spec/layers.js';
import { verifyLoginUser, type ImageSpec } from '../spec/schema.js';

/** Versions of the tools whose behaviour shapes a layer's content. */
export type ToolVersions = { readonly packer: string; readonly ansible: string; readonly qemuImg: string };

/** Everything a layer's content depends on; its key is the hash of this record. */
export type LayerInputs = {
  readonly layer: LayerName;
  /** The spec fields the layer is built from, keyed by their spec path (e.g. `layers.frameworks`). */
  readonly spec: Readonly<Record<string, unknown>>;
  /** SHA-256 of every project file the layer uses (templates, playbook, roles, guest checks), by path. */
  readonly files: Readonly<Record<string, string>>;
  readonly tools: ToolVersions;
  readonly parentKey: string | null;
  /** Base layer only: fingerprint of the build key whose public half the image authorises. */
  readonly buildKey?: string;
  /** Base layer of a spec with a verify_login user only: fingerprint of the verification key the image authorises. */
  readonly verifyKey?: string;
  /** Bootstrapped base layer only: the key of the bootstrap image it is an overlay of. */
  readonly bootstrapKey?: string;
};

/** What the plan needs to know of a layer already in the cache. */
export type CachedLayer = {
  readonly key: string;
  readonly layer: LayerName;
  readonly specName: string;
  readonly createdAt: string;
  readonly inputs: LayerInputs;
};

/** The project's files the planner may select from: digests of everything, texts of playbooks and role metadata. */
export type ProjectFiles = {
  readonly digests: Readonly<Record<string, string>>;
  readonly texts: Readonly<Record<string, string>>;
};

export type LayerPlan = {
  readonly layer: LayerName;
  readonly key: string;
  readonly parentKey: string | null;
  readonly action: 'reuse' | 'build' | 'skip';
  /** Built whatever the cache holds: at or above --from-layer. A shared cache is not asked for it either. */
  readonly forced: boolean;
  readonly reasons: readonly string[];
  readonly inputs: LayerInputs;
};

export type BuildPlan = {
  readonly imageName: string;
  readonly version: string;
  readonly artifact: string;
  readonly layers: readonly LayerPlan[];
};

export type PlanOptions = {
  readonly fromLayer?: LayerName;
  readonly untilLayer?: LayerName;
  /**
   * Fingerprint (`SHA256:…`) of the cache's build key. The base layer authorises it, so it is one of the
   * base layer's inputs: a layer built for another key cannot be built upon (Packer could not log in).
   */
  readonly buildKey?: string;
  /** Fingerprint of the cache's verification key; a base layer input when a spec user has verify_login. */
  readonly verifyKey?: string;
};

const SHARED_FILES = ['ansible/ansible.cfg', 'ansible/callback_plugins/', 'guest/', 'packer/plugins.pkr.hcl', 'templates/packer/'];

/** The spec fields each layer is built from. Build-VM size, output and storage settings change no layer's content. */
function specSlice(spec: ImageSpec, layer: LayerName): Record<string, unknown> {
  switch (layer) {
    case 'base':
      return { os: spec.os, users: spec.users, 'layers.base': spec.layers.base };
    case 'driver':
      return { 'hardware.gpu': spec.hardware.gpu, 'layers.driver': spec.layers.driver };
    case 'runtime':
      return { 'layers.runtime': spec.layers.runtime };
    case 'frameworks':
      return { 'layers.frameworks': spec.layers.frameworks };
    case 'validation':
      return { 'layers.validation': spec.layers.validation };
  }
}

/** Roles a playbook applies, including role dependencies from each role's meta/main.yml. */
export function rolesOfPlaybook(playbookText: string, roleMetaTexts: Readonly<Record<string, string>>): string[] {
  const found = new Set<string>();
  const visit = (name: string) => {
    if (found.has(name)) return;
    found.add(name);
    const meta = roleMetaTexts[name];
    if (meta !== undefined) for (const dep of roleNames((parseDocument(meta).toJS() as { dependencies?: unknown } | null)?.dependencies)) visit(dep);
  };
  const plays: unknown = parseDocument(playbookText).toJS();
  for (const play of Array.isArray(plays) ? plays : []) {
    if (play && typeof play === 'object') {
      for (const name of roleNames((play as { roles?: unknown }).roles)) visit(name);
      for (const section of ['tasks', 'pre_tasks', 'post_tasks'] as const) {
        for (const name of includedRoles((play as Record<string, unknown>)[section])) visit(name);
      }
    }
  }
  return [...found].sort();
}

function roleNames(list: unknown): string[] {
  if (!Array.isArray(list)) return [];
  return list.flatMap((item) => {
    if (typeof item === 'string') return [item];
    if (item && typeof item === 'object' && 'role' in item && typeof item.role === 'string') return [item.role];
    return [];
  });
}

function includedRoles(tasks: unknown): string[] {
  if (!Array.isArray(tasks)) return [];
  return tasks.flatMap((task) => {
    if (!task || typeof task !== 'object') return [];
    const names: string[] = [];
    for (const [module, args] of Object.entries(task)) {
      if (/(^|\.)(include_role|import_role)$/.test(module) && args && typeof args === 'object' && 'name' in args && typeof args.name === 'string') {
        names.push(args.name);
      }
      if (module === 'block' || module === 'rescue' || module === 'always') names.push(...includedRoles(args));
    }
    return names;
  });
}

/** Selects the files a layer's content depends on and returns their digests. */
export function layerFiles(spec: ImageSpec, layer: LayerName, project: ProjectFiles): Record<string, string> {
  const playbook = `ansible/playbooks/${layer}.yml`;
  const roleMetas = Object.fromEntries(
    Object.entries(project.texts)
      .map(([path, text]) => [/^ansible\/roles\/([^/]+)\/meta\/main\.ya?ml$/.exec(path)?.[1], text] as const)
      .filter((entry): entry is readonly [string, string] => entry[0] !== undefined),
  );
  const roles = rolesOfPlaybook(project.texts[playbook] ?? '', roleMetas);
  const prefixes = [
    ...SHARED_FILES,
    playbook,
    `templates/ansible/${layer}.vars.yml.hbs`,
    ...roles.map((r) => `ansible/roles/${r}/`),
    ...(layer === 'base' && spec.os.source.kind === 'iso' ? ['templates/autoinstall/'] : []),
    ...(layer === 'base' && spec.os.source.kind === 'cloud_image' ? ['templates/cloud-init/'] : []),
  ];
  return Object.fromEntries(
    Object.entries(project.digests)
      .filter(([path]) => prefixes.some((p) => (p.endsWith('/') ? path.startsWith(p) : path === p)))
      .sort(([a], [b]) => (a < b ? -1 : 1)),
  );
}

/** The content-addressed key of a layer: SHA-256 of its canonical inputs, which include the parent's key. */
export function computeLayerKey(inputs: LayerInputs): string {
  return createHash('sha256').update(encodeCanonicalJson(inputs)).digest('hex');
}

/** Plans a build: each layer's key, and whether it is reused from the cache or built, and why. */
export function planBuild(
  spec: ImageSpec,
  version: string,
  project: ProjectFiles,
  tools: ToolVersions,
  cached: readonly CachedLayer[],
  options: PlanOptions = {},
): BuildPlan {
  const byKey = new Map(cached.map((c) => [c.key, c]));
  const layers: LayerPlan[] = [];
  let parentKey: string | null = null;
  let parentAction: LayerPlan['action'] | undefined;
  const fromIndex = options.fromLayer ? LAYER_NAMES.indexOf(options.fromLayer) : -1;
  const untilIndex = options.untilLayer ? LAYER_NAMES.indexOf(options.untilLayer) : LAYER_NAMES.length - 1;

  LAYER_NAMES.forEach((layer, index) => {
    const inputs: LayerInputs = {
      layer,
      spec: specSlice(spec, layer),
      files: layerFiles(spec, layer, project),
      tools,
      parentKey,
      ...(layer === 'base' && options.buildKey !== undefined ? { buildKey: options.buildKey } : {}),
      ...(layer === 'base' && verifyLoginUser(spec) !== undefined && options.verifyKey !== undefined ? { verifyKey: options.verifyKey } : {}),
      ...(layer === 'base' && spec.os.source.kind === 'bootstrap' ? { bootstrapKey: computeBootstrapKey(spec, options.buildKey) } : {}),
    };
    const key = computeLayerKey(inputs);
    const hit = byKey.get(key);
    const forced = fromIndex >= 0 && index >= fromIndex && index <= untilIndex;
    let action: LayerPlan['action'];
    let reasons: string[];
    if (index > untilIndex) {
      action = 'skip';
      reasons = [`above --until-layer ${options.untilLayer}`];
    } else if (forced) {
      action = 'build';
      reasons = [index === fromIndex ? `forced by --from-layer ${options.fromLayer}` : `parent ${LAYER_NAMES[index - 1]} is rebuilt`];
    } else if (hit && parentAction !== 'build') {
      // A cached overlay is only valid on the parent bytes it was built on: once the parent is
      // rebuilt (its entry was missing or broken), the child is rebuilt too, whatever its key.
      action = 'reuse';
      reasons = [`cached ${hit.createdAt}`];
    } else {
      action = 'build';
      reasons = parentAction === 'build' ? [`parent ${LAYER_NAMES[index - 1]} is rebuilt`] : explainMiss(inputs, previousEntry(cached, spec.name, layer));
    }
    layers.push({ layer, key, parentKey, action, forced, reasons, inputs });
    parentKey = key;
    parentAction = action;
  });

  return { imageName: spec.name, version, artifact: `${spec.name}-v${version}.qcow2`, layers };
}

function previousEntry(cached: readonly CachedLayer[], specName: string, layer: LayerName): CachedLayer | undefined {
  return cached
    .filter((c) => c.layer === layer && c.specName === specName)
    .reduce<CachedLayer | undefined>((newest, c) => (!newest || c.createdAt > newest.createdAt ? c : newest), undefined);
}

/** Names what differs between a layer's inputs and its newest cached build, field by field. */
export function explainMiss(inputs: LayerInputs, previous: CachedLayer | undefined): string[] {
  if (!previous) return ['not in the cache'];
  const reasons: string[] = [];
  for (const path of diffValues(previous.inputs.spec, inputs.spec, '')) reasons.push(`${path.path} changed: ${path.before} → ${path.after}`);
  const files = new Set([...Object.keys(previous.inputs.files), ...Object.keys(inputs.files)]);
  for (const file of [...files].sort()) {
    const before = previous.inputs.files[file];
    const after = inputs.files[file];
    if (before === after) continue;
    reasons.push(before === undefined ? `${file} added` : after === undefined ? `${file} removed` : `${file} changed`);
  }
  for (const tool of ['packer', 'ansible', 'qemuImg'] as const) {
    if (previous.inputs.tools[tool] !== inputs.tools[tool]) reasons.push(`${tool} ${previous.inputs.tools[tool]} → ${inputs.tools[tool]}`);
  }
  if (previous.inputs.buildKey !== inputs.buildKey) reasons.push(`build key ${previous.inputs.buildKey ?? 'unrecorded'} → ${inputs.buildKey ?? 'unknown'}`);
  if (previous.inputs.verifyKey !== inputs.verifyKey) reasons.push(`verification key ${previous.inputs.verifyKey ?? 'none'} → ${inputs.verifyKey ?? 'none'}`);
  if (reasons.length === 0 && previous.inputs.bootstrapKey !== inputs.bootstrapKey) reasons.push('bootstrap image inputs changed (cache.apt_proxy or the build key)');
  if (reasons.length === 0 && previous.inputs.parentKey !== inputs.parentKey) reasons.push('parent layer differs from the cached build');
  return reasons.length > 0 ? reasons : ['not in the cache'];
}

type ValueChange = { path: string; before: string; after: string };

function diffValues(before: unknown, after: unknown, path: string): ValueChange[] {
  if (isPlainObject(before) && isPlainObject(after)) {
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
    return keys.flatMap((k) => diffValues(before[k], after[k], path ? `${path}.${k}` : k));
  }
  const a = encodeCanonicalJson(before);
  const b = encodeCanonicalJson(after);
  return a === b ? [] : [{ path, before: a ?? 'unset', after: b ?? 'unset' }];
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/**
 * The key of a bootstrapped base image (`<cache>/bootstrap/<key>/`): everything that shapes the root
 * filesystem mmdebstrap writes, including the apt proxy and build key it writes into the image. The
 * base layer's inputs carry it, so the two keys always agree on what counts.
 */
export function computeBootstrapKey(spec: ImageSpec, buildKeyFingerprint: string | undefined): string {
  const source = spec.os.source;
  return createHash('sha256')
    .update(encodeCanonicalJson({ source, hostname: spec.os.hostname, disk: spec.os.disk_size_gib, buildKey: buildKeyFingerprint ?? '', proxy: spec.cache.apt_proxy ?? '' }))
    .digest('hex');
}

/** Files the seal step depends on: its playbook and role, its vars template and the Packer templates. */
const SEAL_FILES = ['ansible/playbooks/seal.yml', 'ansible/roles/seal/', 'templates/ansible/seal.vars.yml.hbs', 'templates/packer/', 'ansible/ansible.cfg'];

/**
 * The key of a sealed, flattened image: the top layer's key, the seal step's files, the tools and the
 * compression setting. Two releases with the same seal key hold byte-identical images.
 */
export function computeSealKey(topLayerKey: string, project: ProjectFiles, tools: ToolVersions, compress: boolean): string {
  const files = Object.fromEntries(
    Object.entries(project.digests)
      .filter(([path]) => SEAL_FILES.some((p) => (p.endsWith('/') ? path.startsWith(p) : path === p)))
      .sort(([a], [b]) => (a < b ? -1 : 1)),
  );
  return createHash('sha256').update(encodeCanonicalJson({ topLayerKey, files, tools, compress })).digest('hex');
}
