#!/usr/bin/env bash
# GPU detection (validation suite 1), for people: every GPU with its model, memory, PCIe link,
# temperature and driver, then the expectations given on the command line.
#
#   validate_gpus.sh --expect-gpus 4 --expect-name "NVIDIA GeForce RTX 5090" --min-memory-mib 32000 \
#                    --min-pcie-gen 5 --min-pcie-width 16 --max-idle-temp 60
#
# Exit 0: every expectation holds (or none was given and at least one GPU is there); 1: one failed;
# 2: usage; 3: no driver or no GPU. The gate reads the same nvidia-smi fields through run_checks.py.
set -euo pipefail

QUERY=index,name,memory.total,pcie.link.gen.max,pcie.link.gen.current,pcie.link.width.current,temperature.gpu,driver_version

usage() {
  sed -n '2,9s/^# \{0,1\}//p' "$0"
  exit "${1:-2}"
}

expect_gpus='' expect_name='' min_memory='' min_gen='' min_width='' max_temp=''
while (($# > 0)); do
  case "$1" in
    --expect-gpus) expect_gpus=${2:?}; shift 2 ;;
    --expect-name) expect_name=${2:?}; shift 2 ;;
    --min-memory-mib) min_memory=${2:?}; shift 2 ;;
    --min-pcie-gen) min_gen=${2:?}; shift 2 ;;
    --min-pcie-width) min_width=${2:?}; shift 2 ;;
    --max-idle-temp) max_temp=${2:?}; shift 2 ;;
    -h|--help) usage 0 ;;
    *) echo "validate_gpus.sh: unknown argument: $1" >&2; usage 2 ;;
  esac
done
for n in "$expect_gpus" "$min_memory" "$min_gen" "$min_width" "$max_temp"; do
  [[ -z "$n" || "$n" =~ ^[0-9]+$ ]] || { echo "validate_gpus.sh: not a whole number: $n" >&2; exit 2; }
done

if ! command -v nvidia-smi >/dev/null 2>&1; then
  echo "validate_gpus.sh: nvidia-smi not found: the NVIDIA driver is not installed" >&2
  exit 3
fi
status=0
csv=$(nvidia-smi --query-gpu="$QUERY" --format=csv,noheader,nounits 2>&1) || status=$?
if [[ "$csv" == *"No devices were found"* ]]; then
  echo "validate_gpus.sh: the driver is loaded but sees no GPU (nvidia-smi: No devices were found)" >&2
  exit 3
fi
if ((status != 0)); then
  echo "validate_gpus.sh: nvidia-smi failed (exit $status): $csv" >&2
  exit 3
fi

# One awk pass prints the table and the checks; its exit status is the verdict.
awk -F', *' \
  -v expect_gpus="$expect_gpus" -v expect_name="$expect_name" -v min_memory="$min_memory" \
  -v min_gen="$min_gen" -v min_width="$min_width" -v max_temp="$max_temp" '
  function num(v) { return v ~ /^[0-9.]+$/ }
  NF == 0 { next }
  NF != 8 { printf "validate_gpus.sh: unexpected nvidia-smi line: %s\n", $0 > "/dev/stderr"; bad = 1; next }
  {
    n++; name[n] = $2; mem[n] = $3; gmax[n] = $4; gcur[n] = $5; width[n] = $6; temp[n] = $7; drv[n] = $8; idx[n] = $1
  }
  function check(ok, text) { printf "  %s  %s\n", ok ? "PASS" : "FAIL", text; if (!ok) failed = 1 }
  END {
    if (bad) exit 1
    printf "%-4s %-28s %-11s %-18s %-6s %s\n", "GPU", "NAME", "MEMORY", "PCIE gen cur/max", "TEMP", "DRIVER"
    for (i = 1; i <= n; i++)
      printf "%-4s %-28s %-11s %-18s %-6s %s\n", idx[i], name[i], mem[i] " MiB", gcur[i] "/" gmax[i] " x" width[i], temp[i] " C", drv[i]
    print "checks:"
    check(n > 0, n " GPU(s) visible")
    if (expect_gpus != "") check(n == expect_gpus + 0, n " GPUs, expected " expect_gpus)
    for (i = 1; i <= n; i++) {
      if (expect_name != "") check(name[i] == expect_name, "GPU " idx[i] " is " name[i] (name[i] == expect_name ? "" : ", expected " expect_name))
      if (min_memory != "") check(num(mem[i]) && mem[i] + 0 >= min_memory + 0, "GPU " idx[i] " memory " mem[i] " MiB >= " min_memory)
      # An idle GPU drops its link to gen 1 to save power: the capability is the max gen.
      if (min_gen != "") check(num(gmax[i]) && gmax[i] + 0 >= min_gen + 0, "GPU " idx[i] " PCIe gen " gmax[i] " (max) >= " min_gen)
      if (min_width != "") check(num(width[i]) && width[i] + 0 >= min_width + 0, "GPU " idx[i] " PCIe width x" width[i] " >= x" min_width)
      if (max_temp != "") check(num(temp[i]) && temp[i] + 0 < max_temp + 0, "GPU " idx[i] " idle temperature " temp[i] " C < " max_temp " C")
    }
    exit failed ? 1 : 0
  }' <<<"$csv"
