import { describe, expect, it } from 'vitest';

import {
  checkGpuStack,
  describeGpu,
  minimumsFor,
  type CompatFinding,
  type CompatOptions,
  type GpuStack,
} from './check-gpu-stack.js';
import { compareDottedVersions, majorMinor, majorOf, parseDottedVersion } from './dotted-version.js';
import { COMPAT_TABLE, type CompatTable } from './table.js';

// The day the table was last looked up; lifecycle findings are relative to it.
const TODAY = '2026-12-05';

// The versions the reference architecture document names, on the demo box's hardware.
const REFERENCE_STACK: GpuStack = {
  os: 'ubuntu-24.04', gpu: { model: 'rtx-5090', count: 4 }, driver: { version: '550.127.05', kernelModule: 'proprietary' },
  cuda: '12.4.0', python: {},
  pytorch: { version: '2.1.0', cudaVariant: 'cu121' }, tensorflow: { version: '2.14.0' }, vllm: { version: '0.2.1' },
};

// The demo box's current stack.
const BLACKWELL_STACK: GpuStack = {
  os: 'ubuntu-24.04', gpu: { model: 'rtx-5090', count: 4 }, driver: { version: '580.173.02', kernelModule: 'open' },
  cuda: '13.0.2', cudnn: '9.28.1', python: { venv: '/opt/ai/venv' },
  pytorch: { version: '2.13.0', cudaVariant: 'cu130' }, nccl: { version: '2.31.2' }, vllm: { version: '0.29.0' },
  containerToolkit: '1.20.0',
};

// What the table used to call a good Blackwell stack (2025): torch 2.7.1 cu128 bundles NCCL 2.26.2.
const BLACKWELL_2025_STACK: GpuStack = {
  os: 'ubuntu-24.04', gpu: { model: 'rtx-5090', count: 4 }, driver: { version: '570.172.08', kernelModule: 'open' },
  cuda: '12.8.1', cudnn: '9.10.2', python: { venv: '/opt/ai/venv' },
  pytorch: { version: '2.7.1', cudaVariant: 'cu128' }, tensorflow: { version: '2.19.0' }, vllm: { version: '0.10.1' },
};

// The 2025 stack on two RTX PRO 6000 Blackwell with PyTorch 2.8's cu129 wheels, whose bundled NCCL the table does not know.
const RTX_PRO_CU129_STACK: GpuStack = {
  ...BLACKWELL_2025_STACK,
  gpu: { model: 'rtx-pro-6000-blackwell', count: 2 }, driver: { version: '575.64.05', kernelModule: 'open' },
  cuda: '12.9.1', pytorch: { version: '2.8.0', cudaVariant: 'cu129' }, vllm: { version: '0.10.2' },
};

const ADA_STACK: GpuStack = {
  os: 'ubuntu-24.04', gpu: { model: 'rtx-4090', count: 1 }, driver: { version: '550.127.05', kernelModule: 'proprietary' },
  cuda: '12.4.1', cudnn: '9.1.0', python: { venv: '/opt/ai/venv' },
  pytorch: { version: '2.5.1', cudaVariant: 'cu124' }, tensorflow: { version: '2.18.0' }, vllm: { version: '0.7.3' },
};

const HOPPER_STACK: GpuStack = {
  os: 'ubuntu-22.04', gpu: { model: 'h100', count: 4 }, driver: { version: '550.127.05', kernelModule: 'open' },
  cuda: '12.4.1', python: {},
  pytorch: { version: '2.5.1', cudaVariant: 'cu124' }, tensorflow: { version: '2.18.0' },
};

const FRAMEWORKLESS_STACK: GpuStack = {
  os: 'ubuntu-24.04', gpu: { model: 'rtx-5090', count: 1 }, driver: { version: '580.173.02', kernelModule: 'open' },
  cuda: '13.0.2', python: {},
};

const PEER_TO_PEER_WARNING: CompatFinding = aWarning('hardware.gpu.count', '4x NVIDIA GeForce RTX 5090 have no PCIe peer-to-peer, so NCCL runs without P2P (NCCL_P2P_DISABLE=1) through host memory; expect DDP scaling bounded by PCIe and host bandwidth');

const SUPPORTED_ON_TODAY =
  'R620 (Long Term Support, end of life September 2029), R595 (Production, end of life March 2027), R580 (Long Term Support, end of life June 2028)';

function blackwellWith(patch: Partial<GpuStack>): GpuStack {
  return { ...BLACKWELL_STACK, ...patch };
}

function blackwell2025With(patch: Partial<GpuStack>): GpuStack {
  return { ...BLACKWELL_2025_STACK, ...patch };
}

function adaWith(patch: Partial<GpuStack>): GpuStack {
  return { ...ADA_STACK, ...patch };
}

function anError(path: string, message: string): CompatFinding {
  return { severity: 'error', path, message };
}

function aWarning(path: string, message: string): CompatFinding {
  return { severity: 'warning', path, message };
}

function errorsOf(findings: readonly CompatFinding[]): CompatFinding[] {
  return findings.filter((finding) => finding.severity === 'error');
}

function findingsAt(findings: readonly CompatFinding[], path: string): CompatFinding[] {
  return findings.filter((finding) => finding.path === path);
}

describe('checkGpuStack on the stacks that matter', () => {
  it("refuses the reference's versions on RTX 5090 and names the minimums", () => {
    const stack = REFERENCE_STACK;

    const errors = errorsOf(checkGpuStack(stack));

    expect(errors).toContainEqual(anError('layers.driver.nvidia_driver', 'NVIDIA driver 550.127.05 cannot drive NVIDIA GeForce RTX 5090 (Blackwell, sm_120); needs driver >= 570.86.16'));
    expect(errors).toContainEqual(anError('layers.driver.cuda', 'CUDA 12.4 has no support for sm_120 (NVIDIA GeForce RTX 5090); needs CUDA >= 12.8'));
    expect(errors).toContainEqual(anError('layers.frameworks.pytorch.version', 'PyTorch 2.1 wheels ship no kernels for sm_120 (NVIDIA GeForce RTX 5090); needs PyTorch >= 2.7 with cu128 wheels'));
  });

  it('reports the reference findings in check order', () => {
    const stack = REFERENCE_STACK;

    const findings = checkGpuStack(stack, { today: TODAY });

    expect(findings.map(({ severity, path }) => `${severity} ${path}`)).toEqual([
      'warning hardware.gpu.count',
      'error layers.driver.nvidia_driver',
      'warning layers.driver.nvidia_driver',
      'error layers.driver.kernel_module',
      'error layers.driver.cuda',
      'error layers.frameworks.python.venv',
      'error layers.frameworks.python.version',
      'error layers.frameworks.pytorch.version',
      'error layers.frameworks.python.version',
      'warning layers.frameworks.tensorflow.version',
      'warning layers.frameworks.tensorflow.version',
      'error layers.frameworks.vllm.version',
      'error layers.frameworks.vllm.version',
    ]);
  });

  it("refuses the 2025 Blackwell stack: torch 2.7.1's NCCL 2.26.2 breaks DDP on 4x RTX 5090", () => {
    const stack = BLACKWELL_2025_STACK;

    const errors = errorsOf(checkGpuStack(stack));

    expect(errors).toEqual([
      anError('layers.frameworks.pytorch.version', "torch 2.7.1+cu128 bundles NCCL 2.26.2, which hits an illegal memory access on all-reduces of 512 KiB and more on 4x NVIDIA GeForce RTX 5090 (two or more sm_120 GPUs without NVLink, https://github.com/NVIDIA/nccl/issues/2418), so DDP's gradient all-reduce fails; pin layers.frameworks.nccl.version to 2.31.2 or later (the first version reported working there, https://github.com/NVIDIA/nccl/issues/2418)"),
    ]);
  });

  it("accepts the demo box's stack with only the peer-to-peer warning", () => {
    const stack = BLACKWELL_STACK;

    const findings = checkGpuStack(stack, { today: TODAY });

    expect(findings).toEqual([PEER_TO_PEER_WARNING]);
  });

  it('accepts RTX 4090 with driver 550, CUDA 12.4 and PyTorch 2.5.1 cu124', () => {
    const stack = ADA_STACK;

    const findings = checkGpuStack(stack);

    expect(findings).toEqual([]);
  });

  it('accepts 4x H100 on Ubuntu 22.04 without a venv', () => {
    const stack = HOPPER_STACK;

    const findings = checkGpuStack(stack);

    expect(findings).toEqual([]);
  });
});

type FiringCase = { check: string; name: string; stack: GpuStack; options?: CompatOptions; expected: CompatFinding };

describe('each check fires', () => {
  it.each<FiringCase>([
    { check: 'os known', name: 'unknown OS lists the known ones', stack: blackwellWith({ os: 'ubuntu-20.04' }), expected: anError('os', 'OS ubuntu-20.04 is not in the compatibility table; known: ubuntu-24.04, ubuntu-22.04, debian-12') },
    { check: 'gpu model known', name: 'unknown GPU model lists the known ones', stack: blackwellWith({ gpu: { model: 'rtx-6000', count: 4 } }), expected: anError('hardware.gpu.model', 'GPU model rtx-6000 is not in the compatibility table; known: rtx-5090, rtx-pro-6000-blackwell, b200, rtx-4090, l40s, h100, a100, rtx-3090') },
    { check: 'gpu model known', name: 'an Object.prototype member is not a GPU model', stack: blackwellWith({ gpu: { model: 'constructor', count: 1 } }), expected: expect.objectContaining({ severity: 'error', path: 'hardware.gpu.model' }) },
    { check: 'peer-to-peer', name: 'several GeForce cards', stack: blackwellWith({ gpu: { model: 'rtx-4090', count: 2 }, driver: { version: '580.173.02', kernelModule: 'proprietary' } }), expected: aWarning('hardware.gpu.count', '2x NVIDIA GeForce RTX 4090 have no PCIe peer-to-peer, so NCCL runs without P2P (NCCL_P2P_DISABLE=1) through host memory; expect DDP scaling bounded by PCIe and host bandwidth') },
    { check: 'driver version', name: 'driver is not a version', stack: blackwellWith({ driver: { version: 'latest', kernelModule: 'open' } }), expected: anError('layers.driver.nvidia_driver', 'NVIDIA driver version "latest" is not a dotted version; write it like 580.173.02') },
    { check: 'driver supports gpu', name: 'branch 565 on RTX 5090', stack: blackwellWith({ driver: { version: '565', kernelModule: 'open' } }), expected: anError('layers.driver.nvidia_driver', 'NVIDIA driver 565 cannot drive NVIDIA GeForce RTX 5090 (Blackwell, sm_120); needs driver >= 570.86.16') },
    { check: 'kernel module', name: 'proprietary modules on Blackwell', stack: blackwellWith({ driver: { version: '580.173.02', kernelModule: 'proprietary' } }), expected: anError('layers.driver.kernel_module', 'kernel module flavour proprietary does not support Blackwell; use open') },
    { check: 'cuda known', name: 'CUDA minor that was never released', stack: blackwellWith({ cuda: '12.7.0' }), expected: anError('layers.driver.cuda', 'CUDA 12.7.0 is not in the compatibility table; known: 11.0, 11.1, 11.2, 11.3, 11.4, 11.5, 11.6, 11.7, 11.8, 12.0, 12.1, 12.2, 12.3, 12.4, 12.5, 12.6, 12.8, 12.9, 13.0, 13.1, 13.2, 13.3, 13.4, 13.5') },
    { check: 'cuda known', name: 'CUDA older than the table', stack: adaWith({ cuda: '10.2.89' }), expected: anError('layers.driver.cuda', 'CUDA 10.2.89 is older than the compatibility table; use CUDA >= 11.0') },
    { check: 'cuda known', name: 'CUDA newer than the table is a warning', stack: blackwellWith({ cuda: '13.6.0' }), expected: aWarning('layers.driver.cuda', 'CUDA 13.6.0 is not in the compatibility table (newest known: 13.5); cannot check it') },
    { check: 'cuda known', name: 'CUDA is not a version', stack: blackwellWith({ cuda: '12.8.1+local' }), expected: expect.objectContaining({ severity: 'error', path: 'layers.driver.cuda' }) },
    { check: 'cuda supports gpu', name: 'CUDA 12.6 on B200', stack: blackwellWith({ gpu: { model: 'b200', count: 8 }, cuda: '12.6.3' }), expected: anError('layers.driver.cuda', 'CUDA 12.6 has no support for sm_100 (NVIDIA B200); needs CUDA >= 12.8') },
    { check: 'driver supports cuda', name: 'CUDA 12.8 on driver 550', stack: adaWith({ cuda: '12.8.1' }), expected: anError('layers.driver.cuda', 'CUDA 12.8 needs NVIDIA driver >= 570.26 (its GA release), spec has 550.127.05; raise the driver or lower CUDA') },
    { check: 'driver supports cuda', name: 'CUDA 13.1 on driver 580', stack: blackwellWith({ cuda: '13.1.1' }), expected: anError('layers.driver.cuda', 'CUDA 13.1 needs NVIDIA driver >= 590.44.01 (its GA release), spec has 580.173.02; raise the driver or lower CUDA') },
    { check: 'driver supports cuda', name: "CUDA 13.4 has no GA driver, so CUDA 13's minor-version minimum 580 applies", stack: blackwellWith({ cuda: '13.4.0', driver: { version: '575.64.05', kernelModule: 'open' } }), expected: anError('layers.driver.cuda', "CUDA 13.4 needs NVIDIA driver >= 580 (CUDA 13's minor-version compatibility), spec has 575.64.05; raise the driver or lower CUDA") },
    { check: 'driver supports cuda', name: 'CUDA 13.5 on driver 575', stack: blackwellWith({ cuda: '13.5.0', driver: { version: '575', kernelModule: 'open' } }), expected: expect.objectContaining(anError('layers.driver.cuda', expect.stringContaining('CUDA 13.5 needs NVIDIA driver >= 580 ('))) },
    { check: 'cudnn', name: 'cuDNN 9 with CUDA 11', stack: adaWith({ cuda: '11.8.0', pytorch: { version: '2.5.1', cudaVariant: 'cu118' } }), expected: aWarning('layers.driver.cudnn', 'cuDNN 9.1.0 with CUDA 11.8.0: cuDNN 9 targets CUDA 12 and has only limited CUDA 11 builds; use cuDNN 8.9 with CUDA 11, or CUDA >= 12') },
    { check: 'cudnn', name: 'cuDNN is not a version', stack: blackwellWith({ cudnn: '9.x' }), expected: expect.objectContaining({ severity: 'error', path: 'layers.driver.cudnn' }) },
    { check: 'cudnn', name: 'cuDNN 9.11 has no CUDA 13 build', stack: blackwellWith({ cudnn: '9.11.0' }), expected: anError('layers.driver.cudnn', 'cuDNN 9.11.0 has no build for CUDA 13 (spec has CUDA 13.0.2); the first cuDNN with one is 9.12.0 (newest known: 9.28.1)') },
    { check: 'python version', name: 'Python is not a version', stack: blackwellWith({ python: { version: '3.twelve', venv: '/opt/ai/venv' } }), expected: anError('layers.frameworks.python.version', 'Python version "3.twelve" is not a dotted version; write it like 3.12') },
    { check: 'python venv', name: 'no venv on Ubuntu 24.04', stack: blackwellWith({ python: {} }), expected: anError('layers.frameworks.python.venv', 'Ubuntu 24.04 refuses pip install into the system Python (PEP 668); set layers.frameworks.python.venv, e.g. /opt/ai/venv') },
    {
      check: 'python venv',
      name: 'no venv on Debian 12',
      stack: blackwellWith({ os: 'debian-12', python: {} }),
      expected: expect.objectContaining({
        path: 'layers.frameworks.python.venv',
        message: expect.stringContaining('Debian 12 refuses pip install'),
      }),
    },
    { check: 'pytorch known', name: 'PyTorch older than the table', stack: adaWith({ pytorch: { version: '2.0.1', cudaVariant: 'cu118' } }), expected: anError('layers.frameworks.pytorch.version', 'PyTorch 2.0.1 is older than the compatibility table; use PyTorch >= 2.1') },
    { check: 'pytorch known', name: 'PyTorch newer than the table is a warning', stack: blackwellWith({ pytorch: { version: '2.15.0', cudaVariant: 'cu130' } }), expected: aWarning('layers.frameworks.pytorch.version', 'PyTorch 2.15.0 is not in the compatibility table (newest known: 2.14); cannot check it') },
    { check: 'pytorch python', name: 'Python 3.12 with PyTorch 2.1', stack: REFERENCE_STACK, expected: anError('layers.frameworks.python.version', 'Python 3.12 is not supported by PyTorch 2.1 (wheels for 3.8–3.11); use Python 3.8–3.11 or PyTorch 2.2–2.14') },
    { check: 'pytorch variant available', name: 'PyTorch 2.1 has no cu128', stack: blackwellWith({ pytorch: { version: '2.1.0', cudaVariant: 'cu128' } }), expected: anError('layers.frameworks.pytorch.cuda_variant', 'PyTorch 2.1 has no cu128 wheels; available: cu118, cu121') },
    { check: 'pytorch variant available', name: 'cu128 is gone from PyTorch 2.12 on', stack: blackwellWith({ pytorch: { version: '2.13.0', cudaVariant: 'cu128' } }), expected: anError('layers.frameworks.pytorch.cuda_variant', 'PyTorch 2.13 has no cu128 wheels; available: cu126, cu130, cu132') },
    { check: 'pytorch supports gpu', name: 'the right PyTorch with the wrong wheel variant', stack: blackwellWith({ pytorch: { version: '2.13.0', cudaVariant: 'cu126' } }), expected: anError('layers.frameworks.pytorch.cuda_variant', 'PyTorch 2.13 cu126 wheels ship no kernels for sm_120 (NVIDIA GeForce RTX 5090); use cu130 or cu132') },
    { check: 'pytorch supports gpu', name: 'PyTorch 2.6 on B200', stack: blackwellWith({ gpu: { model: 'b200', count: 8 }, pytorch: { version: '2.6.0', cudaVariant: 'cu126' } }), expected: anError('layers.frameworks.pytorch.version', 'PyTorch 2.6 wheels ship no kernels for sm_100 (NVIDIA B200); needs PyTorch >= 2.7 with cu128 wheels') },
    { check: 'pytorch variant driver', name: 'cu128 wheels on driver 550', stack: adaWith({ pytorch: { version: '2.7.1', cudaVariant: 'cu128' }, vllm: { version: '0.10.1' } }), expected: anError('layers.frameworks.pytorch.cuda_variant', 'PyTorch cu128 wheels bundle CUDA 12.8 and need NVIDIA driver >= 570.26, spec has 550.127.05; raise the driver or use cu118') },
    { check: 'pytorch variant driver', name: 'cu129 wheels on a 570 driver, where no other variant drives sm_120', stack: blackwell2025With({ pytorch: { version: '2.8.0', cudaVariant: 'cu129' }, vllm: { version: '0.10.2' } }), expected: anError('layers.frameworks.pytorch.cuda_variant', 'PyTorch cu129 wheels bundle CUDA 12.9 and need NVIDIA driver >= 575.51.03, spec has 570.172.08; raise the driver or use cu128') },
    { check: 'pytorch variant driver', name: 'cu132 wheels on driver 580', stack: blackwellWith({ pytorch: { version: '2.13.0', cudaVariant: 'cu132' } }), expected: anError('layers.frameworks.pytorch.cuda_variant', 'PyTorch cu132 wheels bundle CUDA 13.2 and need NVIDIA driver >= 595.45.04, spec has 580.173.02; raise the driver or use cu130') },
    { check: 'tensorflow known', name: 'TensorFlow older than the table', stack: adaWith({ tensorflow: { version: '2.13.0' } }), expected: anError('layers.frameworks.tensorflow.version', 'TensorFlow 2.13.0 is older than the compatibility table; use TensorFlow >= 2.14') },
    { check: 'tensorflow known', name: 'TensorFlow newer than the table is a warning', stack: adaWith({ tensorflow: { version: '2.22.0' } }), expected: aWarning('layers.frameworks.tensorflow.version', 'TensorFlow 2.22.0 is not in the compatibility table (newest known: 2.21); cannot check it') },
    { check: 'tensorflow python', name: 'Python 3.13 with TensorFlow 2.19', stack: adaWith({ python: { version: '3.13', venv: '/opt/ai/venv' }, tensorflow: { version: '2.19.0' } }), expected: anError('layers.frameworks.python.version', 'Python 3.13 is not supported by TensorFlow 2.19 (wheels for 3.9–3.12); use Python 3.9–3.12 or TensorFlow 2.20–2.21') },
    { check: 'tensorflow supports gpu', name: 'TensorFlow on RTX 5090 is a warning', stack: blackwellWith({ tensorflow: { version: '2.19.0' } }), expected: aWarning('layers.frameworks.tensorflow.version', 'TensorFlow 2.19 wheels ship kernels up to compute_90 and none for sm_120 (NVIDIA GeForce RTX 5090): the first GPU op fails at run time ("not built with CUDA kernel binaries compatible with compute capability 12.0", then CUDA_ERROR_INVALID_PTX), it does not fall back to an empty device list; the frameworks gate will fail on this GPU, so leave TensorFlow out or build it for sm_120 yourself') },
    { check: 'tensorflow cuda', name: 'TensorFlow tested with CUDA 11 on CUDA 12', stack: adaWith({ tensorflow: { version: '2.14.1' } }), expected: aWarning('layers.frameworks.tensorflow.version', 'TensorFlow 2.14 was tested with CUDA 11.8, spec has CUDA 12.4.1; use TensorFlow 2.15–2.21 (tested with CUDA 12) or install tensorflow[and-cuda], which brings its own CUDA libraries') },
    { check: 'tensorflow cuda', name: 'no TensorFlow was tested with CUDA 13', stack: blackwellWith({ tensorflow: { version: '2.21.0' } }), expected: aWarning('layers.frameworks.tensorflow.version', 'TensorFlow 2.21 was tested with CUDA 12.5, spec has CUDA 13.0.2; install tensorflow[and-cuda], which brings its own CUDA libraries') },
    { check: 'vllm known', name: 'vLLM older than the table', stack: REFERENCE_STACK, expected: anError('layers.frameworks.vllm.version', 'vLLM 0.2.1 is older than the compatibility table; use vLLM >= 0.4.3') },
    { check: 'vllm known', name: 'vLLM newer than the table is a warning', stack: blackwellWith({ vllm: { version: '0.30.0' } }), expected: aWarning('layers.frameworks.vllm.version', 'vLLM 0.30.0 is not in the compatibility table (newest known: 0.29.x); cannot check it') },
    { check: 'vllm known', name: 'vLLM 0.27.0, the release the table leaves out', stack: blackwellWith({ vllm: { version: '0.27.0' } }), expected: expect.objectContaining(anError('layers.frameworks.vllm.version', expect.stringMatching(/^vLLM 0\.27\.0 is not in the compatibility table; known: .*0\.20\.0–0\.26\.x, 0\.27\.1–0\.29\.x$/))) },
    { check: 'vllm known', name: 'vLLM is not a version', stack: blackwellWith({ vllm: { version: 'main' } }), expected: expect.objectContaining({ severity: 'error', path: 'layers.frameworks.vllm.version' }) },
    { check: 'vllm torch pin', name: 'vLLM 0.26.0 with torch 2.13.0', stack: blackwellWith({ vllm: { version: '0.26.0' } }), expected: anError('layers.frameworks.vllm.version', 'vLLM 0.26.0 pins torch 2.11.0, spec has 2.13.0; use PyTorch 2.11.0 or a vLLM built for 2.13.0 (0.27.1–0.29.x)') },
    { check: 'vllm torch pin', name: 'vLLM 0.10.2 with torch 2.7.1', stack: blackwell2025With({ vllm: { version: '0.10.2' } }), expected: anError('layers.frameworks.vllm.version', 'vLLM 0.10.2 pins torch 2.8.0, spec has 2.7.1; use PyTorch 2.8.0 or a vLLM built for 2.7.1 (0.10.0–0.10.1)') },
    { check: 'vllm torch pin', name: 'no vLLM pins the spec torch', stack: adaWith({ pytorch: { version: '2.5.0', cudaVariant: 'cu124' } }), expected: anError('layers.frameworks.vllm.version', 'vLLM 0.7.3 pins torch 2.5.1, spec has 2.5.0; use PyTorch 2.5.1 (no vLLM in the compatibility table pins 2.5.0)') },
    { check: 'vllm supports gpu', name: 'vLLM 0.8.5 on RTX 5090', stack: blackwellWith({ vllm: { version: '0.8.5' } }), expected: anError('layers.frameworks.vllm.version', 'vLLM 0.8.5 has no kernels for NVIDIA GeForce RTX 5090 (Blackwell, sm_120); needs vLLM >= 0.9.0') },
  ])('$check: $name', ({ stack, options, expected }) => {
    const findings = checkGpuStack(stack, options);

    expect(findings).toContainEqual(expected);
  });
});

type QuietCase = { check: string; name: string; stack: GpuStack; options?: CompatOptions; path: string };

describe('each check stays quiet on a valid field', () => {
  it.each<QuietCase>([
    // Whole stacks first, then single fields changed from one.
    { check: 'os known', name: 'Ubuntu 24.04', stack: BLACKWELL_STACK, path: 'os' },
    { check: 'gpu model known', name: 'rtx-5090', stack: BLACKWELL_STACK, path: 'hardware.gpu.model' },
    { check: 'peer-to-peer', name: 'four H100', stack: HOPPER_STACK, path: 'hardware.gpu.count' },
    { check: 'driver supports gpu', name: '580.173.02 on RTX 5090', stack: BLACKWELL_STACK, path: 'layers.driver.nvidia_driver' },
    { check: 'kernel module', name: 'open on Blackwell', stack: BLACKWELL_STACK, path: 'layers.driver.kernel_module' },
    { check: 'kernel module', name: 'proprietary on Ada', stack: ADA_STACK, path: 'layers.driver.kernel_module' },
    { check: 'cuda known / supports gpu / driver', name: 'CUDA 13.0.2 on 580', stack: BLACKWELL_STACK, path: 'layers.driver.cuda' },
    { check: 'cuda known / supports gpu / driver', name: 'CUDA 12.8.1 on 570', stack: BLACKWELL_2025_STACK, path: 'layers.driver.cuda' },
    { check: 'cuda known / supports gpu / driver', name: 'CUDA 12.4.1 on RTX 4090', stack: ADA_STACK, path: 'layers.driver.cuda' },
    { check: 'cudnn', name: 'cuDNN 9.28.1 with CUDA 13', stack: BLACKWELL_STACK, path: 'layers.driver.cudnn' },
    { check: 'cudnn', name: 'cuDNN 9.10 with CUDA 12', stack: BLACKWELL_2025_STACK, path: 'layers.driver.cudnn' },
    { check: 'python version / pytorch & tensorflow python', name: 'system 3.12', stack: BLACKWELL_STACK, path: 'layers.frameworks.python.version' },
    { check: 'python venv', name: 'venv set', stack: BLACKWELL_STACK, path: 'layers.frameworks.python.venv' },
    { check: 'python venv', name: 'nothing to pip install', stack: FRAMEWORKLESS_STACK, path: 'layers.frameworks.python.venv' },
    { check: 'pytorch known / supports gpu', name: '2.13.0 on RTX 5090', stack: BLACKWELL_STACK, path: 'layers.frameworks.pytorch.version' },
    { check: 'pytorch supports gpu', name: 'sm_86 wheels run on sm_89', stack: ADA_STACK, path: 'layers.frameworks.pytorch.version' },
    { check: 'pytorch variant', name: 'cu130 on 580', stack: BLACKWELL_STACK, path: 'layers.frameworks.pytorch.cuda_variant' },
    { check: 'pytorch variant', name: 'cu128 on 570', stack: BLACKWELL_2025_STACK, path: 'layers.frameworks.pytorch.cuda_variant' },
    { check: 'pytorch variant', name: 'cu124 on 550', stack: ADA_STACK, path: 'layers.frameworks.pytorch.cuda_variant' },
    { check: 'pytorch variant', name: 'PyTorch 2.8 cu129 on RTX PRO 6000 Blackwell', stack: RTX_PRO_CU129_STACK, path: 'layers.frameworks.pytorch.cuda_variant' },
    { check: 'tensorflow', name: 'TensorFlow 2.18 on RTX 4090', stack: ADA_STACK, path: 'layers.frameworks.tensorflow.version' },
    { check: 'tensorflow supports gpu', name: 'TensorFlow 2.18 on H100 (sm_90)', stack: HOPPER_STACK, path: 'layers.frameworks.tensorflow.version' },
    { check: 'vllm', name: 'vLLM 0.29.0 with torch 2.13.0 on RTX 5090', stack: BLACKWELL_STACK, path: 'layers.frameworks.vllm.version' },
    { check: 'vllm supports gpu', name: 'vLLM 0.7.3 on RTX 4090', stack: ADA_STACK, path: 'layers.frameworks.vllm.version' },
    { check: 'container toolkit', name: '1.20.0', stack: BLACKWELL_STACK, path: 'layers.runtime.container_toolkit' },
    { check: 'container toolkit', name: 'none installed', stack: ADA_STACK, path: 'layers.runtime.container_toolkit' },
    { check: 'peer-to-peer', name: 'a single GeForce card', stack: blackwellWith({ gpu: { model: 'rtx-5090', count: 1 } }), path: 'hardware.gpu.count' },
    { check: 'driver version / driver supports gpu', name: 'a bare 580 branch', stack: blackwellWith({ driver: { version: '580', kernelModule: 'open' } }), path: 'layers.driver.nvidia_driver' },
    { check: 'driver supports cuda', name: 'a bare 580 branch counts as the newest 580 for CUDA 13.0', stack: blackwellWith({ driver: { version: '580', kernelModule: 'open' } }), path: 'layers.driver.cuda' },
    { check: 'driver supports cuda', name: 'a bare 570 branch counts as the newest 570 for CUDA 12.8', stack: blackwell2025With({ driver: { version: '570', kernelModule: 'open' } }), path: 'layers.driver.cuda' },
    { check: 'cudnn', name: 'cuDNN 9.12.0, the first with a CUDA 13 build', stack: blackwellWith({ cudnn: '9.12.0' }), path: 'layers.driver.cudnn' },
    { check: 'cudnn', name: 'cuDNN 8.9 with CUDA 11', stack: adaWith({ cuda: '11.8.0', cudnn: '8.9.7' }), path: 'layers.driver.cudnn' },
    { check: 'python version / pytorch & tensorflow python', name: 'explicit 3.12.3', stack: blackwellWith({ python: { version: '3.12.3', venv: '/opt/ai/venv' } }), path: 'layers.frameworks.python.version' },
    { check: 'python venv', name: 'Ubuntu 22.04 allows pip into the system Python', stack: blackwellWith({ os: 'ubuntu-22.04', python: {} }), path: 'layers.frameworks.python.venv' },
    { check: 'vllm', name: 'vLLM 0.27.1, the first that pins torch 2.13.0', stack: blackwellWith({ vllm: { version: '0.27.1' } }), path: 'layers.frameworks.vllm.version' },
    { check: 'vllm', name: 'vLLM 0.10.1.1 with torch 2.7.1', stack: blackwell2025With({ vllm: { version: '0.10.1.1' } }), path: 'layers.frameworks.vllm.version' },
    { check: 'vllm supports gpu', name: 'vLLM 0.9.0 with torch 2.7.0 on RTX 5090', stack: blackwell2025With({ pytorch: { version: '2.7.0', cudaVariant: 'cu128' }, vllm: { version: '0.9.0' } }), path: 'layers.frameworks.vllm.version' },
  ])('$check: $name', ({ stack, options, path }) => {
    const findings = checkGpuStack(stack, options);

    expect(findingsAt(findings, path)).toEqual([]);
  });
});

type LifecycleCase = { name: string; driver: string; today: string; expected: CompatFinding };

describe('checkDriverBranchLifecycle', () => {
  const path = 'layers.driver.nvidia_driver';

  it.each<LifecycleCase>([
    { name: 'R570 after its end of life (February 2026)', driver: '570.172.08', today: TODAY,
      expected: aWarning(path, `driver branch R570 is past end of life (ended February 2026) on ${TODAY} and gets no security fixes; supported branches: ${SUPPORTED_ON_TODAY}`) },
    { name: 'R580 on the first day of its end-of-life month has ended', driver: '580.173.02', today: '2028-06-01',
      expected: aWarning(path, 'driver branch R580 is past end of life (ended June 2028) on 2028-06-01 and gets no security fixes; supported branches: R620 (Long Term Support, end of life September 2029)') },
    {
      name: 'R580 exactly 180 days before its end of life is ending',
      driver: '580.173.02',
      today: '2027-12-04',
      expected: {
        severity: 'warning',
        path,
        message: expect.stringMatching(
          /^driver branch R580 reaches end of life in June 2028 \(180 days after 2027-12-04\); plan the move to one of: R620 \(Long Term Support, end of life September 2029\)/,
        ),
      },
    },
    { name: 'R595, a Production branch, 86 days before its end of life', driver: '595.71.05', today: TODAY,
      expected: expect.objectContaining(aWarning(path, expect.stringContaining(`driver branch R595 reaches end of life in March 2027 (86 days after ${TODAY})`))) },
    { name: 'R590, a New Feature Branch', driver: '590.48.01', today: TODAY,
      expected: aWarning(path, `driver branch R590 is a New Feature Branch: short-lived, with no end-of-life commitment; for an image prefer a supported branch: ${SUPPORTED_ON_TODAY}`) },
    { name: 'R575, which NVIDIA lists as ended without a date', driver: '575.64.05', today: TODAY,
      expected: aWarning(path, `driver branch R575 is past end of life (listed as ended by NVIDIA in August 2025) on ${TODAY} and gets no security fixes; supported branches: ${SUPPORTED_ON_TODAY}`) },
    { name: 'R610, a New Feature Branch past its end of life', driver: '610.43.02', today: TODAY,
      expected: expect.objectContaining(aWarning(path, expect.stringContaining('driver branch R610 is past end of life (ended August 2026)'))) },
    { name: 'R999, a branch the lifecycle table does not know', driver: '999.12', today: TODAY,
      expected: aWarning(path, `driver branch R999 is not in the lifecycle table, so its support status is unknown; supported branches on ${TODAY}: ${SUPPORTED_ON_TODAY}`) },
  ])('warns about $name', ({ driver, today, expected }) => {
    const stack = blackwellWith({ driver: { version: driver, kernelModule: 'open' } });

    const findings = checkGpuStack(stack, { today });

    expect(findingsAt(findings, path)).toEqual([expected]);
  });

  it.each([
    { name: 'R580 on the day the table was looked up', driver: '580.173.02', today: TODAY },
    { name: 'R580 181 days before its end of life', driver: '580.173.02', today: '2027-12-03' },
    { name: 'R620, a Long Term Support branch', driver: '620', today: TODAY },
  ])('stays quiet on $name', ({ driver, today }) => {
    const stack = blackwellWith({ driver: { version: driver, kernelModule: 'open' } });

    const findings = checkGpuStack(stack, { today });

    expect(findingsAt(findings, path)).toEqual([]);
  });

  it('says nothing about the lifecycle without a date, since the core reads no clock', () => {
    const stack = BLACKWELL_2025_STACK;

    const findings = checkGpuStack(stack);

    expect(findingsAt(findings, path)).toEqual([]);
  });
});

type NcclCase = { name: string; stack: GpuStack; expected: CompatFinding };

describe('CUDA without a GA driver minimum', () => {
  it.each([
    { name: 'CUDA 13.4 on 580.173.02', cuda: '13.4.0', driver: '580.173.02' },
    { name: 'CUDA 13.5 on a bare 580 branch', cuda: '13.5.0', driver: '580' },
  ])('warns that $name runs only through minor-version compatibility', ({ cuda, driver }) => {
    const stack = blackwellWith({ cuda, driver: { version: driver, kernelModule: 'open' } });

    const findings = checkGpuStack(stack).filter((finding) => finding.path === 'layers.driver.cuda');

    expect(findings).toEqual([
      aWarning('layers.driver.cuda', `CUDA ${cuda.slice(0, 4)} bundles no driver, so no GA minimum is known; on ${driver} it runs through CUDA 13's minor-version compatibility (>= 580) with a limited feature set (features that need a newer driver fail at run time); the newest CUDA with a known minimum is 13.3`),
    ]);
  });

  it('refuses it below the major\'s minor-version minimum', () => {
    const stack = blackwellWith({ cuda: '13.4.0', driver: { version: '575.64.05', kernelModule: 'open' } });

    const findings = checkGpuStack(stack).filter((finding) => finding.path === 'layers.driver.cuda');

    expect(findings).toContainEqual(expect.objectContaining({ severity: 'error', message: expect.stringContaining("CUDA 13.4 needs NVIDIA driver >= 580 (CUDA 13's minor-version compatibility)") }));
  });
});

describe('checkNcclPin', () => {
  it('warns when the pin is older than what torch bundles, and is quiet when it moves forward', () => {
    const older = checkGpuStack(blackwellWith({ gpu: { model: 'rtx-5090', count: 1 }, nccl: { version: '2.28.9' } }));
    const newer = checkGpuStack(blackwellWith({ gpu: { model: 'rtx-5090', count: 1 }, nccl: { version: '2.31.2' } }));

    expect(older.filter((finding) => finding.path === 'layers.frameworks.nccl.version')).toEqual([
      aWarning('layers.frameworks.nccl.version', 'NCCL 2.28.9 is older than the 2.29.7 that torch 2.13.0+cu130 bundles; a pin is meant to move NCCL forward past a known bug, so check that the older one is what you want'),
    ]);
    expect(newer.filter((finding) => finding.path === 'layers.frameworks.nccl.version')).toEqual([]);
  });

  it('refuses a pin that is not a full version, whatever the GPUs', () => {
    const findings = checkGpuStack(blackwellWith({ gpu: { model: 'h100', count: 1 }, nccl: { version: '2.31' } }));

    expect(findings.filter((finding) => finding.path === 'layers.frameworks.nccl.version')).toEqual([
      anError('layers.frameworks.nccl.version', 'NCCL version "2.31" is not a full version; write it like 2.31.2 (the nvidia-nccl wheel is pinned exactly)'),
    ]);
  });
});

describe('checkNcclOnTopology', () => {
  const fix =
    'pin layers.frameworks.nccl.version to 2.31.2 or later (the first version reported working there, https://github.com/NVIDIA/nccl/issues/2418)';

  it.each<NcclCase>([
    { name: 'the NCCL 2.26.2 that torch 2.7.1 cu128 bundles', stack: BLACKWELL_2025_STACK,
      expected: anError('layers.frameworks.pytorch.version', `torch 2.7.1+cu128 bundles NCCL 2.26.2, which hits an illegal memory access on all-reduces of 512 KiB and more on 4x NVIDIA GeForce RTX 5090 (two or more sm_120 GPUs without NVLink, https://github.com/NVIDIA/nccl/issues/2418), so DDP's gradient all-reduce fails; ${fix}`) },
    { name: 'a pinned NCCL 2.27.5', stack: blackwellWith({ nccl: { version: '2.27.5' } }),
      expected: anError('layers.frameworks.nccl.version', `NCCL 2.27.5 (pinned), which fails all-reduces of 512 KiB and more in its shared-memory transport on 4x NVIDIA GeForce RTX 5090 (two or more sm_120 GPUs without NVLink, https://github.com/NVIDIA/nccl/issues/1852), so DDP's gradient all-reduce fails; ${fix}`) },
    {
      name: 'the NCCL 2.27.5 that torch 2.9.1 cu128 bundles, on two cards (the fewest the bug needs)',
      stack: blackwell2025With({
        gpu: { model: 'rtx-5090', count: 2 },
        pytorch: { version: '2.9.1', cudaVariant: 'cu128' },
        vllm: undefined,
        tensorflow: undefined,
      }),
      expected: expect.objectContaining(anError('layers.frameworks.pytorch.version', expect.stringMatching(/^torch 2\.9\.1\+cu128 bundles NCCL 2\.27\.5, which fails all-reduces of 512 KiB and more in its shared-memory transport on 2x NVIDIA GeForce RTX 5090/))),
    },
    { name: 'NCCL 2.26.2 on RTX PRO 6000 Blackwell, also sm_120', stack: blackwell2025With({ gpu: { model: 'rtx-pro-6000-blackwell', count: 2 } }),
      expected: expect.objectContaining({ severity: 'error', path: 'layers.frameworks.pytorch.version' }) },
  ])('refuses $name', ({ stack, expected }) => {
    const findings = checkGpuStack(stack);

    expect(findings).toContainEqual(expected);
  });

  it.each<NcclCase>([
    { name: 'the unconfirmed NCCL 2.29.7 that torch 2.13.0 cu130 bundles', stack: blackwellWith({ nccl: undefined }),
      expected: aWarning('layers.frameworks.pytorch.version', `torch 2.13.0+cu130 bundles NCCL 2.29.7, which no source confirms on two or more sm_120 GPUs without NVLink (2.26.2 and 2.27.5 crash there); ${fix}`) },
    { name: 'a pinned, unconfirmed NCCL 2.29.7', stack: blackwellWith({ nccl: { version: '2.29.7' } }),
      expected: aWarning('layers.frameworks.nccl.version', `NCCL 2.29.7 (pinned), which no source confirms on two or more sm_120 GPUs without NVLink (2.26.2 and 2.27.5 crash there); ${fix}`) },
    { name: 'a torch whose bundled NCCL the table does not know', stack: RTX_PRO_CU129_STACK,
      expected: aWarning('layers.frameworks.pytorch.version', `the NCCL that torch 2.8 cu129 bundles is not in the compatibility table, and two or more sm_120 GPUs without NVLink need a working one; ${fix}`) },
  ])('warns about $name', ({ stack, expected }) => {
    const findings = checkGpuStack(stack);

    expect(findings).toContainEqual(expected);
  });

  it.each([
    { name: 'NCCL 2.31.2 pinned, the first reported working', stack: BLACKWELL_STACK },
    { name: 'a pinned NCCL newer than the first good one', stack: blackwellWith({ nccl: { version: '2.32.3' } }) },
    { name: 'the 2025 stack once NCCL 2.31.2 is pinned over torch', stack: blackwell2025With({ nccl: { version: '2.31.2' } }) },
    { name: 'a single RTX 5090 with the bundled 2.26.2', stack: blackwell2025With({ gpu: { model: 'rtx-5090', count: 1 } }) },
    { name: 'a single RTX 5090 with a pinned 2.27.5', stack: blackwell2025With({ gpu: { model: 'rtx-5090', count: 1 }, nccl: { version: '2.27.5' } }) },
    { name: '8x B200 (sm_100) with the bundled 2.26.2', stack: blackwell2025With({ gpu: { model: 'b200', count: 8 } }) },
    { name: '4x H100 (sm_90)', stack: HOPPER_STACK },
  ])('stays quiet on $name', ({ stack }) => {
    const findings = checkGpuStack(stack);

    expect([
      ...findingsAt(findings, 'layers.frameworks.nccl.version'),
      ...findingsAt(findings, 'layers.frameworks.pytorch.version'),
    ]).toEqual([]);
  });
});

describe('checkContainerToolkit', () => {
  const path = 'layers.runtime.container_toolkit';

  it('names every advisory a toolkit below 1.17.8 is exposed to', () => {
    const stack = blackwellWith({ containerToolkit: '1.17.7' });

    const findings = findingsAt(checkGpuStack(stack), path);

    expect(findings).toEqual([
      anError(path, 'NVIDIA Container Toolkit 1.17.7 is exposed to CVE-2025-23266/CVE-2025-23267 ("NVIDIAScape" container escape through the initialisation hooks; fixed in 1.17.8, https://nvidia.custhelp.com/app/answers/detail/a_id/5659); CVE-2026-24260 (code execution and privilege escalation (TOCTOU); fixed in 1.19.1, https://nvd.nist.gov/vuln/detail/CVE-2026-24260); use >= 1.19.1 (newest known: 1.20.0)'),
    ]);
  });

  it('counts a version as fixed from the fixedIn release on: 1.17.8 is exposed only to CVE-2026-24260', () => {
    const stack = blackwellWith({ containerToolkit: '1.17.8' });

    const findings = findingsAt(checkGpuStack(stack), path);

    expect(findings).toEqual([
      anError(path, 'NVIDIA Container Toolkit 1.17.8 is exposed to CVE-2026-24260 (code execution and privilege escalation (TOCTOU); fixed in 1.19.1, https://nvd.nist.gov/vuln/detail/CVE-2026-24260); use >= 1.19.1 (newest known: 1.20.0)'),
    ]);
  });

  it('lists the oldest advisories too for a 1.16 toolkit', () => {
    const stack = blackwellWith({ containerToolkit: '1.16.1' });

    const messages = findingsAt(checkGpuStack(stack), path).map((finding) => finding.message);

    expect(messages).toEqual([
      expect.stringMatching(/CVE-2024-0132\/CVE-2024-0133 .*CVE-2025-23359 .*CVE-2025-23266\/CVE-2025-23267 .*CVE-2026-24260 .*use >= 1\.19\.1/),
    ]);
  });

  it('refuses a toolkit version that is not dotted', () => {
    const stack = blackwellWith({ containerToolkit: 'latest' });

    const findings = findingsAt(checkGpuStack(stack), path);

    expect(findings).toEqual([
      anError(path, 'NVIDIA Container Toolkit version "latest" is not a dotted version; write it like 1.20.0'),
    ]);
  });

  it.each(['1.19.1', '1.20.0', '1.21.0'])('accepts %s', (version) => {
    const stack = blackwellWith({ containerToolkit: version });

    const findings = findingsAt(checkGpuStack(stack), path);

    expect(findings).toEqual([]);
  });
});

describe('checkVllmWheelCuda', () => {
  const path = 'layers.frameworks.pytorch.cuda_variant';

  it("refuses vLLM 0.29.0 (built on torch 2.13.0+cu130) with torch's cu132 wheels", () => {
    const stack = blackwellWith({
      driver: { version: '595.71.05', kernelModule: 'open' },
      cuda: '13.2.0',
      pytorch: { version: '2.13.0', cudaVariant: 'cu132' },
    });

    const findings = findingsAt(checkGpuStack(stack), path);

    expect(findings).toEqual([
      anError(path, "vLLM 0.29.0's wheels are built for torch 2.13.0+cu130, spec has cu132; use cuda_variant cu130"),
    ]);
  });

  it('refuses vLLM 0.10.1 (built on cu128) with torch 2.7.1 cu126', () => {
    const stack = blackwell2025With({ gpu: { model: 'h100', count: 1 }, pytorch: { version: '2.7.1', cudaVariant: 'cu126' } });

    const findings = findingsAt(checkGpuStack(stack), path);

    expect(findings).toEqual([
      anError(path, "vLLM 0.10.1's wheels are built for torch 2.7.1+cu128, spec has cu126; use cuda_variant cu128"),
    ]);
  });

  it('stays quiet when the vLLM release names no wheel CUDA', () => {
    const stack = blackwellWith({ pytorch: { version: '2.10.0', cudaVariant: 'cu130' }, vllm: { version: '0.19.1' } });

    const findings = checkGpuStack(stack);

    expect(findingsAt(findings, path)).toEqual([]);
    expect(errorsOf(findings)).toEqual([]);
  });
});

describe('checkGpuStack on unknown inputs', () => {
  it('skips every GPU-dependent check when the model is unknown', () => {
    const stack = blackwellWith({ gpu: { model: 'rtx-6000', count: 4 } });

    const findings = checkGpuStack(stack, { today: TODAY });

    expect(findings.map((finding) => finding.path)).toEqual(['hardware.gpu.model']);
  });

  it('reads its facts from the table it is given', () => {
    const table: CompatTable = {
      ...COMPAT_TABLE,
      gpus: { 'rtx-5090': { ...COMPAT_TABLE.gpus['rtx-5090'], minDriver: '590' } },
    };

    const findings = checkGpuStack(BLACKWELL_STACK, {}, table);

    expect(findings).toContainEqual(anError('layers.driver.nvidia_driver', 'NVIDIA driver 580.173.02 cannot drive NVIDIA GeForce RTX 5090 (Blackwell, sm_120); needs driver >= 590'));
  });

  it('reads lifecycles, NCCL reports and advisories from the table it is given', () => {
    const table: CompatTable = {
      ...COMPAT_TABLE,
      driverBranches: { '580': { type: 'production', endOfLife: '2027-01', sources: ['nvidia-driver-lifecycle-620'] } },
      nccl: {
        ...COMPAT_TABLE.nccl,
        topologies: COMPAT_TABLE.nccl.topologies.map((topology) => ({ ...topology, firstGood: { version: '2.33.0', sources: ['nccl-issue-2418'] } })),
      },
      containerToolkit: {
        ...COMPAT_TABLE.containerToolkit,
        advisories: [{ fixedIn: '1.21.0', cves: ['CVE-2027-0001'], what: 'made up', sources: ['nvidia-ctk-releases'] }],
      },
    };

    const findings = checkGpuStack(BLACKWELL_STACK, { today: TODAY }, table);

    expect(findings.map(({ severity, path }) => `${severity} ${path}`)).toEqual([
      'warning hardware.gpu.count',
      'warning layers.driver.nvidia_driver',
      'warning layers.frameworks.nccl.version',
      'error layers.runtime.container_toolkit',
    ]);
  });
});

describe('minimumsFor', () => {
  it.each([
    { model: 'rtx-5090', expected: { driver: '570.86.16', cuda: '12.8', pytorch: '2.7', pytorchVariant: 'cu128', vllm: '0.9.0' } },
    { model: 'b200', expected: { driver: '570.26', cuda: '12.8', pytorch: '2.7', pytorchVariant: 'cu128', vllm: '0.9.0' } },
    { model: 'rtx-4090', expected: { driver: '520.61.05', cuda: '11.8', pytorch: '2.1', pytorchVariant: 'cu118', vllm: '0.4.3' } },
  ])('computes the minimums for $model', ({ model, expected }) => {
    const minimums = minimumsFor(model);

    expect(minimums).toEqual(expected);
  });

  it('returns undefined for an unknown model', () => {
    const minimums = minimumsFor('voodoo-2');

    expect(minimums).toBeUndefined();
  });
});

describe('describeGpu', () => {
  it.each([
    { model: 'rtx-5090', expected: 'NVIDIA GeForce RTX 5090 (Blackwell, sm_120)' },
    { model: 'rtx-4090', expected: 'NVIDIA GeForce RTX 4090 (Ada Lovelace, sm_89)' },
    { model: 'voodoo-2', expected: undefined },
  ])('describes $model', ({ model, expected }) => {
    const description = describeGpu(model);

    expect(description).toBe(expected);
  });
});

describe('COMPAT_TABLE is consistent', () => {
  // Read through the declared type, where optional fields are optional on every row.
  const table: CompatTable = COMPAT_TABLE;
  const variants = Object.entries(table.pytorch).flatMap(([minor, facts]) =>
    Object.entries(facts.variants).map(([variant, { cuda, nccl }]) => ({ minor, variant, cuda, nccl })),
  );

  it.each(variants)('PyTorch $minor $variant builds on CUDA $cuda, which the cuda table knows', ({ cuda }) => {
    const known = Object.keys(COMPAT_TABLE.cuda);

    expect(known).toContain(cuda);
  });

  it.each(variants)('PyTorch $minor $variant is named after its CUDA $cuda', ({ variant, cuda }) => {
    const expectedName = `cu${cuda.replace('.', '')}`;

    expect(variant).toBe(expectedName);
  });

  it.each(variants.filter((variant) => variant.nccl !== undefined))(
    'PyTorch $minor $variant pins NCCL $nccl, a dotted version',
    ({ nccl }) => {
      const parsed = parseDottedVersion(nccl ?? '');

      expect(parsed).toBeDefined();
    },
  );

  it('some PyTorch variants name their NCCL, so the NCCL check has something to read', () => {
    const withNccl = variants.filter((variant) => variant.nccl !== undefined);

    expect(withNccl.length).toBeGreaterThan(0);
  });

  it.each(COMPAT_TABLE.vllm.releases)('vLLM $from pins torch $torch, a PyTorch minor in the table', ({ torch }) => {
    const known = Object.keys(COMPAT_TABLE.pytorch);

    expect(known).toContain(majorMinor(torch));
  });

  it("every vLLM wheel's CUDA variant is a variant of the torch it pins, so a consistent spec exists for each release", () => {
    const releases = COMPAT_TABLE.vllm.releases;

    const orphans = releases.flatMap((release) => {
      const minor = majorMinor(release.torch);
      const pytorch: { variants: Readonly<Record<string, unknown>> } | undefined = Object.hasOwn(COMPAT_TABLE.pytorch, minor)
        ? COMPAT_TABLE.pytorch[minor as keyof typeof COMPAT_TABLE.pytorch]
        : undefined;
      if (release.wheelCuda === undefined) return [];
      return pytorch !== undefined && Object.hasOwn(pytorch.variants, release.wheelCuda) ? [] : [`${release.from}: torch ${release.torch}+${release.wheelCuda}`];
    });

    expect(releases.filter((release) => release.wheelCuda !== undefined).length).toBeGreaterThan(3);
    expect(orphans).toEqual([]);
  });

  it('vLLM release ranges are ascending and contiguous, except where a release is left out on purpose', () => {
    const releases = COMPAT_TABLE.vllm.releases;

    const gaps = releases.slice(1).flatMap((release, index) => {
      const previous = releases[index];
      return previous?.until === release.from ? [] : [`${previous?.until ?? 'later'} → ${release.from}`];
    });
    const inverted = releases.filter((release) => release.until !== undefined && compareDottedVersions(release.from, release.until) >= 0);
    const descending = releases.slice(1).filter((release, index) => compareDottedVersions(release.from, releases[index]?.until ?? '0') < 0);

    // 0.27.0's torch pin was not found, so the table leaves that one release out (see table.ts).
    expect(gaps).toEqual(['0.27.0 → 0.27.1']);
    expect(inverted).toEqual([]);
    expect(descending).toEqual([]);
  });

  it.each(COMPAT_TABLE.vllm.releases.filter((release) => release.latest !== undefined))(
    'vLLM $from range names its latest release ($latest) inside the range',
    ({ from, until, latest }) => {
      const version = latest ?? '';

      expect(compareDottedVersions(version, from)).toBeGreaterThanOrEqual(0);
      expect(until === undefined || compareDottedVersions(version, until) < 0).toBe(true);
    },
  );

  it.each(Object.entries(COMPAT_TABLE.vllm.minForArchitecture))(
    'the vLLM minimum for %s is inside a known release range',
    (_architecture, minimum) => {
      const first = COMPAT_TABLE.vllm.releases[0]?.from ?? '';

      expect(compareDottedVersions(minimum, first)).toBeGreaterThanOrEqual(0);
    },
  );

  it.each(Object.entries(COMPAT_TABLE.gpus))('GPU %s has its minCuda in the cuda table and a PyTorch minimum', (model, gpu) => {
    const minimums = minimumsFor(model);

    expect(Object.keys(COMPAT_TABLE.cuda)).toContain(gpu.minCuda);
    expect(minimums?.pytorch).toBeDefined();
  });

  it.each(Object.entries(COMPAT_TABLE.tensorflow))('TensorFlow %s was tested with a CUDA minor in the cuda table', (_minor, facts) => {
    const known = Object.keys(COMPAT_TABLE.cuda);

    expect(known).toContain(facts.cuda);
  });

  it.each(['cuda', 'pytorch', 'tensorflow'] as const)('%s keys are normalised major.minor versions', (section) => {
    const keys = Object.keys(COMPAT_TABLE[section]);

    expect(keys.filter((key) => parseDottedVersion(key) === undefined || majorMinor(key) !== key)).toEqual([]);
  });

  it('every CUDA minor without a GA driver falls back to a minimum for its major', () => {
    const withoutDriver = Object.entries(table.cuda).filter(([, facts]) => facts.minDriver === undefined);

    const orphans = withoutDriver.filter(([minor]) => !Object.hasOwn(COMPAT_TABLE.cudaMajors, String(majorOf(minor))));

    expect(withoutDriver.map(([minor]) => minor)).toEqual(['13.4', '13.5']);
    expect(orphans).toEqual([]);
  });

  it('every cuDNN first-for-CUDA major is a CUDA major in the table, and the newest cuDNN is at least as new', () => {
    const firsts = Object.entries(COMPAT_TABLE.cudnn.firstForCuda);

    const unknownMajors = firsts.filter(([major]) => !Object.hasOwn(COMPAT_TABLE.cudaMajors, major));
    const newerThanNewest = firsts.filter(([, first]) => compareDottedVersions(first.version, COMPAT_TABLE.cudnn.newest.version) > 0);

    expect(unknownMajors).toEqual([]);
    expect(newerThanNewest).toEqual([]);
  });

  it.each(COMPAT_TABLE.nccl.topologies)('NCCL on $description: every broken version is older than the first good one', (topology) => {
    const notOlder = topology.broken.filter((report) => compareDottedVersions(report.version, topology.firstGood.version) >= 0);

    expect(notOlder).toEqual([]);
  });

  it('container toolkit advisories are ascending by fixedIn, and the newest known release has every fix', () => {
    const advisories = COMPAT_TABLE.containerToolkit.advisories;

    const outOfOrder = advisories.slice(1).filter((advisory, index) => compareDottedVersions(advisories[index]?.fixedIn ?? '0', advisory.fixedIn) >= 0);
    const last = advisories.at(-1)?.fixedIn ?? '0';

    expect(outOfOrder).toEqual([]);
    expect(compareDottedVersions(COMPAT_TABLE.containerToolkit.newest.version, last)).toBeGreaterThanOrEqual(0);
  });

  it.each(Object.entries(table.driverBranches))('driver branch R%s has YYYY-MM lifecycle months', (_branch, facts) => {
    const months = [facts.endOfLife, facts.endedBy].filter((month) => month !== undefined);

    expect(months.filter((month) => !/^\d{4}-\d{2}$/.test(month))).toEqual([]);
    expect(months.filter((month) => Number(month.slice(5)) < 1 || Number(month.slice(5)) > 12)).toEqual([]);
  });

  it('driver branch keys are bare major versions', () => {
    const keys = Object.keys(COMPAT_TABLE.driverBranches);

    expect(keys.filter((key) => !/^\d+$/.test(key))).toEqual([]);
  });

  it('every version string in the table parses', () => {
    const versions = [
      ...Object.values(COMPAT_TABLE.gpus).flatMap((gpu) => [gpu.minDriver, gpu.minCuda, gpu.computeCapability]),
      ...Object.values(COMPAT_TABLE.cudaMajors).map((facts) => facts.minDriver),
      ...Object.values(table.cuda).flatMap((facts) => (facts.minDriver === undefined ? [] : [facts.minDriver])),
      ...Object.values(COMPAT_TABLE.cudnn.firstForCuda).map((first) => first.version),
      COMPAT_TABLE.cudnn.newest.version,
      ...Object.values(COMPAT_TABLE.pytorch).flatMap((facts) => [
        ...facts.python,
        ...Object.values(facts.variants).flatMap((variant) => variant.computeCapabilities),
      ]),
      ...COMPAT_TABLE.nccl.topologies.flatMap((topology) => [
        topology.computeCapability,
        topology.firstGood.version,
        ...topology.broken.map((report) => report.version),
      ]),
      ...COMPAT_TABLE.vllm.releases.flatMap((release) => [release.from, release.until ?? '0', release.torch, release.latest ?? '0']),
      ...Object.values(COMPAT_TABLE.tensorflow).flatMap((facts) => [facts.cudnn, facts.maxComputeCapability, ...facts.python]),
      ...COMPAT_TABLE.containerToolkit.advisories.map((advisory) => advisory.fixedIn),
      COMPAT_TABLE.containerToolkit.newest.version,
      ...Object.values(COMPAT_TABLE.os).map((os) => os.python),
    ];

    const garbage = versions.filter((version) => parseDottedVersion(version) === undefined);

    expect(garbage).toEqual([]);
  });
});
