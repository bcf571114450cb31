#!/usr/bin/env python3
"""vLLM inference throughput check (validation suite 4).

Loads --model with vLLM on one GPU, generates --max-tokens tokens for each of --prompts prompts in one
batch and reports tokens_per_s = generated_tokens / elapsed_s (generation only; loading the model and
a one-prompt warm-up are not timed). Run with the frameworks venv's python:

    /opt/ai/venv/bin/python test_vllm_inference.py --json --model facebook/opt-1.3b --prompts 30 --max-tokens 50

The model is a local directory or a Hugging Face repo id already in the cache (HF_HOME, else the
image's shared cache named in suite-config.json next to this program). Nothing is downloaded unless
--allow-download is given: the hub is switched to offline mode before vLLM is imported.

Proof the GPU did the work: vLLM's platform must be CUDA and GPU memory in use must grow by at least
the weights when the model loads (nvidia-smi). The outputs get a basic quality check (non-empty, not
one token repeated). The last stdout line (with --json) is the JSON object of
guest/run_checks.py's contract; exit 0 on a completed measurement, 1 on failure.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import sys
import time
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gpu_telemetry  # noqa: E402 - stdlib only, from this directory

HERE = os.path.dirname(os.path.abspath(__file__))
SUITE_CONFIG = os.path.join(HERE, "suite-config.json")
PROMPTS = (
    "The capital of France is",
    "Explain in one sentence why the sky is blue:",
    "Write a haiku about a graphics card:",
    "The three primary colors are",
    "A short recipe for pancakes:",
    "In machine learning, overfitting means",
    "The largest planet in the solar system is",
    "Translate to German: good morning, how are you?",
    "List three uses of a GPU besides graphics:",
    "Once upon a time, in a data center far away,",
)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="test_vllm_inference.py", description="vLLM batch generation throughput on one GPU.")
    p.add_argument("--json", action="store_true", help="print the result as one JSON line at the end")
    p.add_argument("--model", required=True, help="local model directory or Hugging Face repo id in the cache")
    p.add_argument("--prompts", type=int, default=30, help="prompts in the batch (default 30)")
    p.add_argument("--max-tokens", type=int, default=50, help="tokens generated per prompt (default 50)")
    p.add_argument("--gpu", type=int, default=0, help="GPU to run on (default 0; CUDA_VISIBLE_DEVICES wins when set)")
    p.add_argument("--gpu-memory-utilization", type=float, default=0.85)
    p.add_argument("--max-model-len", type=int, default=2048)
    p.add_argument("--allow-download", action="store_true", help="let vLLM fetch the model from the hub")
    args = p.parse_args(argv)
    if args.prompts < 1 or args.max_tokens < 1:
        p.error("--prompts and --max-tokens must be >= 1")
    return args


# --- pure helpers (no vllm) ------------------------------------------------------------------


def make_prompts(count: int) -> List[str]:
    """`count` prompts, cycling through a fixed, varied list."""
    return [PROMPTS[i % len(PROMPTS)] for i in range(count)]


def hf_cache_dir(model: str, hf_home: str) -> str:
    """Where huggingface_hub caches a repo id: <HF_HOME>/hub/models--org--name."""
    return os.path.join(hf_home, "hub", "models--" + model.replace("/", "--"))


def resolve_model(model: str, hf_home: str, allow_download: bool) -> Tuple[str, str]:
    """(what to pass to vLLM, where it comes from): a local directory, the cache, or the hub.
    Raises FileNotFoundError when the model is in neither place and downloads are not allowed."""
    if os.path.isdir(model):
        if not glob.glob(os.path.join(model, "config.json")):
            raise FileNotFoundError("%s is a directory without config.json: not a model" % model)
        return os.path.abspath(model), "directory"
    if model.startswith("/") or model.startswith("."):
        raise FileNotFoundError("model directory %s does not exist" % model)
    snapshots = glob.glob(os.path.join(hf_cache_dir(model, hf_home), "snapshots", "*", "config.json"))
    if snapshots:
        return model, "cache"
    if allow_download:
        return model, "hub"
    raise FileNotFoundError(
        "model %s is not in the Hugging Face cache %s (and downloads are off): fetch it into the image "
        "(validation_suite role) or pass --allow-download" % (model, os.path.join(hf_home, "hub"))
    )


def suite_hf_home(env: Mapping[str, str], config_path: str = SUITE_CONFIG) -> str:
    """HF_HOME from the environment, else the image's shared cache from suite-config.json, else ~/.cache/huggingface."""
    if env.get("HF_HOME"):
        return env["HF_HOME"]
    try:
        with open(config_path, encoding="utf-8") as f:
            configured = json.load(f).get("hf_home")
        if isinstance(configured, str) and configured:
            return configured
    except (OSError, ValueError, AttributeError):
        pass
    return os.path.join(os.path.expanduser("~"), ".cache", "huggingface")


def output_quality(texts: Sequence[str]) -> Dict[str, Any]:
    """A basic check that generation produced text: empty outputs and outputs that are one token
    (or one character) repeated count as degenerate."""
    empty = sum(1 for t in texts if not t.strip())
    degenerate = 0
    for t in texts:
        words = t.split()
        one_word = len(words) > 3 and len(set(words)) == 1
        one_char = len(t.strip()) > 3 and len(set(t.strip())) == 1
        if one_word or one_char:
            degenerate += 1
    return {"outputs": len(texts), "empty": empty, "degenerate": degenerate, "distinct": len(set(texts))}


def inference_result(
    texts: Sequence[str], token_counts: Sequence[int], elapsed_s: float, model: str, platform: str,
    memory_before_mib: Optional[float], memory_loaded_mib: Optional[float],
) -> Tuple[Dict[str, Any], List[str]]:
    """(the JSON object of run_checks.py's contract plus detail, why the run failed). device is "cuda"
    only when vLLM's platform is CUDA and GPU memory grew when the model loaded (when measurable)."""
    generated = sum(token_counts)
    grew = None if memory_before_mib is None or memory_loaded_mib is None else round(memory_loaded_mib - memory_before_mib)
    device = platform if platform != "cuda" else ("cuda" if grew is None or grew > 0 else "unverified")
    quality = output_quality(texts)
    result = {
        "tokens_per_s": round(generated / elapsed_s, 1) if elapsed_s > 0 and generated > 0 else 0.0,
        "generated_tokens": generated,
        "elapsed_s": round(elapsed_s, 3),
        "prompts": len(texts),
        "model": model,
        "device": device,
        "sample_output": texts[0][:300] if texts else "",
        "gpu_memory_used_mib": memory_loaded_mib,
        "gpu_memory_grew_mib": grew,
        "quality": quality,
    }
    failures = []
    if device != "cuda":
        failures.append("vLLM ran on %s, not on a CUDA GPU (platform %s, GPU memory grew by %s MiB)" % (device, platform, grew))
    if generated == 0 or quality["empty"] == quality["outputs"]:
        failures.append("vLLM generated no text")
    elif quality["degenerate"] == quality["outputs"]:
        failures.append("every output is one token repeated: the model or its weights are broken")
    return result, failures


def gpu_memory_used_mib(gpu: int) -> Optional[float]:
    """Memory in use on one GPU (nvidia-smi), or None when it cannot be read."""
    try:
        rows = gpu_telemetry.parse_sample_csv(gpu_telemetry.query_nvidia_smi(("index", "memory.used")), ("index", "memory.used"))
    except gpu_telemetry.TelemetryError:
        return None
    for row in rows:
        if row["index"] == gpu:
            return row.get("memory_used_mib")
    return None


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    hf_home = suite_hf_home(os.environ)
    try:
        model, source = resolve_model(args.model, hf_home, args.allow_download)
    except FileNotFoundError as e:
        log("test_vllm_inference.py: %s" % e)
        return 1
    # Before vLLM (and huggingface_hub) are imported: they read these once.
    os.environ["HF_HOME"] = hf_home
    if not args.allow_download:
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("CUDA_VISIBLE_DEVICES", str(args.gpu))
    physical_gpu = int(os.environ["CUDA_VISIBLE_DEVICES"].split(",")[0]) if os.environ["CUDA_VISIBLE_DEVICES"].split(",")[0].isdigit() else args.gpu
    os.environ.setdefault("VLLM_NO_USAGE_STATS", "1")

    try:
        import vllm
        from vllm import LLM, SamplingParams
    except ImportError as e:
        log("test_vllm_inference.py: cannot import vllm (%s): run it with the frameworks venv's python" % e)
        return 1

    memory_before = gpu_memory_used_mib(physical_gpu)
    log("loading %s (%s) with vLLM %s" % (args.model, source, vllm.__version__))
    started = time.perf_counter()
    try:
        llm = LLM(
            model=model,
            tensor_parallel_size=1,
            gpu_memory_utilization=args.gpu_memory_utilization,
            max_model_len=args.max_model_len,
            seed=0,
        )
    except Exception as e:  # noqa: BLE001 - vLLM raises many types; the message is what matters
        log("test_vllm_inference.py: vLLM could not load %s: %s: %s" % (args.model, type(e).__name__, e))
        return 1
    load_s = time.perf_counter() - started
    memory_loaded = gpu_memory_used_mib(physical_gpu)

    # ignore_eos: every prompt yields exactly max_tokens tokens, so runs are comparable.
    sampling = SamplingParams(max_tokens=args.max_tokens, temperature=0.8, top_p=0.95, ignore_eos=True, seed=0)
    llm.generate(make_prompts(1), SamplingParams(max_tokens=8, ignore_eos=True), use_tqdm=False)
    prompts = make_prompts(args.prompts)
    started = time.perf_counter()
    outputs = llm.generate(prompts, sampling, use_tqdm=False)
    elapsed = time.perf_counter() - started

    try:
        from vllm.platforms import current_platform

        platform = "cuda" if current_platform.is_cuda() else str(getattr(current_platform, "device_type", "unknown"))
    except Exception:  # noqa: BLE001 - older/newer vLLM layouts
        platform = "unknown"
    result, failures = inference_result(
        [o.outputs[0].text for o in outputs],
        [len(o.outputs[0].token_ids) for o in outputs],
        elapsed,
        args.model,
        platform,
        memory_before,
        memory_loaded,
    )
    result.update(max_tokens=args.max_tokens, load_s=round(load_s, 1), model_source=source, gpu=physical_gpu, vllm=vllm.__version__)
    if args.json:
        print(json.dumps(result))
    else:
        print("%s: %d tokens in %.2f s = %.1f tokens/s (%d prompts x %d tokens); sample: %r"
              % (args.model, result["generated_tokens"], elapsed, result["tokens_per_s"] or 0, len(prompts), args.max_tokens, result["sample_output"][:80]))
    for failure in failures:
        log("test_vllm_inference.py: %s" % failure)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
