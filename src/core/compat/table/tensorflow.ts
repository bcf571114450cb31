import type { CompatTable } from './facts.js';
import { PY_39_TO_311, PY_39_TO_312, PY_39_TO_313, PY_310_TO_313 } from './python-ranges.js';

// TensorFlow "tested build configurations" and the compute capabilities its official wheels are built for
// (.bazelrc: sm_60,sm_70,sm_80,sm_89,compute_90): no sm_100/sm_120 kernels through 2.21.
export const TENSORFLOW = {
  '2.14': { cuda: '11.8', cudnn: '8.7', python: PY_39_TO_311, maxComputeCapability: '9.0', sources: ['tensorflow-tested-builds'] },
  '2.15': { cuda: '12.2', cudnn: '8.9', python: PY_39_TO_311, maxComputeCapability: '9.0', sources: ['tensorflow-tested-builds'] },
  '2.16': { cuda: '12.3', cudnn: '8.9', python: PY_39_TO_312, maxComputeCapability: '9.0', sources: ['tensorflow-tested-builds'] },
  '2.17': { cuda: '12.3', cudnn: '8.9', python: PY_39_TO_312, maxComputeCapability: '9.0', sources: ['tensorflow-tested-builds'] },
  '2.18': { cuda: '12.5', cudnn: '9.3', python: PY_39_TO_312, maxComputeCapability: '9.0', sources: ['tensorflow-tested-builds'] },
  '2.19': { cuda: '12.5', cudnn: '9.3', python: PY_39_TO_312, maxComputeCapability: '9.0', sources: ['tensorflow-tested-builds'] },
  '2.20': { cuda: '12.5', cudnn: '9.3', python: PY_39_TO_313, maxComputeCapability: '9.0', sources: ['tensorflow-tested-builds', 'tensorflow-bazelrc-capabilities', 'tensorflow-issue-101746'] },
  '2.21': { cuda: '12.5', cudnn: '9.3', python: PY_310_TO_313, maxComputeCapability: '9.0', sources: ['tensorflow-tested-builds', 'tensorflow-bazelrc-capabilities', 'tensorflow-issue-97387'] },
} satisfies CompatTable['tensorflow'];
