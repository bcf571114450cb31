#!/usr/bin/env python3
"""PyTorch DistributedDataParallel scaling check (validation suite 2).

Trains a ResNet-50-like network on synthetic ImageNet-shaped data with DDP over NCCL, first on one
GPU, then on every visible GPU (the same per-GPU batch, so the work per GPU is constant):

    scaling_efficiency = throughput_ngpu / (gpus * throughput_1gpu)

Run with the frameworks venv's python:

    /opt/ai/venv/bin/python test_pytorch_ddp.py --json --model resnet50 --batch-size 32

GeForce cards (RTX 5090) have no PCIe peer-to-peer. The program asks every GPU pair
(torch.cuda.can_device_access_peer); when a pair cannot, it sets NCCL_P2P_DISABLE=1 for the workers so
NCCL moves gradients through host memory, and says so in its JSON (nccl_p2p_disabled, nccl_p2p_reason).

While the n-GPU phase runs it samples nvidia-smi itself: a GPU that stayed idle means DDP did not run
on it, and the program fails rather than report a throughput the GPUs did not produce.

It measures; it never applies the gate's threshold. The last stdout line (with --json) is the JSON
object of guest/run_checks.py's contract; exit 0 on a completed measurement, 1 on failure.

--device cpu runs the same DDP code on CPU processes over gloo: a way to test the program on a machine
without a GPU. Its JSON says "device": "cpu", which no gate accepts as GPU work.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import socket
import sys
import time
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gpu_telemetry  # noqa: E402 - stdlib only, from this directory

MODELS = {"resnet50": ("bottleneck", (3, 4, 6, 3)), "resnet18": ("basic", (2, 2, 2, 2))}
NUM_CLASSES = 1000


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="test_pytorch_ddp.py",
        description="DDP scaling efficiency, 1 GPU vs every GPU, on a synthetic ResNet workload.",
    )
    p.add_argument("--json", action="store_true", help="print the result as one JSON line at the end")
    p.add_argument("--model", choices=sorted(MODELS), default="resnet50")
    p.add_argument("--batch-size", type=int, default=32, help="per-GPU batch size (default 32)")
    p.add_argument("--gpus", type=int, default=0, help="GPUs for the n-GPU phase (default: every visible GPU)")
    p.add_argument("--seconds", type=float, default=60.0, help="timed training per phase, in seconds (default 60)")
    p.add_argument("--warmup-steps", type=int, default=10, help="untimed steps before each phase (default 10)")
    p.add_argument("--min-steps", type=int, default=20, help="fewest timed steps per phase (default 20)")
    p.add_argument("--precision", choices=("fp32", "amp"), default="fp32", help="fp32 (TF32 convolutions) or bf16 autocast")
    p.add_argument("--image-size", type=int, default=224)
    p.add_argument("--sample-interval", type=float, default=2.0, help="nvidia-smi sampling interval, s (default 2)")
    p.add_argument("--busy-pct", type=float, default=10.0, help="a GPU below this utilization in every sample did no work")
    p.add_argument("--device", choices=("cuda", "cpu"), default="cuda", help="cpu: test the program without a GPU (gloo)")
    args = p.parse_args(argv)
    for name in ("batch_size", "warmup_steps", "min_steps", "image_size"):
        if getattr(args, name) < 1:
            p.error("--%s must be >= 1" % name.replace("_", "-"))
    if args.seconds <= 0 or args.sample_interval <= 0:
        p.error("--seconds and --sample-interval must be > 0")
    return args


# --- pure helpers (no torch) -----------------------------------------------------------------


def p2p_matrix(gpus: int, can_access: Callable[[int, int], bool]) -> Dict[str, Any]:
    """Which GPU pairs report peer-to-peer access: {"pairs", "supported", "matrix"}."""
    matrix = [[i == j or bool(can_access(i, j)) for j in range(gpus)] for i in range(gpus)]
    pairs = gpus * (gpus - 1)
    supported = sum(1 for i in range(gpus) for j in range(gpus) if i != j and matrix[i][j])
    return {"pairs": pairs, "supported": supported, "matrix": matrix}


def nccl_p2p_decision(env: Mapping[str, str], p2p: Dict[str, Any], gpus: int) -> Tuple[bool, str]:
    """(disable P2P, why): respects NCCL_P2P_DISABLE from the environment, else disables it when any
    GPU pair has no peer-to-peer access."""
    if "NCCL_P2P_DISABLE" in env:
        value = env["NCCL_P2P_DISABLE"].strip()
        return value not in ("", "0"), "NCCL_P2P_DISABLE=%s set by the environment" % value
    if gpus < 2:
        return False, "one GPU: no peer-to-peer traffic"
    if p2p["supported"] < p2p["pairs"]:
        return True, (
            "%d of %d GPU pairs report no peer-to-peer access (GeForce cards have no PCIe P2P): "
            "NCCL_P2P_DISABLE=1, gradients go through host memory" % (p2p["pairs"] - p2p["supported"], p2p["pairs"])
        )
    return False, "every GPU pair reports peer-to-peer access"


def steps_for(seconds: float, step_time_s: float, minimum: int) -> int:
    """Timed steps that take about `seconds` at `step_time_s` each, at least `minimum`."""
    if step_time_s <= 0:
        return minimum
    return max(minimum, int(math.ceil(seconds / step_time_s)))


def phase_summary(results: List[Dict[str, Any]], world: int, batch_size: int) -> Dict[str, Any]:
    """Throughput and window of one phase from every rank's result; raises RuntimeError on a failed rank."""
    errors = [r for r in results if "error" in r]
    if errors:
        raise RuntimeError("; ".join("rank %s: %s" % (r.get("rank"), r["error"]) for r in errors))
    if len(results) != world:
        raise RuntimeError("%d of %d ranks reported a result" % (len(results), world))
    steps = {r["steps"] for r in results}
    if len(steps) != 1:
        raise RuntimeError("ranks ran different step counts: %s" % sorted(steps))
    elapsed = max(r["elapsed_s"] for r in results)
    if elapsed <= 0:
        raise RuntimeError("phase took no measurable time")
    step_count = steps.pop()
    return {
        "throughput": round(world * batch_size * step_count / elapsed, 1),
        "steps": step_count,
        "elapsed_s": round(elapsed, 3),
        "started_at": min(r["started_at"] for r in results),
        "finished_at": max(r["finished_at"] for r in results),
        "device_types": sorted({r["device_type"] for r in results}),
        "devices": [r["device"] for r in sorted(results, key=lambda r: r["rank"])],
        "losses": [round(r["loss"], 4) for r in sorted(results, key=lambda r: r["rank"])],
    }


def ddp_result(
    one: Dict[str, Any], many: Dict[str, Any], gpus: int, model: str, batch_size: int, precision: str,
    p2p: Dict[str, Any], names: List[str], torch_version: str,
) -> Dict[str, Any]:
    """The JSON object of run_checks.py's contract (its first nine keys) plus the detail behind it."""
    device_types = sorted(set(one["device_types"]) | set(many["device_types"]))
    return {
        "scaling_efficiency": gpu_telemetry.scaling_efficiency(one["throughput"], many["throughput"], gpus),
        "throughput_1gpu": one["throughput"],
        "throughput_ngpu": many["throughput"],
        "gpus": gpus,
        "model": model,
        "batch_size": batch_size,
        # "cuda" only when every rank's loss tensor lived on a CUDA device.
        "device": device_types[0] if len(device_types) == 1 else ",".join(device_types),
        "ngpu_started_at": many["started_at"],
        "ngpu_finished_at": many["finished_at"],
        "precision": precision,
        "steps_1gpu": one["steps"],
        "steps_ngpu": many["steps"],
        "nccl_p2p_disabled": p2p["disabled"],
        "nccl_p2p_reason": p2p["reason"],
        "p2p_pairs": p2p["pairs"],
        "p2p_pairs_supported": p2p["supported"],
        "gpu_names": names,
        "torch": torch_version,
    }


def nccl_version_of(code: int) -> str:
    """ncclGetVersion's integer as a dotted version: 23102 → 2.31.2 (since 2.9), 2708 → 2.7.8 (before)."""
    if code >= 10000:
        return "%d.%d.%d" % (code // 10000, (code % 10000) // 100, code % 100)
    return "%d.%d.%d" % (code // 1000, (code % 1000) // 100, code % 100)


def loaded_nccl_version(maps_path: str = "/proc/self/maps") -> Optional[str]:
    """The NCCL this process has loaded, asked of the library itself. torch.cuda.nccl.version() is the
    version torch was built with: an NCCL wheel installed over torch's pin (layers.frameworks.nccl) is only
    visible here."""
    import ctypes

    try:
        with open(maps_path) as maps:
            paths = sorted({line.split()[-1] for line in maps if "libnccl" in line and line.rstrip().split()[-1].startswith("/")})
    except OSError:
        return None
    for path in paths:
        try:
            version = ctypes.c_int()
            if ctypes.CDLL(path).ncclGetVersion(ctypes.byref(version)) == 0:
                return nccl_version_of(version.value)
        except (OSError, AttributeError):
            continue
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- the model (torch imported lazily) -------------------------------------------------------


def build_model(name: str) -> Any:
    """ResNet-50 (bottleneck [3, 4, 6, 3], 25.6 M parameters) or ResNet-18, as torchvision builds them,
    without needing torchvision."""
    from torch import nn

    kind, layers = MODELS[name]

    class Basic(nn.Module):
        expansion = 1

        def __init__(self, cin: int, width: int, stride: int, down: Optional[nn.Module]):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, width, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(width)
            self.conv2 = nn.Conv2d(width, width, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(width)
            self.relu = nn.ReLU(inplace=True)
            self.down = down

        def forward(self, x: Any) -> Any:
            idt = x if self.down is None else self.down(x)
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            return self.relu(out + idt)

    class Bottleneck(nn.Module):
        expansion = 4

        def __init__(self, cin: int, width: int, stride: int, down: Optional[nn.Module]):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, width, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(width)
            self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(width)
            self.conv3 = nn.Conv2d(width, width * 4, 1, bias=False)
            self.bn3 = nn.BatchNorm2d(width * 4)
            self.relu = nn.ReLU(inplace=True)
            self.down = down

        def forward(self, x: Any) -> Any:
            idt = x if self.down is None else self.down(x)
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.relu(self.bn2(self.conv2(out)))
            out = self.bn3(self.conv3(out))
            return self.relu(out + idt)

    block = Bottleneck if kind == "bottleneck" else Basic
    modules: List[nn.Module] = [
        nn.Conv2d(3, 64, 7, 2, 3, bias=False),
        nn.BatchNorm2d(64),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(3, 2, 1),
    ]
    cin = 64
    for stage, count in enumerate(layers):
        width = 64 * 2**stage
        for i in range(count):
            stride = 2 if stage > 0 and i == 0 else 1
            down = None
            if stride != 1 or cin != width * block.expansion:
                down = nn.Sequential(nn.Conv2d(cin, width * block.expansion, 1, stride, bias=False), nn.BatchNorm2d(width * block.expansion))
            modules.append(block(cin, width, stride, down))
            cin = width * block.expansion
    modules += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, NUM_CLASSES)]
    return nn.Sequential(*modules)


def train_worker(rank: int, world: int, cfg: Dict[str, Any], queue: Any) -> None:
    """One DDP rank: warm up, agree on a step count, time that many steps, report to the queue."""
    import torch
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(cfg["port"])
    cuda = cfg["device"] == "cuda"
    try:
        if cuda:
            torch.cuda.set_device(rank)
            device = torch.device("cuda", rank)
        else:
            torch.set_num_threads(cfg["cpu_threads"])
            device = torch.device("cpu")
        dist.init_process_group("nccl" if cuda else "gloo", rank=rank, world_size=world)
        torch.manual_seed(1234 + rank)
        model = build_model(cfg["model"]).to(device)
        size = cfg["image_size"]
        x = torch.randn(cfg["batch_size"], 3, size, size, device=device)
        if cuda:
            model = model.to(memory_format=torch.channels_last)
            x = x.contiguous(memory_format=torch.channels_last)
        y = torch.randint(0, NUM_CLASSES, (cfg["batch_size"],), device=device)
        ddp = DistributedDataParallel(model, device_ids=[rank] if cuda else None)
        opt = torch.optim.SGD(ddp.parameters(), lr=0.01, momentum=0.9)
        loss_fn = torch.nn.CrossEntropyLoss()
        amp = cuda and cfg["precision"] == "amp"

        def step() -> Any:
            opt.zero_grad(set_to_none=True)
            with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=amp):
                loss = loss_fn(ddp(x), y)
            loss.backward()
            opt.step()
            return loss

        def sync() -> None:
            if cuda:
                torch.cuda.synchronize(device)

        started = time.perf_counter()
        for _ in range(cfg["warmup_steps"]):
            loss = step()
        sync()
        per_step = torch.tensor([(time.perf_counter() - started) / cfg["warmup_steps"]], dtype=torch.float64, device=device)
        # Every rank must run the same number of steps: plan for the slowest.
        dist.all_reduce(per_step, op=dist.ReduceOp.MAX)
        steps = steps_for(cfg["seconds"], float(per_step.item()), cfg["min_steps"])
        dist.barrier()
        started_at = time.time()
        started = time.perf_counter()
        for _ in range(steps):
            loss = step()
        sync()
        elapsed = time.perf_counter() - started
        finished_at = time.time()
        loss_value = float(loss.detach().float().item())
        queue.put(
            {
                "rank": rank,
                "steps": steps,
                "elapsed_s": elapsed,
                "started_at": started_at,
                "finished_at": finished_at,
                "device_type": loss.device.type,
                "device": str(loss.device),
                "loss": loss_value,
                "finite": math.isfinite(loss_value),
            }
        )
        dist.barrier()
    except Exception as e:
        queue.put({"rank": rank, "error": "%s: %s" % (type(e).__name__, e)})
        raise
    finally:
        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()


def run_phase(world: int, cfg: Dict[str, Any]) -> Dict[str, Any]:
    """Spawns `world` ranks and summarises their results."""
    import torch.multiprocessing as mp

    ctx = mp.get_context("spawn")
    queue = ctx.SimpleQueue()
    cfg = dict(cfg, port=free_port())
    failure: Optional[BaseException] = None
    try:
        mp.spawn(train_worker, args=(world, cfg, queue), nprocs=world, join=True)
    except Exception as e:  # noqa: BLE001 - the ranks' own messages are in the queue
        failure = e
    results = []
    while not queue.empty():
        results.append(queue.get())
    if failure is not None and not any("error" in r for r in results):
        last = (str(failure).strip().splitlines() or [""])[-1]
        results.append({"rank": None, "error": "%s: %s" % (type(failure).__name__, last)})
    summary = phase_summary(results, world, cfg["batch_size"])
    if not all(r.get("finite", True) for r in results):
        raise RuntimeError("training produced a non-finite loss: %s" % summary["losses"])
    return summary


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    try:
        import torch
    except ImportError as e:
        log("test_pytorch_ddp.py: cannot import torch (%s): run it with the frameworks venv's python" % e)
        return 1

    cuda = args.device == "cuda"
    if cuda:
        if not torch.cuda.is_available():
            log("test_pytorch_ddp.py: torch %s sees no CUDA device (torch.cuda.is_available() is False)" % torch.__version__)
            return 1
        visible = torch.cuda.device_count()
        gpus = args.gpus or visible
        if gpus > visible:
            log("test_pytorch_ddp.py: --gpus %d but only %d GPUs are visible" % (gpus, visible))
            return 1
        if not torch.distributed.is_nccl_available():
            log("test_pytorch_ddp.py: this torch build has no NCCL")
            return 1
        p2p = p2p_matrix(gpus, torch.cuda.can_device_access_peer)
        names = [torch.cuda.get_device_name(i) for i in range(gpus)]
    else:
        gpus = args.gpus or 2
        p2p = p2p_matrix(gpus, lambda i, j: False)
        names = ["cpu"] * gpus
    if cuda:
        disable, reason = nccl_p2p_decision(os.environ, p2p, gpus)
    else:
        disable, reason = False, "cpu test mode: gloo, no NCCL"
    if disable:
        # Inherited by the spawned ranks before NCCL initialises.
        os.environ["NCCL_P2P_DISABLE"] = "1"
    log("NCCL peer-to-peer: %s (%s)" % ("disabled" if disable else "left to NCCL", reason))

    cfg = {
        "device": args.device,
        "model": args.model,
        "batch_size": args.batch_size,
        "image_size": args.image_size,
        "seconds": args.seconds,
        "warmup_steps": args.warmup_steps,
        "min_steps": args.min_steps,
        "precision": args.precision,
        # CPU test mode: the same threads per rank in both phases.
        "cpu_threads": max(1, (os.cpu_count() or 1) // gpus),
    }
    try:
        log("phase 1: %s on 1 %s, batch %d" % (args.model, "GPU" if cuda else "CPU process", args.batch_size))
        one = run_phase(1, cfg)
        log("1 GPU: %.1f samples/s (%d steps in %.1f s)" % (one["throughput"], one["steps"], one["elapsed_s"]))
        sampler = gpu_telemetry.Sampler(args.sample_interval, gpu_telemetry.UTILIZATION_QUERY) if cuda else None
        if gpus == 1:
            many = one
        else:
            log("phase 2: %s on %d %s, batch %d each" % (args.model, gpus, "GPUs" if cuda else "CPU processes", args.batch_size))
            if sampler:
                sampler.start()
            try:
                many = run_phase(gpus, cfg)
            finally:
                if sampler:
                    sampler.stop()
        log("%d GPUs: %.1f samples/s (%d steps in %.1f s)" % (gpus, many["throughput"], many["steps"], many["elapsed_s"]))
    except RuntimeError as e:
        log("test_pytorch_ddp.py: %s" % e)
        return 1

    result = ddp_result(
        one, many, gpus, args.model, args.batch_size, args.precision,
        {"disabled": disable, "reason": reason, "pairs": p2p["pairs"], "supported": p2p["supported"]},
        names, torch.__version__,
    )
    device = result["device"]
    failed = ""
    if cuda:
        try:
            result["nccl_built_with"] = ".".join(str(v) for v in torch.cuda.nccl.version())
        except Exception:  # noqa: BLE001 - informational
            result["nccl_built_with"] = None
        result["nccl"] = loaded_nccl_version()
        if device != "cuda":
            failed = "the training ran on %s, not on the GPUs" % device
        if sampler is not None and gpus > 1:
            window = gpu_telemetry.samples_between(sampler.samples, many["started_at"], many["finished_at"])
            per_gpu = gpu_telemetry.utilization_by_gpu(window)
            idle = gpu_telemetry.idle_gpus(window, list(range(gpus)), args.busy_pct) if window else []
            result["utilization_samples"] = len(window)
            result["per_gpu_mean_util_pct"] = [round(sum(per_gpu[i]) / len(per_gpu[i]), 1) if i in per_gpu else None for i in range(gpus)]
            result["idle_gpus"] = idle
            if idle:
                failed = "GPU %s stayed below %g %% utilization during the %d-GPU phase: DDP did not run on it" % (
                    ", ".join(str(i) for i in idle), args.busy_pct, gpus)
    if args.json:
        print(json.dumps(result))
    else:
        print("scaling efficiency %.1f %% (%d GPUs: %.1f samples/s, 1 GPU: %.1f samples/s)"
              % (result["scaling_efficiency"] * 100, gpus, many["throughput"], one["throughput"]))
    if failed:
        log("test_pytorch_ddp.py: %s" % failed)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
