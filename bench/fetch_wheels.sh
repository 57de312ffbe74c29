#!/usr/bin/env bash
# Fills .whl/ (git-ignored through .git/info/exclude) with the Python wheels bench/run_device.sh
# needs on the GPU machine beyond what its image has (torch, transformers, huggingface_hub,
# safetensors are there): diffusers and importlib_metadata, for CPython 3.12.
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
PY=${PYTHON:-python3}
"$PY" -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 -d .whl \
  diffusers==0.42.1 importlib_metadata==10.2.0
ls -la .whl
