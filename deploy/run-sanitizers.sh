#!/usr/bin/env bash
# Builds and tests under the asan preset (CMakePresets.json), then runs
# every fuzzer for a few seconds (fuzz/run.sh); with ACTLAB_TSAN=1 also the
# tsan preset. Exits non-zero on the first failure. About 30 minutes on 2
# cores from a cold build, most of it compiling; incremental runs are short.
#
# TSan is opt-in because its reports are not yet trustworthy here: Debian's
# Abseil is not built with -fsanitize=thread, so TSan cannot see absl::Mutex
# lock/unlock and reports a race on every structure it guards (e.g.
# BaselineEngine's primitive cache, PostgresStore's connection pool).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

bash deploy/install-deps.sh
presets=(asan)
if [[ "${ACTLAB_TSAN:-0}" == 1 ]]; then
  presets+=(tsan)
fi
for preset in "${presets[@]}"; do
  echo "=== $preset: configure, build, test"
  cmake --preset "$preset" >/dev/null
  cmake --build --preset "$preset"
  ctest --preset "$preset"
done
echo "=== fuzzers"
bash fuzz/run.sh 5
