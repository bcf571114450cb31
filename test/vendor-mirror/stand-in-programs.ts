// The programs and maintainer scripts inside the stand-in packages. Each behaves as the real one does on a build
// guest without a GPU (or, for the module installer, as DKMS would after a successful build), so the roles and
// guest/facts.py run their real code paths against them. Test fixtures only: none of this is vendor code.

/** nvidia-smi with no reachable driver: NVIDIA's message on stdout and exit status 9, as on a machine without a GPU. */
export const NVIDIA_SMI = `#!/bin/sh
# imagebuild test stand-in: no driver can talk to a GPU here, so this fails exactly as NVIDIA's does then.
echo "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the latest NVIDIA driver is installed and running."
exit 9
`;

/** nvidia-persistenced without a GPU: it cannot initialise and exits 1. */
export const NVIDIA_PERSISTENCED = `#!/bin/sh
# imagebuild test stand-in.
echo "nvidia-persistenced failed to initialize. Check syslog for more details." >&2
exit 1
`;

/** nvidia-container-cli without a driver: --version works, everything else finds no NVML. */
export function nvidiaContainerCliScript(version: string): string {
  return `#!/bin/sh
# imagebuild test stand-in.
case "$1" in
  --version|-V) echo "cli-version: ${version}"; exit 0 ;;
esac
echo "nvidia-container-cli: initialization error: nvml error: driver not loaded" >&2
exit 1
`;
}

/**
 * nvidia-container-runtime: with no GPU requested the real one hands the container to runc unchanged, which is
 * what a container started without --gpus sees here too.
 */
export const NVIDIA_CONTAINER_RUNTIME = `#!/bin/sh
# imagebuild test stand-in: no GPU can be injected here; pass through to runc as the real runtime does for
# containers that request none.
if command -v runc >/dev/null 2>&1; then exec runc "$@"; fi
echo "nvidia-container-runtime (imagebuild stand-in): runc not found" >&2
exit 1
`;

/** nvcc --version's four lines for a CUDA release (e.g. 13.0) and nvcc build (e.g. 13.0.88). */
export function nvccScript(release: string, build: string): string {
  return `#!/bin/sh
# imagebuild test stand-in: prints nvcc's version lines; compiles nothing.
case "$1" in
  --version|-V)
    echo "nvcc: NVIDIA (R) Cuda compiler driver"
    echo "Copyright (c) 2005-2025 NVIDIA Corporation"
    echo "Built on Wed_Aug_20_01:58:59_PM_PDT_2025"
    echo "Cuda compilation tools, release ${release}, V${build}"
    echo "Build cuda_${release}.r${release}/compiler.imagebuild-stand-in_0"
    exit 0 ;;
esac
echo "nvcc (imagebuild stand-in): cannot compile; only --version is supported" >&2
exit 1
`;
}

/**
 * nvidia-ctk: --version, and \`runtime configure\` for Docker, which edits daemon.json as the real one does (adds
 * runtimes.nvidia with path nvidia-container-runtime, keeps every other key, 4-space JSON, creates the file).
 */
export function nvidiaCtkScript(version: string): string {
  return `#!/usr/bin/python3
# imagebuild test stand-in for NVIDIA Container Toolkit's CLI.
import json, os, sys

VERSION = ${JSON.stringify(version)}

def fail(message):
    print("ERRO[0000] " + message, file=sys.stderr)
    sys.exit(1)

def configure(args):
    runtime, config, default, dry_run = "docker", None, False, False
    for arg in args:
        if arg.startswith("--runtime="):
            runtime = arg.split("=", 1)[1]
        elif arg.startswith("--config="):
            config = arg.split("=", 1)[1]
        elif arg == "--set-as-default":
            default = True
        elif arg == "--dry-run":
            dry_run = True
        else:
            fail("unsupported argument for the imagebuild stand-in: " + arg)
    if runtime != "docker":
        fail("the imagebuild stand-in configures --runtime=docker only")
    path = config or "/etc/docker/daemon.json"
    print("INFO[0000] Loading config from " + path, file=sys.stderr)
    settings = {}
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            text = f.read()
        if text.strip():
            settings = json.loads(text)
    runtimes = settings.setdefault("runtimes", {})
    runtimes["nvidia"] = {"args": [], "path": "nvidia-container-runtime"}
    if default:
        settings["default-runtime"] = "nvidia"
    output = json.dumps(settings, indent=4)
    if dry_run:
        print(output)
        return
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        f.write(output)
    os.replace(path + ".tmp", path)
    print("INFO[0000] Wrote updated config to " + path, file=sys.stderr)
    print("INFO[0000] It is recommended that docker daemon be restarted.", file=sys.stderr)

args = sys.argv[1:]
if args in (["--version"], ["-v"], ["version"]):
    print("NVIDIA Container Toolkit CLI version " + VERSION)
    print("commit: imagebuild-stand-in")
elif args[:2] == ["runtime", "configure"]:
    configure(args[2:])
else:
    fail("the imagebuild stand-in supports --version and runtime configure only")
`;
}

/**
 * postinst of a kernel-module package: puts the prebuilt stand-in nvidia.ko where DKMS would leave its build, for
 * every installed kernel, and runs depmod, so \`modinfo nvidia\` finds it (as guest/facts.py and the role read it).
 */
export function moduleInstallPostinst(shipped: string): string {
  return `#!/bin/sh
set -e
# imagebuild test stand-in for a DKMS build: the module is prebuilt (no code, only a .modinfo section).
if [ "$1" = configure ]; then
  for dir in /lib/modules/*/; do
    [ -d "\${dir}kernel" ] || continue
    kernel=$(basename "$dir")
    install -D -m 0644 ${shipped} "\${dir}updates/dkms/nvidia.ko"
    depmod "$kernel"
  done
fi
exit 0
`;
}

/** prerm of a kernel-module package: takes the stand-in module out of every kernel again, as \`dkms remove\` does. */
export const MODULE_REMOVE_PRERM = `#!/bin/sh
set -e
case "$1" in
  remove|upgrade|deconfigure)
    for dir in /lib/modules/*/; do
      if [ -f "\${dir}updates/dkms/nvidia.ko" ]; then
        rm -f "\${dir}updates/dkms/nvidia.ko"
        depmod "$(basename "$dir")"
      fi
    done ;;
esac
exit 0
`;

/** postinst registering an update-alternatives link (how NVIDIA's config-common packages set /usr/local/cuda). */
export function alternativePostinst(link: string, name: string, target: string, priority: number): string {
  return `#!/bin/sh
set -e
if [ "$1" = configure ]; then
  update-alternatives --install ${link} ${name} ${target} ${priority}
fi
exit 0
`;
}

/** prerm removing what alternativePostinst registered. */
export function alternativePrerm(name: string, target: string): string {
  return `#!/bin/sh
set -e
if [ "$1" = remove ] || [ "$1" = deconfigure ]; then
  update-alternatives --remove ${name} ${target}
fi
exit 0
`;
}
