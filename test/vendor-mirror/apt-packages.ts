// What the stand-in apt repositories hold: NVIDIA's and Canonical's package names, versions and dependencies
// for the driver, CUDA, cuDNN and the Container Toolkit, as data. Pure: apt-mirror.ts builds and signs them.
// Where the names come from:
// - NVIDIA's Debian repository follows Debian's nvidia-graphics-drivers packaging (nvidia-driver, -libs, -bin,
//   nvidia-alternative, libcuda1, nvidia-smi, nvidia-kernel-open-dkms, firmware-nvidia-gsp …; packages.debian.org)
//   with NVIDIA's metapackages nvidia-open / cuda-drivers on top (NVIDIA Driver Installation Guide: Debian,
//   src/core/compat/sources.ts) and a "-1" revision (580.105.08-1: forums.developer.nvidia.com, "Debian
//   cuda-drivers-580 package 580.105.08-1 …", which quotes cuda-drivers' Depends copied below);
// - NVIDIA's Ubuntu repository names carry the branch before 590 and lose it from 590 (the Installation Guide's
//   "Ubuntu 590 package renames" table), revision -0ubuntu1;
// - Canonical's archive builds are -0ubuntu0.<release>.N, with -server (Enterprise Ready Drivers) variants and
//   linux-modules-nvidia-<B>[-server][-open]-<flavour> for its prebuilt modules (Ubuntu Server docs);
// - the Container Toolkit's four packages and their Depends as NVIDIA documents a pinned install.
// Stand-in versions that do not exist upstream are marked where they are defined.

/** Why a module file's licence differs: the open kernel modules are Dual MIT/GPL, the proprietary ones NVIDIA. */
export type KernelModuleLicense = 'Dual MIT/GPL' | 'NVIDIA';

export type StandInFile =
  | { readonly path: string; readonly text: string; readonly mode?: number }
  | { readonly path: string; readonly bytes: Uint8Array }
  /** A stand-in nvidia.ko: an ELF object whose .modinfo carries this version and licence (built on the host). */
  | { readonly path: string; readonly kernelModule: { readonly version: string; readonly license: KernelModuleLicense } };

export type StandInPackage = {
  readonly name: string;
  readonly version: string;
  readonly architecture: 'amd64' | 'all';
  readonly summary: string;
  readonly depends?: readonly string[];
  readonly files?: readonly StandInFile[];
  readonly conffiles?: readonly string[];
  readonly postinst?: string;
  readonly prerm?: string;
};

/** The signing keys the mirror makes per run: NVIDIA's CUDA key, the Container Toolkit's, Canonical's, and a stranger's. */
export type MirrorKeyName = 'cuda' | 'container' | 'ubuntu' | 'other';

export type StandInRepo = {
  /** Path under the web root: the flat repository's directory, or the base of a dists/ layout. */
  readonly path: string;
  readonly layout: { readonly kind: 'flat' } | { readonly kind: 'dists'; readonly suite: string; readonly component: string };
  readonly origin: string;
  readonly label: string;
  readonly key: MirrorKeyName;
  readonly packages: readonly StandInPackage[];
};

/** The versions the mirror holds. The first driver of each list is the one the tests' specs name; later ones are newer. */
export const MIRROR_VERSIONS = {
  nvidia580: ['580.95.05', '580.105.08'],
  nvidia590: ['590.44.01', '590.48.01'],
  // 580.190.01 is invented: a newer build than the demo spec's 580.173.02, so the pin has something to refuse.
  ubuntuServer580: ['580.173.02', '580.190.01'],
  // Canonical's own builds of NVIDIA's names (nvidia-driver-580-open …): what source nvidia must refuse.
  ubuntuArchive580: ['580.95.05'],
  ubuntuKernel: { abi: '6.8.0-90', version: '6.8.0-90.91' },
  cuda: { version: '13.0.2', release: '13.0', series: '13-0', nvcc: '13.0.88' },
  cudnn: '9.28.1.4',
  containerToolkit: ['1.17.8', '1.20.0'],
} as const;

export const REVISION = { nvidiaDebian: '-1', nvidiaUbuntu: '-0ubuntu1', ubuntuArchive: '-0ubuntu0.24.04.1' } as const;

const LIB = '/usr/lib/x86_64-linux-gnu';

function exact(name: string, version: string): string {
  return `${name} (= ${version})`;
}

function stub(name: string, version: string, summary: string, depends: readonly string[] = [], files: readonly StandInFile[] = []): StandInPackage {
  return { name, version, architecture: 'amd64', summary, depends, files };
}

function library(path: string): StandInFile {
  return { path, text: 'imagebuild test stand-in: no code\n' };
}

function program(path: string, text: string): StandInFile {
  return { path, text, mode: 0o755 };
}

/** A kernel-module package: ships the stand-in nvidia.ko and installs it into every kernel, as DKMS would build it. */
function kernelModulePackage(name: string, version: string, upstream: string, license: KernelModuleLicense, depends: readonly string[], scripts: ModuleScripts): StandInPackage {
  const shipped = `/usr/lib/imagebuild-stand-in/${name}/nvidia.ko`;
  return {
    name,
    version,
    architecture: 'amd64',
    summary: `NVIDIA kernel module (${license === 'NVIDIA' ? 'proprietary' : 'open'}) ${upstream}`,
    depends,
    files: [{ path: shipped, kernelModule: { version: upstream, license } }],
    postinst: scripts.postinst(shipped),
    prerm: scripts.prerm,
  };
}

/** The maintainer scripts and programs the data refers to, passed in so this module stays data. */
export type ModuleScripts = { readonly postinst: (shipped: string) => string; readonly prerm: string };
export type StandInPrograms = ModuleScripts & {
  readonly nvidiaSmi: string;
  readonly nvidiaPersistenced: string;
  readonly nvcc: string;
  readonly alternativePostinst: (link: string, name: string, target: string, priority: number) => string;
  readonly alternativePrerm: (name: string, target: string) => string;
  readonly nvidiaCtk: (version: string) => string;
  readonly nvidiaContainerCli: (version: string) => string;
  readonly nvidiaContainerRuntime: string;
};

/** NVIDIA's pinning package for one driver version: its preferences file holds the driver's packages there. */
function pinningPackage(upstream: string, version: string, held: readonly string[]): StandInPackage {
  return {
    name: `nvidia-driver-pinning-${upstream}`,
    version,
    architecture: 'all',
    summary: `pins the NVIDIA driver packages to ${upstream}`,
    files: [
      {
        path: `/etc/apt/preferences.d/nvidia-driver-pinning-${upstream}`,
        text: `Package: ${held.join(' ')}\nPin: version ${upstream}-*\nPin-Priority: 1001\n`,
      },
    ],
    conffiles: [`/etc/apt/preferences.d/nvidia-driver-pinning-${upstream}`],
  };
}

/** NVIDIA's Debian driver packages at one version (Debian's packaging names, never a branch in them). */
export function debianDriverPackages(upstream: string, programs: StandInPrograms): StandInPackage[] {
  const v = `${upstream}${REVISION.nvidiaDebian}`;
  const at = (name: string): string => exact(name, v);
  const packages: StandInPackage[] = [
    stub('nvidia-open', v, 'NVIDIA driver metapackage, open kernel modules', [at('nvidia-driver'), at('nvidia-driver-cuda'), at('nvidia-kernel-open-dkms')]),
    // cuda-drivers' Depends as quoted from NVIDIA's Debian package (>=, not =: the pins must hold the rest).
    stub('cuda-drivers', v, 'NVIDIA driver metapackage, proprietary kernel modules', [
      `nvidia-driver (>= ${upstream})`,
      `nvidia-driver-cuda (>= ${upstream})`,
      `nvidia-kernel-dkms (>= ${upstream})`,
      `nvidia-settings (>= ${upstream})`,
      `nvidia-xconfig (>= ${upstream})`,
    ]),
    stub('nvidia-driver', v, 'NVIDIA driver', [at('nvidia-driver-libs'), at('nvidia-driver-bin'), at('xserver-xorg-video-nvidia'), at('nvidia-alternative'), at('nvidia-kernel-support')]),
    stub('nvidia-driver-bin', v, 'NVIDIA driver support binaries', [at('nvidia-alternative')]),
    stub('nvidia-driver-libs', v, 'NVIDIA metapackage (OpenGL/EGL/Vulkan libraries)', [at('libglx-nvidia0'), at('libegl-nvidia0'), at('libnvidia-glcore'), at('libnvidia-eglcore'), at('nvidia-egl-icd'), at('nvidia-vulkan-icd')]),
    stub('nvidia-driver-cuda', v, 'NVIDIA driver CUDA integration components', [at('libcuda1'), at('libnvidia-ptxjitcompiler1'), at('libnvidia-nvvm4'), at('nvidia-smi'), at('nvidia-persistenced'), at('nvidia-modprobe')]),
    stub('nvidia-alternative', v, 'allows the selection of NVIDIA as GLX provider'),
    stub('nvidia-kernel-support', v, 'NVIDIA binary kernel module support files', [at('nvidia-alternative'), `nvidia-modprobe (>= ${upstream})`]),
    stub('xserver-xorg-video-nvidia', v, 'NVIDIA binary Xorg driver'),
    stub('libglx-nvidia0', v, 'NVIDIA binary GLX library', [], [library(`${LIB}/libGLX_nvidia.so.${upstream}`)]),
    stub('libegl-nvidia0', v, 'NVIDIA binary EGL library', [], [library(`${LIB}/libEGL_nvidia.so.${upstream}`)]),
    stub('libnvidia-glcore', v, 'NVIDIA binary OpenGL/GLX core libraries', [], [library(`${LIB}/libnvidia-glcore.so.${upstream}`)]),
    stub('libnvidia-eglcore', v, 'NVIDIA binary EGL core libraries', [], [library(`${LIB}/libnvidia-eglcore.so.${upstream}`)]),
    stub('nvidia-egl-icd', v, 'NVIDIA EGL installable client driver (ICD)'),
    stub('nvidia-vulkan-icd', v, 'NVIDIA Vulkan installable client driver (ICD)'),
    stub('libcuda1', v, 'NVIDIA CUDA Driver Library', [], [library(`${LIB}/libcuda.so.${upstream}`)]),
    stub('libnvidia-ptxjitcompiler1', v, 'NVIDIA PTX JIT Compiler library', [], [library(`${LIB}/libnvidia-ptxjitcompiler.so.${upstream}`)]),
    stub('libnvidia-nvvm4', v, 'NVIDIA NVVM Compiler library', [], [library(`${LIB}/libnvidia-nvvm.so.${upstream}`)]),
    stub('libnvidia-ml1', v, 'NVIDIA Management Library (NVML) runtime library', [], [library(`${LIB}/libnvidia-ml.so.${upstream}`)]),
    stub('nvidia-smi', v, 'NVIDIA System Management Interface', [at('libnvidia-ml1')], [program('/usr/bin/nvidia-smi', programs.nvidiaSmi)]),
    stub('nvidia-persistenced', v, 'daemon to maintain persistent software state in the NVIDIA driver', [], [program('/usr/bin/nvidia-persistenced', programs.nvidiaPersistenced)]),
    stub('nvidia-modprobe', v, 'utility to load NVIDIA kernel modules and create device nodes'),
    stub('nvidia-settings', v, 'tool for configuring the NVIDIA graphics driver'),
    stub('nvidia-xconfig', v, 'X configuration tool for non-free NVIDIA drivers'),
    stub('firmware-nvidia-gsp', v, 'NVIDIA GSP firmware'),
    kernelModulePackage('nvidia-kernel-open-dkms', v, upstream, 'Dual MIT/GPL', [at('nvidia-kernel-support'), at('firmware-nvidia-gsp')], programs),
    kernelModulePackage('nvidia-kernel-dkms', v, upstream, 'NVIDIA', [at('nvidia-kernel-support'), at('firmware-nvidia-gsp')], programs),
  ];
  return [...packages, pinningPackage(upstream, v, packages.map((p) => p.name))];
}

/**
 * Branch-named Ubuntu driver packages (NVIDIA's repository before 590, and Canonical's archive, whose -server
 * flavour is `suffix` "-server") at one version and revision.
 */
export function ubuntuBranchedDriverPackages(
  branch: string,
  upstream: string,
  revision: string,
  suffix: '' | '-server',
  programs: StandInPrograms,
): StandInPackage[] {
  const v = `${upstream}${revision}`;
  const b = `${branch}${suffix}`;
  const at = (name: string): string => exact(name, v);
  const userSpace = [
    at(`libnvidia-compute-${b}`),
    at(`libnvidia-gl-${b}`),
    at(`libnvidia-cfg1-${b}`),
    at(`nvidia-compute-utils-${b}`),
    at(`nvidia-kernel-common-${b}`),
    at(`nvidia-utils-${b}`),
    at(`xserver-xorg-video-nvidia-${b}`),
  ];
  return [
    stub(`nvidia-driver-${b}-open`, v, `NVIDIA driver metapackage, open kernel modules`, [...userSpace, at(`nvidia-dkms-${b}-open`)]),
    stub(`nvidia-driver-${b}`, v, `NVIDIA driver metapackage`, [...userSpace, at(`nvidia-dkms-${b}`)]),
    stub(`libnvidia-compute-${b}`, v, 'NVIDIA libcompute package', [at(`libnvidia-common-${b}`)], [library(`${LIB}/libcuda.so.${upstream}`), library(`${LIB}/libnvidia-ml.so.${upstream}`)]),
    { ...stub(`libnvidia-common-${b}`, v, 'Shared files used by the NVIDIA libraries'), architecture: 'all' },
    stub(`libnvidia-gl-${b}`, v, 'NVIDIA OpenGL/GLX/EGL/GLES GLVND libraries', [at(`libnvidia-common-${b}`)]),
    stub(`libnvidia-cfg1-${b}`, v, 'NVIDIA binary OpenGL/GLX configuration library'),
    stub(`nvidia-compute-utils-${b}`, v, 'NVIDIA compute utilities', [at(`libnvidia-compute-${b}`)], [program('/usr/bin/nvidia-persistenced', programs.nvidiaPersistenced)]),
    stub(`nvidia-utils-${b}`, v, 'NVIDIA driver support binaries', [at(`libnvidia-compute-${b}`)], [program('/usr/bin/nvidia-smi', programs.nvidiaSmi)]),
    stub(`nvidia-kernel-common-${b}`, v, 'Shared files used with the kernel module'),
    stub(`nvidia-kernel-source-${b}-open`, v, 'NVIDIA kernel source package (open)'),
    stub(`nvidia-kernel-source-${b}`, v, 'NVIDIA kernel source package'),
    stub(`xserver-xorg-video-nvidia-${b}`, v, 'NVIDIA binary Xorg driver'),
    kernelModulePackage(`nvidia-dkms-${b}-open`, v, upstream, 'Dual MIT/GPL', [at(`nvidia-kernel-common-${b}`), at(`nvidia-kernel-source-${b}-open`)], programs),
    kernelModulePackage(`nvidia-dkms-${b}`, v, upstream, 'NVIDIA', [at(`nvidia-kernel-common-${b}`), at(`nvidia-kernel-source-${b}`)], programs),
  ];
}

/** NVIDIA's own extras for a branch-named Ubuntu driver: cuda-drivers-<B>, nvidia-settings and the pinning package. */
export function nvidiaUbuntuBranchedExtras(branch: string, upstream: string, driverNames: readonly string[]): StandInPackage[] {
  const v = `${upstream}${REVISION.nvidiaUbuntu}`;
  return [
    stub(`cuda-drivers-${branch}`, v, 'CUDA Driver meta-package, branch-specific', [`nvidia-driver-${branch} (>= ${upstream})`, `nvidia-settings (>= ${upstream})`]),
    stub('nvidia-settings', v, 'tool for configuring the NVIDIA graphics driver'),
    pinningPackage(upstream, v, [...driverNames, 'nvidia-settings', `cuda-drivers-${branch}`]),
  ];
}

/** NVIDIA's Ubuntu driver packages from branch 590, without the branch in their names. */
export function ubuntuUnbranchedDriverPackages(upstream: string, programs: StandInPrograms): StandInPackage[] {
  const v = `${upstream}${REVISION.nvidiaUbuntu}`;
  const at = (name: string): string => exact(name, v);
  const userSpace = [at('libnvidia-compute'), at('libnvidia-gl'), at('libnvidia-cfg1'), at('nvidia-compute-utils'), at('nvidia-kernel-common'), at('nvidia-utils'), at('xserver-xorg-video-nvidia')];
  const packages: StandInPackage[] = [
    stub('nvidia-open', v, 'NVIDIA driver metapackage, open kernel modules', [...userSpace, at('nvidia-dkms-open')]),
    stub('cuda-drivers', v, 'CUDA Driver meta-package', [...userSpace, at('nvidia-dkms'), `nvidia-settings (>= ${upstream})`]),
    stub('libnvidia-compute', v, 'NVIDIA libcompute package', [at('libnvidia-common')], [library(`${LIB}/libcuda.so.${upstream}`), library(`${LIB}/libnvidia-ml.so.${upstream}`)]),
    { ...stub('libnvidia-common', v, 'Shared files used by the NVIDIA libraries'), architecture: 'all' },
    stub('libnvidia-gl', v, 'NVIDIA OpenGL/GLX/EGL/GLES GLVND libraries', [at('libnvidia-common')]),
    stub('libnvidia-cfg1', v, 'NVIDIA binary OpenGL/GLX configuration library'),
    stub('nvidia-compute-utils', v, 'NVIDIA compute utilities', [at('libnvidia-compute')], [program('/usr/bin/nvidia-persistenced', programs.nvidiaPersistenced)]),
    stub('nvidia-utils', v, 'NVIDIA driver support binaries', [at('libnvidia-compute')], [program('/usr/bin/nvidia-smi', programs.nvidiaSmi)]),
    stub('nvidia-kernel-common', v, 'Shared files used with the kernel module'),
    stub('nvidia-kernel-source-open', v, 'NVIDIA kernel source package (open)'),
    stub('nvidia-kernel-source', v, 'NVIDIA kernel source package'),
    stub('xserver-xorg-video-nvidia', v, 'NVIDIA binary Xorg driver'),
    stub('nvidia-settings', v, 'tool for configuring the NVIDIA graphics driver'),
    kernelModulePackage('nvidia-dkms-open', v, upstream, 'Dual MIT/GPL', [at('nvidia-kernel-common'), at('nvidia-kernel-source-open')], programs),
    kernelModulePackage('nvidia-dkms', v, upstream, 'NVIDIA', [at('nvidia-kernel-common'), at('nvidia-kernel-source')], programs),
  ];
  return [...packages, pinningPackage(upstream, v, packages.map((p) => p.name))];
}

/** Canonical's prebuilt-module metapackages for the generic flavour (versioned by the kernel, not the driver). */
export function ubuntuKernelModulePackages(branch: string, driverUpstream: string, programs: StandInPrograms): StandInPackage[] {
  const { abi, version } = MIRROR_VERSIONS.ubuntuKernel;
  return (['-open', ''] as const).flatMap((open) => {
    const flavour = `${branch}-server${open}`;
    const license: KernelModuleLicense = open ? 'Dual MIT/GPL' : 'NVIDIA';
    return [
      stub(`linux-modules-nvidia-${flavour}-generic`, version, `Extra drivers for nvidia-${flavour} for the generic flavour`, [exact(`linux-modules-nvidia-${flavour}-${abi}-generic`, version)]),
      {
        ...kernelModulePackage(`linux-modules-nvidia-${flavour}-${abi}-generic`, version, driverUpstream, license, [`nvidia-kernel-common-${branch}-server (>= ${driverUpstream})`], programs),
        summary: `Linux kernel nvidia modules for version ${abi}`,
      },
    ];
  });
}

/** The CUDA toolkit's series metapackage and the real-named packages under it that the stand-ins need. */
export function cudaPackages(programs: StandInPrograms): StandInPackage[] {
  const { version, release, series, nvcc } = MIRROR_VERSIONS.cuda;
  const major = release.split('.')[0] ?? release;
  const v = `${version}-1`;
  const home = `/usr/local/cuda-${release}`;
  const priority = Number(release.replace('.', ''));
  return [
    stub(`cuda-toolkit-${series}`, v, `CUDA Toolkit ${release} meta-package`, [
      `cuda-compiler-${series} (>= ${version})`,
      `cuda-documentation-${series} (>= ${version})`,
      `cuda-toolkit-${series}-config-common (>= ${version})`,
    ]),
    stub(`cuda-compiler-${series}`, v, `CUDA compiler`, [`cuda-nvcc-${series} (>= ${nvcc})`]),
    stub(`cuda-nvcc-${series}`, `${nvcc}-1`, 'CUDA nvcc', [], [program(`${home}/bin/nvcc`, programs.nvcc)]),
    // version.json is what guest/facts.py reads first (through the /usr/local/cuda alternative).
    stub(`cuda-documentation-${series}`, v, 'CUDA documentation', [], [
      { path: `${home}/version.json`, text: `${JSON.stringify({ cuda: { name: 'CUDA SDK', version }, cuda_nvcc: { name: 'CUDA NVCC', version: nvcc } }, null, 3)}\n` },
    ]),
    {
      ...stub(`cuda-toolkit-${series}-config-common`, v, 'Common config package for CUDA Toolkit', [`cuda-toolkit-${major}-config-common`]),
      architecture: 'all',
      postinst: programs.alternativePostinst('/usr/local/cuda', 'cuda', home, priority),
      prerm: programs.alternativePrerm('cuda', home),
    },
    {
      ...stub(`cuda-toolkit-${major}-config-common`, v, `Common config package for CUDA Toolkit ${major}`, ['cuda-toolkit-config-common']),
      architecture: 'all',
      postinst: programs.alternativePostinst(`/usr/local/cuda-${major}`, `cuda-${major}`, home, priority),
      prerm: programs.alternativePrerm(`cuda-${major}`, home),
    },
    { ...stub('cuda-toolkit-config-common', v, 'Common config package for CUDA Toolkit'), architecture: 'all' },
  ];
}

/** cuDNN 9 for CUDA 13: the metapackage, the runtime library (what facts.py's dpkg-query reads) and the headers. */
export function cudnnPackages(): StandInPackage[] {
  const upstream = MIRROR_VERSIONS.cudnn;
  const [major = '9', minor = '0', patch = '0'] = upstream.split('.');
  const cudaMajor = MIRROR_VERSIONS.cuda.release.split('.')[0] ?? '13';
  const v = `${upstream}-1`;
  const runtime = `libcudnn${major}-cuda-${cudaMajor}`;
  const dev = `libcudnn${major}-dev-cuda-${cudaMajor}`;
  const header = `#define CUDNN_MAJOR ${major}\n#define CUDNN_MINOR ${minor}\n#define CUDNN_PATCHLEVEL ${patch}\n`;
  return [
    stub(`cudnn${major}-cuda-${cudaMajor}`, v, `cuDNN ${major} for CUDA ${cudaMajor} meta-package`, [exact(runtime, v), exact(dev, v)]),
    stub(runtime, v, 'cuDNN runtime libraries', [], [library(`${LIB}/libcudnn.so.${major}.${minor}.${patch}`)]),
    stub(dev, v, 'cuDNN development headers', [exact(runtime, v)], [{ path: `/usr/include/x86_64-linux-gnu/cudnn_version_v${major}.h`, text: header }]),
  ];
}

/** NVIDIA Container Toolkit at one version: the four packages NVIDIA installs together for a pinned version. */
export function containerToolkitPackages(upstream: string, programs: StandInPrograms): StandInPackage[] {
  const v = `${upstream}-1`;
  return [
    stub('nvidia-container-toolkit', v, 'NVIDIA Container toolkit', [exact('nvidia-container-toolkit-base', v), `libnvidia-container-tools (>= ${v})`, 'libnvidia-container-tools (<< 2.0.0)'], [
      program('/usr/bin/nvidia-container-runtime-hook', programs.nvidiaContainerRuntime),
    ]),
    stub('nvidia-container-toolkit-base', v, 'NVIDIA Container Toolkit Base', [], [
      program('/usr/bin/nvidia-ctk', programs.nvidiaCtk(upstream)),
      program('/usr/bin/nvidia-container-runtime', programs.nvidiaContainerRuntime),
    ]),
    stub('libnvidia-container-tools', v, 'NVIDIA container runtime library (command-line tools)', [`libnvidia-container1 (>= ${v})`, 'libnvidia-container1 (<< 2.0.0)'], [
      program('/usr/bin/nvidia-container-cli', programs.nvidiaContainerCli(upstream)),
    ]),
    stub('libnvidia-container1', v, 'NVIDIA container runtime library', [], [library(`${LIB}/libnvidia-container.so.${upstream}`)]),
  ];
}

/** cuda-keyring 1.1-1 for one repository: the binary keyring and a sources entry pointing at the mirror, as NVIDIA's. */
export function cudaKeyringPackage(repo: string, repoUrl: string, keyring: Uint8Array): StandInPackage {
  const list = `/etc/apt/sources.list.d/cuda-${repo}-x86_64.list`;
  return {
    name: 'cuda-keyring',
    version: '1.1-1',
    architecture: 'all',
    summary: 'GPG keyring for the CUDA repository',
    files: [
      { path: '/usr/share/keyrings/cuda-archive-keyring.gpg', bytes: keyring },
      { path: list, text: `deb [signed-by=/usr/share/keyrings/cuda-archive-keyring.gpg] ${repoUrl} /\n` },
    ],
    conffiles: [list],
  };
}
