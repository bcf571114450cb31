#!/usr/bin/env bash
# Docker GPU access (validation suite 5), for people: a container sees every GPU, several containers
# share the GPUs at once, and a container given one GPU sees exactly that one.
#
#   test_docker_gpu.sh [--image nvidia/cuda:13.0.2-base-ubuntu24.04] [--containers 2] [--expect-gpus 4]
#
# The image defaults to $CUDA_IMAGE, else the first nvidia/cuda image already on this machine (the
# runtime gate pulled one), so the test needs no registry. Exit 0: all passed; 1: a test failed;
# 2: usage or no image.
set -euo pipefail

usage() {
  sed -n '2,9s/^# \{0,1\}//p' "$0"
  exit "${1:-2}"
}

image=${CUDA_IMAGE:-} containers=2 expect_gpus=''
while (($# > 0)); do
  case "$1" in
    --image) image=${2:?}; shift 2 ;;
    --containers) containers=${2:?}; shift 2 ;;
    --expect-gpus) expect_gpus=${2:?}; shift 2 ;;
    -h|--help) usage 0 ;;
    *) echo "test_docker_gpu.sh: unknown argument: $1" >&2; usage 2 ;;
  esac
done
[[ "$containers" =~ ^[1-9][0-9]*$ ]] || { echo "test_docker_gpu.sh: --containers must be a positive number" >&2; exit 2; }
[[ -z "$expect_gpus" || "$expect_gpus" =~ ^[0-9]+$ ]] || { echo "test_docker_gpu.sh: --expect-gpus must be a number" >&2; exit 2; }

if [[ -z "$image" ]]; then
  image=$(docker image ls nvidia/cuda --format '{{.Repository}}:{{.Tag}}' | head -n 1)
  if [[ -z "$image" ]]; then
    echo "test_docker_gpu.sh: no nvidia/cuda image on this machine: pass --image (it will be pulled)" >&2
    exit 2
  fi
fi

failed=0
pass() { echo "  PASS  $*"; }
fail() { echo "  FAIL  $*"; failed=1; }
# GPUs a container lists with nvidia-smi -L ("GPU 0: NVIDIA GeForce RTX 5090 (UUID: …)").
count_gpus() { grep -c '^GPU [0-9][0-9]*:' || true; }

echo "image: $image"
out=$(docker run --rm --gpus all "$image" nvidia-smi -L 2>&1) || { fail "docker run --gpus all: $out"; exit 1; }
gpus=$(count_gpus <<<"$out")
printf '%s\n' "$out" | sed 's/^/    /'
if ((gpus == 0)); then
  fail "a container with --gpus all sees no GPU"
  exit 1
fi
pass "a container with --gpus all sees $gpus GPU(s)"
if [[ -n "$expect_gpus" ]]; then
  if ((gpus == expect_gpus)); then pass "$gpus GPUs, expected $expect_gpus"; else fail "$gpus GPUs, expected $expect_gpus"; fi
fi

# Several containers at once, each with every GPU.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for ((i = 0; i < containers; i++)); do
  docker run --rm --gpus all "$image" nvidia-smi -L >"$tmp/$i.out" 2>&1 &
done
wait
ok=0
for ((i = 0; i < containers; i++)); do
  if (($(count_gpus <"$tmp/$i.out") == gpus)); then ok=$((ok + 1)); fi
done
if ((ok == containers)); then pass "$containers concurrent containers each see $gpus GPU(s)"; else fail "$ok of $containers concurrent containers saw every GPU"; fi

# One GPU per container: the runtime isolates what it does not give.
for ((i = 0; i < gpus; i++)); do
  out=$(docker run --rm --gpus "device=$i" "$image" nvidia-smi -L 2>&1) || true
  seen=$(count_gpus <<<"$out")
  if ((seen == 1)); then pass "a container with --gpus device=$i sees exactly 1 GPU"; else fail "a container with --gpus device=$i sees $seen GPUs: $out"; fi
done
exit "$failed"
