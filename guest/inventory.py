#!/usr/bin/env python3
"""imagebuild inventory: list everything installed in the sealed image, for the release's SBOM.

The seal role runs it as root on the shipped image, right before the image is made generic:

    python3 inventory.py --out /tmp/imagebuild-inventory.json [--venv /opt/ai/venv]

It lists every installed dpkg package (name, version, architecture, source package), every
distribution in the frameworks virtualenv (`pip inspect`, or the venv's package metadata when its pip
cannot inspect), the NVIDIA kernel modules on disk with their versions, and the container images the
Docker daemon holds. imagebuild turns it into sbom.cdx.json (CycloneDX) on the host. What is not
there is no error: no venv is "python": null, no Docker is "container_images": null, no NVIDIA
module is []; anything that could not be read is named in "problems". The JSON is written to a temp
file in the same directory, then os.replace'd. Exit 0, 1 when the output cannot be written, 2 on bad
arguments.

Python >= 3.9, standard library only (Ubuntu 24.04 ships 3.12, Debian 12 ships 3.11).

Testing: IMAGEBUILD_GUEST_ROOT=/some/dir prefixes every absolute guest path this program reads
(/etc/os-release, /proc/sys/kernel/osrelease, /lib/modules, <venv>/bin/python). Commands run by name
(dpkg-query, dpkg, modinfo, docker) are looked up on PATH, so tests put fake executables first on PATH.

Output (format 1):
    {"format": 1, "os": {"id": "debian", "version_id": "12", "version_codename": "bookworm",
                         "pretty_name": "Debian GNU/Linux 12 (bookworm)"},
     "architecture": "amd64" | null, "kernel": "6.1.0-40-amd64",
     "dpkg": [{"name": "bash", "version": "5.2.15-2+b8", "architecture": "amd64",
               "source": "bash", "source_version": "5.2.15-2"}] | null (no dpkg-query),
     "python": {"venv": "/opt/ai/venv", "via": "pip inspect" | "importlib.metadata",
                "packages": [{"name": "torch", "version": "2.13.0+cu130"}]} | null (no venv),
     "kernel_modules": [{"name": "nvidia", "version": "580.95.05", "kernel": "6.1.0-40-amd64",
                         "path": "/lib/modules/6.1.0-40-amd64/updates/dkms/nvidia.ko.xz"}],
     "container_images": [{"repository": "nvcr.io/nvidia/cuda", "tag": "13.0.2-base-ubuntu24.04",
                           "id": "sha256:…", "digest": "sha256:…" | null}] | null (no Docker),
     "problems": ["docker: the daemon did not answer"]}
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from typing import Any, Callable, Dict, List, Optional

# Bytecode beside the programs would land in guest/, whose files are hashed into every layer's key.
sys.dont_write_bytecode = True
# guest_files.py and facts.py travel beside this file (the seal role copies them together).
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from facts import first_line, kernel_release, os_release, run_command, venv_python  # noqa: E402
from guest_files import guest_path, write_result  # noqa: E402

FORMAT = 1
PIP_TIMEOUT_S = 180
DPKG_FIELDS = "${db:Status-Abbrev}\t${Package}\t${Version}\t${Architecture}\t${source:Package}\t${source:Version}\n"
# modprobe's module file names: nvidia.ko, nvidia-uvm.ko.xz, nvidia_drm.ko.zst, ...
NVIDIA_MODULE = re.compile(r"^(nvidia[A-Za-z0-9_-]*)\.ko(\.(xz|zst|gz))?$")

# Reads distribution metadata only (nothing is imported): for a venv whose pip cannot `inspect` (older
# than 22.2, or made --without-pip).
DISTRIBUTIONS = r"""# imagebuild:inventory-distributions
import json
from importlib import metadata
found = {}
for d in metadata.distributions():
    name = d.metadata["Name"]
    if name:
        found.setdefault(name, d.version)
print(json.dumps([{"name": n, "version": v} for n, v in sorted(found.items())]))
"""


def dpkg_packages(problems: List[str]) -> Optional[List[Dict[str, str]]]:
    """Every installed package (status i: installed, held or not), sorted; None without dpkg-query."""
    out = run_command(["dpkg-query", "-W", "-f=" + DPKG_FIELDS], timeout=120)
    if out is None:
        problems.append("dpkg-query: not available or failed; no Debian packages listed")
        return None
    packages = []
    for line in out.splitlines():
        fields = line.split("\t")
        # ii (installed), hi (installed and held); rc and friends are gone but still known to dpkg.
        if len(fields) != 6 or len(fields[0]) < 2 or fields[0][1] != "i" or not fields[1] or not fields[2]:
            continue
        _, name, version, arch, source, source_version = fields
        packages.append({
            "name": name,
            "version": version,
            "architecture": arch,
            "source": source or name,
            "source_version": source_version or version,
        })
    return sorted(packages, key=lambda p: (p["name"], p["architecture"]))


def pip_inspect(python: str) -> Optional[List[Dict[str, str]]]:
    """The venv's distributions from `pip inspect` (pip >= 22.2), or None when its pip cannot say."""
    out = run_command([python, "-m", "pip", "--disable-pip-version-check", "--no-input", "inspect", "--local"], timeout=PIP_TIMEOUT_S)
    if out is None:
        return None
    try:
        report = json.loads(out)
    except ValueError:
        return None
    installed = report.get("installed") if isinstance(report, dict) else None
    if not isinstance(installed, list):
        return None
    packages = []
    for entry in installed:
        meta = entry.get("metadata") if isinstance(entry, dict) else None
        if isinstance(meta, dict) and isinstance(meta.get("name"), str) and isinstance(meta.get("version"), str):
            packages.append({"name": meta["name"], "version": meta["version"]})
    return packages


def metadata_distributions(python: str) -> Optional[List[Dict[str, str]]]:
    out = run_command([python, "-c", DISTRIBUTIONS], timeout=PIP_TIMEOUT_S)
    for line in reversed((out or "").splitlines()):
        try:
            found = json.loads(line)
        except ValueError:
            continue
        if isinstance(found, list):
            return [p for p in found if isinstance(p, dict) and isinstance(p.get("name"), str) and isinstance(p.get("version"), str)]
    return None


def python_packages(venv: Optional[str], problems: List[str]) -> Optional[Dict[str, Any]]:
    """The frameworks venv's distributions, or None when there is no venv (a base-only image)."""
    python = venv_python(venv)
    if python is None:
        return None
    via = "pip inspect"
    packages = pip_inspect(python)
    if packages is None:
        via = "importlib.metadata"
        packages = metadata_distributions(python)
    if packages is None:
        problems.append("python: %s has a venv, but neither pip inspect nor its package metadata could be read" % venv)
        return None
    return {"venv": venv, "via": via, "packages": sorted(packages, key=lambda p: (p["name"].lower(), p["version"]))}


def nvidia_modules(problems: List[str]) -> List[Dict[str, str]]:
    """NVIDIA kernel modules on disk for every installed kernel (DKMS-built or prebuilt), with modinfo's version."""
    found = []
    root = guest_path("/lib/modules")
    try:
        kernels = sorted(os.listdir(root))
    except OSError:
        return []
    for kernel in kernels:
        for directory, _, files in os.walk(os.path.join(root, kernel)):
            for name in sorted(files):
                match = NVIDIA_MODULE.match(name)
                if not match:
                    continue
                host_path = os.path.join(directory, name)
                path = host_path[len(guest_path("")):]
                version = first_line(run_command(["modinfo", "-F", "version", host_path]))
                if version is None:
                    problems.append("modinfo: no version in %s" % path)
                # modprobe treats - and _ in module names alike; lsmod and /sys/module show _.
                found.append({"name": match.group(1).replace("-", "_"), "version": version, "kernel": kernel, "path": path})
    return sorted(found, key=lambda m: (m["kernel"], m["name"], m["path"]))


def present(value: Any) -> Optional[str]:
    """Docker's text for a value, None for its "<none>" (an untagged or never pushed image)."""
    return value if isinstance(value, str) and value and value != "<none>" else None


def container_images(problems: List[str]) -> Optional[List[Dict[str, Any]]]:
    """The images the Docker daemon holds, or None without Docker (or when its daemon does not answer)."""
    if run_command(["docker", "--version"]) is None:
        return None
    out = run_command(["docker", "image", "ls", "--digests", "--no-trunc", "--format", "{{json .}}"], timeout=60)
    if out is None:
        problems.append("docker: installed, but the daemon did not answer `docker image ls`; no container images listed")
        return None
    images = []
    for line in out.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if not isinstance(entry, dict) or not isinstance(entry.get("ID"), str):
            continue
        digest = entry.get("Digest")
        images.append({
            "repository": present(entry.get("Repository")),
            "tag": present(entry.get("Tag")),
            "id": entry["ID"],
            "digest": digest if isinstance(digest, str) and digest.startswith("sha256:") else None,
        })
    return sorted(images, key=lambda i: (i["repository"] or "", i["tag"] or "", i["id"]))


def safely(name: str, read: Callable[[], Any], problems: List[str], default: Any = None) -> Any:
    try:
        return read()
    except Exception as e:  # noqa: BLE001 - a part we cannot read is named in problems, never a crash
        problems.append("%s: unreadable: %s: %s" % (name, type(e).__name__, e))
        return default


def collect_inventory(venv: Optional[str]) -> Dict[str, Any]:
    problems: List[str] = []
    release = safely("os", os_release, problems, {})
    return {
        "format": FORMAT,
        "os": {
            "id": release.get("ID") or None,
            "version_id": release.get("VERSION_ID") or None,
            "version_codename": release.get("VERSION_CODENAME") or None,
            "pretty_name": release.get("PRETTY_NAME") or None,
        },
        "architecture": first_line(run_command(["dpkg", "--print-architecture"])),
        "kernel": safely("kernel", kernel_release, problems),
        "dpkg": safely("dpkg", lambda: dpkg_packages(problems), problems),
        "python": safely("python", lambda: python_packages(venv, problems), problems),
        "kernel_modules": safely("kernel_modules", lambda: nvidia_modules(problems), problems, []),
        "container_images": safely("container_images", lambda: container_images(problems), problems),
        "problems": problems,
    }


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="inventory.py", description="List what is installed in the image, for imagebuild's SBOM.")
    parser.add_argument("--out", required=True, help="where to write the inventory JSON")
    parser.add_argument("--venv", default="", help="the frameworks venv (none when empty or absent)")
    args = parser.parse_args(argv)
    if not os.path.isdir(os.path.dirname(os.path.abspath(args.out))):
        parser.error("--out: directory %s does not exist" % os.path.dirname(os.path.abspath(args.out)))
    return write_result("inventory.py", args.out, collect_inventory(args.venv or None))


if __name__ == "__main__":
    sys.exit(main())
