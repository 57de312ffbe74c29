#!/usr/bin/env bash
# Builds everything (tools/setup.sh) and runs the whole test suite: one GoogleTest binary
# that ends with a "tests: N passed, N failed, N skipped" line.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
build=${EASEL_BUILD_DIR:-build}
"$build/easel_tests" --gtest_brief=1 "$@"
