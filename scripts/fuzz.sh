#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/) in build-fuzz/ with clang, ASan and
# UBSan, then runs each for SECONDS (default 10) from its seed corpus
# (fuzz/corpus/<target>/) and prints the executions and crashes per target.
#
#   scripts/fuzz.sh [SECONDS]
#
# Inputs the fuzzers find are kept in build-fuzz/fuzz-work/<target>/corpus,
# so later runs start from them; the committed seeds are never changed. A
# crashing input is written to build-fuzz/fuzz-work/<target>/artifacts/ and
# the script exits with status 1. FLATCAST_FUZZ_JOBS sets the build's
# parallelism (default 2).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-10}"
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [ "$seconds" -eq 0 ]; then
  echo "usage: scripts/fuzz.sh [SECONDS]  (a whole number of seconds per target)" >&2
  exit 2
fi
build=build-fuzz
jobs="${FLATCAST_FUZZ_JOBS:-2}"

if ! command -v clang++ >/dev/null; then
  echo "fuzz: clang++ is missing (scripts/setup.sh installs clang and libclang-rt-14-dev)" >&2
  exit 2
fi
if [ ! -f "$build/build.ninja" ]; then
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_COMPILER=clang++ -DFLATCAST_FUZZ=ON \
    -DFLATCAST_BUILD_TESTS=OFF -DFLATCAST_BUILD_BENCH=OFF >/dev/null
fi
if ! ninja -C "$build" -j"$jobs" fuzz >"$build/fuzz-build.log" 2>&1; then
  grep -E "error|FAILED" "$build/fuzz-build.log" | head -40 >&2
  echo "fuzz: the build failed; the whole output is in $build/fuzz-build.log" >&2
  exit 1
fi

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

total_crashes=0
printf '%-22s %12s %8s %8s\n' target executions crashes corpus
for binary in "$build"/fuzz/fuzz_*; do
  target="$(basename "$binary")"
  work="$build/fuzz-work/$target"
  rm -rf "$work/artifacts"
  mkdir -p "$work/corpus" "$work/artifacts"
  seeds=()
  [ -d "fuzz/corpus/$target" ] && seeds=("fuzz/corpus/$target")
  dict=()
  [ -f "fuzz/dict/$target.dict" ] && dict=("-dict=fuzz/dict/$target.dict")
  set +e
  "$binary" -max_total_time="$seconds" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="$work/artifacts/" "${dict[@]}" "$work/corpus" "${seeds[@]}" \
    >"$work/log" 2>&1
  status=$?
  set -e
  executions="$(awk '/stat::number_of_executed_units/ {print $2}' "$work/log" | tail -1)"
  crashes="$(find "$work/artifacts" -type f | wc -l)"
  if [ "$status" -ne 0 ] && [ "$crashes" -eq 0 ]; then
    crashes=1  # the fuzzer stopped without writing an input; its log says why
  fi
  corpus="$(find "$work/corpus" -type f | wc -l)"
  printf '%-22s %12s %8s %8s\n' "$target" "${executions:-?}" "$crashes" "$corpus"
  if [ "$crashes" -ne 0 ]; then
    echo "  see $work/log and $work/artifacts/; the log ends:" >&2
    tail -n 40 "$work/log" >&2
    total_crashes=$((total_crashes + crashes))
  fi
done
[ "$total_crashes" -eq 0 ]
