import type { CompatTable, PyTorchWheelVariant } from './facts.js';
import { PY_38_TO_311, PY_38_TO_312, PY_39_TO_313, PY_310_TO_314, PY_310_TO_315 } from './python-ranges.js';

// Wheel arch lists (TORCH_CUDA_ARCH_LIST of PyTorch's .ci/manywheel/build_cuda.sh per release). Only 7.5 and up
// matter for the GPUs below; the pre-Turing entries of the oldest lists are carried over from the first table.
const SM_50_TO_90 = ['5.0', '6.0', '7.0', '7.5', '8.0', '8.6', '9.0'];
const SM_75_TO_120 = ['7.5', '8.0', '8.6', '9.0', '10.0', '12.0'];
const SM_70_TO_120 = ['7.0', '7.5', '8.0', '8.6', '9.0', '10.0', '12.0'];

const CU118 = { cuda: '11.8', computeCapabilities: SM_50_TO_90 };
const CU121 = { cuda: '12.1', computeCapabilities: SM_50_TO_90 };
const CU124 = { cuda: '12.4', computeCapabilities: SM_50_TO_90 };
const CU126 = { cuda: '12.6', computeCapabilities: SM_50_TO_90 };
const CU128_SM75 = { cuda: '12.8', computeCapabilities: SM_75_TO_120 };
const CU128_SM70 = { cuda: '12.8', computeCapabilities: SM_70_TO_120 };
const CU129_SM70 = { cuda: '12.9', computeCapabilities: SM_70_TO_120 };
const CU129_SM75 = { cuda: '12.9', computeCapabilities: SM_75_TO_120 };
const CU130 = { cuda: '13.0', computeCapabilities: SM_75_TO_120 };
const CU132 = { cuda: '13.2', computeCapabilities: SM_75_TO_120 };

// The NCCL a release's wheels of a variant pin (`nvidia-nccl-cuXX==…` in their metadata).
function wheels(variant: PyTorchWheelVariant, nccl: string): PyTorchWheelVariant {
  return { ...variant, nccl };
}

// Carried over from the table's first version (see table.ts).
const OLDER_PYTORCH = ['pytorch-release-matrix'] as const;

// PyTorch RELEASE.md's release compatibility matrix (Python, CUDA variants with their cuDNN and NCCL), the
// architecture tables per release, and the release announcements for which variant PyPI serves.
export const PYTORCH = {
  '2.1': { python: PY_38_TO_311, variants: { cu118: CU118, cu121: CU121 }, sources: OLDER_PYTORCH },
  '2.2': { python: PY_38_TO_312, variants: { cu118: CU118, cu121: CU121 }, sources: OLDER_PYTORCH },
  '2.3': { python: PY_38_TO_312, variants: { cu118: CU118, cu121: CU121 }, sources: OLDER_PYTORCH },
  '2.4': { python: PY_38_TO_312, variants: { cu118: CU118, cu121: CU121, cu124: CU124 }, sources: OLDER_PYTORCH },
  '2.5': { python: PY_39_TO_313, variants: { cu118: CU118, cu121: CU121, cu124: CU124 }, sources: OLDER_PYTORCH },
  '2.6': { python: PY_39_TO_313, variants: { cu118: CU118, cu124: CU124, cu126: CU126 }, sources: OLDER_PYTORCH },
  '2.7': { python: PY_39_TO_313, variants: { cu118: CU118, cu126: wheels(CU126, '2.26.2'), cu128: wheels(CU128_SM75, '2.26.2') },
    pypiDefault: 'cu126', sources: ['pytorch-release-matrix', 'pytorch-arch-support', 'pytorch-torch-2.7.1-metadata', 'nccl-issue-2418'] },
  '2.8': { python: PY_39_TO_313, variants: { cu126: wheels(CU126, '2.27.3'), cu128: wheels(CU128_SM70, '2.27.3'), cu129: CU129_SM70 },
    sources: ['pytorch-release-matrix', 'pytorch-arch-support', 'pytorch-pr-155233'] },
  '2.9': { python: PY_310_TO_314, variants: { cu126: wheels(CU126, '2.27.5'), cu128: wheels(CU128_SM70, '2.27.5'), cu129: CU129_SM70, cu130: wheels(CU130, '2.27.7') },
    pypiDefault: 'cu128', sources: ['pytorch-release-matrix', 'pytorch-arch-support', 'pytorch-2.9-build-matrix', 'pytorch-cu129-index'] },
  '2.10': { python: PY_310_TO_314, variants: { cu126: wheels(CU126, '2.27.5'), cu128: wheels(CU128_SM70, '2.27.5'), cu129: CU129_SM70, cu130: wheels(CU130, '2.28.9') },
    pypiDefault: 'cu128', sources: ['pytorch-release-matrix', 'pytorch-arch-support', 'pytorch-pr-190386', 'pytorch-cu129-index'] },
  '2.11': { python: PY_310_TO_314, variants: { cu126: wheels(CU126, '2.28.9'), cu128: wheels(CU128_SM75, '2.28.9'), cu129: CU129_SM75, cu130: wheels(CU130, '2.28.9') },
    pypiDefault: 'cu130', sources: ['pytorch-release-matrix', 'pytorch-arch-support', 'pytorch-pr-190386', 'pytorch-2.11-announcement', 'pytorch-cu129-index'] },
  // cu128 is gone from 2.12 on (pytorch/pytorch#178665).
  '2.12': { python: PY_310_TO_314, variants: { cu126: wheels(CU126, '2.29.3'), cu130: wheels(CU130, '2.29.7'), cu132: wheels(CU132, '2.29.7') },
    pypiDefault: 'cu130', sources: ['pytorch-release-matrix', 'pytorch-arch-support', 'pytorch-pr-190386', 'pytorch-rfc-178665'] },
  '2.13': { python: PY_310_TO_315, variants: { cu126: wheels(CU126, '2.29.3'), cu130: wheels(CU130, '2.29.7'), cu132: wheels(CU132, '2.29.7') },
    pypiDefault: 'cu130', sources: ['pytorch-release-matrix', 'pytorch-arch-support', 'pytorch-pr-190386'] },
  // The 2.14 RFC proposed cu132 as PyPI's default; the release kept cu130 (colabtools#6093).
  '2.14': { python: PY_310_TO_315, variants: { cu126: wheels(CU126, '2.29.3'), cu130: wheels(CU130, '2.30.7'), cu132: wheels(CU132, '2.30.7') },
    pypiDefault: 'cu130', sources: ['pytorch-release-matrix', 'pytorch-arch-support', 'pytorch-pr-194367', 'pytorch-2.14-announcement'] },
} satisfies CompatTable['pytorch'];
