#!/usr/bin/env bash
# Puts the china-division 2.7.0 CSV files (Chinese administrative units with their GB/T 2260
# codes; licence WTFPL) into a directory, for flatcast-registry build.
#
#   scripts/fetch-china-division.sh [--from DIR] [--force] [OUT_DIR]
#
# OUT_DIR defaults to build/china-division in the repository (build/ is not committed).
# Without --from, the package is fetched with `npm pack` and its tarball checked against a
# pinned sha256 before anything is extracted. With --from DIR, the files are copied from a
# local copy instead; a FILE.csv missing there is decompressed from FILE.csv.xz.
# OUT_DIR ends up with provinces.csv, cities.csv, areas.csv, streets.csv, villages.csv and
# LICENSE. When all five CSV files are there already nothing is fetched, unless --force.
set -euo pipefail

readonly PACKAGE="china-division@2.7.0"
readonly TARBALL_SHA256="210ad17ed5de7355ff069eabec71671f7d43c39295effcb013214815ed3ecc85"
readonly FILES=(provinces.csv cities.csv areas.csv streets.csv villages.csv)

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
  exit "${1:-0}"
}

die() {
  echo "fetch-china-division: $*" >&2
  exit 1
}

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
from=""
force=0
out=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --from) [[ $# -ge 2 ]] || die "--from needs a directory"; from="$2"; shift 2 ;;
    --from=*) from="${1#--from=}"; shift ;;
    --force) force=1; shift ;;
    -h|--help) usage 0 ;;
    -*) echo "fetch-china-division: unknown option $1" >&2; usage 2 ;;
    *) [[ -z "$out" ]] || die "only one OUT_DIR may be given"; out="$1"; shift ;;
  esac
done
out="${out:-$repo/build/china-division}"

have_all() {
  local f
  for f in "${FILES[@]}"; do [[ -s "$out/$f" ]] || return 1; done
}

if [[ $force -eq 0 ]] && have_all; then
  echo "china-division CSV files already in $out (use --force to fetch again)"
  exit 0
fi

mkdir -p "$out"
# Stage next to the destination so that a failed run leaves no half-written files behind.
staging="$(mktemp -d "$out/.staging.XXXXXX")"
trap 'rm -rf "$staging"' EXIT

if [[ -n "$from" ]]; then
  [[ -d "$from" ]] || die "--from $from: not a directory"
  for f in "${FILES[@]}"; do
    if [[ -f "$from/$f" ]]; then
      cp "$from/$f" "$staging/$f"
    elif [[ -f "$from/$f.xz" ]]; then
      command -v xz >/dev/null || die "xz is needed to decompress $from/$f.xz"
      xz -dc "$from/$f.xz" >"$staging/$f"
    else
      die "--from $from: neither $f nor $f.xz is there"
    fi
  done
  if [[ -f "$from/LICENSE" ]]; then cp "$from/LICENSE" "$staging/LICENSE"; fi
  source_note="copied from $from"
else
  command -v npm >/dev/null || die "npm is needed (or give a local copy with --from DIR)"
  echo "fetching $PACKAGE with npm pack ..."
  (cd "$staging" && npm pack --silent --ignore-scripts "$PACKAGE" >/dev/null)
  tarball="$staging/china-division-2.7.0.tgz"
  [[ -f "$tarball" ]] || die "npm pack did not produce $(basename "$tarball")"
  actual="$(sha256sum "$tarball" | cut -d' ' -f1)"
  [[ "$actual" == "$TARBALL_SHA256" ]] ||
    die "sha256 of $(basename "$tarball") is $actual, expected $TARBALL_SHA256; refusing it"
  members=(package/LICENSE)
  for f in "${FILES[@]}"; do members+=("package/dist/$f"); done
  tar -xzf "$tarball" -C "$staging" "${members[@]}"
  for f in "${FILES[@]}"; do mv "$staging/package/dist/$f" "$staging/$f"; done
  mv "$staging/package/LICENSE" "$staging/LICENSE"
  source_note="npm pack $PACKAGE, tarball sha256 $TARBALL_SHA256"
fi

for f in "${FILES[@]}"; do
  [[ -s "$staging/$f" ]] || die "$f is empty"
  mv -f "$staging/$f" "$out/$f"
done
if [[ -f "$staging/LICENSE" ]]; then mv -f "$staging/LICENSE" "$out/LICENSE"; fi
echo "$source_note" >"$out/SOURCE"
echo "china-division CSV files in $out ($source_note)"
for f in "${FILES[@]}"; do
  printf '  %-14s %8d rows\n' "$f" "$(($(wc -l <"$out/$f") - 1))"
done
