#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, "fuzz" preset, build-fuzz/) if needed
# and runs each for SECONDS (default 5) from a scratch copy of its checked-in
# seed corpus, so the corpus in git only changes on purpose. Exits non-zero
# if any target crashes; reproducers are kept in build-fuzz/findings/.
#
#   fuzz/run.sh [SECONDS]
set -euo pipefail
seconds=${1:-5}
root=$(cd "$(dirname "$0")/.." && pwd)
build_dir=$root/build-fuzz
findings=$build_dir/findings

cd "$root"
if [[ ! -f $build_dir/CMakeCache.txt ]]; then
  cmake --preset fuzz >/dev/null
fi
cmake --build --preset fuzz

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$findings"
# The kernels' OpenMP threads would only make runs irreproducible (libgomp
# reads this at load time, so it cannot be set from the fuzzer itself).
export OMP_NUM_THREADS=1
# evaluate_fuzzer keeps its SQLite store under TMPDIR.
export TMPDIR=$scratch

status=0
for target in npy tensor evaluate; do
  mkdir -p "$scratch/$target"
  cp "$root/fuzz/corpus/$target/"* "$scratch/$target/"
  echo "=== ${target}_fuzzer for ${seconds}s"
  if ! "$build_dir/fuzz/${target}_fuzzer" "$scratch/$target" \
      -max_total_time="$seconds" -print_final_stats=1 -max_len=4096 \
      -artifact_prefix="$findings/${target}-" 2>&1 |
      grep -vE '^#[0-9]+[[:space:]]+(NEW|REDUCE|pulse)'; then
    echo "=== ${target}_fuzzer FAILED; reproducer in $findings" >&2
    status=1
  fi
done
exit $status
