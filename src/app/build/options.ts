import type { GateVerdict } from '../../core/gate/evaluate-gate.js';
import type { HostProfile } from '../../core/spec/host-profile.js';
import type { LayerName } from '../../core/spec/layers.js';

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
  /** Where ansible/ and packer/guest/ are taken from; defaults to the installed package. */
  readonly projectDir?: string;
  /** A spec user and private key for the verification boot's in-guest checks. */
  readonly verifyLogin?: { readonly user: string; readonly privateKey: string };
  /** Skip the verification boot of the finished artifact (recorded: the manifest then has no verify field). */
  readonly skipVerify?: boolean;
  /**
   * Files rendered elsewhere (a remote build uploads the laptop's): the build renders as usual and
   * refuses to run unless they are the same files, so what was reviewed is what is built.
   */
  readonly renderedDir?: string;
  /** Told as each step starts, ends or fails (CI-native output, build reports). */
  readonly onEvent?: (event: BuildEvent) => void;
};

/** A step of the build: one of the five layers, or the work around them. */
export type BuildStep = LayerName | 'shared-cache' | 'preflight' | 'prepare' | 'bootstrap' | 'reuse-release' | 'seal' | 'checksum' | 'verify' | 'release';

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
  readonly layers: readonly LayerOutcome[];
  readonly gpuValidated: boolean;
  readonly notices: readonly string[];
  readonly durationS: number;
  readonly logsDir?: string;
};
