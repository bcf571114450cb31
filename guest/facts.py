#!/usr/bin/env python3
"""imagebuild facts: read what is installed in the build VM, for image-manifest.json.

Packer runs it as root at the end of every layer:

    python3 facts.py --out /tmp/imagebuild-facts.json [--params checks.json | --venv /opt/ai/venv]

Every value is read from the image, never from the spec; anything missing (tool not installed, no
GPU, no venv) is null, never a crash. It needs no GPU: the NVIDIA driver version comes from the
kernel module, the framework versions from package metadata (nothing is imported). The JSON is
written to a temp file in the same directory, then os.replace'd. Exit 0, or 2 on bad arguments.

Python >= 3.9, standard library only (Ubuntu 24.04 ships 3.12, Debian 12 ships 3.11).

Testing: IMAGEBUILD_GUEST_ROOT=/some/dir prefixes every absolute guest path this program reads or
executes by path (/etc/os-release, /proc/sys/kernel/osrelease, /sys/module/nvidia/version,
/usr/local/cuda/version.json, /usr/local/cuda/bin/nvcc, /usr/include/**/cudnn_version*.h,
<venv>/bin/python). Commands run by name (modinfo, nvcc, dpkg-query, docker, nvidia-ctk) are looked
up on PATH, so tests put fake executables first on PATH.

Output (format 1):
    {"format": 1, "os": "Ubuntu 24.04.3 LTS", "os_id": "ubuntu", "os_version_id": "24.04",
     "kernel": "6.8.0-45-generic", "nvidia_driver": "580.173.02" | null, "cuda_version": "13.0.2" | null,
     "cudnn_version": "9.10.2" | null, "docker_version": "28.3.3" | null,
     "container_toolkit_version": "1.17.8" | null, "python_version": "3.12.3", "venv": "/opt/ai/venv" | null,
     "frameworks": {"pytorch": "2.13.0+cu130" | null, "tensorflow": "2.21.0" | null, "vllm": "0.29.0" | null,
                    "nccl": "2.31.2" | null},
     "stand_ins": ["deb:nvidia-open", "pypi:torch"] (test stand-ins installed; [] in every real image)}
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import platform
import re
import shlex
import signal
import subprocess
import sys
from typing import Any, Callable, Dict, List, Optional

# Bytecode beside the programs would land in guest/, whose files are hashed into every layer's key.
sys.dont_write_bytecode = True
# guest_files.py travels beside this file (Packer copies the whole folder); loaded by path, this
# program still finds it.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from guest_files import guest_path, write_result  # noqa: E402

FORMAT = 1
COMMAND_TIMEOUT_S = 30
VENV_TIMEOUT_S = 120

# Reads distribution metadata only: importing torch/tensorflow/vllm takes seconds and may touch the GPU.
FRAMEWORK_VERSIONS = r"""# imagebuild:facts-frameworks
import json
from importlib import metadata
def version(*names):
    for name in names:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return None
# nccl: the NCCL wheel in the venv (torch's pin, or the one installed over it: layers.frameworks.nccl).
# stand_ins: distributions of imagebuild's hermetic test mirror (test/vendor-mirror), marked in their metadata.
stand_ins = sorted(d.metadata["Name"] for d in metadata.distributions() if "imagebuild-stand-in" in (d.metadata["Keywords"] or ""))
print(json.dumps({"pytorch": version("torch"), "tensorflow": version("tensorflow", "tensorflow-cpu"), "vllm": version("vllm"),
                  "nccl": version("nvidia-nccl-cu13", "nvidia-nccl-cu12", "nvidia-nccl-cu11"), "stand_ins": stand_ins}))
"""


def read_file(host_path: str) -> Optional[str]:
    try:
        with open(host_path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return None


def read_text(path: str) -> Optional[str]:
    return read_file(guest_path(path))


def run_command(argv: List[str], timeout: float = COMMAND_TIMEOUT_S) -> Optional[str]:
    """stdout of a command that exited 0, else None (missing, failed or timed out)."""
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            encoding="utf-8",
            errors="replace",
            start_new_session=True,
        )
    except OSError:
        return None
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        return None
    return out if proc.returncode == 0 else None


def first_line(text: Optional[str]) -> Optional[str]:
    if text is None:
        return None
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return None


def os_release() -> Dict[str, str]:
    text = read_text("/etc/os-release") or read_text("/usr/lib/os-release") or ""
    values = {}
    for line in text.splitlines():
        key, sep, raw = line.partition("=")
        if not sep or not key.strip() or key.lstrip().startswith("#"):
            continue
        try:
            parts = shlex.split(raw)
        except ValueError:
            parts = [raw.strip().strip("\"'")]
        values[key.strip()] = parts[0] if parts else ""
    return values


def kernel_release() -> str:
    return first_line(read_text("/proc/sys/kernel/osrelease")) or platform.release()


def nvidia_driver_version() -> Optional[str]:
    loaded = first_line(read_text("/sys/module/nvidia/version"))
    if loaded:
        return loaded
    # Not loaded (no GPU in this build): the installed module still carries its version.
    return first_line(run_command(["modinfo", "-F", "version", "nvidia"]))


def cuda_version() -> Optional[str]:
    text = read_text("/usr/local/cuda/version.json")
    if text:
        try:
            version = json.loads(text)["cuda"]["version"]
            if isinstance(version, str) and version:
                return version
        except (ValueError, KeyError, TypeError):
            pass
    for nvcc in ("nvcc", guest_path("/usr/local/cuda/bin/nvcc")):
        out = run_command([nvcc, "--version"])
        # "Cuda compilation tools, release 12.8, V12.8.93": V… is nvcc's own build, not the toolkit's.
        match = re.search(r"release (\d+(?:\.\d+)+)", out or "")
        if match:
            return match.group(1)
    return None


def upstream_version(version: str) -> str:
    version = version.split(":", 1)[-1]  # epoch
    return version.split("-", 1)[0]  # Debian revision


def dpkg_installed(status: str) -> bool:
    """Whether a ${db:Status-Abbrev} says installed: ii, or hi (held by apt-mark hold); not rc and friends."""
    return len(status) >= 2 and status[1] == "i"


def cudnn_version() -> Optional[str]:
    out = run_command(["dpkg-query", "-W", "-f=${db:Status-Abbrev}\t${Version}\n", "libcudnn9-cuda-*"])
    for line in (out or "").splitlines():
        status, _, version = line.partition("\t")
        # dpkg-query also lists packages that are known but not installed (empty version).
        if dpkg_installed(status) and version.strip():
            return upstream_version(version.strip())
    for header in sorted(glob.glob(guest_path("/usr/include/**/cudnn_version*.h"), recursive=True)):
        text = read_file(header) or ""
        parts = [re.search(r"#define\s+CUDNN_%s\s+(\d+)" % name, text) for name in ("MAJOR", "MINOR", "PATCHLEVEL")]
        if all(parts):
            return ".".join(m.group(1) for m in parts if m)
    return None


def docker_version() -> Optional[str]:
    server = first_line(run_command(["docker", "version", "--format", "{{.Server.Version}}"]))
    if server:
        return server
    # Daemon down: the client still knows its own version ("Docker version 28.3.3, build 980b856").
    match = re.search(r"version\s+v?([0-9][^,\s]*)", run_command(["docker", "--version"]) or "")
    return match.group(1) if match else None


def container_toolkit_version() -> Optional[str]:
    # "NVIDIA Container Toolkit CLI version 1.17.8"
    match = re.search(r"version\s+v?(\d+(?:\.\d+)+)", run_command(["nvidia-ctk", "--version"]) or "")
    return match.group(1) if match else None


def venv_python(venv: Optional[str]) -> Optional[str]:
    if not venv:
        return None
    python = guest_path(venv.rstrip("/") + "/bin/python")
    return python if os.path.exists(python) else None


def venv_report(venv: Optional[str]) -> Dict[str, Any]:
    python = venv_python(venv)
    if python is None:
        return {}
    out = run_command([python, "-c", FRAMEWORK_VERSIONS], timeout=VENV_TIMEOUT_S)
    for line in reversed((out or "").splitlines()):
        try:
            found = json.loads(line)
        except ValueError:
            continue
        if isinstance(found, dict):
            return found
    return {}


def framework_versions(venv: Optional[str]) -> Dict[str, Optional[str]]:
    versions: Dict[str, Optional[str]] = {"pytorch": None, "tensorflow": None, "vllm": None, "nccl": None}
    found = venv_report(venv)
    for key in versions:
        value = found.get(key)
        versions[key] = value if isinstance(value, str) and value else None
    return versions


# The marker every stand-in package of imagebuild's hermetic test mirror carries (test/vendor-mirror).
STAND_IN_MAINTAINER = "stand-in@imagebuild.invalid"


def stand_ins(venv: Optional[str]) -> List[str]:
    """Test stand-ins installed in the image: "deb:<name>" and "pypi:<name>". An image with any is never published."""
    found: List[str] = []
    out = run_command(["dpkg-query", "-W", "-f=${db:Status-Abbrev}\t${Package}\t${Maintainer}\n"])
    for line in (out or "").splitlines():
        fields = line.split("\t")
        if len(fields) == 3 and dpkg_installed(fields[0]) and STAND_IN_MAINTAINER in fields[2]:
            found.append("deb:" + fields[1])
    names = venv_report(venv).get("stand_ins")
    if isinstance(names, list):
        found.extend("pypi:" + name for name in names if isinstance(name, str) and name)
    return sorted(set(found))


def safely(name: str, read: Callable[[], Any], default: Any = None) -> Any:
    try:
        return read()
    except Exception as e:  # noqa: BLE001 - a fact we cannot read is null, never a crash
        print("facts.py: %s unknown: %s: %s" % (name, type(e).__name__, e), file=sys.stderr)
        return default


def collect_facts(venv: Optional[str]) -> Dict[str, Any]:
    release = safely("os", os_release, {})
    return {
        "format": FORMAT,
        "os": release.get("PRETTY_NAME") or None,
        "os_id": release.get("ID") or None,
        "os_version_id": release.get("VERSION_ID") or None,
        "kernel": safely("kernel", kernel_release),
        "nvidia_driver": safely("nvidia_driver", nvidia_driver_version),
        "cuda_version": safely("cuda_version", cuda_version),
        "cudnn_version": safely("cudnn_version", cudnn_version),
        "docker_version": safely("docker_version", docker_version),
        "container_toolkit_version": safely("container_toolkit_version", container_toolkit_version),
        "python_version": platform.python_version(),
        "venv": venv if safely("venv", lambda: venv_python(venv)) else None,
        "frameworks": safely("frameworks", lambda: framework_versions(venv), {"pytorch": None, "tensorflow": None, "vllm": None, "nccl": None}),
        "stand_ins": safely("stand_ins", lambda: stand_ins(venv), []),
    }


def venv_from_params(path: str) -> Optional[str]:
    with open(path, encoding="utf-8") as f:
        params = json.load(f)
    if not isinstance(params, dict):
        raise ValueError("not a JSON object")
    venv = params.get("venv")
    return venv if isinstance(venv, str) and venv else None


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="facts.py", description="Read the installed versions for imagebuild's manifest.")
    parser.add_argument("--out", required=True, help="where to write the facts JSON")
    parser.add_argument("--venv", help="the frameworks venv (default: 'venv' from --params, else none)")
    parser.add_argument("--params", help="checks.json rendered by imagebuild, read for its 'venv'")
    args = parser.parse_args(argv)
    if not os.path.isdir(os.path.dirname(os.path.abspath(args.out))):
        parser.error("--out: directory %s does not exist" % os.path.dirname(os.path.abspath(args.out)))
    venv = args.venv or None
    if venv is None and args.params:
        try:
            venv = venv_from_params(args.params)
        except (OSError, ValueError) as e:
            print("facts.py: cannot read --params %s: %s" % (args.params, e), file=sys.stderr)
            return 2
    return write_result("facts.py", args.out, collect_facts(venv))


if __name__ == "__main__":
    sys.exit(main())
