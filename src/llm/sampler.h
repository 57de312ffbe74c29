// Choosing the next token from logits: repetition penalty, an optional allowed set
// (constrained decoding), temperature, top-k, top-p, min-p, and a seeded draw.
//
// Order, as llama.cpp's default chain: penalty -> allowed set -> top-k -> temperature
// softmax -> top-p -> min-p -> draw. temperature <= 0 (or top_k == 1) is greedy: the
// highest logit, lowest id on ties, no random draw.
//
// Thread-safety: a Sampler owns its random generator; one per decoding stream.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

namespace easel::llm {

struct SamplingParams {
  float temperature = 0.8f;
  int top_k = 40;               // <= 0: off
  float top_p = 0.95f;          // >= 1: off
  float min_p = 0.05f;          // <= 0: off; keeps tokens with p >= min_p * p_max
  float repeat_penalty = 1.0f;  // 1: off; > 1 discourages tokens seen in the last repeat_last_n
  int repeat_last_n = 64;
  uint64_t seed = 0;
};

class Sampler {
 public:
  explicit Sampler(SamplingParams params);

  // logits: one per vocabulary entry. history: the tokens so far (prompt and output), for
  // the penalty. allowed: if non-null, only these ids may be chosen (must be non-empty).
  // Returns -1 only when `allowed` is empty or logits are.
  int32_t Sample(const std::vector<float>& logits, const std::vector<int32_t>& history,
                 const std::vector<int32_t>* allowed = nullptr);

  const SamplingParams& params() const { return params_; }

 private:
  SamplingParams params_;
  std::mt19937_64 rng_;
};

}  // namespace easel::llm
