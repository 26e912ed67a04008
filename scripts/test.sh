#!/usr/bin/env bash
# Installs dependencies, builds, and runs every test with ctest.
# With --sanitize (what CI runs), also builds the whole tree once more with
# clang, AddressSanitizer and UndefinedBehaviorSanitizer and coverage
# instrumentation (build-asan/, the libFuzzer configuration with the tests
# in; the benchmark harness is left out, its smoke run is in the first
# suite), runs the suite again there, then runs each libFuzzer target of that
# same tree over its committed corpus for a few seconds
# (FLATCAST_FUZZ_SECONDS, default 5); a crash fails the run. One tree for
# both keeps CI to two full builds.
set -euo pipefail
cd "$(dirname "$0")/.."
sanitize=0
case "${1:-}" in
  --sanitize) sanitize=1 ;;
  "") ;;
  *) echo "usage: $0 [--sanitize]" >&2; exit 2 ;;
esac
scripts/setup.sh
scripts/build.sh
ctest --test-dir build --output-on-failure -j2 --timeout 600
if [ "$sanitize" = 1 ]; then
  cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_COMPILER=clang++ -DFLATCAST_FUZZ=ON -DFLATCAST_BUILD_BENCH=OFF >/dev/null
  ninja -C build-asan
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir build-asan --output-on-failure -j2 --timeout 900 -LE fuzz
  FLATCAST_FUZZ_BUILD=build-asan scripts/fuzz.sh "${FLATCAST_FUZZ_SECONDS:-5}"
fi
