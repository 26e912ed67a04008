#!/usr/bin/env bash
# Installs dependencies, builds, and runs every test with ctest.
# With --sanitize (what CI runs), also builds the whole tree with
# AddressSanitizer and UndefinedBehaviorSanitizer (build-asan/; the benchmark
# harness is left out, its smoke run is in the first suite) and runs the
# suite again there, then builds the libFuzzer targets (build-fuzz/, clang)
# and runs each for a few seconds (FLATCAST_FUZZ_SECONDS, default 5); a crash
# fails the run.
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
  cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFLATCAST_SANITIZE=ON \
    -DFLATCAST_BUILD_BENCH=OFF >/dev/null
  ninja -C build-asan
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir build-asan --output-on-failure -j2 --timeout 900
  scripts/fuzz.sh "${FLATCAST_FUZZ_SECONDS:-5}"
fi
