import { ncclWheelForVariant, osFactsOf } from '../compat/table-queries.js';
import { gpuStackOf } from './parse-spec.js';
import type { ImageSpec } from './schema.js';
import { resolveVendorSources } from './vendor-sources.js';

// What the frameworks layer installs with pip, in the ai_frameworks role's own terms (its defaults/main.yml builds
// the same strings from the rendered vars; test/vendor-mirror-pypi.test.ts runs the role's defaults with the real
// ansible-playbook and checks they agree). The build's pip wheelhouse is filled from exactly this.

/** The frameworks layer's pip installs: one resolver run, then the --no-deps pins over it. */
export type FrameworksPipSet = {
  /** Resolved together (torch, TensorFlow, vLLM), each pinned `name==version`. */
  readonly requirements: readonly string[];
  /** Installed last without dependencies: the spec's NCCL over the one torch pins. */
  readonly noDeps: readonly string[];
  /** PyPI or the spec's mirror of it. */
  readonly indexUrl: string;
  /** PyTorch's index for the CUDA variant. */
  readonly extraIndexUrls: readonly string[];
  /** The venv's Python minor ("3.12"). */
  readonly pythonVersion: string;
  /** The guest distribution's glibc ("2.39"), when the compatibility table knows the distribution. */
  readonly glibc: string | undefined;
};

/** The venv's Python: the spec's, else the distribution's own. "" when neither is known (the role then fails its check). */
export function frameworksPythonVersion(spec: ImageSpec): string {
  return spec.layers.frameworks.python.version ?? osFactsOf(gpuStackOf(spec).os)?.python ?? '';
}

/** The frameworks layer's pip set of a spec. */
export function frameworksPipSet(spec: ImageSpec): FrameworksPipSet {
  const { frameworks } = spec.layers;
  const vendor = resolveVendorSources(spec);
  const ncclWheel = ncclWheelForVariant(frameworks.pytorch.cuda_variant);
  return {
    requirements: [
      `torch==${frameworks.pytorch.version}+${frameworks.pytorch.cuda_variant}`,
      ...(frameworks.tensorflow ? [`tensorflow==${frameworks.tensorflow.version}`] : []),
      ...(frameworks.vllm ? [`vllm==${frameworks.vllm.version}`] : []),
    ],
    noDeps: frameworks.nccl && ncclWheel ? [`${ncclWheel}==${frameworks.nccl.version}`] : [],
    indexUrl: vendor.pypiIndexUrl,
    extraIndexUrls: [vendor.pytorchIndexUrl],
    pythonVersion: frameworksPythonVersion(spec),
    glibc: osFactsOf(gpuStackOf(spec).os)?.glibc,
  };
}
