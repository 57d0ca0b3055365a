#!/usr/bin/env bash
# The sanitizer part of CI (.ci/run runs it after the normal suite), in
# three stages, each building only what its tests need in its own folder
# (CMakePresets.json):
#   asan  the whole ctest suite under AddressSanitizer + UBSan (g++)
#   fuzz  every libFuzzer target for 5 s on its checked-in corpus (clang)
#   tsan  the tests labelled tsan under ThreadSanitizer (g++)
# Fails on a failed test or on any sanitizer report, including those of the
# server and CLI processes the e2e tests start: reports go to
# build-<preset>/sanitizer-report.PID and are printed here.
#
#   run-sanitizers.sh [asan|fuzz|tsan]...   (default: all three)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

section() { printf '\n======== %s ========\n' "$*"; }

sanitized_suite() {
  local preset=$1
  local reports=$root/build-$preset/sanitizer-report
  section "$preset: build"
  cmake --preset "$preset" >/dev/null
  time cmake --build --preset "$preset"
  section "$preset: test"
  rm -f "$reports".*
  local status=0
  time ctest --preset "$preset" || status=$?
  if compgen -G "$reports.*" >/dev/null; then
    section "$preset: sanitizer reports"
    cat "$reports".*
    status=1
  fi
  return "$status"
}

bash deploy/install-deps.sh
stages=("$@")
((${#stages[@]})) || stages=(asan fuzz tsan)
for stage in "${stages[@]}"; do
  case $stage in
    asan | tsan) sanitized_suite "$stage" ;;
    fuzz)
      section "fuzz: build and run"
      time bash fuzz/run.sh 5
      ;;
    *) echo "unknown stage: $stage" >&2 && exit 2 ;;
  esac
done
section "sanitizers: all clean"
