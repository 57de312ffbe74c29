#!/usr/bin/env bash
# One device call: full CUDA build (bench/run_device.sh's "tests" stage, with the LLM tests),
# then prefill/decode tokens/s of a random-weight SmolLM2-135M-shaped model (real shapes and
# tokenizer; the 98 MB GGUF does not fit the device tool's carry) on CUDA bf16/fp16 and CPU,
# then the whole test suite on the GPU machine. Needs carry [".dev"] with .dev/smolhf (config,
# tokenizer files: see tools/bench/make_random_llm.py).
set -uo pipefail
OUT=${OUT:-/tmp/llm_out}
mkdir -p "$OUT"
TEST_FILTER='Llm*' bash bench/run_device.sh tests
export LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}
python3 tools/bench/make_random_llm.py .dev/smolhf /tmp/smolrand > "$OUT/make_llm.log" 2>&1 ||
  tail -5 "$OUT/make_llm.log"
for args in "--device cuda --dtype bfloat16" "--device cuda --dtype float16" "--device cpu --threads 16"; do
  echo "== easel chat --bench $args" | tee -a "$OUT/llm_bench.txt"
  timeout 120 build-cuda/easel chat --model /tmp/smolrand --bench --context 2048 $args 2>&1 |
    tail -4 | tee -a "$OUT/llm_bench.txt"
done
timeout ${SUITE_TIMEOUT:-240} build-cuda/easel_tests --gtest_brief=1 > "$OUT/suite.log" 2>&1
echo "suite rc $? $(tail -1 "$OUT/suite.log")"
grep -E "FAILED|Failure" -A4 "$OUT/suite.log" | head -30
