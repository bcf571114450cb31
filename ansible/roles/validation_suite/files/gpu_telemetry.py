"""Shared helpers of the imagebuild validation suite: nvidia-smi CSV parsing, clock-event (throttle)
reason decoding, sample summaries, scaling efficiency, durations.

Standard library only, Python >= 3.9: the suite programs import it from their own directory before
they import torch/vllm, and the tests import it by path on a machine with neither.
"""

from __future__ import annotations

import re
import statistics
import subprocess
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Sequence

# Field order matters: parse_sample_csv reads them by position. clocks_throttle_reasons.active is the
# older name of clocks_event_reasons.active; drivers >= 535 accept both.
SOAK_QUERY = (
    "index",
    "temperature.gpu",
    "utilization.gpu",
    "power.draw",
    "clocks.sm",
    "clocks_throttle_reasons.active",
)
UTILIZATION_QUERY = ("index", "utilization.gpu", "temperature.gpu", "memory.used")

# NVML clock-event reason bits (nvmlClocksEventReason*).
THROTTLE_REASONS = {
    0x1: "gpu_idle",
    0x2: "applications_clocks_setting",
    0x4: "sw_power_cap",
    0x8: "hw_slowdown",
    0x10: "sync_boost",
    0x20: "sw_thermal_slowdown",
    0x40: "hw_thermal_slowdown",
    0x80: "hw_power_brake_slowdown",
    0x100: "display_clock_setting",
}
# What counts as throttling: the clocks were pulled down because of heat or a power emergency.
# sw_power_cap is not in it: under a full matmul load a healthy card sits at its power limit and the
# boost algorithm trims clocks to stay there; that is recorded (sw_power_cap_samples), not a fault.
SLOWDOWN_MASK = 0x8 | 0x20 | 0x40 | 0x80
SW_POWER_CAP = 0x4

NO_DEVICES = "No devices were found"
DURATION = re.compile(r"(\d+)([smh])")


class TelemetryError(Exception):
    """nvidia-smi output that cannot be read; str(self) says why."""


def parse_number(text: str) -> Optional[float]:
    """A numeric nvidia-smi field, or None for [N/A], [Not Supported], [Unknown Error] and the like."""
    text = text.strip()
    if text in ("", "N/A") or text.startswith("["):
        return None
    try:
        number = float(text)
    except ValueError:
        raise TelemetryError("unexpected nvidia-smi value %r" % text) from None
    return int(number) if number.is_integer() else number


def parse_bitmask(text: str) -> Optional[int]:
    """A clock-event bitmask such as 0x0000000000000020, or None when nvidia-smi cannot report it."""
    text = text.strip()
    if text in ("", "N/A") or text.startswith("["):
        return None
    try:
        return int(text, 16) if text.lower().startswith("0x") else int(text)
    except ValueError:
        raise TelemetryError("unexpected clock-event bitmask %r" % text) from None


def decode_throttle_reasons(mask: Optional[int]) -> List[str]:
    """Names of the bits set in a clock-event bitmask; unknown bits as hex."""
    if not mask:
        return []
    names = [name for bit, name in sorted(THROTTLE_REASONS.items()) if mask & bit]
    unknown = mask & ~sum(THROTTLE_REASONS)
    if unknown:
        names.append("unknown_0x%x" % unknown)
    return names


def is_slowdown(mask: Optional[int]) -> bool:
    """True when the bitmask holds a thermal or power slowdown (see SLOWDOWN_MASK)."""
    return bool(mask and mask & SLOWDOWN_MASK)


def parse_sample_csv(text: str, fields: Sequence[str] = SOAK_QUERY) -> List[Dict[str, Any]]:
    """Rows of `nvidia-smi --query-gpu=<fields> --format=csv,noheader,nounits`, sorted by index.

    An output saying "No devices were found" gives []; a row with the wrong number of fields raises.
    """
    if NO_DEVICES in text:
        return []
    rows = []
    for line in text.splitlines():
        if not line.strip():
            continue
        values = [v.strip() for v in line.split(",")]
        if len(values) != len(fields):
            raise TelemetryError(
                "unexpected nvidia-smi line (expected %d comma-separated fields, got %d): %r" % (len(fields), len(values), line)
            )
        row: Dict[str, Any] = {}
        for field, value in zip(fields, values):
            if field == "index":
                index = parse_number(value)
                if not isinstance(index, int):
                    raise TelemetryError("unexpected GPU index %r in line %r" % (value, line))
                row["index"] = index
            elif field in ("clocks_throttle_reasons.active", "clocks_event_reasons.active"):
                row["throttle_mask"] = parse_bitmask(value)
            elif field == "name":
                row["name"] = value
            else:
                row[FIELD_KEYS.get(field, field)] = parse_number(value)
        rows.append(row)
    return sorted(rows, key=lambda r: r["index"])


FIELD_KEYS = {
    "temperature.gpu": "temperature_c",
    "utilization.gpu": "utilization_pct",
    "power.draw": "power_w",
    "clocks.sm": "sm_clock_mhz",
    "memory.used": "memory_used_mib",
    "memory.total": "memory_total_mib",
}


def scaling_efficiency(throughput_1gpu: float, throughput_ngpu: float, gpus: int) -> float:
    """throughput_ngpu / (gpus * throughput_1gpu): 1.0 is perfect linear scaling."""
    if gpus < 1:
        raise ValueError("gpus must be >= 1, got %r" % gpus)
    if throughput_1gpu <= 0 or throughput_ngpu <= 0:
        raise ValueError("throughputs must be > 0, got %r and %r" % (throughput_1gpu, throughput_ngpu))
    return round(throughput_ngpu / (gpus * throughput_1gpu), 4)


def duration_seconds(text: str) -> int:
    """'24h', '30m', '90s' in seconds (the spec's soak_duration format)."""
    match = DURATION.fullmatch(text.strip())
    if not match:
        raise ValueError("%r is not a duration like 24h, 30m or 90s" % text)
    return int(match.group(1)) * {"s": 1, "m": 60, "h": 3600}[match.group(2)]


def samples_between(samples: Sequence[Dict[str, Any]], start: Optional[float], end: Optional[float]) -> List[Dict[str, Any]]:
    """The samples taken inside [start, end] (Unix seconds); all of them when the window is unknown."""
    if start is None or end is None or end <= start:
        return list(samples)
    return [s for s in samples if start <= s["t"] <= end]


def utilization_by_gpu(samples: Sequence[Dict[str, Any]]) -> Dict[int, List[float]]:
    """Utilization readings per GPU index over the samples (GPUs that reported none are absent)."""
    per_gpu: Dict[int, List[float]] = {}
    for sample in samples:
        for row in sample["gpus"]:
            value = row.get("utilization_pct")
            if value is not None:
                per_gpu.setdefault(row["index"], []).append(value)
    return per_gpu


def idle_gpus(samples: Sequence[Dict[str, Any]], expected: Sequence[int], busy_pct: float = 10) -> List[int]:
    """GPUs of `expected` whose utilization never reached busy_pct in any sample: the work did not run
    on them. Needs at least one sample; GPUs with no reading at all are missing, not idle."""
    per_gpu = utilization_by_gpu(samples)
    return [i for i in expected if i in per_gpu and max(per_gpu[i]) < busy_pct]


def missing_gpus(samples: Sequence[Dict[str, Any]], expected: Sequence[int]) -> List[Dict[str, int]]:
    """GPUs of `expected` absent from some samples (fallen off the bus, driver lost them), with how often."""
    missing = []
    for index in expected:
        absent = sum(1 for s in samples if not any(row["index"] == index for row in s["gpus"]))
        if absent:
            missing.append({"gpu": index, "samples_missing": absent})
    return missing


def throttle_events(samples: Sequence[Dict[str, Any]], started_at: Optional[float] = None) -> List[Dict[str, Any]]:
    """Consecutive samples in which a GPU had a slowdown reason active, merged into one event per GPU
    and stretch: {"gpu", "reasons", "first_at_s", "last_at_s", "samples", "max_temp_c"}. Times are
    seconds since started_at (since the first sample when None)."""
    if not samples:
        return []
    origin = started_at if started_at is not None else samples[0]["t"]
    open_events: Dict[int, Dict[str, Any]] = {}
    events: List[Dict[str, Any]] = []
    for sample in samples:
        seen = set()
        for row in sample["gpus"]:
            index = row["index"]
            mask = row.get("throttle_mask")
            if not is_slowdown(mask):
                continue
            seen.add(index)
            at = round(sample["t"] - origin, 1)
            temp = row.get("temperature_c")
            event = open_events.get(index)
            if event is None:
                event = {"gpu": index, "reasons": [], "first_at_s": at, "last_at_s": at, "samples": 0, "max_temp_c": temp}
                open_events[index] = event
                events.append(event)
            event["last_at_s"] = at
            event["samples"] += 1
            event["reasons"] = sorted(set(event["reasons"]) | set(decode_throttle_reasons(mask & SLOWDOWN_MASK)))
            if temp is not None and (event["max_temp_c"] is None or temp > event["max_temp_c"]):
                event["max_temp_c"] = temp
        for index in list(open_events):
            if index not in seen:
                del open_events[index]
    return events


def summarise_soak(
    samples: Sequence[Dict[str, Any]], expected: Sequence[int], started_at: Optional[float] = None, busy_pct: float = 10
) -> Dict[str, Any]:
    """The soak's measurements from its samples (see stress_soak.py for the JSON it becomes)."""
    per_gpu_temp: Dict[int, List[float]] = {}
    power_capped = 0
    for sample in samples:
        for row in sample["gpus"]:
            if row.get("temperature_c") is not None:
                per_gpu_temp.setdefault(row["index"], []).append(row["temperature_c"])
            mask = row.get("throttle_mask")
            if mask and mask & SW_POWER_CAP:
                power_capped += 1
    per_gpu_util = utilization_by_gpu(samples)
    events = throttle_events(samples, started_at)
    per_gpu_max = [max(per_gpu_temp[i]) if i in per_gpu_temp else None for i in expected]
    known = [t for t in per_gpu_max if t is not None]
    return {
        "max_temp_c": max(known) if known else None,
        "per_gpu_max_temp_c": per_gpu_max,
        "per_gpu_median_util_pct": [round(statistics.median(per_gpu_util[i]), 1) if i in per_gpu_util else None for i in expected],
        "throttled": bool(events),
        "throttle_events": events,
        "sw_power_cap_samples": power_capped,
        "idle_gpus": idle_gpus(samples, expected, busy_pct),
        "missing_gpus": missing_gpus(samples, expected),
        "samples": len(samples),
    }


def query_nvidia_smi(fields: Sequence[str], timeout: float = 60, run: Callable[..., Any] = subprocess.run) -> str:
    """stdout of `nvidia-smi --query-gpu=<fields> --format=csv,noheader,nounits`; raises TelemetryError."""
    argv = ["nvidia-smi", "--query-gpu=" + ",".join(fields), "--format=csv,noheader,nounits"]
    try:
        res = run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError:
        raise TelemetryError("nvidia-smi not found: NVIDIA driver not installed") from None
    except subprocess.TimeoutExpired:
        raise TelemetryError("nvidia-smi timed out after %d s" % timeout) from None
    if NO_DEVICES in res.stdout + res.stderr:
        return res.stdout + res.stderr
    if res.returncode != 0:
        raise TelemetryError("nvidia-smi exit %d: %s" % (res.returncode, (res.stderr or res.stdout).strip()[-300:]))
    return res.stdout


class Sampler(threading.Thread):
    """Samples nvidia-smi every interval_s until stopped: samples = [{"t": unix_s, "gpus": [rows]}]."""

    def __init__(self, interval_s: float, fields: Sequence[str] = SOAK_QUERY):
        super().__init__(daemon=True)
        self.interval_s = interval_s
        self.fields = tuple(fields)
        self.samples: List[Dict[str, Any]] = []
        self.errors = 0
        self.last_error: Optional[str] = None
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            taken_at = time.time()
            try:
                rows = parse_sample_csv(query_nvidia_smi(self.fields, timeout=max(30.0, self.interval_s * 2)), self.fields)
                self.samples.append({"t": taken_at, "gpus": rows})
            except TelemetryError as e:
                self.errors += 1
                self.last_error = str(e)
            self._halt.wait(self.interval_s)

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=120)


XID_LINE = re.compile(r"NVRM: Xid \(PCI:([0-9A-Fa-f:.]+)\): (\d+),\s*(.*)")


def parse_xid_lines(text: str) -> List[Dict[str, Any]]:
    """NVIDIA Xid errors in kernel log text: [{"pci", "xid", "message"}]."""
    found = []
    for line in text.splitlines():
        match = XID_LINE.search(line)
        if match:
            found.append({"pci": match.group(1).lower(), "xid": int(match.group(2)), "message": match.group(3).strip()[:200]})
    return found
