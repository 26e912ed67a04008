#!/usr/bin/env bash
# Installs flatcast's build and run dependencies from Debian 12 packages.
# Idempotent: packages already present are left alone.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config xz-utils util-linux
  libzmq3-dev cppzmq-dev
  libprotobuf-dev protobuf-compiler
  libboost-dev libboost-filesystem-dev libabsl-dev
  prometheus-cpp-dev prometheus libsystemd-dev lintian help2man
  librocksdb-dev
  libgtest-dev libgmock-dev
  libsodium-dev
  libcli11-dev libspdlog-dev libtomlplusplus-dev nlohmann-json3-dev
  libcsv-dev
  libxml2-dev libssl-dev
  etcd-server etcd-client
  clang libclang-rt-14-dev
  mosquitto libmosquitto-dev python3 gnuplot-nox openssl wrk curl
  chromium chromium-driver fonts-noto-cjk
)

# node and npm for the web inbox's browser test (playwright-core wants node 18
# or later: Debian 12's nodejs is 18). A node already installed is kept.
command -v node >/dev/null 2>&1 || packages+=(nodejs)
command -v npm >/dev/null 2>&1 || packages+=(npm)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#packages[@]} packages present"
else
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# playwright-core from npm, at the version package-lock.json names, for
# tests/browser (it drives Debian's chromium; it downloads no browser).
browser_dir="$(dirname "$0")/../tests/browser"
if [ ! -f "$browser_dir/node_modules/playwright-core/package.json" ] ||
   [ "$browser_dir/package-lock.json" -nt "$browser_dir/node_modules/.package-lock.json" ]; then
  echo "setup: npm ci in tests/browser"
  npm ci --prefix "$browser_dir" --no-audit --no-fund --loglevel=error
fi
