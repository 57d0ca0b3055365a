#!/bin/bash
# Builds actlab_kernel_bench if needed, runs it once with JSON output and
# prints a markdown table of PWLU throughput against oneDNN ReLU and memcpy
# measured in the same run. Cases run with fixed params, as the ReLU runs one
# primitive created once; "nchw-fresh" repeats N16_nchw with params that
# change every call, as in training, so every call builds its tables.
#
#   bench/run_kernel_bench.sh [extra benchmark flags, e.g. --benchmark_filter=N16]
#
# ACTLAB_BUILD_DIR picks the build directory (default: build).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${ACTLAB_BUILD_DIR:-$root/build}
if [[ ! -f "$build/CMakeCache.txt" ]]; then
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >&2
fi
cmake --build "$build" -j2 --target actlab_kernel_bench >&2

# Five repetitions in random order, compared by their medians: the machine
# is shared, and a burst of other work then skews one repetition, not a
# whole case or its baseline.
json="$build/kernel_bench.json"
"$build/bench/actlab_kernel_bench" --benchmark_out="$json" \
  --benchmark_out_format=json --benchmark_repetitions=5 \
  --benchmark_enable_random_interleaving=true \
  --benchmark_report_aggregates_only=true "$@" >&2

/usr/bin/python3 - "$json" <<'PY'
import json
import sys

with open(sys.argv[1]) as f:
    runs = json.load(f)["benchmarks"]

# Medians when repetitions ran, else the single runs.
# Names: <op>/<variant>/<size>/threads:<t>/...
medians = [r for r in runs if r.get("aggregate_name") == "median"]
if medians:
    runs = medians
rate = {}
kernel = {}
order = []
for run in runs:
    if run.get("error_occurred") or run.get("aggregate_name") not in (None, "median"):
        continue
    op, variant, size, threads = run["run_name"].split("/")[:4]
    key = (op, variant, size, threads.split(":")[1])
    rate[key] = run["bytes_per_second"] / 1e9
    kernel[key] = run.get("label", "")
    if op.startswith("pwlu"):
        order.append(key)

def case_order(key):
    op, variant, size, threads = key
    n, layout = variant[1:].split("_")
    return (size != "256KiB", int(threads), op != "pwlu_fwd", int(n),
            ["layer", "nchw", "nchw-fresh", "nhwc"].index(layout))


order.sort(key=case_order)
print("| case | size | threads | kernel | PWLU GB/s | ReLU GB/s | PWLU/ReLU "
      "| memcpy GB/s | PWLU/memcpy |")
print("|---|---|---|---|---|---|---|---|---|")
for key in order:
    op, variant, size, threads = key
    relu = rate.get(("relu" + op[4:], "-", size, threads))
    copy = rate.get(("memcpy", "-", size, threads))
    pwlu = rate[key]
    fmt = lambda v: "-" if v is None else f"{v:.1f}"
    ratio = lambda v: "-" if v is None else f"{pwlu / v:.2f}"
    print(f"| {op[5:]} {variant} | {size} | {threads} | {kernel[key]} | "
          f"{pwlu:.1f} | {fmt(relu)} | {ratio(relu)} | {fmt(copy)} | "
          f"{ratio(copy)} |")

print()
print("Targets (N=16, channel-wise NCHW, 2 threads, PWLU/ReLU):")
targets = [("pwlu_fwd", "64MiB", 1.0), ("pwlu_fwd", "256KiB", 0.9),
           ("pwlu_bwd", "64MiB", 1.0), ("pwlu_bwd", "256KiB", 0.8)]
for op, size, want in targets:
    key = (op, "N16_nchw", size, "2")
    relu = rate.get(("relu" + op[4:], "-", size, "2"))
    if key not in rate or relu is None:
        print(f"- {op} {size}: not measured")
        continue
    got = rate[key] / relu
    verdict = "met" if got >= want else f"MISSED by {want - got:.3f}"
    fresh = rate.get((op, "N16_nchw-fresh", size, "2"))
    also = "" if fresh is None else (
        f"; {fresh / relu:.3f}x with params changing every call")
    print(f"- {op[5:]} {size}: {got:.3f}x (target {want:.1f}x) {verdict}{also}")
PY
