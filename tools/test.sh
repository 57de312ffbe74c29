#!/usr/bin/env bash
# Builds everything (tools/setup.sh) and runs the whole test suite: one GoogleTest binary
# that ends with a "tests: N passed, N failed, N skipped" line, then the Python client's
# pytest suite against a real `easel serve` (python/tests), which ends with its own summary,
# then the web UI's tests (web/run_tests.sh), which end with a "web: ..." line.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
build=${EASEL_BUILD_DIR:-build}
status=0
"$build/easel_tests" --gtest_brief=1 "$@" || status=$?
# Debian's pytest and Pillow (tools/setup.sh installs python3-pytest and python3-pil).
EASEL_BIN="$PWD/$build/easel" /usr/bin/python3 -m pytest -q -p no:cacheprovider python/tests || status=$?
# The web UI: Vitest, then Playwright in headless chromium against a real `easel serve`
# (node_modules from tools/setup.sh's npm ci).
EASEL_BIN="$PWD/$build/easel" WEB_SKIP_CI=1 bash web/run_tests.sh || status=$?
exit "$status"
