#!/usr/bin/env bash
# Easel vs diffusers (eager and torch.compile) on one GPU machine, in one call: builds Easel's
# engine and easel_bench against the machine's CUDA LibTorch (python3's torch), makes random-
# weight SD1.5 / SDXL pipelines of the real shapes (bench/compare.py make), times Easel and
# diffusers on the same weights, seed, sampler and precision, prints one table and writes JSON
# under bench/results/ (and $OUT). See docs/gpu.md.
#
# Needs, carried with the call (device tool: carry [".dev", ".whl"]):
#   .dev/  tools/bench/prepare_device_carry.sh: Debian .debs of the small C++ deps, CLIP vocab
#   .whl/  bench/fetch_wheels.sh: the diffusers wheel (the machine has torch, transformers...)
# Usage: bash bench/run_device.sh [STAGES...]   (default: sd15 sdxl)
#   sd15 | sdxl           Easel (CUDA graphs on and off) and diffusers eager, batch 1 and 4
#   sd15-compile | sdxl-compile   diffusers + torch.compile, batch 1 (minutes of compiling)
#   sd15-easel | sdxl-easel   Easel alone at batch 1, settings EASEL_VARIANTS_X
#   vae                   VAE decode at 2048x2048, untiled and tiled
#   tests                 the engine test suite on this machine (CPU tests, libtorch 2.x, and
#                         the CUDA ones); TEST_ONLY: an EASEL_ONLY regex, TEST_FILTER: gtest
# Env: RUNS (timed runs per figure, default 5); EASEL_VARIANTS_B1 / _B4: Easel settings to
# time at batch 1 / 4, "graphs channels_last cudnn_benchmark fused_kernels" fields (the last
# optional, default 1) per variant, variants separated by ';' (the first one's images go into
# the comparison).
set -uo pipefail
OUT=${OUT:-/tmp/bench_out}
RES=/tmp/bench_results
mkdir -p "$OUT" "$RES" /tmp/deps /tmp/bench_models
RUNS=${RUNS:-5}
STAGES=${*:-sd15 sdxl}
export PYTHONUNBUFFERED=1
log() { echo "[$(date +%T)] $*" | tee -a "$OUT/bench.log"; }

# The .debs, or (to fit the 64 MiB the device tool carries) one .tar.xz of them unpacked
# without docs and static libraries: tar -C DIR -cJf .dev/deps.tar.xz . of the dpkg -x output.
for f in .dev/debs/*.deb; do [[ -f $f ]] && dpkg -x "$f" /tmp/deps; done
[[ -f .dev/deps.tar.xz ]] && tar -C /tmp/deps -xJf .dev/deps.tar.xz
export LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}
export PATH=/tmp/deps/usr/bin:$PATH PKG_CONFIG_SYSROOT_DIR=/tmp/deps \
  PKG_CONFIG_LIBDIR=/tmp/deps/usr/lib/x86_64-linux-gnu/pkgconfig:/tmp/deps/usr/share/pkgconfig
if ls .whl/*.whl > /dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site
fi
TORCH=$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)')
# nvcc for Easel's own kernels (EASEL_WITH_CUDA_KERNELS); CMake looks in PATH and CUDACXX.
[[ -z ${CUDACXX:-} && ! -x "$(command -v nvcc)" && -x /usr/local/cuda/bin/nvcc ]] &&
  export CUDACXX=/usr/local/cuda/bin/nvcc
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.max.sm --format=csv,noheader |
  tee "$OUT/gpu.txt"
python3 -c 'import torch,diffusers,transformers;print("torch",torch.__version__,"cuda",torch.version.cuda,"diffusers",diffusers.__version__,"transformers",transformers.__version__)' |
  tee -a "$OUT/gpu.txt"

# A fresh machine pays once for what any machine that has run a diffusion model before has
# cached: the CUDA libraries (cuDNN, cuBLAS: ~1 GB) read from disk, and the attention kernels
# cuDNN compiles at run time for each head size (SD1.5: 40/80/160, SDXL: 64), which the driver
# keeps in its on-disk cache (~/.nv/ComputeCache). A throwaway process warms both, so neither
# engine's "first image" depends on running first; each still initialises CUDA, loads its
# kernels and builds its cuDNN plans in its own process. WARM=0 skips it (cold-machine figures).
if [[ ${WARM:-1} == 1 ]]; then
python3 - <<'PY' 2>&1 | tail -1 | tee -a "$OUT/bench.log"
import time, torch
F = torch.nn.functional
t = time.time()
x = torch.randn(2, 64, 64, 64, device="cuda", dtype=torch.float16)
F.conv2d(x, torch.randn(64, 64, 3, 3, device="cuda", dtype=torch.float16))
for d, heads in ((40, 8), (80, 8), (160, 8), (64, 10), (64, 20)):
    for lq, lk in ((4096, 4096), (4096, 77), (1024, 1024), (1024, 77), (256, 256), (256, 77),
                   (64, 64), (64, 77)):
        q = torch.randn(2, heads, lq, d, device="cuda", dtype=torch.float16)
        k = torch.randn(2, heads, lk, d, device="cuda", dtype=torch.float16)
        F.scaled_dot_product_attention(q, k, k)
torch.cuda.synchronize()
print(f"warm-up (CUDA libraries, cuDNN attention kernels) {time.time() - t:.1f} s")
PY
fi

# ---- build (engine + easel_bench only; the "tests" stage builds everything after the figures)
if [[ "$STAGES" != "tests" ]]; then
log "build easel_bench"
cmake -S . -B build-cuda -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DEASEL_ONLY='src/(engine|io|library)|tools/bench' -DEASEL_BUILD_TESTS=OFF \
  -DCMAKE_PREFIX_PATH="$TORCH;/tmp/deps/usr" > "$OUT/cmake.log" 2>&1 ||
  { tail -40 "$OUT/cmake.log"; exit 1; }
grep "Easel CUDA kernels" "$OUT/cmake.log"
ninja -C build-cuda -j16 easel_bench > "$OUT/build.log" 2>&1 ||
  { grep -E "error" -A3 "$OUT/build.log" | head -60; exit 1; }
mkdir -p build-cuda/share/easel && cp .dev/bpe_simple_vocab_16e6.txt.gz build-cuda/share/easel/
fi
log "build ok"

# Easel variants: "graphs channels_last cudnn_benchmark" triples, ';'-separated, per batch.
V1=${EASEL_VARIANTS_B1:-"1 1 0 1;1 1 0 0"}
V4=${EASEL_VARIANTS_B4:-"1 1 0 1"}
for fam in sd15 sdxl; do
  [[ " $STAGES " == *" $fam"* ]] || continue
  model=/tmp/bench_models/$fam
  if [[ ! -f $model/model_index.json ]]; then
    log "make $fam"
    python3 bench/compare.py make $fam $model .dev/bpe_simple_vocab_16e6.txt.gz 2>&1 |
      tail -1 | tee -a "$OUT/bench.log"
  fi
  if [[ $fam == sd15 ]]; then W=512; S=20; else W=1024; S=30; fi
  if [[ " $STAGES " == *" $fam "* ]]; then
    for b in 1 4; do
      if [[ $b == 1 ]]; then VARIANTS=$V1; else VARIANTS=$V4; fi
      IFS=';' read -ra vs <<< "$VARIANTS"
      for v in "${vs[@]}"; do
        set -- $v
        cl="--channels-last $2"
        prefix=""; [[ "$*" == "${vs[0]}" ]] && prefix="--out $RES/easel_${fam}_b$b"
        log "easel $fam batch $b graphs $1 cl $2 cudnn-benchmark $3 fused kernels ${4:-1}"
        EASEL_FUSED_KERNELS=${4:-1} build-cuda/easel_bench --model $model --device cuda --dtype fp16 -W $W -H $W --steps $S \
          --batch $b --runs $RUNS --cfg 7 --seed 42 \
          --prompt "a photograph of an astronaut riding a horse on the moon, detailed, 8k" \
          --negative "blurry, low quality" --graphs $1 $cl --cudnn-benchmark $3 $prefix \
          --json $RES/easel.jsonl 2>&1 | tee -a "$OUT/bench.log"
      done
      log "diffusers eager $fam batch $b"
      python3 bench/compare.py diffusers $fam $model eager $b $RUNS $RES/diffusers.jsonl \
        $RES/diffusers_${fam}_b$b 2>&1 | grep -v Warning | tail -4 | tee -a "$OUT/bench.log"
    done
  fi
  if [[ " $STAGES " == *" $fam-easel "* ]]; then  # Easel alone, batch 1, EASEL_VARIANTS_X
    IFS=';' read -ra vs <<< "${EASEL_VARIANTS_X:-1 1 0;1 0 0}"
    for v in "${vs[@]}"; do
      set -- $v
      cl="--channels-last $2"
      log "easel $fam batch 1 graphs $1 cl $2 cudnn-benchmark $3 fused kernels ${4:-1}"
      EASEL_FUSED_KERNELS=${4:-1} build-cuda/easel_bench --model $model --device cuda --dtype fp16 -W $W -H $W --steps $S \
        --batch 1 --runs $RUNS --cfg 7 --seed 42 --prompt "a photograph of an astronaut" \
        --negative "blurry" --graphs $1 $cl --cudnn-benchmark $3 --json $RES/easel.jsonl 2>&1 |
        tee -a "$OUT/bench.log"
    done
  fi
  if [[ " $STAGES " == *" $fam-compile "* ]]; then
    log "diffusers compile $fam batch 1"
    python3 bench/compare.py diffusers $fam $model compile 1 $RUNS $RES/diffusers_compile.jsonl \
      2>&1 | grep -v Warning | tail -4 | tee -a "$OUT/bench.log"
  fi
done

if [[ " $STAGES " == *" vae "* ]]; then
  log "VAE decode 2048x2048 fp16 (untiled: chunked mid attention; tiled: device-resident)"
  timeout 150 build-cuda/easel_bench --decode --device cuda --dtype fp16 -W 2048 -H 2048 --runs 1 2>&1 |
    tee -a "$OUT/bench.log"
fi

python3 bench/compare.py table $RES 2>&1 | tee "$OUT/table.txt"
cp "$(ls -t bench/results/*.json | head -1)" "$OUT/" 2>/dev/null
cat $RES/*.jsonl > "$OUT/records.jsonl" 2>/dev/null
if [[ " $STAGES " == *" tests "* ]]; then
  log "full build + engine test suite"
  # The same build folder without EASEL_ONLY: the engine objects are reused.
  cmake -S . -B build-cuda -G Ninja -DCMAKE_BUILD_TYPE=Release -DEASEL_ONLY="${TEST_ONLY:-}" \
    -DEASEL_BUILD_TESTS=ON -DCMAKE_PREFIX_PATH="$TORCH;/tmp/deps/usr" > "$OUT/cmake_full.log" 2>&1 &&
    timeout ${BUILD_TIMEOUT:-900} ninja -C build-cuda -j16 easel_tests $([[ -z ${TEST_ONLY:-} ]] && echo easel) > "$OUT/build_full.log" 2>&1 ||
    { grep -E "error" -A3 "$OUT/build_full.log" | head -30; }
  mkdir -p build-cuda/share/easel && cp .dev/bpe_simple_vocab_16e6.txt.gz build-cuda/share/easel/
  timeout ${TEST_TIMEOUT:-900} build-cuda/easel_tests --gtest_brief=1 \
    --gtest_filter="${TEST_FILTER:-*}" > "$OUT/tests.log" 2>&1
  log "tests rc $? $(tail -1 "$OUT/tests.log")"
  grep -E "FAILED|Failure" -A4 "$OUT/tests.log" | head -40
fi

log "done"
