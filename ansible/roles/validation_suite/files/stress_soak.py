#!/usr/bin/env python3
"""Thermal soak (the reference's 24-hour stress test).

Loads every GPU with continuous matrix multiplications for --duration and samples nvidia-smi every
--interval seconds: temperature, utilization, power, SM clock and the active clock-event (throttle)
reasons. Run with the frameworks venv's python:

    /opt/ai/venv/bin/python stress_soak.py --json --duration 24h --interval 5

throttled is true when any sample of any GPU had a thermal or power slowdown reason active
(HW slowdown, SW/HW thermal slowdown, HW power brake); consecutive such samples of one GPU make one
throttle event. A card sitting at its power limit (SW power cap) is normal under this load and is
counted in sw_power_cap_samples, not as throttling.

It measures; it never applies the gate's thresholds (85 C, no throttling). It fails (exit 1) when the
soak itself is void or the hardware misbehaved: a load process died, a GPU stayed idle (the load never
reached it), a GPU vanished from nvidia-smi, nvidia-smi gave no sample, or the kernel logged an NVIDIA
Xid error. The last stdout line (with --json) is the JSON object of guest/run_checks.py's
contract.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from typing import Any, Dict, List, Optional, Sequence

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gpu_telemetry  # noqa: E402 - stdlib only, from this directory

DTYPES = ("bf16", "fp16", "fp32")
# Load processes check the clock every this many matmuls (a 16k bf16 matmul is ~20 ms on an RTX 5090).
CHECK_EVERY = 20
MAX_EVENTS = 500


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="stress_soak.py", description="Load every GPU with matmuls and record temperatures and throttling.")
    p.add_argument("--json", action="store_true", help="print the result as one JSON line at the end")
    p.add_argument("--duration", default="24h", help="how long to load the GPUs: Ns, Nm or Nh (default 24h)")
    p.add_argument("--interval", type=float, default=5.0, help="seconds between nvidia-smi samples (default 5)")
    p.add_argument("--matrix-size", type=int, default=16384, help="N of the NxN matmul (default 16384)")
    p.add_argument("--dtype", choices=DTYPES, default="bf16", help="bf16 (tensor cores, the most power), fp16 or fp32")
    p.add_argument("--gpus", type=int, default=0, help="GPUs to load (default: every visible GPU)")
    p.add_argument("--busy-pct", type=float, default=10.0, help="a GPU below this utilization in every sample did no work")
    args = p.parse_args(argv)
    try:
        args.duration_s = gpu_telemetry.duration_seconds(args.duration)
    except ValueError as e:
        p.error("--duration: %s" % e)
    if args.duration_s < 1 or args.interval <= 0 or args.matrix_size < 64:
        p.error("--duration must be >= 1s, --interval > 0 and --matrix-size >= 64")
    return args


def load_worker(gpu: int, deadline: float, size: int, dtype: str, queue: Any) -> None:
    """Matmuls on one GPU until the deadline; reports iterations, TFLOPS and whether results stayed finite."""
    import torch

    try:
        torch.cuda.set_device(gpu)
        device = torch.device("cuda", gpu)
        kind = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[dtype]
        torch.backends.cuda.matmul.allow_tf32 = False
        # Scaled so fp16 results stay far from overflow.
        a = (torch.randn(size, size, device=device) / size**0.5).to(kind)
        b = (torch.randn(size, size, device=device) / size**0.5).to(kind)
        iterations = 0
        started = time.perf_counter()
        c = None
        while time.time() < deadline:
            for _ in range(CHECK_EVERY):
                c = torch.matmul(a, b)
            torch.cuda.synchronize(device)
            iterations += CHECK_EVERY
        elapsed = time.perf_counter() - started
        finite = bool(torch.isfinite(c).all().item()) if c is not None else True
        queue.put(
            {
                "gpu": gpu,
                "iterations": iterations,
                "elapsed_s": round(elapsed, 1),
                "tflops": round(2.0 * size**3 * iterations / elapsed / 1e12, 1) if elapsed > 0 else None,
                "device": str(c.device) if c is not None else str(device),
                "finite": finite,
            }
        )
    except Exception as e:
        queue.put({"gpu": gpu, "error": "%s: %s" % (type(e).__name__, e)})
        raise


def kernel_xid_lines() -> Optional[str]:
    """The kernel log's NVIDIA Xid lines (dmesg), or None when the log cannot be read."""
    try:
        res = subprocess.run(["dmesg"], stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if res.returncode != 0:
        return None
    return "\n".join(line for line in res.stdout.splitlines() if "NVRM: Xid" in line)


def new_xids(before: Optional[str], after: Optional[str]) -> Optional[List[Dict[str, Any]]]:
    """Xid errors logged between two reads of the kernel log; None when it could not be read."""
    if before is None or after is None:
        return None
    seen = set(before.splitlines())
    return gpu_telemetry.parse_xid_lines("\n".join(line for line in after.splitlines() if line not in seen))


def soak_failures(summary: Dict[str, Any], workers: List[Dict[str, Any]], xids: Optional[List[Dict[str, Any]]], gpus: int) -> List[str]:
    """Why the soak is void or the hardware misbehaved; [] when it completed."""
    failures = []
    for w in sorted(workers, key=lambda w: w.get("gpu", -1)):
        if "error" in w:
            failures.append("load on GPU %s failed: %s" % (w.get("gpu"), w["error"]))
        elif not w.get("finite", True):
            failures.append("GPU %s produced non-finite matmul results" % w["gpu"])
    reported = {w.get("gpu") for w in workers}
    for gpu in range(gpus):
        if gpu not in reported:
            failures.append("the load process of GPU %d ended without a report" % gpu)
    if summary["samples"] == 0:
        failures.append("nvidia-smi gave no sample during the soak")
    for gpu in summary["idle_gpus"]:
        failures.append("GPU %d stayed idle during the soak: the load never ran on it" % gpu)
    for missing in summary["missing_gpus"]:
        failures.append("GPU %d was missing from nvidia-smi in %d samples" % (missing["gpu"], missing["samples_missing"]))
    for xid in xids or []:
        failures.append("kernel logged NVIDIA Xid %d on %s: %s" % (xid["xid"], xid["pci"], xid["message"]))
    return failures


def soak_result(summary: Dict[str, Any], args: argparse.Namespace, gpus: int, elapsed_s: float,
                workers: List[Dict[str, Any]], xids: Optional[List[Dict[str, Any]]]) -> Dict[str, Any]:
    """The JSON object of run_checks.py's contract, plus the detail behind it."""
    events = summary["throttle_events"]
    devices = sorted({w["device"].split(":")[0] for w in workers if "device" in w})
    return {
        "duration_s": int(round(elapsed_s)),
        "max_temp_c": summary["max_temp_c"],
        "throttled": summary["throttled"],
        "throttle_events": events[:MAX_EVENTS],
        "gpus": gpus,
        "samples": summary["samples"],
        "per_gpu_max_temp_c": summary["per_gpu_max_temp_c"],
        "throttle_events_total": len(events),
        "requested_duration_s": args.duration_s,
        "interval_s": args.interval,
        "sw_power_cap_samples": summary["sw_power_cap_samples"],
        "per_gpu_median_util_pct": summary["per_gpu_median_util_pct"],
        "idle_gpus": summary["idle_gpus"],
        "missing_gpus": summary["missing_gpus"],
        "xid_errors": xids,
        "matmul": {
            "size": args.matrix_size,
            "dtype": args.dtype,
            "per_gpu_tflops": [w.get("tflops") for w in sorted(workers, key=lambda w: w.get("gpu", -1))],
        },
        "device": devices[0] if len(devices) == 1 else ",".join(devices) or None,
    }


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    try:
        import torch
        import torch.multiprocessing as mp
    except ImportError as e:
        log("stress_soak.py: cannot import torch (%s): run it with the frameworks venv's python" % e)
        return 1
    if not torch.cuda.is_available():
        log("stress_soak.py: torch %s sees no CUDA device" % torch.__version__)
        return 1
    visible = torch.cuda.device_count()
    gpus = args.gpus or visible
    if gpus > visible:
        log("stress_soak.py: --gpus %d but only %d GPUs are visible" % (gpus, visible))
        return 1

    xid_before = kernel_xid_lines()
    ctx = mp.get_context("spawn")
    queue = ctx.SimpleQueue()
    sampler = gpu_telemetry.Sampler(args.interval, gpu_telemetry.SOAK_QUERY)
    started_at = time.time()
    deadline = started_at + args.duration_s
    log("soak: %s %dx%d matmuls on %d GPUs for %s, sampling every %g s" % (args.dtype, args.matrix_size, args.matrix_size, gpus, args.duration, args.interval))
    procs = [ctx.Process(target=load_worker, args=(gpu, deadline, args.matrix_size, args.dtype, queue), daemon=True) for gpu in range(gpus)]
    for proc in procs:
        proc.start()
    sampler.start()
    workers: List[Dict[str, Any]] = []
    try:
        # A dead load process ends the soak early: the remaining hours would prove nothing.
        while any(p.is_alive() for p in procs):
            while not queue.empty():
                workers.append(queue.get())
            if any("error" in w for w in workers) or any(p.exitcode not in (None, 0) for p in procs):
                break
            time.sleep(1.0)
    finally:
        sampler.stop()
        for proc in procs:
            if proc.is_alive():
                proc.terminate()
            proc.join(timeout=60)
        while not queue.empty():
            workers.append(queue.get())
    elapsed = time.time() - started_at
    for gpu, proc in enumerate(procs):
        if proc.exitcode not in (0, None) and not any(w.get("gpu") == gpu for w in workers):
            workers.append({"gpu": gpu, "error": "load process exited with %s" % proc.exitcode})

    summary = gpu_telemetry.summarise_soak(sampler.samples, list(range(gpus)), started_at, args.busy_pct)
    xids = new_xids(xid_before, kernel_xid_lines())
    result = soak_result(summary, args, gpus, elapsed, workers, xids)
    if sampler.errors:
        result["sample_errors"] = sampler.errors
        result["last_sample_error"] = sampler.last_error
    failures = soak_failures(summary, workers, xids, gpus)
    if args.json:
        print(json.dumps(result))
    else:
        print("soak %d s on %d GPUs: max %s C (per GPU %s), throttled: %s, %d samples"
              % (result["duration_s"], gpus, result["max_temp_c"], result["per_gpu_max_temp_c"], result["throttled"], result["samples"]))
    for failure in failures:
        log("stress_soak.py: %s" % failure)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
