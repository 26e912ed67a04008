#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/) in build-fuzz/ with clang, ASan and
# UBSan, then runs them from their seed corpora (fuzz/corpus/<target>/).
#
#   scripts/fuzz.sh [SECONDS]
#       every target for SECONDS (default 10), one after another; what CI
#       runs (5 s each). New inputs stay in build-fuzz/fuzz-work/<target>/.
#   scripts/fuzz.sh --runs N [--jobs J] [TARGET...]
#       the campaign before a release: each target (all, or those named) to N
#       executions, J targets at a time (default 2, one per core); then the
#       inputs that add coverage are merged into fuzz/corpus/<target>/
#       (libFuzzer -merge=1: the committed seeds stay, the new ones are
#       minimal), ready to commit. The table is also written to
#       build-fuzz/campaign.md.
#
# A crashing input is written to the target's artifacts/ directory and the
# script exits with status 1. FLATCAST_FUZZ_JOBS sets the build's
# parallelism (default 2); FLATCAST_FUZZ_BUILD names another build directory
# configured with -DFLATCAST_FUZZ=ON (scripts/test.sh --sanitize uses
# build-asan/, where the tests are built too).
set -euo pipefail
cd "$(dirname "$0")/.."

usage() {
  echo "usage: $0 [SECONDS] | $0 --runs N [--jobs J] [TARGET...]" >&2
  exit 2
}

seconds=10
runs=0
jobs=2
targets=()
if [ "${1:-}" = "--runs" ]; then
  [ $# -ge 2 ] || usage
  runs="$2"
  shift 2
  if [ "${1:-}" = "--jobs" ]; then
    [ $# -ge 2 ] || usage
    jobs="$2"
    shift 2
  fi
  targets=("$@")
  [[ "$runs" =~ ^[0-9]+$ ]] && [ "$runs" -gt 0 ] || usage
  [[ "$jobs" =~ ^[0-9]+$ ]] && [ "$jobs" -gt 0 ] || usage
elif [ $# -ge 1 ]; then
  seconds="$1"
  [[ "$seconds" =~ ^[0-9]+$ ]] && [ "$seconds" -gt 0 ] || usage
  [ $# -eq 1 ] || usage
fi

build="${FLATCAST_FUZZ_BUILD:-build-fuzz}"
if ! command -v clang++ >/dev/null; then
  echo "fuzz: clang++ is missing (scripts/setup.sh installs clang and libclang-rt-14-dev)" >&2
  exit 2
fi
if [ ! -f "$build/build.ninja" ]; then
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_COMPILER=clang++ -DFLATCAST_FUZZ=ON \
    -DFLATCAST_BUILD_TESTS=OFF -DFLATCAST_BUILD_BENCH=OFF >/dev/null
fi
if ! ninja -C "$build" -j"${FLATCAST_FUZZ_JOBS:-2}" fuzz >"$build/fuzz-build.log" 2>&1; then
  grep -E "error|FAILED" "$build/fuzz-build.log" | head -40 >&2
  echo "fuzz: the build failed; the whole output is in $build/fuzz-build.log" >&2
  exit 1
fi

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

if [ ${#targets[@]} -eq 0 ]; then
  for binary in "$build"/fuzz/fuzz_*; do targets+=("$(basename "$binary")"); done
fi
for target in "${targets[@]}"; do
  [ -x "$build/fuzz/$target" ] || { echo "fuzz: no target $target" >&2; exit 2; }
done

# Runs one target; writes "<target> <executions> <crashes> <corpus or merged> <seconds>"
# to $work/result.
run_target() {
  local target="$1" work="$2"
  local binary="$build/fuzz/$target" started ended status
  rm -rf "$work/artifacts"
  mkdir -p "$work/corpus" "$work/artifacts"
  local seeds=() dict=()
  [ -d "fuzz/corpus/$target" ] && seeds=("fuzz/corpus/$target")
  [ -f "fuzz/dict/$target.dict" ] && dict=("-dict=fuzz/dict/$target.dict")
  local limit=(-max_total_time="$seconds")
  [ "$runs" -gt 0 ] && limit=(-runs="$runs")
  started=$(date +%s)
  set +e
  "$binary" "${limit[@]}" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="$work/artifacts/" "${dict[@]}" "$work/corpus" "${seeds[@]}" \
    >"$work/log" 2>&1
  status=$?
  set -e
  ended=$(date +%s)
  local executions crashes extra
  executions="$(awk '/stat::number_of_executed_units/ {print $2}' "$work/log" | tail -1)"
  crashes="$(find "$work/artifacts" -type f | wc -l)"
  if [ "$status" -ne 0 ] && [ "$crashes" -eq 0 ]; then
    crashes=1  # the fuzzer stopped without writing an input; its log says why
  fi
  if [ "$runs" -gt 0 ] && [ "$crashes" -eq 0 ]; then
    mkdir -p "fuzz/corpus/$target"
    local before after
    before="$(find "fuzz/corpus/$target" -type f | wc -l)"
    "$binary" -merge=1 "${dict[@]}" "fuzz/corpus/$target" "$work/corpus" >"$work/merge.log" 2>&1
    after="$(find "fuzz/corpus/$target" -type f | wc -l)"
    extra="+$((after - before))"
  else
    extra="$(find "$work/corpus" -type f | wc -l)"
  fi
  echo "$target ${executions:-?} $crashes $extra $((ended - started))" >"$work/result"
}

root="$build/fuzz-work"
[ "$runs" -gt 0 ] && root="$build/campaign"
if [ "$runs" -gt 0 ]; then
  running=0
  for target in "${targets[@]}"; do
    if [ "$running" -ge "$jobs" ]; then
      wait -n
      running=$((running - 1))
    fi
    run_target "$target" "$root/$target" &
    running=$((running + 1))
  done
  wait
else
  for target in "${targets[@]}"; do run_target "$target" "$root/$target"; done
fi

total_crashes=0
header="$(printf '%-24s %12s %8s %8s %8s' target executions crashes \
  "$([ "$runs" -gt 0 ] && echo merged || echo corpus)" seconds)"
{
  echo "$header"
  for target in "${targets[@]}"; do
    read -r name executions crashes extra took <"$root/$target/result"
    printf '%-24s %12s %8s %8s %8s\n' "$name" "$executions" "$crashes" "$extra" "$took"
  done
} | tee "$build/$([ "$runs" -gt 0 ] && echo campaign || echo smoke).md"
for target in "${targets[@]}"; do
  read -r name executions crashes extra took <"$root/$target/result"
  if [ "$crashes" -ne 0 ]; then
    echo "$name: see $root/$name/log and $root/$name/artifacts/; the log ends:" >&2
    tail -n 40 "$root/$name/log" >&2
    total_crashes=$((total_crashes + crashes))
  fi
done
[ "$total_crashes" -eq 0 ]
