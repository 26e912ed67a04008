#!/usr/bin/env bash
# The whole benchmark: installs, builds, then runs bench/run.py — flatcast
# with CURVE, flatcast without CURVE, and Mosquitto on the same N (19,571
# Guizhou terminals), payload (4 KiB) and machine — and writes
# build/bench/results.json, table.md and cdf.png. Arguments go to run.py
# (e.g. --repeat 1, --smoke, --keep). By default 3 runs of everything, about
# 16 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
exec python3 bench/run.py "$@"
