import { resolve } from 'node:path';
import type { GateVerdict } from '../../core/gate/evaluate-gate.js';
import type { ImageManifest } from '../../core/manifest/image-manifest.js';
import type { HostProfile } from '../../core/spec/host-profile.js';
import { isLayerName, LAYER_NAMES, type LayerName } from '../../core/spec/layers.js';
import { UsageError } from '../../errors/index.js';
import { ANSIBLE_STRATEGIES, type AnsibleStrategyChoice } from '../../adapters/tools/ansible-strategy.js';

export type BuildOptions = {
  readonly specArg?: string;
  readonly version: string;
  readonly cwd: string;
  readonly fromLayer?: LayerName;
  readonly untilLayer?: LayerName;
  /** Overrides the spec's build_vm.accelerator. */
  readonly accel?: 'kvm' | 'tcg';
  /** `cpu` builds without the spec's GPU passthrough (GPU gates are then skipped); `gpu` (default) follows the spec. */
  readonly hostProfile?: HostProfile;
  readonly renderer: 'default' | 'simple' | 'silent';
  readonly signal: AbortSignal;
  /** Where ansible/ and guest/ are taken from; defaults to the installed package. */
  readonly projectDir?: string;
  /** A spec user and private key for the verification boot's in-guest checks. */
  readonly verifyLogin?: { readonly user: string; readonly privateKey: string };
  /** Skip the verification boot of the finished artifact (recorded: the manifest then has no verify field). */
  readonly skipVerify?: boolean;
  /** Build without imagebuild's own apt cache (apt-cacher-ng under the cache directory): the guest downloads directly. */
  readonly noPackageCache?: boolean;
  /**
   * Build from the package caches alone: the apt cache serves only what it holds and never connects upstream, the
   * pip wheelhouse must be filled already. For air-gapped hosts, after one build with the network.
   */
  readonly offline?: boolean;
  /** How Ansible drives the build VMs (default auto: Mitogen when the host has a usable one). Not part of any layer key. */
  readonly ansibleStrategy?: AnsibleStrategyChoice;
  /**
   * Files rendered elsewhere (a remote build uploads the laptop's): the build renders as usual and
   * refuses to run unless they are the same files, so what was reviewed is what is built.
   */
  readonly renderedDir?: string;
  /** Told as each step starts, ends or fails (CI-native output, build reports). */
  readonly onEvent?: (event: BuildEvent) => void;
};

/** A step of the build: one of the five layers, or the work around them. */
export type BuildStep = LayerName | 'shared-cache' | 'prove-cache' | 'preflight' | 'prepare' | 'apt-cache' | 'wheelhouse' | 'image-cache' | 'bootstrap' | 'reuse-release' | 'seal' | 'checksum' | 'verify' | 'release';

/** What a build tells its observer while it runs. */
export type BuildEvent =
  | { readonly type: 'start'; readonly image: string; readonly version: string }
  | { readonly type: 'warning'; readonly message: string; readonly file?: string }
  | { readonly type: 'step-start'; readonly step: BuildStep; readonly title: string }
  | { readonly type: 'step-end'; readonly step: BuildStep; readonly title: string; readonly outcome?: LayerOutcome; readonly durationS: number }
  | { readonly type: 'step-failed'; readonly step: BuildStep; readonly title: string; readonly message: string; readonly durationS: number };

export type LayerOutcome = {
  readonly layer: LayerName;
  readonly key: string;
  readonly action: 'reused' | 'built' | 'skipped';
  readonly durationS: number;
  readonly gate?: GateVerdict;
};

export type BuildReport = {
  readonly status: 'built' | 'unchanged';
  readonly version: string;
  readonly artifact: string;
  readonly manifestPath: string;
  /** The release's manifest as written (or as found, for an unchanged version). */
  readonly manifest: ImageManifest;
  readonly layers: readonly LayerOutcome[];
  readonly gpuValidated: boolean;
  readonly notices: readonly string[];
  readonly durationS: number;
  readonly logsDir?: string;
  /** What the build's apt cache carried, when the build ran one (not for an unchanged version or with --no-package-cache). */
  readonly aptCache?: AptCacheReport;
  /** The frameworks layer's pip wheelhouse, when the build built that layer from one. */
  readonly wheelhouse?: WheelhouseReport;
  /** The runtime layer's container images, when the build built that layer from the image cache. */
  readonly imageCache?: ImageCacheReport;
  /** The Ansible strategy the build's Packer runs used, when it ran any. */
  readonly ansibleStrategy?: 'mitogen_linear' | 'linear';
};

/** The traffic of a build's own apt cache (apt-cacher-ng) while its build VMs ran. */
export type AptCacheReport = {
  /** Bytes the proxy downloaded from the repositories (what a warm cache saves on the next build). */
  readonly upstreamBytes: number;
  /** Bytes it served to the build VMs, from the repositories or from its cache. */
  readonly servedBytes: number;
  readonly servedFromCacheBytes: number;
  /** HTTPS repositories the guest fetched directly, uncached. */
  readonly direct: readonly string[];
};

/** The pip wheelhouse a build's frameworks layer installed from. */
export type WheelhouseReport = {
  /** Its key under <cache>/wheelhouses/ (what it holds, never part of a layer key). */
  readonly key: string;
  /** Whether it was filled before (and verified), so no index was asked for anything. */
  readonly hit: boolean;
  readonly wheels: number;
  /** Bytes of wheels the host's pip downloaded for it in this build (0 on a hit). */
  readonly bytesDownloaded: number;
  /** Bytes of wheels the build VM fetched from it. */
  readonly bytesServed: number;
};

/** The container images a build's runtime layer loaded from the image cache. */
export type ImageCacheReport = {
  readonly images: readonly { readonly ref: string; readonly digest: string; readonly hit: boolean }[];
  /** Bytes skopeo saved for this build (0 when every image was in the cache). */
  readonly bytesDownloaded: number;
  /** Bytes the build VM fetched from it. */
  readonly bytesServed: number;
};

// The build's command line, read and written in one place: `imagebuild build` decodes its flags here,
// and a remote build encodes the same request back into the argv the host's imagebuild decodes.

/** What a build command line carries: the argv half of BuildOptions, and publishing after the build. */
export type BuildRequest = Pick<BuildOptions, 'version' | 'specArg' | 'fromLayer' | 'untilLayer' | 'accel' | 'hostProfile' | 'verifyLogin' | 'skipVerify' | 'noPackageCache' | 'offline' | 'ansibleStrategy' | 'renderedDir'> & {
  readonly publish?: boolean;
  readonly allowBumpMismatch?: string;
};

/** The flags that carry a BuildRequest, with their node:util parseArgs types. */
export const BUILD_REQUEST_FLAGS = {
  spec: 'string',
  'from-layer': 'string',
  'until-layer': 'string',
  accel: 'string',
  'host-profile': 'string',
  'verify-user': 'string',
  'verify-key': 'string',
  'no-verify': 'boolean',
  'no-package-cache': 'boolean',
  offline: 'boolean',
  'ansible-strategy': 'string',
  publish: 'boolean',
  'allow-bump-mismatch': 'string',
  rendered: 'string',
} as const satisfies Readonly<Record<string, 'string' | 'boolean'>>;

export type BuildRequestFlag = keyof typeof BUILD_REQUEST_FLAGS;

/** Flag values as node:util parseArgs returns them. */
export type FlagValues = Readonly<Record<string, string | boolean | undefined>>;

const ACCELERATORS = ['kvm', 'tcg'] as const;
const HOST_PROFILES = ['gpu', 'cpu'] as const satisfies readonly HostProfile[];

/** A build request but its version, which is a positional argument. */
export type BuildFlags = Omit<BuildRequest, 'version'>;

/**
 * Reads the build flags among parsed flags (`plan`, `verify` and `cache` take some of them; others are
 * ignored). A bad value or combination is a UsageError naming what is valid.
 */
export function decodeBuildFlags(flags: FlagValues, cwd: string): BuildFlags {
  const fromLayer = layerOfFlag(flags['from-layer'], '--from-layer');
  const untilLayer = layerOfFlag(flags['until-layer'], '--until-layer');
  if (fromLayer && untilLayer && LAYER_NAMES.indexOf(fromLayer) > LAYER_NAMES.indexOf(untilLayer)) {
    throw new UsageError(`--from-layer ${fromLayer} is above --until-layer ${untilLayer}; the from layer must be at or below the until layer`);
  }
  const accel = wordOfFlag(flags.accel, '--accel', ACCELERATORS);
  const hostProfile = wordOfFlag(flags['host-profile'], '--host-profile', HOST_PROFILES);
  const ansibleStrategy = wordOfFlag(flags['ansible-strategy'], '--ansible-strategy', ANSIBLE_STRATEGIES);
  if (flags.offline === true && flags['no-package-cache'] === true) {
    throw new UsageError('--offline builds from the package caches, which --no-package-cache turns off; give one of them');
  }
  const user = textOf(flags['verify-user']);
  const key = textOf(flags['verify-key']);
  if ((user === undefined) !== (key === undefined)) throw new UsageError('--verify-user and --verify-key go together: a spec user and their private key');
  const publish = flags.publish === true;
  const allowBumpMismatch = textOf(flags['allow-bump-mismatch']);
  if (allowBumpMismatch !== undefined && !publish) throw new UsageError('--allow-bump-mismatch goes with --publish');
  const rendered = textOf(flags.rendered);
  return {
    specArg: textOf(flags.spec),
    fromLayer,
    untilLayer,
    accel,
    hostProfile,
    verifyLogin: user === undefined || key === undefined ? undefined : { user, privateKey: resolve(cwd, key) },
    skipVerify: flags['no-verify'] === true,
    noPackageCache: flags['no-package-cache'] === true,
    offline: flags.offline === true,
    ansibleStrategy,
    renderedDir: rendered === undefined ? undefined : resolve(cwd, rendered),
    publish,
    allowBumpMismatch,
  };
}

/** The `imagebuild build` argv of a request, which decodeBuildFlags reads back (paths as given, relative to where it runs). */
export function encodeBuildRequest(request: BuildRequest): string[] {
  const flag = (name: BuildRequestFlag, value: string | undefined) => (value === undefined ? [] : [`--${name}`, value]);
  const on = (name: BuildRequestFlag, value: boolean | undefined) => (value === true ? [`--${name}`] : []);
  return [
    request.version,
    ...flag('spec', request.specArg),
    ...flag('rendered', request.renderedDir),
    ...flag('host-profile', request.hostProfile),
    ...flag('from-layer', request.fromLayer),
    ...flag('until-layer', request.untilLayer),
    ...flag('accel', request.accel),
    ...on('no-verify', request.skipVerify),
    ...on('no-package-cache', request.noPackageCache),
    ...on('offline', request.offline),
    ...flag('ansible-strategy', request.ansibleStrategy),
    ...flag('verify-user', request.verifyLogin?.user),
    ...flag('verify-key', request.verifyLogin?.privateKey),
    ...on('publish', request.publish),
    ...flag('allow-bump-mismatch', request.allowBumpMismatch),
  ];
}

/** A flag naming a layer (`--from-layer`, `rollback --layer`); anything else is a UsageError listing the layers. */
export function layerOfFlag(value: string | boolean | undefined, flag: string): LayerName | undefined {
  const text = textOf(value);
  if (text === undefined) return undefined;
  if (!isLayerName(text)) throw new UsageError(`${flag} ${JSON.stringify(text)} is not a layer; valid: ${LAYER_NAMES.join(', ')}`);
  return text;
}

function wordOfFlag<T extends string>(value: string | boolean | undefined, flag: string, valid: readonly T[]): T | undefined {
  const text = textOf(value);
  if (text === undefined) return undefined;
  const word = valid.find((v) => v === text);
  if (word === undefined) throw new UsageError(`${flag} ${JSON.stringify(text)} is not valid; valid: ${valid.join(', ')}`);
  return word;
}

function textOf(value: string | boolean | undefined): string | undefined {
  return typeof value === 'string' ? value : undefined;
}
