#!/usr/bin/env bash
# Installs what is missing, builds, and runs the whole test suite with
# CTest. Exits non-zero if anything fails.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build_dir=${ACTLAB_BUILD_DIR:-$root/build}

bash "$root/deploy/build.sh"
cd "$build_dir"
ctest --output-on-failure -j"$(nproc)" "$@"
