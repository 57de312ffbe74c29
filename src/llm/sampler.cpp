// Token sampling. See sampler.h.
#include "llm/sampler.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <unordered_set>

namespace easel::llm {

Sampler::Sampler(SamplingParams params) : params_(params), rng_(params.seed) {}

int32_t Sampler::Sample(const std::vector<float>& logits, const std::vector<int32_t>& history,
                        const std::vector<int32_t>* allowed) {
  const auto n = static_cast<int32_t>(logits.size());
  struct Cand {
    int32_t id;
    float logit;
  };
  std::vector<Cand> cands;
  if (allowed != nullptr) {
    for (int32_t id : *allowed) {
      if (id >= 0 && id < n) cands.push_back({id, logits[static_cast<size_t>(id)]});
    }
  } else {
    cands.reserve(logits.size());
    for (int32_t id = 0; id < n; ++id) cands.push_back({id, logits[static_cast<size_t>(id)]});
  }
  if (cands.empty()) return -1;
  // Repetition penalty (CTRL paper, as llama.cpp): positive logits divided, negative multiplied.
  if (params_.repeat_penalty != 1.0f && params_.repeat_last_n != 0) {
    const size_t from =
        params_.repeat_last_n < 0 || history.size() < static_cast<size_t>(params_.repeat_last_n)
            ? 0
            : history.size() - static_cast<size_t>(params_.repeat_last_n);
    const std::unordered_set<int32_t> seen(history.begin() + static_cast<std::ptrdiff_t>(from),
                                           history.end());
    for (Cand& c : cands) {
      if (seen.count(c.id) == 0) continue;
      c.logit = c.logit > 0 ? c.logit / params_.repeat_penalty : c.logit * params_.repeat_penalty;
    }
  }
  // Highest logit first, lowest id on ties: greedy takes the front.
  std::sort(cands.begin(), cands.end(), [](const Cand& a, const Cand& b) {
    return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
  });
  if (params_.temperature <= 0.0f || params_.top_k == 1) return cands.front().id;
  if (params_.top_k > 0 && cands.size() > static_cast<size_t>(params_.top_k)) {
    cands.resize(static_cast<size_t>(params_.top_k));
  }
  std::vector<double> p(cands.size());
  const double max = cands.front().logit;
  double sum = 0;
  for (size_t i = 0; i < cands.size(); ++i) {
    p[i] = std::exp((cands[i].logit - max) / params_.temperature);
    sum += p[i];
  }
  for (double& x : p) x /= sum;
  size_t keep = p.size();
  if (params_.top_p < 1.0f) {  // the smallest prefix whose mass reaches top_p
    double mass = 0;
    for (size_t i = 0; i < p.size(); ++i) {
      mass += p[i];
      if (mass >= params_.top_p) {
        keep = i + 1;
        break;
      }
    }
  }
  if (params_.min_p > 0.0f) {
    size_t k = 1;
    while (k < keep && p[k] >= params_.min_p * p[0]) ++k;
    keep = k;
  }
  std::discrete_distribution<size_t> draw(p.begin(), p.begin() + static_cast<std::ptrdiff_t>(keep));
  return cands[draw(rng_)].id;
}

}  // namespace easel::llm
