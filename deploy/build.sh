#!/usr/bin/env bash
# Installs the Debian packages actlab needs and builds it (Release) in
# ./build, or in $ACTLAB_BUILD_DIR. Safe to run again: both steps are
# incremental.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build_dir=${ACTLAB_BUILD_DIR:-$root/build}

bash "$root/deploy/install-deps.sh"
cmake -S "$root" -B "$build_dir" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build_dir" -j"$(nproc)"
