#!/usr/bin/env bash
# Builds a registry file from the china-division data with flatcast-registry.
#
#   scripts/build-registry.sh [--province CODE | --all] [--from DIR] OUT
#
# --province CODE (default 52, Guizhou) writes that province with all its units; --all
# writes every province. The data is fetched first with scripts/fetch-china-division.sh
# into build/china-division (--from DIR is passed on to it). The program is taken from
# $FLATCAST_REGISTRY, else build/bin/flatcast-registry; build it with
#   cmake -S . -B build -G Ninja && ninja -C build flatcast-registry
set -euo pipefail

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
  exit "${1:-0}"
}

die() {
  echo "build-registry: $*" >&2
  exit 1
}

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
selection=(--province 52)
fetch_args=()
out=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --province)
      [[ $# -ge 2 ]] || die "--province needs a code"
      selection=(--province "$2")
      shift 2
      ;;
    --all) selection=(--all); shift ;;
    --from) [[ $# -ge 2 ]] || die "--from needs a directory"; fetch_args=(--from "$2"); shift 2 ;;
    -h|--help) usage 0 ;;
    -*) echo "build-registry: unknown option $1" >&2; usage 2 ;;
    *) [[ -z "$out" ]] || die "only one OUT may be given"; out="$1"; shift ;;
  esac
done
[[ -n "$out" ]] || { echo "build-registry: OUT is missing" >&2; usage 2; }

registry="${FLATCAST_REGISTRY:-$repo/build/bin/flatcast-registry}"
[[ -x "$registry" ]] || die "$registry not found; build it:" \
  "cmake -S $repo -B $repo/build -G Ninja && ninja -C $repo/build flatcast-registry"

source_dir="$repo/build/china-division"
"$repo/scripts/fetch-china-division.sh" "${fetch_args[@]}" "$source_dir"
"$registry" build --source "$source_dir" "${selection[@]}" --out "$out"
