#!/usr/bin/env python3
"""imagebuild gate: measure one layer inside the build VM and write the gate JSON.

Packer runs it as root at the end of every layer:

    python3 run_checks.py --params checks.json --out /tmp/imagebuild-gate.json

It MEASURES and never decides: imagebuild judges the values against the spec's thresholds on the
host. Every check ends "measured", "skipped" or "error"; an exception inside a check becomes that
check's error, and the JSON is always written (temp file in the same directory, then os.replace).
Exit 0, or 2 when the arguments or checks.json are unusable.

Python >= 3.9, standard library only (Ubuntu 24.04 ships 3.12, Debian 12 ships 3.11).

Testing: IMAGEBUILD_GUEST_ROOT=/some/dir prefixes every absolute guest path this program reads or
executes by path (/proc/mounts, /proc/net/tcp{,6}, /proc/sys/kernel/{hostname,osrelease}, the root
filesystem for statvfs, <venv>/bin/python, <suite_dir>/*.py). Commands run by name (nvidia-smi,
docker, systemctl, getent, ss) are looked up on PATH, so tests put fake executables first on PATH.

Output (format 1):
    {"format": 1, "layer": "driver", "started_at": "...Z", "finished_at": "...Z",
     "host": {"hostname": "...", "kernel": "..."},
     "checks": [{"check": "gpu_count", "status": "measured", "value": 4, "unit": "count", "detail": {...}},
                {"check": "...", "status": "skipped" | "error", "reason": "..."}]}
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import platform
import pwd
import re
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import traceback
from datetime import datetime, timezone
from typing import Any, Callable, Dict, List, Optional

# Bytecode beside the programs would land in guest/, whose files are hashed into every layer's key.
sys.dont_write_bytecode = True
# guest_files.py travels beside this file (Packer copies the whole folder); loaded by path, this
# program still finds it.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from guest_files import guest_path, write_result  # noqa: E402

FORMAT = 1
LAYERS = ("base", "driver", "runtime", "frameworks", "validation")
NO_GPU_REASON = "no GPU passed through to this build (hardware.gpu.passthrough is empty)"
NVIDIA_SMI_MISSING = "nvidia-smi not found: NVIDIA driver not installed"

DRIVER_CHECKS = (
    "gpu_count",
    "gpu_names",
    "gpu_memory_mib_min",
    "pcie_link_gen_min",
    "pcie_link_width_min",
    "idle_temp_c_max",
    "nvidia_driver",
)
RUNTIME_CHECKS = ("docker_gpu", "docker_gpu_concurrent")
VALIDATION_CHECKS = (
    "ddp_scaling_efficiency",
    "gpu_utilization_pct",
    "vllm_tokens_per_s",
    "soak_max_temp_c",
    "soak_throttled",
)

# Field order matters: parse_gpu_row reads them by position.
GPU_QUERY = (
    "index",
    "name",
    "memory.total",
    "pcie.link.gen.max",
    "pcie.link.gen.current",
    "pcie.link.width.current",
    "temperature.gpu",
    "driver_version",
)
SAMPLE_QUERY = ("index", "utilization.gpu", "temperature.gpu")

NVIDIA_SMI_TIMEOUT_S = 120
DOCKER_TIMEOUT_S = 600
FRAMEWORK_TIMEOUT_S = 900
SUITE_TIMEOUT_S = 3600
SOAK_MARGIN_S = 1800
MATMUL_TOLERANCE = 1e-3


# ---------------------------------------------------------------------------------------------
# Validation suite contract. The validation Ansible role installs these programs in suite_dir;
# run_checks.py runs each with <venv>/bin/python and reads the LAST line of its stdout that is a JSON
# object (log lines before it are fine). Exit 0 on a completed measurement, non-zero on failure
# (the stderr tail becomes the check's error reason). They measure; they never apply thresholds.
#
# test_pytorch_ddp.py --json --model resnet50 --batch-size 32
#   Trains <model> on synthetic data with DistributedDataParallel, first on 1 GPU, then on every
#   visible GPU; scaling_efficiency = throughput_ngpu / (gpus * throughput_1gpu), a ratio 0..1.
#   ngpu_started_at/ngpu_finished_at (Unix seconds, time.time()) bracket the n-GPU phase: the
#   utilization samples taken by run_checks.py inside that window give gpu_utilization_pct.
#   {"scaling_efficiency": 0.87, "throughput_1gpu": 812.4, "throughput_ngpu": 2826.1, "gpus": 4,
#    "model": "resnet50", "batch_size": 32, "device": "cuda",
#    "ngpu_started_at": 1754041000.2, "ngpu_finished_at": 1754041180.9}
#
# test_vllm_inference.py --json --model facebook/opt-1.3b --prompts 30 --max-tokens 50
#   Generates max-tokens tokens for each of <prompts> prompts in one batch on GPU 0;
#   tokens_per_s = generated_tokens / elapsed_s (generation only, model load excluded).
#   {"tokens_per_s": 1234.5, "generated_tokens": 1500, "elapsed_s": 1.215, "prompts": 30,
#    "model": "facebook/opt-1.3b", "device": "cuda", "sample_output": "..."}
#
# stress_soak.py --json --duration 24h --interval 5
#   Loads every GPU with continuous matmuls for <duration> (Ns|Nm|Nh), sampling every <interval> s;
#   throttled = any thermal/power slowdown clock-event reason was active in any sample.
#   {"duration_s": 86400, "max_temp_c": 81, "throttled": false, "throttle_events": [],
#    "gpus": 4, "samples": 17280, "per_gpu_max_temp_c": [79, 81, 80, 78]}
#
# While the DDP and soak programs run, run_checks.py itself samples
# `nvidia-smi --query-gpu=index,utilization.gpu,temperature.gpu` every sample_interval_s, so the
# utilization and the soak temperature do not rest on the suite's word alone.
# ---------------------------------------------------------------------------------------------

SUITE_DDP = "test_pytorch_ddp.py"
SUITE_VLLM = "test_vllm_inference.py"
SUITE_SOAK = "stress_soak.py"


# Scripts run with the venv's python (-c). Each prints one JSON line. The first-line markers let
# tests' fake interpreters tell them apart.
TORCH_PROBE = r"""# imagebuild:torch-probe
import json
import torch
out = {"version": torch.__version__, "cuda_build": torch.version.cuda}
out["cuda_available"] = torch.cuda.is_available()
out["device_count"] = torch.cuda.device_count()
try:
    out["cudnn"] = torch.backends.cudnn.version()
except Exception:
    out["cudnn"] = None
try:
    out["arch_list"] = torch.cuda.get_arch_list()
except Exception:
    out["arch_list"] = []
out["devices"] = []
for i in range(out["device_count"]):
    try:
        cap = torch.cuda.get_device_capability(i)
        out["devices"].append({"index": i, "name": torch.cuda.get_device_name(i), "capability": "%d.%d" % cap})
    except Exception as e:
        out["devices"].append({"index": i, "error": "%s: %s" % (type(e).__name__, e)})
print(json.dumps(out))
"""

# Runs an NxN fp32 matmul on every visible GPU and reports, per device, where the result tensor lives,
# how far a slice of it is from a float64 CPU reference, and the time per matmul.
TORCH_MATMUL = r"""# imagebuild:torch-matmul
import json, sys, time
import torch
n = int(sys.argv[1])
# Measure true fp32, not TF32.
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
iters = 5
k = min(n, 64)
rows = []
for i in range(torch.cuda.device_count()):
    row = {"index": i}
    try:
        dev = torch.device("cuda", i)
        row["name"] = torch.cuda.get_device_name(i)
        gen = torch.Generator().manual_seed(1234 + i)
        a_cpu = torch.randn(n, n, generator=gen)
        b_cpu = torch.randn(n, n, generator=gen)
        a = a_cpu.to(dev)
        b = b_cpu.to(dev)
        c = torch.matmul(a, b)
        torch.cuda.synchronize(dev)
        with torch.cuda.device(dev):
            start = torch.cuda.Event(enable_timing=True)
            end = torch.cuda.Event(enable_timing=True)
            wall = time.perf_counter()
            start.record()
            for _ in range(iters):
                c = torch.matmul(a, b)
            end.record()
            end.synchronize()
            wall = time.perf_counter() - wall
        ms = start.elapsed_time(end) / iters
        row["device_type"] = c.device.type
        row["result_device"] = str(c.device)
        ref = a_cpu[:k].double() @ b_cpu[:, :k].double()
        got = c[:k, :k].double().cpu()
        max_abs = (got - ref).abs().max().item()
        row["max_abs_err"] = max_abs
        row["rel_err"] = max_abs / max(ref.abs().max().item(), 1e-30)
        row["ms_per_matmul"] = round(ms, 3)
        row["wall_ms_per_matmul"] = round(wall * 1000 / iters, 3)
        row["tflops"] = round(2.0 * n ** 3 / (ms / 1000.0) / 1e12, 2) if ms > 0 else None
        del a, b, c
        torch.cuda.empty_cache()
    except Exception as e:
        row["error"] = "%s: %s" % (type(e).__name__, e)
    rows.append(row)
print(json.dumps({"version": torch.__version__, "n": n, "iterations": iters, "slice": k, "devices": rows}))
"""

TENSORFLOW_PROBE = r"""# imagebuild:tensorflow-probe
import json, os
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import tensorflow as tf
gpus = tf.config.list_physical_devices("GPU")
print(json.dumps({"version": tf.__version__, "gpus": len(gpus), "gpu_devices": [g.name for g in gpus],
                  "built_with_cuda": tf.test.is_built_with_cuda()}))
"""

VLLM_PROBE = r"""# imagebuild:vllm-probe
import json
import vllm
print(json.dumps({"version": vllm.__version__}))
"""


class CheckError(Exception):
    """The measurement could not be taken; str(self) is the reason."""


class CheckSkipped(Exception):
    """The measurement does not apply to this build; str(self) is the reason."""


class CommandNotFound(CheckError):
    pass


class CommandTimeout(CheckError):
    pass


class ParamsError(Exception):
    pass


class Measured:
    def __init__(self, value: Any, unit: Optional[str] = None, detail: Optional[Dict[str, Any]] = None):
        self.value = value
        self.unit = unit
        self.detail = detail


class Completed:
    def __init__(self, argv: List[str], returncode: int, stdout: str, stderr: str):
        self.argv = argv
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr


# --- guest access ------------------------------------------------------------------------------


def read_text(path: str) -> str:
    with open(guest_path(path), encoding="utf-8", errors="replace") as f:
        return f.read()


def tail(text: str, lines: int = 5, chars: int = 600) -> str:
    kept = [line for line in text.strip().splitlines() if line.strip()][-lines:]
    joined = " | ".join(line.strip() for line in kept)
    return joined if len(joined) <= chars else "..." + joined[-chars:]


def start_command(argv: List[str], env: Optional[Dict[str, str]] = None) -> "subprocess.Popen[str]":
    try:
        # A new session lets a timeout kill the whole process tree (docker clients, torch workers).
        return subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            encoding="utf-8",
            errors="replace",
            env=env,
            start_new_session=True,
        )
    except FileNotFoundError:
        if os.sep in argv[0]:
            raise CommandNotFound("%s: no such file" % argv[0]) from None
        raise CommandNotFound("%s: command not found" % argv[0]) from None
    except PermissionError:
        raise CheckError("%s: permission denied" % argv[0]) from None


def kill_tree(proc: "subprocess.Popen[str]") -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def finish_command(proc: "subprocess.Popen[str]", argv: List[str], timeout: float) -> Completed:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_tree(proc)
        try:
            proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        raise CommandTimeout("%s timed out after %d s" % (os.path.basename(argv[0]), timeout)) from None
    return Completed(argv, proc.returncode, out or "", err or "")


def run_command(argv: List[str], timeout: float, env: Optional[Dict[str, str]] = None) -> Completed:
    return finish_command(start_command(argv, env), argv, timeout)


def last_json_object(text: str) -> Optional[Dict[str, Any]]:
    for line in reversed(text.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                value = json.loads(line)
            except ValueError:
                continue
            if isinstance(value, dict):
                return value
    return None


def require(params: Dict[str, Any], key: str, kind: type) -> Any:
    value = params.get(key)
    if not is_kind(value, kind):
        raise CheckError("checks.json has no valid %r (expected %s)" % (key, kind.__name__))
    return value


def is_kind(value: Any, kind: Any) -> bool:
    # bool is an int subclass: a flag must not pass for a count.
    if isinstance(value, bool) and kind is not bool:
        return False
    return isinstance(value, kind)


def once(fn: Callable[[], Any]) -> Callable[[], Any]:
    """Runs fn at most once; later calls return its result or re-raise its exception."""
    state: Dict[str, Any] = {}

    def wrapper() -> Any:
        if not state:
            try:
                state["result"] = fn()
            except Exception as e:  # noqa: BLE001 - re-raised to every check that depends on it
                state["error"] = e
        if "error" in state:
            raise state["error"]
        return state["result"]

    return wrapper


# --- the report ------------------------------------------------------------------------------


class Gate:
    def __init__(self) -> None:
        self.checks: List[Dict[str, Any]] = []

    def add(self, check: str, measure: Callable[[], Measured]) -> None:
        try:
            m = measure()
        except CheckSkipped as e:
            self.skip(check, str(e))
        except CheckError as e:
            self.checks.append({"check": check, "status": "error", "reason": str(e)})
        except Exception as e:  # noqa: BLE001 - a bug in one check must not lose the others
            self.checks.append(
                {
                    "check": check,
                    "status": "error",
                    "reason": "%s: %s" % (type(e).__name__, e),
                    "detail": {"traceback": traceback.format_exc(limit=-4)},
                }
            )
        else:
            entry: Dict[str, Any] = {"check": check, "status": "measured", "value": m.value}
            if m.unit is not None:
                entry["unit"] = m.unit
            if m.detail is not None:
                entry["detail"] = m.detail
            self.checks.append(entry)

    def skip(self, check: str, reason: str) -> None:
        self.checks.append({"check": check, "status": "skipped", "reason": reason})


def utc_now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def host_info() -> Dict[str, Any]:
    def kernel_file(name: str, fallback: Callable[[], str]) -> str:
        try:
            value = read_text("/proc/sys/kernel/" + name).strip()
        except OSError:
            value = ""
        return value or fallback()

    return {
        "hostname": kernel_file("hostname", socket.gethostname),
        "kernel": kernel_file("osrelease", platform.release),
    }


# --- layer 1: base ---------------------------------------------------------------------------


def measure_system_running() -> Measured:
    waited = True
    try:
        # --wait: right after boot the state is "starting"; wait for boot to settle.
        res = run_command(["systemctl", "is-system-running", "--wait"], timeout=300)
    except CommandTimeout:
        waited = False
        res = run_command(["systemctl", "is-system-running"], timeout=30)
    lines = res.stdout.strip().splitlines()
    state = lines[-1].strip() if lines else ""
    if not state:
        raise CheckError("systemctl is-system-running printed nothing (exit %d): %s" % (res.returncode, tail(res.stderr)))
    detail: Dict[str, Any] = {"waited_for_boot": waited}
    if state != "running":
        try:
            failed = run_command(["systemctl", "--failed", "--plain", "--no-legend", "--no-pager"], timeout=30)
            detail["failed_units"] = [line.split()[0] for line in failed.stdout.splitlines() if line.strip()]
        except CheckError as e:
            detail["failed_units_error"] = str(e)
    return Measured(state, detail=detail)


def decode_proc_address(hex_addr: str) -> str:
    raw = bytes.fromhex(hex_addr)
    if len(raw) == 4:
        return str(ipaddress.IPv4Address(raw[::-1]))
    # IPv6: four 32-bit words, each in host (little-endian) order.
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
    return "[%s]" % ipaddress.IPv6Address(words)


def tcp_listeners_from_proc() -> Optional[List[Dict[str, Any]]]:
    listeners: List[Dict[str, Any]] = []
    read_any = False
    for name in ("tcp", "tcp6"):
        try:
            text = read_text("/proc/net/" + name)
        except OSError:
            continue
        read_any = True
        for line in text.splitlines()[1:]:
            fields = line.split()
            if len(fields) < 4 or fields[3] != "0A":  # 0A = TCP_LISTEN
                continue
            addr, port = fields[1].rsplit(":", 1)
            listeners.append({"address": decode_proc_address(addr), "port": int(port, 16)})
    return listeners if read_any else None


def tcp_listeners_from_ss() -> List[Dict[str, Any]]:
    res = run_command(["ss", "-ltnH"], timeout=30)
    if res.returncode != 0:
        raise CheckError("ss -ltnH failed (exit %d): %s" % (res.returncode, tail(res.stderr)))
    listeners = []
    for line in res.stdout.splitlines():
        fields = line.split()
        if len(fields) < 4:
            continue
        addr, _, port = fields[3].rpartition(":")
        if port.isdigit():
            listeners.append({"address": addr, "port": int(port)})
    return listeners


def measure_ssh_listening(params: Dict[str, Any]) -> Measured:
    port = params.get("ssh_port", 22)
    if not is_kind(port, int):
        raise CheckError("checks.json has no valid 'ssh_port' (expected int)")
    listeners = tcp_listeners_from_proc()
    source = "/proc/net/tcp{,6}"
    if listeners is None:
        listeners = tcp_listeners_from_ss()
        source = "ss -ltnH"
    on_port = sorted({"%s:%d" % (l["address"], l["port"]) for l in listeners if l["port"] == port})
    return Measured(bool(on_port), detail={"port": port, "listeners": on_port, "source": source})


def user_exists(name: str) -> bool:
    try:
        res = run_command(["getent", "passwd", name], timeout=30)
    except CommandNotFound:
        try:
            pwd.getpwnam(name)
            return True
        except KeyError:
            return False
    if res.returncode == 0:
        return True
    if res.returncode == 2:  # getent: key not found
        return False
    raise CheckError("getent passwd %s failed (exit %d): %s" % (name, res.returncode, tail(res.stderr)))


def measure_users_present(params: Dict[str, Any]) -> Measured:
    users = require(params, "users", list)
    present, missing = [], []
    for name in users:
        (present if user_exists(str(name)) else missing).append(str(name))
    return Measured(present, detail={"expected": [str(u) for u in users], "missing": missing})


def unescape_mount_field(field: str) -> str:
    # /proc/mounts escapes space, tab, newline and backslash as \ooo.
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def find_root_mount() -> Dict[str, str]:
    root = None
    for line in read_text("/proc/mounts").splitlines():
        fields = line.split()
        # The last entry for / is the one in effect (earlier ones are shadowed).
        if len(fields) >= 3 and unescape_mount_field(fields[1]) == "/":
            root = {
                "device": unescape_mount_field(fields[0]),
                "type": fields[2],
                "options": fields[3] if len(fields) > 3 else "",
            }
    if root is None:
        raise CheckError("/proc/mounts has no entry for /")
    return root


def measure_root_fs_gib() -> Measured:
    st = os.statvfs(guest_path("/"))
    size = st.f_blocks * st.f_frsize
    free = st.f_bavail * st.f_frsize
    return Measured(
        round(size / 2**30, 1),
        "GiB",
        {"size_bytes": size, "free_bytes": free, "free_gib": round(free / 2**30, 1)},
    )


# The loaders GRUB leaves: BIOS's core (embedded in the BIOS boot partition) and boot code in the MBR; UEFI's
# loader at the ESP's removable path, which firmware boots with no NVRAM entry.
GRUB_BIOS_CORE = "/boot/grub/i386-pc/core.img"
UEFI_REMOVABLE_LOADER = "/boot/efi/EFI/BOOT/BOOTX64.EFI"


def root_disk(device: str) -> Dict[str, Any]:
    """The sysfs view of the root partition and its disk; CheckSkipped when the root is not a disk partition."""
    name = os.path.basename(device)
    part_dir = guest_path("/sys/class/block/" + name)
    if not os.path.exists(os.path.join(part_dir, "partition")):
        raise CheckSkipped("root %s is not a disk partition (device-mapper or whole disk): its volume manager owns the layout" % device)
    disk_dir = os.path.realpath(os.path.join(part_dir, ".."))

    def number(path: str) -> int:
        return int(open(path, encoding="utf-8").read().strip())

    block_path = os.path.join(disk_dir, "queue", "logical_block_size")
    return {
        "disk": "/dev/" + os.path.basename(disk_dir),
        # sysfs counts start and size in 512-byte units whatever the disk's logical block size.
        "start": number(os.path.join(part_dir, "start")),
        "size": number(os.path.join(part_dir, "size")),
        "disk_sectors": number(os.path.join(disk_dir, "size")),
        "block_size": number(block_path) if os.path.exists(block_path) else 512,
    }


def read_disk_head(disk: str, block_size: int) -> bytes:
    with open(guest_path(disk), "rb") as f:
        return f.read(2 * block_size)


def measure_boot_loaders(root_mount: Callable[[], Dict[str, str]]) -> Measured:
    found: List[str] = []
    detail: Dict[str, Any] = {"booted_firmware": "uefi" if os.path.isdir(guest_path("/sys/firmware/efi")) else "bios"}
    mbr_has_grub: Optional[bool] = None
    try:
        disk = root_disk(root_mount()["device"])
        mbr_has_grub = b"GRUB" in read_disk_head(disk["disk"], disk["block_size"])[:440]
        detail["mbr_has_grub"] = mbr_has_grub
    except CheckSkipped as skipped:
        detail["mbr"] = str(skipped)
    if os.path.isfile(guest_path(GRUB_BIOS_CORE)) and mbr_has_grub is not False:
        found.append("bios")
    if os.path.isfile(guest_path(UEFI_REMOVABLE_LOADER)):
        found.append("uefi")
    detail["checked"] = [GRUB_BIOS_CORE + " and GRUB in the MBR", UEFI_REMOVABLE_LOADER]
    return Measured(found, detail=detail)


def measure_root_fills_disk(root_mount: Callable[[], Dict[str, str]]) -> Measured:
    disk = root_disk(root_mount()["device"])
    sector = 512
    disk_bytes = disk["disk_sectors"] * sector
    end_bytes = (disk["start"] + disk["size"]) * sector
    head = read_disk_head(disk["disk"], disk["block_size"])
    gpt = head[disk["block_size"] : disk["block_size"] + 8] == b"EFI PART"
    detail: Dict[str, Any] = {"disk": disk["disk"], "disk_bytes": disk_bytes, "root_end_bytes": end_bytes, "gpt": gpt}
    # GPT's backup (the last 33 logical blocks of 512 bytes) is not free space.
    reserved = 33 * disk["block_size"] if gpt else 0
    if gpt:
        # The primary header names where the backup header is (AlternateLBA, bytes 32-39): the disk's last block.
        base = disk["block_size"]
        alternate = int.from_bytes(head[base + 32 : base + 40], "little")
        last = disk_bytes // disk["block_size"] - 1
        detail["backup_header_lba"] = alternate
        detail["backup_header_at_end"] = alternate == last
    unused = max(0, disk_bytes - reserved - end_bytes)
    return Measured(round(unused / 2**20, 1), "MiB", detail)


def check_base(params: Dict[str, Any], gate: Gate) -> None:
    root_mount = once(find_root_mount)
    gate.add("system_running", measure_system_running)
    gate.add("ssh_listening", lambda: measure_ssh_listening(params))
    gate.add("users_present", lambda: measure_users_present(params))
    gate.add("root_fs_gib", measure_root_fs_gib)
    gate.add("root_fs_type", lambda: Measured(root_mount()["type"]))
    gate.add(
        "root_partition",
        lambda: Measured(root_mount()["device"], detail={"options": root_mount()["options"]}),
    )
    gate.add("root_fills_disk", lambda: measure_root_fills_disk(root_mount))
    gate.add("boot_loaders", lambda: measure_boot_loaders(root_mount))


# --- layer 2: driver -------------------------------------------------------------------------


class GpuInventory:
    def __init__(self, rows: List[Dict[str, Any]], no_devices: bool = False, message: str = ""):
        self.rows = rows
        self.no_devices = no_devices
        self.message = message


def parse_number(text: str, field: str, line: str) -> Optional[float]:
    if text.startswith("[") or text in ("N/A", ""):  # [N/A], [Not Supported], [Unknown Error]
        return None
    try:
        number = float(text)
    except ValueError:
        raise CheckError("unexpected nvidia-smi value %r for %s in line %r" % (text, field, line)) from None
    return int(number) if number.is_integer() else number


def parse_gpu_row(line: str) -> Dict[str, Any]:
    fields = [f.strip() for f in line.split(",")]
    if len(fields) != len(GPU_QUERY):
        raise CheckError(
            "unexpected nvidia-smi output line (expected %d comma-separated fields, got %d): %r"
            % (len(GPU_QUERY), len(fields), line)
        )
    index = parse_number(fields[0], "index", line)
    if not isinstance(index, int):
        raise CheckError("unexpected nvidia-smi GPU index %r in line %r" % (fields[0], line))
    return {
        "index": index,
        "name": fields[1],
        "memory_total_mib": parse_number(fields[2], "memory.total", line),
        "pcie_gen_max": parse_number(fields[3], "pcie.link.gen.max", line),
        "pcie_gen_current": parse_number(fields[4], "pcie.link.gen.current", line),
        "pcie_width_current": parse_number(fields[5], "pcie.link.width.current", line),
        "temperature_c": parse_number(fields[6], "temperature.gpu", line),
        "driver_version": fields[7],
    }


def query_gpus() -> GpuInventory:
    argv = ["nvidia-smi", "--query-gpu=" + ",".join(GPU_QUERY), "--format=csv,noheader,nounits"]
    try:
        res = run_command(argv, timeout=NVIDIA_SMI_TIMEOUT_S)
    except CommandNotFound:
        raise CheckError(NVIDIA_SMI_MISSING) from None
    both = res.stdout + "\n" + res.stderr
    if "No devices were found" in both:
        return GpuInventory([], no_devices=True, message="nvidia-smi: No devices were found")
    if res.returncode != 0:
        raise CheckError("nvidia-smi failed (exit %d): %s" % (res.returncode, tail(both)))
    rows = [parse_gpu_row(line) for line in res.stdout.splitlines() if line.strip()]
    if not rows:
        raise CheckError("nvidia-smi printed no GPU rows: %s" % tail(both))
    return GpuInventory(sorted(rows, key=lambda r: r["index"]))


def gpu_rows(inventory: Callable[[], GpuInventory]) -> List[Dict[str, Any]]:
    inv = inventory()
    if inv.no_devices:
        raise CheckSkipped(inv.message)
    return inv.rows


def per_gpu(rows: List[Dict[str, Any]], key: str, field: str) -> List[Any]:
    values = []
    for row in rows:
        if row[key] is None:
            raise CheckError("nvidia-smi reported no %s for GPU %d" % (field, row["index"]))
        values.append(row[key])
    return values


def measure_gpu_count(inventory: Callable[[], GpuInventory]) -> Measured:
    inv = inventory()
    detail: Dict[str, Any] = {"gpus": inv.rows}
    if inv.no_devices:
        detail["nvidia_smi"] = inv.message
    return Measured(len(inv.rows), "count", detail)


def measure_gpu_extreme(
    inventory: Callable[[], GpuInventory], key: str, field: str, pick: Callable[[List[Any]], Any], unit: str, extra: str = ""
) -> Measured:
    rows = gpu_rows(inventory)
    values = per_gpu(rows, key, field)
    detail_rows = []
    for row in rows:
        item = {"index": row["index"], key: row[key]}
        if extra:
            item[extra] = row[extra]
        detail_rows.append(item)
    return Measured(pick(values), unit, {"per_gpu": detail_rows})


def measure_nvidia_driver(inventory: Callable[[], GpuInventory]) -> Measured:
    rows = gpu_rows(inventory)
    versions = sorted({row["driver_version"] for row in rows})
    detail = {"per_gpu": [{"index": r["index"], "driver_version": r["driver_version"]} for r in rows]} if len(versions) > 1 else None
    return Measured(rows[0]["driver_version"], detail=detail)


def check_driver(params: Dict[str, Any], gate: Gate) -> None:
    if not params["gpu_passthrough"]:
        for check in DRIVER_CHECKS:
            gate.skip(check, NO_GPU_REASON)
        return
    inventory = once(query_gpus)
    gate.add("gpu_count", lambda: measure_gpu_count(inventory))
    gate.add("gpu_names", lambda: Measured([r["name"] for r in gpu_rows(inventory)]))
    gate.add(
        "gpu_memory_mib_min",
        lambda: measure_gpu_extreme(inventory, "memory_total_mib", "memory.total", min, "MiB"),
    )
    # Idle GPUs drop the current link to gen 1 to save power; the capability is the max gen.
    gate.add(
        "pcie_link_gen_min",
        lambda: measure_gpu_extreme(inventory, "pcie_gen_max", "pcie.link.gen.max", min, "gen", "pcie_gen_current"),
    )
    gate.add(
        "pcie_link_width_min",
        lambda: measure_gpu_extreme(inventory, "pcie_width_current", "pcie.link.width.current", min, "lanes"),
    )
    gate.add(
        "idle_temp_c_max",
        lambda: measure_gpu_extreme(inventory, "temperature_c", "temperature.gpu", max, "C"),
    )
    gate.add("nvidia_driver", lambda: measure_nvidia_driver(inventory))


# --- layer 3: runtime ------------------------------------------------------------------------

GPU_LIST_LINE = re.compile(r"^GPU \d+:")


def container_name(i: int) -> str:
    return "imagebuild-gate-%d-%d" % (os.getpid(), i)


def remove_containers(names: List[str]) -> None:
    try:
        run_command(["docker", "rm", "-f"] + names, timeout=60)
    except CheckError:
        pass


def docker_gpu_argv(name: str, image: str) -> List[str]:
    return ["docker", "run", "--rm", "--gpus", "all", "--name", name, image, "nvidia-smi", "-L"]


def measure_docker_gpu(params: Dict[str, Any]) -> Measured:
    image = require(params, "cuda_image", str)
    name = container_name(0)
    try:
        res = run_command(docker_gpu_argv(name, image), timeout=DOCKER_TIMEOUT_S)
    except CommandTimeout:
        # Killing the client leaves the container running.
        remove_containers([name])
        raise
    if res.returncode != 0:
        raise CheckError("docker run --gpus all failed (exit %d): %s" % (res.returncode, tail(res.stderr + "\n" + res.stdout)))
    gpus = [line.strip() for line in res.stdout.splitlines() if GPU_LIST_LINE.match(line.strip())]
    return Measured(len(gpus), "count", {"image": image, "gpus": gpus})


def measure_docker_gpu_concurrent(params: Dict[str, Any]) -> Measured:
    image = require(params, "cuda_image", str)
    count = require(params, "containers", int)
    names = [container_name(i + 1) for i in range(count)]
    procs = [(name, docker_gpu_argv(name, image)) for name in names]
    started = [(name, argv, start_command(argv)) for name, argv in procs]
    deadline = time.monotonic() + DOCKER_TIMEOUT_S
    containers: List[Dict[str, Any]] = []
    timed_out = 0
    for name, argv, proc in started:
        try:
            res = finish_command(proc, argv, max(1.0, deadline - time.monotonic()))
        except CommandTimeout:
            timed_out += 1
            containers.append({"name": name, "error": "timed out"})
            continue
        gpus = sum(1 for line in res.stdout.splitlines() if GPU_LIST_LINE.match(line.strip()))
        row: Dict[str, Any] = {"name": name, "exit": res.returncode, "gpus": gpus}
        if res.returncode != 0:
            row["error"] = tail(res.stderr + "\n" + res.stdout)
        containers.append(row)
    if timed_out:
        remove_containers(names)
        raise CheckError("%d of %d concurrent containers did not finish within %d s" % (timed_out, count, DOCKER_TIMEOUT_S))
    succeeded = sum(1 for c in containers if c.get("exit") == 0 and c.get("gpus", 0) > 0)
    return Measured(succeeded, "count", {"image": image, "started": count, "containers": containers})


def check_runtime(params: Dict[str, Any], gate: Gate) -> None:
    if not params["gpu_passthrough"]:
        for check in RUNTIME_CHECKS:
            gate.skip(check, NO_GPU_REASON)
        return
    gate.add("docker_gpu", lambda: measure_docker_gpu(params))
    gate.add("docker_gpu_concurrent", lambda: measure_docker_gpu_concurrent(params))


# --- layer 4: frameworks ---------------------------------------------------------------------


def venv_python(params: Dict[str, Any]) -> str:
    venv = params.get("venv")
    if not isinstance(venv, str) or not venv:
        # No venv in the spec: the frameworks live in the system interpreter.
        return "python3"
    python = venv.rstrip("/") + "/bin/python"
    if not os.path.exists(guest_path(python)):
        raise CheckError("%s not found: the venv %s is missing" % (python, venv))
    return guest_path(python)


def run_python_json(python: str, label: str, code: str, args: List[str], timeout: float) -> Dict[str, Any]:
    res = run_command([python, "-c", code] + args, timeout=timeout)
    if res.returncode != 0:
        raise CheckError("%s failed (exit %d): %s" % (label, res.returncode, tail(res.stderr, lines=2) or tail(res.stdout, lines=2)))
    result = last_json_object(res.stdout)
    if result is None:
        raise CheckError("%s printed no JSON result: %s" % (label, tail(res.stdout + "\n" + res.stderr)))
    return result


def result_field(result: Dict[str, Any], key: str, kind: Any, label: str) -> Any:
    value = result.get(key)
    if not is_kind(value, kind):
        raise CheckError("%s: result has no valid %r: %s" % (label, key, json.dumps(result)[:300]))
    return value


def measure_matmul(python: Callable[[], str], size: int) -> Measured:
    result = run_python_json(python(), "torch matmul", TORCH_MATMUL, [str(size)], FRAMEWORK_TIMEOUT_S)
    devices = result_field(result, "devices", list, "torch matmul")
    # On the GPU = the result tensor lives on a CUDA device AND agrees with the CPU reference.
    on_gpu = 0
    for row in devices:
        rel = row.get("rel_err")
        row["on_gpu"] = (
            "error" not in row
            and row.get("device_type") == "cuda"
            and isinstance(rel, (int, float))
            and rel <= MATMUL_TOLERANCE
        )
        on_gpu += 1 if row["on_gpu"] else 0
    detail = {
        "n": size,
        "dtype": "float32",
        "tolerance_rel": MATMUL_TOLERANCE,
        "torch": result.get("version"),
        "iterations": result.get("iterations"),
        "devices": devices,
    }
    return Measured(on_gpu, "count", detail)


def check_frameworks(params: Dict[str, Any], gate: Gate) -> None:
    passthrough = params["gpu_passthrough"]
    python = once(lambda: venv_python(params))
    torch_probe = once(lambda: run_python_json(python(), "import torch", TORCH_PROBE, [], FRAMEWORK_TIMEOUT_S))

    def torch_versions(r: Dict[str, Any]) -> Dict[str, Any]:
        return {"python": python(), "cuda_build": r.get("cuda_build"), "cudnn": r.get("cudnn"), "arch_list": r.get("arch_list")}

    gate.add(
        "pytorch_import",
        lambda: Measured(result_field(torch_probe(), "version", str, "import torch"), detail=torch_versions(torch_probe())),
    )
    if passthrough:
        gate.add(
            "pytorch_cuda_devices",
            lambda: Measured(
                result_field(torch_probe(), "device_count", int, "import torch"),
                "count",
                dict(torch_versions(torch_probe()), version=torch_probe().get("version"),
                     cuda_available=torch_probe().get("cuda_available"), devices=torch_probe().get("devices")),
            ),
        )
        gate.add("pytorch_matmul_gpus", lambda: measure_matmul(python, require(params, "matmul_size", int)))
    else:
        gate.skip("pytorch_cuda_devices", NO_GPU_REASON)
        gate.skip("pytorch_matmul_gpus", NO_GPU_REASON)

    if params.get("tensorflow") is True:
        tf_probe = once(lambda: run_python_json(python(), "import tensorflow", TENSORFLOW_PROBE, [], FRAMEWORK_TIMEOUT_S))
        gate.add(
            "tensorflow_import",
            lambda: Measured(result_field(tf_probe(), "version", str, "import tensorflow"), detail={"built_with_cuda": tf_probe().get("built_with_cuda")}),
        )
        if passthrough:
            gate.add(
                "tensorflow_gpus",
                lambda: Measured(
                    result_field(tf_probe(), "gpus", int, "import tensorflow"),
                    "count",
                    {"version": tf_probe().get("version"), "gpu_devices": tf_probe().get("gpu_devices")},
                ),
            )
        else:
            gate.skip("tensorflow_gpus", NO_GPU_REASON)

    if params.get("vllm") is True:
        gate.add(
            "vllm_import",
            lambda: Measured(
                result_field(run_python_json(python(), "import vllm", VLLM_PROBE, [], FRAMEWORK_TIMEOUT_S), "version", str, "import vllm")
            ),
        )


# --- layer 5: validation ---------------------------------------------------------------------


class GpuSampler(threading.Thread):
    """Samples per-GPU utilization and temperature with nvidia-smi until stopped."""

    def __init__(self, interval_s: float):
        super().__init__(daemon=True)
        self.interval_s = interval_s
        self.samples: List[Dict[str, Any]] = []
        self.errors = 0
        self.last_error: Optional[str] = None
        self._halt = threading.Event()

    def run(self) -> None:
        argv = ["nvidia-smi", "--query-gpu=" + ",".join(SAMPLE_QUERY), "--format=csv,noheader,nounits"]
        while not self._halt.is_set():
            taken_at = time.time()
            try:
                res = run_command(argv, timeout=max(30.0, self.interval_s * 2))
                if res.returncode != 0:
                    raise CheckError("nvidia-smi exit %d: %s" % (res.returncode, tail(res.stdout + res.stderr)))
                util: List[float] = []
                temp: List[float] = []
                for line in res.stdout.splitlines():
                    fields = [f.strip() for f in line.split(",")]
                    if len(fields) != len(SAMPLE_QUERY):
                        continue
                    u = parse_number(fields[1], "utilization.gpu", line)
                    t = parse_number(fields[2], "temperature.gpu", line)
                    if u is not None:
                        util.append(u)
                    if t is not None:
                        temp.append(t)
                if not util and not temp:
                    raise CheckError("nvidia-smi printed no sample rows")
                self.samples.append({"t": taken_at, "util": util, "temp": temp})
            except Exception as e:  # noqa: BLE001 - a failed sample is counted, not fatal
                self.errors += 1
                self.last_error = str(e)
            self._halt.wait(self.interval_s)

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=120)


class SuiteRun:
    def __init__(self, result: Dict[str, Any], sampler: Optional[GpuSampler], elapsed_s: float):
        self.result = result
        self.sampler = sampler
        self.elapsed_s = elapsed_s


def run_suite_program(
    params: Dict[str, Any], python: Callable[[], str], program: str, args: List[str], timeout: float, sample: bool
) -> SuiteRun:
    suite_dir = require(params, "suite_dir", str).rstrip("/")
    path = suite_dir + "/" + program
    if not os.path.isfile(guest_path(path)):
        raise CheckError("validation suite not installed at %s" % path)
    argv = [python(), guest_path(path)] + args
    sampler = GpuSampler(float(params.get("sample_interval_s") or 5)) if sample else None
    started = time.monotonic()
    proc = start_command(argv)
    if sampler:
        sampler.start()
    try:
        res = finish_command(proc, argv, timeout)
    finally:
        if sampler:
            sampler.stop()
    elapsed = time.monotonic() - started
    if res.returncode != 0:
        raise CheckError("%s failed (exit %d): %s" % (program, res.returncode, tail(res.stderr, lines=3) or tail(res.stdout, lines=3)))
    result = last_json_object(res.stdout)
    if result is None:
        raise CheckError("%s printed no JSON result line: %s" % (program, tail(res.stdout + "\n" + res.stderr)))
    return SuiteRun(result, sampler, elapsed)


def duration_seconds(text: str) -> int:
    match = re.fullmatch(r"(\d+)([smh])", text.strip())
    if not match:
        raise CheckError("checks.json soak_duration %r is not a duration like 24h, 30m or 90s" % text)
    return int(match.group(1)) * {"s": 1, "m": 60, "h": 3600}[match.group(2)]


def sample_summary(sampler: Optional[GpuSampler]) -> Dict[str, Any]:
    if sampler is None:
        return {}
    summary: Dict[str, Any] = {"samples": len(sampler.samples), "sample_errors": sampler.errors, "interval_s": sampler.interval_s}
    if sampler.last_error:
        summary["last_sample_error"] = sampler.last_error
    return summary


def measure_ddp(run: Callable[[], SuiteRun]) -> Measured:
    r = run()
    efficiency = result_field(r.result, "scaling_efficiency", (int, float), SUITE_DDP)
    return Measured(efficiency, "ratio", dict(r.result, run_wall_s=round(r.elapsed_s, 1)))


def measure_utilization(run: Callable[[], SuiteRun]) -> Measured:
    r = run()
    sampler = r.sampler
    assert sampler is not None
    start, end = r.result.get("ngpu_started_at"), r.result.get("ngpu_finished_at")
    samples = sampler.samples
    window: Optional[List[float]] = None
    if isinstance(start, (int, float)) and isinstance(end, (int, float)) and end > start:
        window = [start, end]
        samples = [s for s in samples if start <= s["t"] <= end]
    means = [sum(s["util"]) / len(s["util"]) for s in samples if s["util"]]
    detail = dict(sample_summary(sampler), window=window, samples_in_window=len(means))
    if not means:
        raise CheckError(
            "no GPU utilization sample fell inside the DDP run (%d samples taken, %d failed%s)"
            % (len(sampler.samples), sampler.errors, ": " + sampler.last_error if sampler.last_error else "")
        )
    per_gpu = [list(s["util"]) for s in samples if s["util"]]
    width = min(len(row) for row in per_gpu)
    detail["per_gpu_median_pct"] = [statistics.median(row[i] for row in per_gpu) for i in range(width)]
    return Measured(round(statistics.median(means), 1), "percent", detail)


def measure_vllm(params: Dict[str, Any], python: Callable[[], str]) -> Measured:
    args = [
        "--json",
        "--model", require(params, "vllm_model", str),
        "--prompts", str(require(params, "vllm_prompts", int)),
        "--max-tokens", str(require(params, "vllm_max_tokens", int)),
    ]
    r = run_suite_program(params, python, SUITE_VLLM, args, SUITE_TIMEOUT_S, sample=False)
    value = result_field(r.result, "tokens_per_s", (int, float), SUITE_VLLM)
    return Measured(value, "tokens/s", dict(r.result, run_wall_s=round(r.elapsed_s, 1)))


def measure_soak_temp(run: Callable[[], SuiteRun]) -> Measured:
    r = run()
    reported = r.result.get("max_temp_c")
    if not is_kind(reported, (int, float)):
        reported = None
    sampled = [t for s in (r.sampler.samples if r.sampler else []) for t in s["temp"]]
    sampled_max = max(sampled) if sampled else None
    candidates = [v for v in (reported, sampled_max) if v is not None]
    if not candidates:
        raise CheckError("%s reported no max_temp_c and no temperature sample was taken" % SUITE_SOAK)
    utils = [sum(s["util"]) / len(s["util"]) for s in (r.sampler.samples if r.sampler else []) if s["util"]]
    detail = dict(
        sample_summary(r.sampler),
        suite_max_temp_c=reported,
        sampled_max_temp_c=sampled_max,
        sampled_utilization_pct_median=round(statistics.median(utils), 1) if utils else None,
        run_wall_s=round(r.elapsed_s, 1),
        result=r.result,
    )
    # The hotter of the suite's own reading and ours: the soak must not pass on its own word.
    return Measured(max(candidates), "C", detail)


def measure_soak_throttled(run: Callable[[], SuiteRun]) -> Measured:
    r = run()
    throttled = result_field(r.result, "throttled", bool, SUITE_SOAK)
    return Measured(throttled, detail={"throttle_events": r.result.get("throttle_events", [])})


def check_validation(params: Dict[str, Any], gate: Gate) -> None:
    if not params["gpu_passthrough"]:
        for check in VALIDATION_CHECKS:
            gate.skip(check, NO_GPU_REASON)
        return
    python = once(lambda: venv_python(params))
    ddp = once(
        lambda: run_suite_program(
            params,
            python,
            SUITE_DDP,
            ["--json", "--model", require(params, "ddp_model", str), "--batch-size", str(require(params, "ddp_batch_size", int))],
            SUITE_TIMEOUT_S,
            sample=True,
        )
    )
    gate.add("ddp_scaling_efficiency", lambda: measure_ddp(ddp))
    gate.add("gpu_utilization_pct", lambda: measure_utilization(ddp))
    gate.add("vllm_tokens_per_s", lambda: measure_vllm(params, python))

    def soak_run() -> SuiteRun:
        duration = require(params, "soak_duration", str)
        interval = params.get("sample_interval_s") or 5
        args = ["--json", "--duration", duration, "--interval", str(interval)]
        return run_suite_program(params, python, SUITE_SOAK, args, duration_seconds(duration) + SOAK_MARGIN_S, sample=True)

    soak = once(soak_run)
    gate.add("soak_max_temp_c", lambda: measure_soak_temp(soak))
    gate.add("soak_throttled", lambda: measure_soak_throttled(soak))


LAYER_CHECKS: Dict[str, Callable[[Dict[str, Any], Gate], None]] = {
    "base": check_base,
    "driver": check_driver,
    "runtime": check_runtime,
    "frameworks": check_frameworks,
    "validation": check_validation,
}


# --- entry point -----------------------------------------------------------------------------


def load_params(path: str) -> Dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as f:
            params = json.load(f)
    except OSError as e:
        raise ParamsError("cannot read %s: %s" % (path, e.strerror)) from None
    except ValueError as e:
        raise ParamsError("%s is not valid JSON: %s" % (path, e)) from None
    if not isinstance(params, dict):
        raise ParamsError("%s must hold a JSON object" % path)
    if params.get("layer") not in LAYERS:
        raise ParamsError("%s: layer must be one of %s, got %r" % (path, ", ".join(LAYERS), params.get("layer")))
    passthrough = params.setdefault("gpu_passthrough", False)
    if not isinstance(passthrough, bool):
        raise ParamsError("%s: gpu_passthrough must be true or false" % path)
    return params


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="run_checks.py", description="Measure one imagebuild layer's gate checks.")
    parser.add_argument("--params", required=True, help="checks.json rendered by imagebuild")
    parser.add_argument("--out", required=True, help="where to write the gate JSON")
    args = parser.parse_args(argv)
    if not os.path.isdir(os.path.dirname(os.path.abspath(args.out))):
        parser.error("--out: directory %s does not exist" % os.path.dirname(os.path.abspath(args.out)))
    try:
        params = load_params(args.params)
    except ParamsError as e:
        print("run_checks.py: %s" % e, file=sys.stderr)
        return 2

    started_at = utc_now()
    gate = Gate()
    try:
        LAYER_CHECKS[params["layer"]](params, gate)
    except Exception as e:  # noqa: BLE001 - checks are guarded one by one; this is the last net
        gate.checks.append({"check": "run_checks", "status": "error", "reason": "%s: %s" % (type(e).__name__, e)})
    try:
        host = host_info()
    except Exception:  # noqa: BLE001
        host = {"hostname": None, "kernel": None}
    report = {
        "format": FORMAT,
        "layer": params["layer"],
        "started_at": started_at,
        "finished_at": utc_now(),
        "host": host,
        "checks": gate.checks,
    }
    return write_result("run_checks.py", args.out, report)


if __name__ == "__main__":
    sys.exit(main())
