import type { WheelFile } from './wheel-archive.js';

// The stand-in distributions of the hermetic mirror's Python half (issue 16): vendor names, versions, tags and
// dependencies, and just enough code to answer what the frameworks role, guest/run_checks.py and guest/facts.py
// ask of them on a machine without a GPU. No vendor code. Test infrastructure only.

/** In every stand-in's METADATA (`Keywords:`): how an image's facts can tell a stand-in from the real package. */
export const STAND_IN_KEYWORD = 'imagebuild-stand-in';
export const STAND_IN_SUMMARY_PREFIX = 'imagebuild test stand-in';

/** The two indexes: PyTorch's per-variant index (download.pytorch.org/whl/cu130) and a PyPI-style one. */
export type StandInIndex = 'pytorch' | 'pypi';

/** A stand-in distribution and the indexes that list it. */
export type StandInDistribution = {
  readonly name: string;
  readonly version: string;
  readonly tag: string;
  readonly requiresPython?: string;
  readonly requiresDist?: readonly string[];
  readonly files: readonly WheelFile[];
  /** A shared object compiled from libnccl-stand-in.c at mirror-build time, exporting ncclGetVersion = versionCode. */
  readonly sharedLibrary?: { readonly path: string; readonly versionCode: number };
  readonly indexes: readonly StandInIndex[];
  /** Why the mirror holds it (README-pypi.md's table says the same). */
  readonly role: string;
};

// Architectures of PyTorch's cu130 wheels (TORCH_CUDA_ARCH_LIST of .ci/manywheel/build_cuda.sh; see the compat table).
const CU130_ARCH_FLAGS = 'sm_75 sm_80 sm_86 sm_90 sm_100 sm_120';
// cudnn.version() of a cu130 build: cuDNN 9.13.0 as an integer (major * 10000 + minor * 100 + patch).
const CU130_CUDNN_VERSION = 91300;
const PYTORCH_REQUIRES_PYTHON = '>=3.10';
// The error real torch raises on a CUDA call when no NVIDIA driver is loaded (torch.cuda._lazy_init).
const NO_DRIVER_ERROR = 'Found no NVIDIA driver on your system. Please check that you have an NVIDIA GPU and installed a driver from http://www.nvidia.com/Download/index.aspx';

/** Every distribution the mirror serves. */
export const PYPI_STAND_INS: readonly StandInDistribution[] = [
  torchStandIn({ version: '2.13.0', variant: 'cu130', nccl: '2.29.7' }, 'what the spec pins: torch 2.13.0 built for CUDA 13.0'),
  torchStandIn({ version: '2.13.0', variant: 'cpu' }, 'the same release without CUDA: only the pin\'s local label keeps it out'),
  torchStandIn({ version: '2.14.0', variant: 'cu130', nccl: '2.30.7' }, 'a newer release: only the pin\'s version keeps it out'),
  ncclStandIn('2.29.7', ['pytorch', 'pypi'], "torch 2.13.0+cu130's pin (Requires-Dist), on both indexes as on the real ones"),
  ncclStandIn('2.30.7', ['pytorch'], "torch 2.14.0+cu130's pin, so the newer torch is installable (a wrong pin would not fail for want of it)"),
  ncclStandIn('2.31.2', ['pypi'], "the demo spec's NCCL, installed over torch's pin with --no-deps"),
  {
    name: 'vllm',
    version: '0.29.0',
    tag: 'py3-none-any',
    requiresPython: '>=3.10,<3.14',
    requiresDist: ['torch==2.13.0'],
    files: [
      pythonFile('vllm/__init__.py', [
        '"""imagebuild test stand-in for vLLM 0.29.0: importable, no engine."""',
        '# The real package imports torch first: a broken torch breaks `import vllm` here too.',
        'import torch  # noqa: F401',
        '',
        'from .version import __version__  # noqa: F401',
      ]),
      pythonFile('vllm/version.py', ['__version__ = "0.29.0"']),
    ],
    indexes: ['pypi'],
    role: 'pins torch==2.13.0, which +cu130 and +cpu both satisfy (PEP 440 ignores local labels there): the constraints decide',
  },
  {
    name: 'tensorflow',
    version: '2.21.0',
    tag: 'py3-none-any',
    requiresPython: '>=3.9',
    files: [
      pythonFile('tensorflow/__init__.py', [
        '"""imagebuild test stand-in for TensorFlow 2.21.0: importable, sees no GPU."""',
        '__version__ = "2.21.0"',
        '',
        'from . import config, test  # noqa: E402,F401',
      ]),
      pythonFile('tensorflow/config/__init__.py', [
        'import collections',
        '',
        'PhysicalDevice = collections.namedtuple("PhysicalDevice", ["name", "device_type"])',
        '',
        '',
        'def list_physical_devices(device_type=None):',
        '    # Without a GPU (or its driver) TensorFlow lists the CPU only.',
        '    devices = [PhysicalDevice("/physical_device:CPU:0", "CPU")]',
        '    return [d for d in devices if device_type is None or d.device_type == device_type]',
      ]),
      pythonFile('tensorflow/test/__init__.py', [
        'def is_built_with_cuda():',
        '    # The Linux wheel on PyPI is a CUDA build; it needs a GPU only to use it.',
        '    return True',
        '',
        '',
        'def is_gpu_available(cuda_only=False, min_cuda_compute_capability=None):',
        '    return False',
      ]),
    ],
    indexes: ['pypi'],
    role: "the spec's TensorFlow (layers.frameworks.tensorflow), installed in the same resolver run as vLLM",
  },
];

function torchStandIn(build: { version: string; variant: 'cu130' | 'cpu'; nccl?: string }, role: string): StandInDistribution {
  const version = `${build.version}+${build.variant}`;
  const cuda = build.variant === 'cpu' ? null : '13.0';
  const nccl = build.nccl?.split('.').map(Number);
  return {
    name: 'torch',
    version,
    tag: 'py3-none-any',
    requiresPython: PYTORCH_REQUIRES_PYTHON,
    // As the real wheels: a CUDA build pins its NCCL wheel exactly (nvidia-nccl-cu13==…); the CPU build has none.
    requiresDist: build.nccl ? [`nvidia-nccl-cu13==${build.nccl}; platform_system == "Linux"`] : [],
    files: [
      pythonFile('torch/__init__.py', [
        `"""imagebuild test stand-in for PyTorch ${version}: no tensors, only what an image's checks ask of torch."""`,
        'import ctypes',
        'import os',
        '',
        'from . import version  # noqa: F401',
        'from .version import __version__  # noqa: F401',
        '',
        'if version.cuda is not None:',
        "    # The real wheel's libtorch links libnccl.so.2 from site-packages/nvidia/nccl/lib (its RUNPATH): whichever",
        '    # NCCL wheel is installed there is the one the process maps, and importing torch fails without it.',
        '    _site = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))',
        '    _nccl = ctypes.CDLL(os.path.join(_site, "nvidia", "nccl", "lib", "libnccl.so.2"), mode=ctypes.RTLD_GLOBAL)',
        '',
        'from . import _C, backends, cuda  # noqa: E402,F401',
      ]),
      pythonFile('torch/version.py', [
        `__version__ = "${version}"`,
        'git_version = "0000000000000000000000000000000000000000"',
        `cuda = ${cuda === null ? 'None' : `"${cuda}"`}`,
        'hip = None',
      ]),
      pythonFile('torch/_C.py', [
        '# The real torch._C is the C++ extension; these are the few of its functions the stand-in answers from.',
        `_has_cuda = ${cuda === null ? 'False' : 'True'}`,
        `_has_cudnn = ${cuda === null ? 'False' : 'True'}`,
        '',
        '',
        'def _cuda_getDeviceCount():',
        '    return 0',
        '',
        '',
        'def _cuda_getArchFlags():',
        `    return ${cuda === null ? '""' : `"${CU130_ARCH_FLAGS}"`}`,
        '',
        '',
        'def _cudnn_version():',
        `    return ${cuda === null ? 'None' : CU130_CUDNN_VERSION}`,
        '',
        '',
        'def _nccl_version():',
        `    return ${nccl ? `${nccl[0]} * 10000 + ${nccl[1]} * 100 + ${nccl[2]}` : 'None'}`,
      ]),
      pythonFile('torch/cuda/__init__.py', [
        'from .. import _C',
        'from . import nccl  # noqa: F401',
        '',
        '',
        'def _lazy_init():',
        '    if not _C._has_cuda:',
        '        raise AssertionError("Torch not compiled with CUDA enabled")',
        `    raise RuntimeError("${NO_DRIVER_ERROR}")`,
        '',
        '',
        'def is_available():',
        '    return _C._has_cuda and _C._cuda_getDeviceCount() > 0',
        '',
        '',
        'def device_count():',
        '    return _C._cuda_getDeviceCount() if _C._has_cuda else 0',
        '',
        '',
        'def get_arch_list():',
        '    # As the real one: the architectures the build has kernels for, [] when CUDA is not available.',
        '    if not is_available():',
        '        return []',
        '    return _C._cuda_getArchFlags().split()',
        '',
        '',
        'def get_device_name(device=None):',
        '    _lazy_init()',
        '',
        '',
        'def get_device_capability(device=None):',
        '    _lazy_init()',
        '',
        '',
        'def can_device_access_peer(device, peer_device):',
        '    _lazy_init()',
        '',
        '',
        'def synchronize(device=None):',
        '    _lazy_init()',
      ]),
      pythonFile('torch/cuda/nccl.py', [
        'from .. import _C',
        '',
        '',
        'def version():',
        '    """The NCCL this torch was built with (not the loaded library: an NCCL wheel installed over the pin differs)."""',
        '    code = _C._nccl_version()',
        '    if code is None:',
        '        raise RuntimeError("torch was built without NCCL")',
        '    return (code // 10000, code // 100 % 100, code % 100)',
      ]),
      pythonFile('torch/backends/__init__.py', ['from . import cudnn  # noqa: F401']),
      pythonFile('torch/backends/cudnn/__init__.py', [
        'from ... import _C',
        '',
        'enabled = True',
        'benchmark = False',
        'deterministic = False',
        'allow_tf32 = True',
        '',
        '',
        'def is_available():',
        '    return _C._has_cudnn',
        '',
        '',
        'def version():',
        '    # A CUDA build reports its cuDNN without a GPU; a CPU build reports None.',
        '    return _C._cudnn_version()',
      ]),
    ],
    indexes: ['pytorch'],
    role,
  };
}

function ncclStandIn(version: string, indexes: readonly StandInIndex[], role: string): StandInDistribution {
  const [major = 0, minor = 0, patch = 0] = version.split('.').map(Number);
  const versionCode = major * 10000 + minor * 100 + patch;
  return {
    name: 'nvidia-nccl-cu13',
    version,
    // NVIDIA's tag for the wheel: no Python ABI, a glibc floor the Debian 12 (2.36) and Ubuntu 24.04 (2.39) guests meet.
    tag: 'py3-none-manylinux_2_28_x86_64',
    requiresPython: '>=3',
    files: [
      { path: 'nvidia/__init__.py', content: '' },
      { path: 'nvidia/nccl/__init__.py', content: '' },
      { path: 'nvidia/nccl/include/__init__.py', content: '' },
      {
        path: 'nvidia/nccl/include/nccl.h',
        content: [
          `/* imagebuild test stand-in for NCCL ${version}'s header: the version macros and ncclGetVersion only. */`,
          '#ifndef NCCL_H_',
          '#define NCCL_H_',
          `#define NCCL_MAJOR ${major}`,
          `#define NCCL_MINOR ${minor}`,
          `#define NCCL_PATCH ${patch}`,
          '#define NCCL_SUFFIX ""',
          `#define NCCL_VERSION_CODE ${versionCode}`,
          '#define NCCL_VERSION(X,Y,Z) (((X) <= 2 && (Y) <= 8) ? (X) * 1000 + (Y) * 100 + (Z) : (X) * 10000 + (Y) * 100 + (Z))',
          'typedef enum { ncclSuccess = 0 } ncclResult_t;',
          'ncclResult_t ncclGetVersion(int *version);',
          '#endif',
          '',
        ].join('\n'),
      },
      { path: 'nvidia/nccl/lib/__init__.py', content: '' },
    ],
    sharedLibrary: { path: 'nvidia/nccl/lib/libnccl.so.2', versionCode },
    indexes,
    role,
  };
}

function pythonFile(path: string, lines: readonly string[]): WheelFile {
  return { path, content: `${lines.join('\n')}\n` };
}
