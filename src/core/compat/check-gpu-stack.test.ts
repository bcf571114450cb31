import { describe, expect, it } from 'vitest';

import { checkGpuStack, describeGpu, minimumsFor, type CompatFinding, type GpuStack } from './check-gpu-stack.js';
import { compareDottedVersions, majorMinor, parseDottedVersion } from './dotted-version.js';
import { COMPAT_TABLE, type CompatTable } from './table.js';

// The versions the reference architecture document names, on the demo box's hardware.
const REFERENCE_STACK: GpuStack = {
  os: 'ubuntu-24.04',
  gpu: { model: 'rtx-5090', count: 4 },
  driver: { version: '550.127.05', kernelModule: 'proprietary' },
  cuda: '12.4.0',
  python: {},
  pytorch: { version: '2.1.0', cudaVariant: 'cu121' },
  tensorflow: { version: '2.14.0' },
  vllm: { version: '0.2.1' },
};

const BLACKWELL_STACK: GpuStack = {
  os: 'ubuntu-24.04',
  gpu: { model: 'rtx-5090', count: 4 },
  driver: { version: '570.172.08', kernelModule: 'open' },
  cuda: '12.8.1',
  cudnn: '9.10.2',
  python: { venv: '/opt/ai/venv' },
  pytorch: { version: '2.7.1', cudaVariant: 'cu128' },
  tensorflow: { version: '2.19.0' },
  vllm: { version: '0.10.1' },
};

const ADA_STACK: GpuStack = {
  os: 'ubuntu-24.04',
  gpu: { model: 'rtx-4090', count: 1 },
  driver: { version: '550.127.05', kernelModule: 'proprietary' },
  cuda: '12.4.1',
  cudnn: '9.1.0',
  python: { venv: '/opt/ai/venv' },
  pytorch: { version: '2.5.1', cudaVariant: 'cu124' },
  tensorflow: { version: '2.18.0' },
  vllm: { version: '0.7.3' },
};

const HOPPER_STACK: GpuStack = {
  os: 'ubuntu-22.04',
  gpu: { model: 'h100', count: 4 },
  driver: { version: '550.127.05', kernelModule: 'open' },
  cuda: '12.4.1',
  python: {},
  pytorch: { version: '2.5.1', cudaVariant: 'cu124' },
  tensorflow: { version: '2.18.0' },
};

const FRAMEWORKLESS_STACK: GpuStack = {
  os: 'ubuntu-24.04',
  gpu: { model: 'rtx-5090', count: 1 },
  driver: { version: '570.172.08', kernelModule: 'open' },
  cuda: '12.8.1',
  python: {},
};

function blackwellWith(patch: Partial<GpuStack>): GpuStack {
  return { ...BLACKWELL_STACK, ...patch };
}

function adaWith(patch: Partial<GpuStack>): GpuStack {
  return { ...ADA_STACK, ...patch };
}

function errorsOf(findings: readonly CompatFinding[]): CompatFinding[] {
  return findings.filter((finding) => finding.severity === 'error');
}

describe('checkGpuStack on the stacks that matter', () => {
  it("refuses the reference's versions on RTX 5090 and names the minimums", () => {
    const stack = REFERENCE_STACK;

    const errors = errorsOf(checkGpuStack(stack));

    expect(errors).toContainEqual({
      severity: 'error',
      path: 'layers.driver.nvidia_driver',
      message:
        'NVIDIA driver 550.127.05 cannot drive NVIDIA GeForce RTX 5090 (Blackwell, sm_120); needs driver >= 570',
    });
    expect(errors).toContainEqual({
      severity: 'error',
      path: 'layers.driver.cuda',
      message: 'CUDA 12.4 has no support for sm_120 (NVIDIA GeForce RTX 5090); needs CUDA >= 12.8',
    });
    expect(errors).toContainEqual({
      severity: 'error',
      path: 'layers.frameworks.pytorch.version',
      message:
        'PyTorch 2.1 wheels ship no kernels for sm_120 (NVIDIA GeForce RTX 5090); needs PyTorch >= 2.7 with cu128 wheels',
    });
  });

  it('reports the reference findings in check order', () => {
    const stack = REFERENCE_STACK;

    const findings = checkGpuStack(stack);

    expect(findings.map(({ severity, path }) => `${severity} ${path}`)).toEqual([
      'warning hardware.gpu.count',
      'error layers.driver.nvidia_driver',
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

  it('accepts a good Blackwell stack with exactly the TensorFlow and peer-to-peer warnings', () => {
    const stack = BLACKWELL_STACK;

    const findings = checkGpuStack(stack);

    expect(findings.map(({ severity, path }) => `${severity} ${path}`)).toEqual([
      'warning hardware.gpu.count',
      'warning layers.frameworks.tensorflow.version',
    ]);
    expect(findings[1]?.message).toContain('no official sm_120 support');
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

type FiringCase = { check: string; name: string; stack: GpuStack; expected: CompatFinding };

describe('each check fires', () => {
  it.each<FiringCase>([
    {
      check: 'os known',
      name: 'unknown OS lists the known ones',
      stack: blackwellWith({ os: 'ubuntu-20.04' }),
      expected: {
        severity: 'error',
        path: 'os',
        message: 'OS ubuntu-20.04 is not in the compatibility table; known: ubuntu-24.04, ubuntu-22.04, debian-12',
      },
    },
    {
      check: 'gpu model known',
      name: 'unknown GPU model lists the known ones',
      stack: blackwellWith({ gpu: { model: 'rtx-6000', count: 4 } }),
      expected: {
        severity: 'error',
        path: 'hardware.gpu.model',
        message:
          'GPU model rtx-6000 is not in the compatibility table; known: rtx-5090, rtx-pro-6000-blackwell, b200, rtx-4090, l40s, h100, a100, rtx-3090',
      },
    },
    {
      check: 'gpu model known',
      name: 'an Object.prototype member is not a GPU model',
      stack: blackwellWith({ gpu: { model: 'constructor', count: 1 } }),
      expected: expect.objectContaining({ severity: 'error', path: 'hardware.gpu.model' }),
    },
    {
      check: 'peer-to-peer',
      name: 'several GeForce cards',
      stack: blackwellWith({ gpu: { model: 'rtx-4090', count: 2 }, driver: { version: '570.172.08', kernelModule: 'proprietary' } }),
      expected: {
        severity: 'warning',
        path: 'hardware.gpu.count',
        message:
          '2x NVIDIA GeForce RTX 4090 have no PCIe peer-to-peer, so NCCL runs without P2P (NCCL_P2P_DISABLE=1) through host memory; expect DDP scaling bounded by PCIe and host bandwidth',
      },
    },
    {
      check: 'driver version',
      name: 'driver is not a version',
      stack: blackwellWith({ driver: { version: 'latest', kernelModule: 'open' } }),
      expected: {
        severity: 'error',
        path: 'layers.driver.nvidia_driver',
        message: 'NVIDIA driver version "latest" is not a dotted version; write it like 570.172.08 or a branch like 570',
      },
    },
    {
      check: 'driver supports gpu',
      name: 'branch 565 on RTX 5090',
      stack: blackwellWith({ driver: { version: '565', kernelModule: 'open' } }),
      expected: {
        severity: 'error',
        path: 'layers.driver.nvidia_driver',
        message: 'NVIDIA driver 565 cannot drive NVIDIA GeForce RTX 5090 (Blackwell, sm_120); needs driver >= 570',
      },
    },
    {
      check: 'kernel module',
      name: 'proprietary modules on Blackwell',
      stack: blackwellWith({ driver: { version: '570.172.08', kernelModule: 'proprietary' } }),
      expected: {
        severity: 'error',
        path: 'layers.driver.kernel_module',
        message: 'kernel module flavour proprietary does not support Blackwell; use open',
      },
    },
    {
      check: 'cuda known',
      name: 'CUDA minor that was never released',
      stack: blackwellWith({ cuda: '12.7.0' }),
      expected: {
        severity: 'error',
        path: 'layers.driver.cuda',
        message:
          'CUDA 12.7.0 is not in the compatibility table; known: 11.0, 11.1, 11.2, 11.3, 11.4, 11.5, 11.6, 11.7, 11.8, 12.0, 12.1, 12.2, 12.3, 12.4, 12.5, 12.6, 12.8, 12.9, 13.0',
      },
    },
    {
      check: 'cuda known',
      name: 'CUDA older than the table',
      stack: adaWith({ cuda: '10.2.89' }),
      expected: {
        severity: 'error',
        path: 'layers.driver.cuda',
        message: 'CUDA 10.2.89 is older than the compatibility table; use CUDA >= 11.0',
      },
    },
    {
      check: 'cuda known',
      name: 'CUDA newer than the table is a warning',
      stack: blackwellWith({ cuda: '13.1.0' }),
      expected: {
        severity: 'warning',
        path: 'layers.driver.cuda',
        message: 'CUDA 13.1.0 is not in the compatibility table (newest known: 13.0); cannot check it',
      },
    },
    {
      check: 'cuda known',
      name: 'CUDA is not a version',
      stack: blackwellWith({ cuda: '12.8.1+local' }),
      expected: expect.objectContaining({ severity: 'error', path: 'layers.driver.cuda' }),
    },
    {
      check: 'cuda supports gpu',
      name: 'CUDA 12.6 on B200',
      stack: blackwellWith({ gpu: { model: 'b200', count: 8 }, cuda: '12.6.3' }),
      expected: {
        severity: 'error',
        path: 'layers.driver.cuda',
        message: 'CUDA 12.6 has no support for sm_100 (NVIDIA B200); needs CUDA >= 12.8',
      },
    },
    {
      check: 'driver supports cuda',
      name: 'CUDA 12.8 on driver 550',
      stack: adaWith({ cuda: '12.8.1' }),
      expected: {
        severity: 'error',
        path: 'layers.driver.cuda',
        message: 'CUDA 12.8 needs NVIDIA driver >= 570.26, spec has 550.127.05; raise the driver or lower CUDA',
      },
    },
    {
      check: 'cudnn',
      name: 'cuDNN 9 with CUDA 11',
      stack: adaWith({ cuda: '11.8.0', pytorch: { version: '2.5.1', cudaVariant: 'cu118' } }),
      expected: {
        severity: 'warning',
        path: 'layers.driver.cudnn',
        message:
          'cuDNN 9.1.0 with CUDA 11.8.0: cuDNN 9 targets CUDA 12 and has only limited CUDA 11 builds; use cuDNN 8.9 with CUDA 11, or CUDA >= 12',
      },
    },
    {
      check: 'cudnn',
      name: 'cuDNN is not a version',
      stack: blackwellWith({ cudnn: '9.x' }),
      expected: expect.objectContaining({ severity: 'error', path: 'layers.driver.cudnn' }),
    },
    {
      check: 'python version',
      name: 'Python is not a version',
      stack: blackwellWith({ python: { version: '3.twelve', venv: '/opt/ai/venv' } }),
      expected: {
        severity: 'error',
        path: 'layers.frameworks.python.version',
        message: 'Python version "3.twelve" is not a dotted version; write it like 3.12',
      },
    },
    {
      check: 'python venv',
      name: 'no venv on Ubuntu 24.04',
      stack: blackwellWith({ python: {} }),
      expected: {
        severity: 'error',
        path: 'layers.frameworks.python.venv',
        message:
          'Ubuntu 24.04 refuses pip install into the system Python (PEP 668); set layers.frameworks.python.venv, e.g. /opt/ai/venv',
      },
    },
    {
      check: 'python venv',
      name: 'no venv on Debian 12',
      stack: blackwellWith({ os: 'debian-12', python: {} }),
      expected: expect.objectContaining({
        path: 'layers.frameworks.python.venv',
        message: expect.stringContaining('Debian 12 refuses pip install'),
      }),
    },
    {
      check: 'pytorch known',
      name: 'PyTorch older than the table',
      stack: adaWith({ pytorch: { version: '2.0.1', cudaVariant: 'cu118' } }),
      expected: {
        severity: 'error',
        path: 'layers.frameworks.pytorch.version',
        message: 'PyTorch 2.0.1 is older than the compatibility table; use PyTorch >= 2.1',
      },
    },
    {
      check: 'pytorch known',
      name: 'PyTorch newer than the table is a warning',
      stack: blackwellWith({ pytorch: { version: '2.10.0', cudaVariant: 'cu130' } }),
      expected: {
        severity: 'warning',
        path: 'layers.frameworks.pytorch.version',
        message: 'PyTorch 2.10.0 is not in the compatibility table (newest known: 2.9); cannot check it',
      },
    },
    {
      check: 'pytorch python',
      name: 'Python 3.12 with PyTorch 2.1',
      stack: REFERENCE_STACK,
      expected: {
        severity: 'error',
        path: 'layers.frameworks.python.version',
        message:
          'Python 3.12 is not supported by PyTorch 2.1 (wheels for 3.8–3.11); use Python 3.8–3.11 or PyTorch 2.2–2.9',
      },
    },
    {
      check: 'pytorch variant available',
      name: 'PyTorch 2.1 has no cu128',
      stack: blackwellWith({ pytorch: { version: '2.1.0', cudaVariant: 'cu128' } }),
      expected: {
        severity: 'error',
        path: 'layers.frameworks.pytorch.cuda_variant',
        message: 'PyTorch 2.1 has no cu128 wheels; available: cu118, cu121',
      },
    },
    {
      check: 'pytorch supports gpu',
      name: 'the right PyTorch with the wrong wheel variant',
      stack: blackwellWith({ pytorch: { version: '2.7.1', cudaVariant: 'cu126' } }),
      expected: {
        severity: 'error',
        path: 'layers.frameworks.pytorch.cuda_variant',
        message: 'PyTorch 2.7 cu126 wheels ship no kernels for sm_120 (NVIDIA GeForce RTX 5090); use cu128',
      },
    },
    {
      check: 'pytorch supports gpu',
      name: 'PyTorch 2.6 on B200',
      stack: blackwellWith({ gpu: { model: 'b200', count: 8 }, pytorch: { version: '2.6.0', cudaVariant: 'cu126' } }),
      expected: {
        severity: 'error',
        path: 'layers.frameworks.pytorch.version',
        message: 'PyTorch 2.6 wheels ship no kernels for sm_100 (NVIDIA B200); needs PyTorch >= 2.7 with cu128 wheels',
      },
    },
    {
      check: 'pytorch variant driver',
      name: 'cu128 wheels on driver 550',
      stack: adaWith({ pytorch: { version: '2.7.1', cudaVariant: 'cu128' }, vllm: { version: '0.10.1' } }),
      expected: {
        severity: 'error',
        path: 'layers.frameworks.pytorch.cuda_variant',
        message:
          'PyTorch cu128 wheels bundle CUDA 12.8 and need NVIDIA driver >= 570.26, spec has 550.127.05; raise the driver or use cu118',
      },
    },
    {
      check: 'pytorch variant driver',
      name: 'cu129 wheels on a 570 driver, where no other variant drives sm_120',
      stack: blackwellWith({ pytorch: { version: '2.8.0', cudaVariant: 'cu129' }, vllm: { version: '0.10.2' } }),
      expected: {
        severity: 'error',
        path: 'layers.frameworks.pytorch.cuda_variant',
        message:
          'PyTorch cu129 wheels bundle CUDA 12.9 and need NVIDIA driver >= 575.51.03, spec has 570.172.08; raise the driver or use cu128',
      },
    },
    {
      check: 'tensorflow known',
      name: 'TensorFlow older than the table',
      stack: adaWith({ tensorflow: { version: '2.13.0' } }),
      expected: {
        severity: 'error',
        path: 'layers.frameworks.tensorflow.version',
        message: 'TensorFlow 2.13.0 is older than the compatibility table; use TensorFlow >= 2.14',
      },
    },
    {
      check: 'tensorflow known',
      name: 'TensorFlow newer than the table is a warning',
      stack: adaWith({ tensorflow: { version: '2.21.0' } }),
      expected: {
        severity: 'warning',
        path: 'layers.frameworks.tensorflow.version',
        message: 'TensorFlow 2.21.0 is not in the compatibility table (newest known: 2.20); cannot check it',
      },
    },
    {
      check: 'tensorflow python',
      name: 'Python 3.13 with TensorFlow 2.19',
      stack: blackwellWith({ python: { version: '3.13', venv: '/opt/ai/venv' } }),
      expected: {
        severity: 'error',
        path: 'layers.frameworks.python.version',
        message:
          'Python 3.13 is not supported by TensorFlow 2.19 (wheels for 3.9–3.12); use Python 3.9–3.12 or TensorFlow 2.20',
      },
    },
    {
      check: 'tensorflow supports gpu',
      name: 'TensorFlow on RTX 5090 is a warning',
      stack: BLACKWELL_STACK,
      expected: {
        severity: 'warning',
        path: 'layers.frameworks.tensorflow.version',
        message:
          'TensorFlow 2.19 ships kernels up to sm_90 and has no official sm_120 support (NVIDIA GeForce RTX 5090); it runs by PTX JIT of compute_90 at best, or on CPU, so the frameworks gate must prove it used the GPU',
      },
    },
    {
      check: 'tensorflow cuda',
      name: 'TensorFlow tested with CUDA 11 on CUDA 12',
      stack: adaWith({ tensorflow: { version: '2.14.1' } }),
      expected: {
        severity: 'warning',
        path: 'layers.frameworks.tensorflow.version',
        message:
          'TensorFlow 2.14 was tested with CUDA 11.8, spec has CUDA 12.4.1; use TensorFlow 2.15–2.20 (tested with CUDA 12) or install tensorflow[and-cuda], which brings its own CUDA libraries',
      },
    },
    {
      check: 'vllm known',
      name: 'vLLM older than the table',
      stack: REFERENCE_STACK,
      expected: {
        severity: 'error',
        path: 'layers.frameworks.vllm.version',
        message: 'vLLM 0.2.1 is older than the compatibility table; use vLLM >= 0.4.3',
      },
    },
    {
      check: 'vllm known',
      name: 'vLLM newer than the table is a warning',
      stack: blackwellWith({ vllm: { version: '0.13.0' } }),
      expected: {
        severity: 'warning',
        path: 'layers.frameworks.vllm.version',
        message: 'vLLM 0.13.0 is not in the compatibility table (newest known: 0.12.x); cannot check it',
      },
    },
    {
      check: 'vllm known',
      name: 'vLLM is not a version',
      stack: blackwellWith({ vllm: { version: 'main' } }),
      expected: expect.objectContaining({ severity: 'error', path: 'layers.frameworks.vllm.version' }),
    },
    {
      check: 'vllm torch pin',
      name: 'vLLM 0.10.2 with torch 2.7.1',
      stack: blackwellWith({ vllm: { version: '0.10.2' } }),
      expected: {
        severity: 'error',
        path: 'layers.frameworks.vllm.version',
        message:
          'vLLM 0.10.2 pins torch 2.8.0, spec has 2.7.1; use PyTorch 2.8.0 or a vLLM built for 2.7.1 (0.10.0–0.10.1)',
      },
    },
    {
      check: 'vllm torch pin',
      name: 'no vLLM pins the spec torch',
      stack: adaWith({ pytorch: { version: '2.5.0', cudaVariant: 'cu124' } }),
      expected: {
        severity: 'error',
        path: 'layers.frameworks.vllm.version',
        message: 'vLLM 0.7.3 pins torch 2.5.1, spec has 2.5.0; use PyTorch 2.5.1 (no vLLM in the compatibility table pins 2.5.0)',
      },
    },
    {
      check: 'vllm supports gpu',
      name: 'vLLM 0.8.5 on RTX 5090',
      stack: blackwellWith({ vllm: { version: '0.8.5' } }),
      expected: {
        severity: 'error',
        path: 'layers.frameworks.vllm.version',
        message: 'vLLM 0.8.5 has no kernels for NVIDIA GeForce RTX 5090 (Blackwell, sm_120); needs vLLM >= 0.9.0',
      },
    },
  ])('$check: $name', ({ stack, expected }) => {
    const findings = checkGpuStack(stack);

    expect(findings).toContainEqual(expected);
  });
});

type QuietCase = { check: string; name: string; stack: GpuStack; path: string };

describe('each check stays quiet on a valid field', () => {
  it.each<QuietCase>([
    { check: 'os known', name: 'Ubuntu 24.04', stack: BLACKWELL_STACK, path: 'os' },
    { check: 'gpu model known', name: 'rtx-5090', stack: BLACKWELL_STACK, path: 'hardware.gpu.model' },
    {
      check: 'peer-to-peer',
      name: 'a single GeForce card',
      stack: blackwellWith({ gpu: { model: 'rtx-5090', count: 1 } }),
      path: 'hardware.gpu.count',
    },
    { check: 'peer-to-peer', name: 'four H100', stack: HOPPER_STACK, path: 'hardware.gpu.count' },
    {
      check: 'driver version / driver supports gpu',
      name: 'a bare 570 branch',
      stack: blackwellWith({ driver: { version: '570', kernelModule: 'open' } }),
      path: 'layers.driver.nvidia_driver',
    },
    {
      check: 'driver supports cuda',
      name: 'a bare 570 branch counts as the newest 570 for CUDA 12.8',
      stack: blackwellWith({ driver: { version: '570', kernelModule: 'open' } }),
      path: 'layers.driver.cuda',
    },
    { check: 'driver supports gpu', name: '570.172.08 on RTX 5090', stack: BLACKWELL_STACK, path: 'layers.driver.nvidia_driver' },
    { check: 'kernel module', name: 'open on Blackwell', stack: BLACKWELL_STACK, path: 'layers.driver.kernel_module' },
    { check: 'kernel module', name: 'proprietary on Ada', stack: ADA_STACK, path: 'layers.driver.kernel_module' },
    { check: 'cuda known / supports gpu / driver', name: 'CUDA 12.8.1 on 570', stack: BLACKWELL_STACK, path: 'layers.driver.cuda' },
    { check: 'cuda known / supports gpu / driver', name: 'CUDA 12.4.1 on RTX 4090', stack: ADA_STACK, path: 'layers.driver.cuda' },
    { check: 'cudnn', name: 'cuDNN 9 with CUDA 12', stack: BLACKWELL_STACK, path: 'layers.driver.cudnn' },
    {
      check: 'cudnn',
      name: 'cuDNN 8.9 with CUDA 11',
      stack: adaWith({ cuda: '11.8.0', cudnn: '8.9.7' }),
      path: 'layers.driver.cudnn',
    },
    { check: 'python version / pytorch & tensorflow python', name: 'system 3.12', stack: BLACKWELL_STACK, path: 'layers.frameworks.python.version' },
    {
      check: 'python version / pytorch & tensorflow python',
      name: 'explicit 3.12.3',
      stack: blackwellWith({ python: { version: '3.12.3', venv: '/opt/ai/venv' } }),
      path: 'layers.frameworks.python.version',
    },
    { check: 'python venv', name: 'venv set', stack: BLACKWELL_STACK, path: 'layers.frameworks.python.venv' },
    {
      check: 'python venv',
      name: 'Ubuntu 22.04 allows pip into the system Python',
      stack: blackwellWith({ os: 'ubuntu-22.04', python: {} }),
      path: 'layers.frameworks.python.venv',
    },
    {
      check: 'python venv',
      name: 'nothing to pip install',
      stack: FRAMEWORKLESS_STACK,
      path: 'layers.frameworks.python.venv',
    },
    { check: 'pytorch known / supports gpu', name: '2.7.1 on RTX 5090', stack: BLACKWELL_STACK, path: 'layers.frameworks.pytorch.version' },
    { check: 'pytorch supports gpu', name: 'sm_86 wheels run on sm_89', stack: ADA_STACK, path: 'layers.frameworks.pytorch.version' },
    { check: 'pytorch variant', name: 'cu128 on 570', stack: BLACKWELL_STACK, path: 'layers.frameworks.pytorch.cuda_variant' },
    { check: 'pytorch variant', name: 'cu124 on 550', stack: ADA_STACK, path: 'layers.frameworks.pytorch.cuda_variant' },
    {
      check: 'pytorch variant',
      name: 'PyTorch 2.8 cu129 on RTX PRO 6000 Blackwell',
      stack: blackwellWith({
        gpu: { model: 'rtx-pro-6000-blackwell', count: 2 },
        driver: { version: '575.64.05', kernelModule: 'open' },
        cuda: '12.9.1',
        pytorch: { version: '2.8.0', cudaVariant: 'cu129' },
        vllm: { version: '0.10.2' },
      }),
      path: 'layers.frameworks.pytorch.cuda_variant',
    },
    { check: 'tensorflow', name: 'TensorFlow 2.18 on RTX 4090', stack: ADA_STACK, path: 'layers.frameworks.tensorflow.version' },
    { check: 'tensorflow supports gpu', name: 'TensorFlow 2.18 on H100 (sm_90)', stack: HOPPER_STACK, path: 'layers.frameworks.tensorflow.version' },
    { check: 'vllm', name: 'vLLM 0.10.1 with torch 2.7.1 on RTX 5090', stack: BLACKWELL_STACK, path: 'layers.frameworks.vllm.version' },
    {
      check: 'vllm',
      name: 'vLLM 0.10.1.1 with torch 2.7.1',
      stack: blackwellWith({ vllm: { version: '0.10.1.1' } }),
      path: 'layers.frameworks.vllm.version',
    },
    {
      check: 'vllm supports gpu',
      name: 'vLLM 0.9.0 with torch 2.7.0 on RTX 5090',
      stack: blackwellWith({ pytorch: { version: '2.7.0', cudaVariant: 'cu128' }, vllm: { version: '0.9.0' } }),
      path: 'layers.frameworks.vllm.version',
    },
    { check: 'vllm supports gpu', name: 'vLLM 0.7.3 on RTX 4090', stack: ADA_STACK, path: 'layers.frameworks.vllm.version' },
  ])('$check: $name', ({ stack, path }) => {
    const findings = checkGpuStack(stack);

    expect(findings.filter((finding) => finding.path === path)).toEqual([]);
  });
});

describe('checkGpuStack on unknown inputs', () => {
  it('skips every GPU-dependent check when the model is unknown', () => {
    const stack = blackwellWith({ gpu: { model: 'rtx-6000', count: 4 } });

    const findings = checkGpuStack(stack);

    expect(findings.map((finding) => finding.path)).toEqual(['hardware.gpu.model']);
  });

  it('reads its facts from the table it is given', () => {
    const table: CompatTable = {
      ...COMPAT_TABLE,
      gpus: { 'rtx-5090': { ...COMPAT_TABLE.gpus['rtx-5090'], minDriver: '580' } },
    };

    const findings = checkGpuStack(BLACKWELL_STACK, table);

    expect(findings).toContainEqual({
      severity: 'error',
      path: 'layers.driver.nvidia_driver',
      message: 'NVIDIA driver 570.172.08 cannot drive NVIDIA GeForce RTX 5090 (Blackwell, sm_120); needs driver >= 580',
    });
  });
});

describe('minimumsFor', () => {
  it.each([
    { model: 'rtx-5090', expected: { driver: '570.26', cuda: '12.8', pytorch: '2.7', pytorchVariant: 'cu128', vllm: '0.9.0' } },
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
  const variants = Object.entries(COMPAT_TABLE.pytorch).flatMap(([minor, facts]) =>
    Object.entries(facts.variants).map(([variant, { cuda }]) => ({ minor, variant, cuda })),
  );

  it.each(variants)('PyTorch $minor $variant builds on CUDA $cuda, which the cuda table knows', ({ cuda }) => {
    const known = Object.keys(COMPAT_TABLE.cuda);

    expect(known).toContain(cuda);
  });

  it.each(variants)('PyTorch $minor $variant is named after its CUDA $cuda', ({ variant, cuda }) => {
    const expectedName = `cu${cuda.replace('.', '')}`;

    expect(variant).toBe(expectedName);
  });

  it.each(COMPAT_TABLE.vllm.releases)('vLLM $from pins torch $torch, a PyTorch minor in the table', ({ torch }) => {
    const known = Object.keys(COMPAT_TABLE.pytorch);

    expect(known).toContain(majorMinor(torch));
  });

  it('vLLM release ranges are ascending and contiguous', () => {
    const releases = COMPAT_TABLE.vllm.releases;

    const gaps = releases.slice(1).filter((release, index) => releases[index]?.until !== release.from);
    const inverted = releases.filter((release) => release.until !== undefined && compareDottedVersions(release.from, release.until) >= 0);

    expect(gaps).toEqual([]);
    expect(inverted).toEqual([]);
  });

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

  it('every version string in the table parses', () => {
    const versions = [
      ...Object.values(COMPAT_TABLE.gpus).flatMap((gpu) => [gpu.minDriver, gpu.minCuda, gpu.computeCapability]),
      ...Object.values(COMPAT_TABLE.cuda).map((facts) => facts.minDriver),
      ...Object.values(COMPAT_TABLE.pytorch).flatMap((facts) => [
        ...facts.python,
        ...Object.values(facts.variants).flatMap((variant) => variant.computeCapabilities),
      ]),
      ...COMPAT_TABLE.vllm.releases.flatMap((release) => [release.from, release.until ?? '0', release.torch]),
      ...Object.values(COMPAT_TABLE.tensorflow).flatMap((facts) => [facts.cudnn, facts.maxComputeCapability, ...facts.python]),
      ...Object.values(COMPAT_TABLE.os).map((os) => os.python),
    ];

    const garbage = versions.filter((version) => parseDottedVersion(version) === undefined);

    expect(garbage).toEqual([]);
  });
});
