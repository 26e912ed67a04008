#!/usr/bin/env bash
# Builds the Debian package of flatcast (README.md, "Running in production"):
# installs the build dependencies, builds into build/ and runs CPack there.
# The package lands in build/package/flatcast_<version>_<arch>.deb.
#
#   scripts/package.sh [--no-setup]
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" != "--no-setup" ]; then
  scripts/setup.sh
fi
scripts/build.sh
mkdir -p build/package
(cd build && cpack -G DEB -B package >/dev/null)
ls build/package/*.deb
