#!/usr/bin/env python3
"""TensorFlow GPU check (validation suite 3): device listing, a matmul and a memory allocation on
every GPU, and one multi-GPU reduction (MirroredStrategy). Run with the frameworks venv's python:

    /opt/ai/venv/bin/python test_tensorflow_gpu.py --json

TensorFlow releases ship no sm_120 (Blackwell) kernels: on an RTX 5090 TensorFlow JIT-compiles PTX
at first use (slow start) or fails. This program reports which it was, and a matmul that did not run
on the GPU it asked for counts as failed: a tensor placed on the CPU proves nothing about the GPU.

The last stdout line (with --json) is one JSON object; exit 0 when every GPU did its work, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from typing import Any, Dict, List, Optional, Sequence

GPU_DEVICE = re.compile(r"device:GPU:(\d+)$", re.IGNORECASE)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="test_tensorflow_gpu.py", description="TensorFlow sees and uses every GPU.")
    p.add_argument("--json", action="store_true", help="print the result as one JSON line at the end")
    p.add_argument("--size", type=int, default=4096, help="N of the NxN matmul per GPU (default 4096)")
    p.add_argument("--alloc-mib", type=int, default=1024, help="MiB allocated on each GPU (default 1024)")
    p.add_argument("--no-mirrored", action="store_true", help="skip the MirroredStrategy reduction")
    args = p.parse_args(argv)
    if args.size < 1 or args.alloc_mib < 1:
        p.error("--size and --alloc-mib must be >= 1")
    return args


def gpu_index(device: str) -> Optional[int]:
    """The GPU index of a TensorFlow device string ("/job:localhost/replica:0/task:0/device:GPU:1" -> 1),
    None for a CPU or unknown device."""
    match = GPU_DEVICE.search(device.strip())
    return int(match.group(1)) if match else None


def placement_ok(rows: Sequence[Dict[str, Any]]) -> bool:
    """Every per-GPU row ran on the GPU it asked for, without error."""
    return bool(rows) and all("error" not in r and gpu_index(r.get("device", "")) == r["gpu"] for r in rows)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        import tensorflow as tf
    except ImportError as e:
        log("test_tensorflow_gpu.py: cannot import tensorflow (%s): run it with the frameworks venv's python" % e)
        return 1

    gpus = tf.config.list_physical_devices("GPU")
    for gpu in gpus:
        try:
            # Allocate as needed instead of grabbing every GPU's memory at start.
            tf.config.experimental.set_memory_growth(gpu, True)
        except (RuntimeError, ValueError):
            pass
    result: Dict[str, Any] = {
        "tensorflow": tf.__version__,
        "built_with_cuda": tf.test.is_built_with_cuda(),
        "gpus": len(gpus),
        "gpu_devices": [g.name for g in gpus],
    }
    try:
        build = tf.sysconfig.get_build_info()
        result["cuda_build"] = build.get("cuda_version")
        result["cudnn_build"] = build.get("cudnn_version")
    except Exception:  # noqa: BLE001 - informational
        pass

    rows: List[Dict[str, Any]] = []
    for i in range(len(gpus)):
        row: Dict[str, Any] = {"gpu": i}
        try:
            with tf.device("/GPU:%d" % i):
                a = tf.random.normal([args.size, args.size])
                started = time.perf_counter()
                c = tf.matmul(a, a)
                _ = c.numpy()[0, 0]
                row["first_matmul_s"] = round(time.perf_counter() - started, 3)
                started = time.perf_counter()
                c = tf.matmul(a, a)
                _ = c.numpy()[0, 0]
                row["matmul_ms"] = round((time.perf_counter() - started) * 1000, 2)
                row["device"] = c.device
                block = tf.zeros([args.alloc_mib * 262144], dtype=tf.float32)
                row["alloc_mib"] = args.alloc_mib
                row["alloc_device"] = block.device
                del block
        except Exception as e:  # noqa: BLE001 - a GPU that fails is data
            row["error"] = "%s: %s" % (type(e).__name__, str(e).strip().splitlines()[0][:300] if str(e).strip() else "")
        rows.append(row)
    result["matmul"] = rows

    if len(gpus) > 1 and not args.no_mirrored:
        try:
            strategy = tf.distribute.MirroredStrategy()
            per_replica = strategy.run(lambda: tf.constant(1.0))
            total = strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)
            result["mirrored"] = {"replicas": strategy.num_replicas_in_sync, "sum": float(total.numpy())}
        except Exception as e:  # noqa: BLE001
            result["mirrored"] = {"error": "%s: %s" % (type(e).__name__, str(e).strip()[:300])}

    ok = placement_ok(rows)
    mirrored = result.get("mirrored")
    if mirrored is not None and mirrored.get("sum") != float(len(gpus)):
        ok = False
    result["device"] = "cuda" if ok else ("cpu" if not gpus else "mixed")
    if args.json:
        print(json.dumps(result))
    else:
        for row in rows:
            print("GPU %d: %s" % (row["gpu"], row.get("error") or "matmul %s ms on %s" % (row.get("matmul_ms"), row.get("device"))))
        print("TensorFlow %s: %d GPUs, %s" % (result["tensorflow"], len(gpus), "every GPU did its work" if ok else "FAILED"))
    if not gpus:
        log("test_tensorflow_gpu.py: TensorFlow %s sees no GPU" % result["tensorflow"])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
