#!/usr/bin/env bash
# One call on the GPU machine: build Easel against its CUDA LibTorch, run the whole test suite
# there (CPU tests against libtorch 2.x), check CUDA generations against the CPU one, and time
# SD1.5-shaped models. Needs .dev/ carried (tools/bench/prepare_device_carry.sh fills it): Debian .debs of the header-only/small deps
# (nlohmann-json, CLI11, GoogleTest, libpng) and the CLIP vocabulary. Writes logs to $OUT.
set -uo pipefail
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT" /tmp/deps
for f in .dev/debs/*.deb; do [[ -f $f ]] && dpkg -x "$f" /tmp/deps; done
[[ -f .dev/deps.tar.xz ]] && tar -C /tmp/deps -xJf .dev/deps.tar.xz
export LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}
# cpp-httplib is found through pkg-config: the unpacked pkgconf and .pc files, rebased.
export PATH=/tmp/deps/usr/bin:$PATH PKG_CONFIG_SYSROOT_DIR=/tmp/deps \
  PKG_CONFIG_LIBDIR=/tmp/deps/usr/lib/x86_64-linux-gnu/pkgconfig:/tmp/deps/usr/share/pkgconfig
TORCH=$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)')
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/gpu.txt"
python3 -c 'import torch;print("torch", torch.__version__, "cuda", torch.version.cuda)' | tee -a "$OUT/gpu.txt"

cmake -S . -B build-cuda -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$TORCH;/tmp/deps/usr" > "$OUT/cmake.log" 2>&1 || { tail -40 "$OUT/cmake.log"; exit 1; }
ninja -C build-cuda > "$OUT/build.log" 2>&1 || { grep -E "error" -A3 "$OUT/build.log" | head -60; exit 1; }
echo "build ok"
mkdir -p build-cuda/share/easel && cp .dev/bpe_simple_vocab_16e6.txt.gz build-cuda/share/easel/

build-cuda/easel_tests --gtest_brief=1 > "$OUT/tests.log" 2>&1; echo "tests rc $?"; tail -1 "$OUT/tests.log"
grep -E "FAILED|Failure" -A4 "$OUT/tests.log" | head -40

# The same generation on CPU fp32, CUDA fp32 and CUDA fp16, compared pixel by pixel.
for d in "cpu fp32" "cuda fp32" "cuda fp16" "cuda bf16"; do
  set -- $d
  build-cuda/easel generate -q --model tests/fixtures/sd1 -p "a red fox in the snow" -n blurry \
    --steps 8 --sampler "DPM++ 2M" --scheduler karras --seed 42 -W 256 -H 256 \
    --device $1 --dtype $2 -o "$OUT/fox_$1_$2.png" > /dev/null || echo "generate $1 $2 failed"
done
python3 - "$OUT" <<'PY'
import sys, numpy as np
from PIL import Image
out = sys.argv[1]
ref = np.asarray(Image.open(f"{out}/fox_cpu_fp32.png")).astype(int)
for n in ["cuda_fp32", "cuda_fp16", "cuda_bf16"]:
    try:
        a = np.asarray(Image.open(f"{out}/fox_{n}.png")).astype(int)
        d = np.abs(a - ref)
        print(f"{n} vs cpu_fp32: max |diff| {d.max()} / 255, mean {d.mean():.3f}, "
              f"pixels differing {np.mean(d.max(-1) > 0) * 100:.1f}%")
    except Exception as e:
        print(n, "missing:", e)
PY

for fam in sd15 sd2; do
  build-cuda/easel_bench --family $fam --device cuda --dtype fp16 -W 512 -H 512 --steps 20 \
    --runs 10 --warmup 3 2>&1 | tee "$OUT/bench_$fam.txt"
done
for b in 1 2; do
  build-cuda/easel_bench --family sdxl --device cuda --dtype fp16 -W 1024 -H 1024 --steps 30 \
    --batch $b --runs 10 --warmup 3 2>&1 | tee "$OUT/bench_sdxl_b$b.txt"
done
build-cuda/easel_bench --decode --device cuda --dtype fp16 -W 2048 -H 2048 --runs 3 2>&1 |
  tee "$OUT/bench_decode_2048.txt"
build-cuda/easel_bench --family sd15 --device cuda --dtype bf16 -W 512 -H 512 --steps 20 \
  --runs 10 --warmup 3 2>&1 | tee "$OUT/bench_sd15_bf16.txt"
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,temperature.gpu --format=csv,noheader
