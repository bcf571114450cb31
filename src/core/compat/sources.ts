// Where every fact in the compatibility table comes from. Each table row names one of these ids, so a
// reviewer can open the page and find the quoted words; the next update starts from the same pages.
// `says` is a short excerpt of the page (the row or sentence the fact rests on), not a paraphrase.
// Looked up on 2026-12-05 unless the entry says its rows were carried over from the table's first version
// (2025), whose comments named the same pages. Where only a secondary copy of a vendor page
// could be read, `via` names it and the entry says so: treat it as weaker than a first-hand read.

export type CompatSource = {
  readonly title: string;
  readonly url: string;
  readonly says: string;
  /** A copy that was read instead of the page itself (the page was not retrievable). */
  readonly via?: string;
};

export const COMPAT_SOURCES = {
  // --- NVIDIA drivers ---------------------------------------------------------------------------
  'nvidia-driver-lifecycle-620': {
    title: 'NVIDIA Data Center Drivers R620: Supported Drivers and CUDA Toolkit Versions',
    url: 'https://docs.nvidia.com/datacenter/tesla/drivers/620/supported-drivers-and-cuda-toolkit-versions.html',
    says: 'R580 R595 R620 / Long Term Support Branch, Production Branch, Long Term Support Branch / End of Life: June 2028, March 2027, September 2029 / Maximum CUDA Major Version: CUDA 13, CUDA 13, CUDA 13. New Feature Branches are short-lived and do not have an end-of-life date.',
  },
  'nvidia-driver-lifecycle-615': {
    title: 'NVIDIA Data Center Drivers R615: Supported Drivers and CUDA Toolkit Versions',
    url: 'https://docs.nvidia.com/datacenter/tesla/drivers/615/supported-drivers-and-cuda-toolkit-versions.html',
    says: 'R535 R580 R595 R610 / Long Term Support Branch, Long Term Support Branch, Production Branch, New Feature Branch / End of Life: June 2026, June 2028, March 2027, August 2026',
  },
  'nvidia-driver-lifecycle-580': {
    title: 'NVIDIA Data Center Drivers (R580 era): Supported Drivers and CUDA Toolkit Versions',
    url: 'https://docs.nvidia.com/datacenter/tesla/drivers/supported-drivers-and-cuda-toolkit-versions.html',
    says: 'R535 R570 R580 / Long Term Support Branch, Production Branch, Long Term Support Branch / End of Life June 2026 February 2026 … Note: All other previous driver branches not listed in the table above (such as R575, R565, R560, R550, …) are end of life.',
  },
  'nvidia-unix-drivers': {
    title: 'NVIDIA Unix Driver Archive (latest production / new feature branch)',
    url: 'https://www.nvidia.com/en-us/drivers/unix.html',
    says: 'Latest Production Branch Version: 595.71.05 / Latest New Feature Branch Version: 590.48.01',
  },
  'nvidia-open-gpu-kernel-modules-570.86.16': {
    title: 'NVIDIA/open-gpu-kernel-modules README at 570.86.16 (first release listing the RTX 5090)',
    url: 'https://github.com/NVIDIA/open-gpu-kernel-modules/blob/570.86.16/README.md',
    says: '| NVIDIA GeForce RTX 5090 | 2B85 | (absent from 570.86.15)',
  },
  'nvidia-cuda-gpus': {
    title: 'NVIDIA: CUDA GPU compute capability',
    url: 'https://developer.nvidia.com/cuda-gpus',
    says: '12.0 | NVIDIA RTX PRO 6000 Blackwell Server Edition | … GeForce RTX 5090 GeForce RTX 5080 …',
  },
  'nvidia-arch-matrix': {
    title: 'NVIDIA: CUDA Toolkit, driver and architecture matrix',
    url: 'https://docs.nvidia.com/datacenter/tesla/drivers/cuda-toolkit-driver-and-architecture-matrix.html',
    says: 'Blackwell | 10.0 12.0 | CUDA 12.8 CUDA 12.8 | Ongoing Ongoing',
  },
  'nvidia-driver-install-guide-590-packages': {
    title: 'NVIDIA Driver Installation Guide: Ubuntu 590 and later packages (recent updates)',
    url: 'https://docs.nvidia.com/datacenter/tesla/driver-installation-guide/recent-updates.html',
    via: 'copy of the page at https://defichainwiki.com/recent-updates.html (docs.nvidia.com returned only the page head)',
    says: 'Starting with branch 590, the Ubuntu packages will be renamed by removing the branch designation from the package name. … cuda-drivers-580 / will be removed … nvidia-dkms-580-open / nvidia-dkms-open … install the pinning package prior to installing the driver.',
  },
  'nvidia-driver-install-guide-ubuntu': {
    title: 'NVIDIA Driver Installation Guide: Ubuntu',
    url: 'https://docs.nvidia.com/datacenter/tesla/driver-installation-guide/latest/ubuntu.html',
    via: 'a copy headed "Retrieved 2026-05-21 from" that URL (docs.nvidia.com returned only the page head)',
    says: '# apt install nvidia-driver-pinning-<branch> … # apt install nvidia-open … # apt install cuda-drivers … # apt -V install libnvidia-compute nvidia-dkms-open',
  },
  'nvidia-driver-install-guide-debian': {
    title: 'NVIDIA Driver Installation Guide: Debian',
    url: 'https://docs.nvidia.com/datacenter/tesla/driver-installation-guide/latest/debian.html',
    via: 'install scripts that cite the page (the page itself was not retrievable)',
    says: 'full: nvidia-open / proprietary: cuda-drivers / compute-only: nvidia-driver-cuda nvidia-kernel-open-dkms; # add-apt-repository contrib',
  },
  'nvidia-driver-install-guide-kernel-modules': {
    title: 'NVIDIA Driver Installation Guide: Kernel Modules',
    url: 'https://docs.nvidia.com/datacenter/tesla/driver-installation-guide/kernel-modules.html',
    says: 'Starting in the 560 driver release series, the open kernel module flavor is the default and suggested installation. Open GPU kernel modules are supported only on Turing and newer generations.',
  },
  'ubuntu-server-nvidia-drivers': {
    title: 'Ubuntu Server documentation: Install NVIDIA drivers',
    url: 'https://documentation.ubuntu.com/server/how-to/graphics/install-nvidia-drivers/',
    says: 'The ubuntu-drivers tool is recommended if your computer uses Secure Boot, since it will, by default, only install the pre-built, signed drivers … the DKMS drivers are not signed with Canonical\'s key and thus do not support secure boot. … sudo apt install linux-modules-nvidia-${DRIVER_BRANCH}${SERVER}-${LINUX_FLAVOUR}',
  },
  'ubuntu-noble-nvidia-driver-580': {
    title: 'Ubuntu packages: nvidia-driver-580 in noble-updates',
    url: 'https://packages.ubuntu.com/noble-updates/libs/nvidia-driver-580',
    says: 'nvidia-driver-580 (580.173.02-0ubuntu0.24.04.1) [restricted]',
  },
  'nvidia-cuda-repo-ubuntu2404': {
    title: "NVIDIA's CUDA network repository for Ubuntu 24.04",
    url: 'https://developer.download.nvidia.com/compute/cuda/repos/ubuntu2404/x86_64/',
    says: 'Index of /compute/cuda/repos/ubuntu2404/x86_64 … 3bf863cc.pub … cuda-keyring_1.1-1_all.deb',
  },
  // --- CUDA toolkit -----------------------------------------------------------------------------
  'cuda-release-notes-table-3': {
    title: 'CUDA Toolkit Release Notes, Table 3: CUDA Toolkit and Corresponding Driver Versions (Linux x86_64)',
    url: 'https://docs.nvidia.com/cuda/cuda-toolkit-release-notes/index.html',
    says: 'CUDA 11.0 … 12.6 GA rows: the minimum Linux x86_64 driver of each GA release (rows carried over from this table\'s first version, not re-read in 2026-12)',
  },
  'cuda-redistrib-manifests': {
    title: "NVIDIA's CUDA redistrib manifests (the driver bundled with each toolkit = Table 3's minimum)",
    url: 'https://developer.download.nvidia.com/compute/cuda/redist/',
    via: 'verbatim copies in NixOS/nixpkgs pkgs/development/cuda-modules/_cuda/manifests/cuda/redistrib_<version>.json (the docs page returned only its head)',
    says: 'redistrib_12.9.1.json "nvidia_driver" "version": "575.57.08"; 13.0.0: "580.65.06"; 13.0.1: "580.82.07"; 13.0.2: "580.95.05"; 13.1.1: "590.48.01"; 13.2.0: "595.45.04"; 13.2.1: "595.58.03"; 13.3.0: "610.43.02"; 13.4.2: no nvidia_driver entry',
  },
  'cuda-release-notes-table-3-copies': {
    title: 'CUDA Toolkit Release Notes, Table 3 as transcribed by third parties (GA rows not in the manifests)',
    url: 'https://docs.nvidia.com/cuda/cuda-toolkit-release-notes/index.html',
    via: 'third-party transcriptions of Table 3, corroborated by the cuDNN support matrix (9.10.2: CUDA 12.8/12.9 need >=570.26)',
    says: "{ label: 'CUDA 13.1 GA', minDisplayVersion: '590.44.01' } … { label: 'CUDA 12.9 GA', minDisplayVersion: '575.51.03' } … { label: 'CUDA 12.8 GA', minDisplayVersion: '570.26' }",
  },
  'cuda-13.4-release-notes': {
    title: 'CUDA Toolkit 13.4 release notes: the driver is no longer bundled',
    url: 'https://docs.nvidia.com/cuda/archive/13.4.1/cuda-toolkit-release-notes/index.html',
    says: 'The CUDA Toolkit 13.4 GA release is versioned 13.4.1 … Starting with CUDA 13.4 Developer Preview, the Linux driver is no longer bundled with the CUDA Toolkit … Existing CUDA 13.x applications continue to run on drivers >=580 under CUDA minor-version compatibility.',
  },
  'cuda-minor-version-compatibility': {
    title: 'CUDA Compatibility: Minor Version Compatibility',
    url: 'https://docs.nvidia.com/deploy/cuda-compatibility/minor-version-compatibility.html',
    says: 'applications compiled with a CUDA Toolkit release from within a CUDA major release family can run, with limited feature-set, on systems having at least the minimum required driver version … CUDA 13.x | >= 580 … CUDA 12.x | >= 525',
  },
  'cuda-install-guide-meta-packages': {
    title: 'CUDA Installation Guide for Linux: meta packages',
    url: 'https://docs.nvidia.com/cuda/cuda-installation-guide-linux/index.html',
    via: 'a copy of the 13.1 guide (the docs page returned only its head)',
    says: 'To avoid any automatic upgrade, and lock down the toolkit installation to the X.Y release, install the cuda-toolkit-X-Y … package. … cuda | Installs all CUDA Toolkit and driver packages',
  },
  // --- cuDNN ------------------------------------------------------------------------------------
  'cudnn-redistrib-9.12.0': {
    title: 'cuDNN 9.12.0 redistrib manifest: the first cuDNN with a CUDA 13 build',
    url: 'https://developer.download.nvidia.com/compute/cudnn/redist/redistrib_9.12.0.json',
    via: 'verbatim copy in NixOS/nixpkgs pkgs/development/cuda-modules/_cuda/manifests/cudnn/redistrib_9.12.0.json',
    says: '"release_date": "2025-08-07", "release_label": "9.12.0" … "cuda13": { "relative_path": "cudnn/linux-x86_64/cudnn-linux-x86_64-9.12.0.46_cuda13-archive.tar.xz" … "cuda_variant": ["12","13"]',
  },
  'cudnn-support-matrix-9.17.0': {
    title: 'cuDNN Support Matrix (9.17.0)',
    url: 'https://docs.nvidia.com/deeplearning/cudnn/backend/latest/reference/support-matrix.html',
    says: 'cuDNN 9.17.0 for CUDA 13.x • 13.1 • 13.0 Yes >=580.65.06 N/A • 12.0 • 10.0 • 9.0 • 8.9 • 8.6 • 8.0 • 7.5',
  },
  'cudnn-redistrib-9.28.1': {
    title: 'cuDNN 9.28.1 redistrib manifest (newest release found)',
    url: 'https://developer.download.nvidia.com/compute/cudnn/redist/redistrib_9.28.1.json',
    says: '"release_date": "2026-11-06", "release_label": "9.28.1" … "cudnn-linux-x86_64-9.28.1.4_cuda13-archive.tar.xz"',
  },
  // --- PyTorch ----------------------------------------------------------------------------------
  'pytorch-release-matrix': {
    title: 'pytorch/pytorch RELEASE.md: Release Compatibility Matrix',
    url: 'https://github.com/pytorch/pytorch/blob/main/RELEASE.md#release-compatibility-matrix',
    via: 'rows 2.10–2.14 as quoted in pytorch/pytorch#190386 and #194367 (atalman); older rows from a copy of RELEASE.md (the repository is too large to fetch here)',
    says: '| 2.14 | >=3.10, <=(3.15, 3.15t experimental) | C++20 | CUDA 12.6 (CUDNN 9.10.2.21) (NCCL 2.29.3), CUDA 13.0 (CUDNN 9.24.0.43) (NCCL 2.30.7), CUDA 13.2 (…) (NCCL 2.30.7) | … | 2.11 | … CUDA 12.6 (NCCL 2.28.9), CUDA 12.8 (NCCL 2.28.9), CUDA 13.0 (NCCL 2.28.9) |',
  },
  'pytorch-pr-190386': {
    title: 'pytorch/pytorch#190386: NCCL versions per release branch (2.10–2.13)',
    url: 'https://github.com/pytorch/pytorch/pull/190386',
    says: '| 2.12 | 12.6 → 2.29.3; 13.0 / 13.2 → 2.29.7 | | 2.11 | 12.6 / 12.8 / 13.0 → 2.28.9 (single nccl.txt) | | 2.10 | 12.6 / 12.8 → 2.27.5; 13.0 → 2.28.9 | … 2.13: nccl-cu126.txt = 2.29.3 and nccl.txt = 2.29.7',
  },
  'pytorch-pr-194367': {
    title: 'pytorch/pytorch#194367: add 2.14 to the release compatibility and CUDA support matrices',
    url: 'https://github.com/pytorch/pytorch/pull/194367',
    says: 'Values taken from release/2.14: … CUDA 12.6 | CUDNN 9.10.2.21, NCCL 2.29.3 | CUDA 13.0 | CUDNN 9.24.0.43, NCCL 2.30.7 | CUDA 13.2 | CUDNN 9.24.0.43, NCCL 2.30.7 |',
  },
  'pytorch-arch-support': {
    title: 'pytorch/pytorch: CUDA architectures per wheel (RELEASE.md tables, build_cuda.sh)',
    url: 'https://github.com/pytorch/pytorch/blob/main/.ci/manywheel/build_cuda.sh',
    says: '2.9: | 12.6.3 | Maxwell(5.0), Pascal(6.0), Volta(7.0), Turing(7.5), Ampere(8.0, 8.6), Hopper(9.0) | 12.8.1 | Volta(7.0) … Blackwell(10.0, 12.0) | 13.0.0 | Turing(7.5) … Blackwell(10.0, 12.0+PTX) | (#164471); 2.11 drops sm_70 from 12.8 (#172352); 2.12–2.14: 12.6.3 / 13.0.2 / 13.2.1 (#182849)',
  },
  'pytorch-rfc-178665': {
    title: 'pytorch/pytorch#178665: CUDA support matrix for release 2.12 (deprecate CUDA 12.8)',
    url: 'https://github.com/pytorch/pytorch/issues/178665',
    says: 'Deprecate CUDA 12.8 — Remove from CI/CD … Keep CUDA 13.0 as Stable — Published to PyPI … Introduce CUDA 13.2 as Experimental',
  },
  'pytorch-2.14-announcement': {
    title: 'googlecolab/colabtools#6093: PyTorch 2.14 release (atalman)',
    url: 'https://github.com/googlecolab/colabtools/issues/6093',
    says: 'CUDA 13.0 remains the default version installed for both x86_64 and ARM platforms. … Release 2.14.0 you have an option to use cuda 12.6 or cuda 13.2 builds',
  },
  'pytorch-2.11-announcement': {
    title: 'googlecolab/colabtools#5925: PyTorch 2.11 release (CUDA 13 default)',
    url: 'https://github.com/googlecolab/colabtools/issues/5925',
    says: 'CUDA 13 is now the default version installed for both x86_64 and ARM platforms. Users who need an alternative build can still access … CUDA 12.8 builds',
  },
  'pytorch-torch-2.7.1-metadata': {
    title: 'torch 2.7.1 wheel metadata on PyPI (quoted in astral-sh/uv#14237)',
    url: 'https://github.com/astral-sh/uv/issues/14237',
    says: 'Requires-Dist: nvidia-nccl-cu12==2.26.2; platform_system == "Linux" and platform_machine == "x86_64"',
  },
  'pytorch-pr-155233': {
    title: 'pytorch/pytorch#155233: update NCCL to 2.27.3 (torch 2.8)',
    url: 'https://github.com/pytorch/pytorch/pull/155233',
    says: '[BE]: Update NCCL to 2.27.3',
  },
  'pytorch-2.9-build-matrix': {
    title: 'pytorch/pytorch .github/scripts/generate_binary_build_matrix.py (2.9: CUDA 12.6/12.8/13.0)',
    url: 'https://github.com/pytorch/pytorch/blob/release/2.9/.github/scripts/generate_binary_build_matrix.py',
    via: 'a stored copy of the file with CUDA_ARCHES ["12.6","12.8","13.0"]; matches #168091 ("updates the NCCL version for CUDA13 from 2.27.7 to 2.28.9 … CUDA 12 remains at 2.27.5")',
    says: '"nvidia-nccl-cu12==2.27.5; platform_system == \'Linux\' …" (12.6, 12.8) and "nvidia-nccl-cu13==2.27.7; platform_system == \'Linux\' …" (13.0)',
  },
  'pytorch-cu129-index': {
    title: 'download.pytorch.org/whl/cu129: CUDA 12.9 wheels of torch 2.9–2.13 (not in RELEASE.md\'s matrix)',
    url: 'https://download.pytorch.org/whl/cu129',
    via: 'a third-party scan of the index (2026-09-22) and the 2.13 release notice googlecolab/colabtools#6053 (atalman): "Release 2.13.0 you have an option to use cuda 12.9 builds … --index-url https://download.pytorch.org/whl/cu129"',
    says: '"cu129": {"x86_64": ("2.13.0", "2.12.1", "2.11.0", "2.10.0", "2.9.1")',
  },
  'pytorch-previous-versions': {
    title: 'pytorch.org: Previous PyTorch versions (wheel index per CUDA variant)',
    url: 'https://pytorch.org/get-started/previous-versions/',
    says: 'pip install torch==2.9.1 torchvision==0.24.1 torchaudio==2.9.1 --index-url https://download.pytorch.org/whl/cu130',
  },
  // --- NCCL -------------------------------------------------------------------------------------
  'nccl-issue-2418': {
    title: 'NVIDIA/nccl#2418: Dual RTX PRO 6000 Blackwell: NCCL 2.26.2 illegal memory access for >=512 KiB collectives, not reproducible with 2.31.2',
    url: 'https://github.com/NVIDIA/nccl/issues/2418',
    says: 'PyTorch: 2.7.0+cu128 … Failing NCCL runtime: 2.26.2+cuda12.2 - Working NCCL runtime tested: 2.31.2+cuda12.9 … No NVLink … all_reduce_perf … reproducibly fails when reaching 524288 bytes',
  },
  'nccl-issue-1852': {
    title: 'NVIDIA/nccl#1852: allreduce failure on 5090D by shm when message size >= 512K',
    url: 'https://github.com/NVIDIA/nccl/issues/1852',
    says: 'NCCL 2.27.5+cuda12.4, NCCL_P2P_DISABLE=1, all_reduce_perf fails from 512K',
  },
  'pytorch-issue-152780': {
    title: 'pytorch/pytorch#152780: Error with nccl + multiple RTX5090 in ddp training (illegal memory access)',
    url: 'https://github.com/pytorch/pytorch/issues/152780',
    says: 'CUDA error: an illegal memory access was encountered … NCCL INFO NCCL version 2.26.2+cuda12.2',
  },
  'nccl-wheels-pypi': {
    title: 'PyPI: nvidia-nccl-cu12 / nvidia-nccl-cu13 release history',
    url: 'https://pypi.org/project/nvidia-nccl-cu13/',
    says: 'nvidia_nccl_cu13-2.32.3-py3-none-manylinux_2_27_x86_64.whl; 2.31.2 exists for both cu12 and cu13; torch pins it exactly (Requires-Dist: nvidia-nccl-cu13==…), so an override is installed after torch and pip reports the conflict',
  },
  // --- vLLM -------------------------------------------------------------------------------------
  'vllm-release-notes': {
    title: 'vLLM release notes (GitHub releases) and requirements/cuda.txt per release',
    url: 'https://github.com/vllm-project/vllm/releases',
    via: 'release notes as quoted in downstream dependency PRs, and vLLM PRs/issues (the repository is too large to fetch here)',
    says: '0.11.1: "Updated the default CUDA build to torch==2.9.0+cu129" … 0.14.0: "PyTorch 2.9.1 is now required and the default wheel is compiled against cu129" … 0.20.0: "Default CUDA wheel on PyPI … switched to CUDA 13.0 … PyTorch 2.11 upgrade"',
  },
  'vllm-issue-35823': {
    title: 'vllm-project/vllm#35823: v0.16.0 still relies on torch 2.9.1',
    url: 'https://github.com/vllm-project/vllm/issues/35823',
    says: 'branch v0.16.0 still rely on torch 2.9.1, not 2.10 … Revert "[Release 2.10] Update to Torch 2.10 - final release"',
  },
  'vllm-pr-48155': {
    title: 'vllm-project/vllm#48155: update the PyTorch ecosystem to the released 2.13.0',
    url: 'https://github.com/vllm-project/vllm/pull/48155',
    says: 'torch: 2.11.0 → 2.13.0 … torchaudio: stays at 2.11.0',
  },
  'vllm-0.27-0.29-torch-2.13': {
    title: 'Downstream pins of vLLM 0.27.1–0.29.0 on torch 2.13.0 (cu130)',
    url: 'https://github.com/NVIDIA-NeMo/RL/pull/4080',
    says: 'Bumps vLLM from 0.26.0 to 0.29.0 … torch 2.11.0 → 2.13.0 … The vLLM 0.29.0 wheels are built against torch 2.13; labs-molt#77: "vLLM 0.27.1 hard-pins torch==2.13.0 … CUDA 13.0 = vLLM\'s default cu130 pairing"; granite-switch#132: "vLLM 0.28 hard-pins torch==2.13.0"',
  },
  'vllm-issue-42756': {
    title: 'vllm-project/vllm#42756: which CUDA builds vLLM releases (khluu, release maintainer)',
    url: 'https://github.com/vllm-project/vllm/issues/42756',
    says: 'We only release cu129 and cu130 wheels at the moment',
  },
  // --- Container Toolkit ------------------------------------------------------------------------
  'nvidia-ctk-install-guide': {
    title: 'NVIDIA Container Toolkit: Installation Guide (apt)',
    url: 'https://docs.nvidia.com/datacenter/cloud-native/container-toolkit/latest/install-guide.html',
    says: 'curl -fsSL https://nvidia.github.io/libnvidia-container/gpgkey | sudo gpg --dearmor -o … && curl -s -L https://nvidia.github.io/libnvidia-container/stable/deb/nvidia-container-toolkit.list … export NVIDIA_CONTAINER_TOOLKIT_VERSION=${version}-1 … nvidia-container-toolkit=… nvidia-container-toolkit-base=… libnvidia-container-tools=… libnvidia-container1=…',
  },
  'nvidia-ctk-releases': {
    title: 'NVIDIA/nvidia-container-toolkit tags and release notes',
    url: 'https://github.com/NVIDIA/nvidia-container-toolkit/releases',
    says: 'v1.20.0 2026-08-12 … v1.19.1 2026-05-21 … v1.17.8 2025-05-30; "NVIDIA Container Toolkit 1.20.0 … is a feature release"',
  },
  'cve-2024-0132': {
    title: 'NVIDIA security bulletin 5582: CVE-2024-0132, CVE-2024-0133 (fixed in Container Toolkit 1.16.2)',
    url: 'https://nvidia.custhelp.com/app/answers/detail/a_id/5582',
    says: 'NVIDIA Container Toolkit 1.16.2: This release provides critical security updates … CVE-2024-0132 … CVE-2024-0133',
  },
  'cve-2025-23359': {
    title: 'CVE-2025-23359 (NVIDIA bulletin 5616): TOCTOU in the Container Toolkit, fixed in 1.17.4',
    url: 'https://nvidia.custhelp.com/app/answers/detail/a_id/5616',
    says: 'NVIDIA Container Toolkit All versions up to and including 1.17.3',
  },
  'cve-2025-23266': {
    title: 'CVE-2025-23266 "NVIDIAScape" and CVE-2025-23267 (NVIDIA bulletin 5659), fixed in 1.17.8',
    url: 'https://nvidia.custhelp.com/app/answers/detail/a_id/5659',
    via: 'CVE records CVE-2025-23266.json and CVE-2025-23267.json in CVEProject/cvelistV5',
    says: 'NVIDIA Container Toolkit All versions up to and including 1.17.7 … vulnerability in some hooks used to initialize the container, where an attacker could execute arbitrary code with elevated permissions',
  },
  'cve-2026-24260': {
    title: 'CVE-2026-24260 (NVIDIA bulletin 5850): TOCTOU in the Container Toolkit, fixed in 1.19.1',
    url: 'https://nvd.nist.gov/vuln/detail/CVE-2026-24260',
    via: 'NVD entry and Amazon Linux advisory ALAS2023NVIDIA-2026-297; the fixed version 1.19.1 is as cited from bulletin 5850 by third parties (the bulletin text was not retrievable)',
    says: 'NVIDIA Container Toolkit for Linux contains a vulnerability where an attacker could cause a time-of-check time-of-use race condition … CVSS 8.5; bulletin 5850 (June 2026) minimum 1.19.1',
  },
  // --- TensorFlow -------------------------------------------------------------------------------
  'tensorflow-tested-builds': {
    title: 'TensorFlow: tested build configurations (Linux GPU)',
    url: 'https://www.tensorflow.org/install/source#gpu',
    says: 'tensorflow-2.21.0 | 3.10-3.13 | Clang 18.1.8 | Bazel 7.4.1 | 9.3 | 12.5 … tensorflow-2.20.0 | 3.9-3.13 | … | 9.3 | 12.5',
  },
  'tensorflow-bazelrc-capabilities': {
    title: 'tensorflow/.bazelrc: compute capabilities of the official GPU wheels',
    url: 'https://github.com/tensorflow/tensorflow/blob/master/.bazelrc',
    says: 'build:cuda_clang --repo_env=HERMETIC_CUDA_COMPUTE_CAPABILITIES="sm_60,sm_70,sm_80,sm_89,compute_90" # … This is the same as the official TensorFlow builds.',
  },
  'tensorflow-issue-97387': {
    title: 'tensorflow/tensorflow#97387 (RTX 50xx): no kernels for compute capability 12.0',
    url: 'https://github.com/tensorflow/tensorflow/issues/97387',
    says: 'TensorFlow was not built with CUDA kernel binaries compatible with compute capability 12.0. CUDA kernels will be jit-compiled from PTX, which could take 30 minutes or longer. … CUDA_ERROR_INVALID_HANDLE',
  },
  'tensorflow-issue-101746': {
    title: 'tensorflow/tensorflow#101746 (TF 2.20.0 on RTX 5080): CUDA_ERROR_INVALID_PTX',
    url: 'https://github.com/tensorflow/tensorflow/issues/101746',
    says: 'the root cause is a CUDA_ERROR_INVALID_PTX error, which occurs during the cuModuleLoadData step … leading to the subsequent and final CUDA_ERROR_INVALID_HANDLE error',
  },
  // --- Operating systems ------------------------------------------------------------------------
  'distro-python': {
    title: 'Ubuntu and Debian archives: python3 version and the EXTERNALLY-MANAGED marker (PEP 668)',
    url: 'https://packages.ubuntu.com/noble/python3',
    says: 'noble: python3 3.12, bookworm: python3 3.11, jammy: python3 3.10; noble and bookworm ship /usr/lib/python3.X/EXTERNALLY-MANAGED (rows carried over from this table\'s first version)',
  },
  'distro-glibc': {
    title: 'glibc (libc6) of each release: what manylinux_2_X wheel tags a guest accepts',
    url: 'https://lists.ubuntu.com/archives/ubuntu-devel/2024-July/043071.html',
    via: 'Ubuntu: the glibc 2.40 upload announcement for the release after noble (Simon Chopin, ubuntu-devel, 2024-07-31), so noble is 2.39; ' +
      'jammy 2.35 as projects pinning an Ubuntu 22.04 floor state it ("GLIBC_ <= 2.35 (jammy glibc 2.35)"); Debian 12: `dpkg -s libc6` on a bookworm host, 2026-12-06',
    says: 'noble: glibc 2.39, jammy: glibc 2.35, bookworm: libc6 2.36-9+deb12u14',
  },
} as const satisfies Record<string, CompatSource>;

export type CompatSourceId = keyof typeof COMPAT_SOURCES;
