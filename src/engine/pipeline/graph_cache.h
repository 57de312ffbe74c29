// GraphCache: runs a function of tensors by replaying a CUDA graph captured once per input
// signature (shapes, dtypes, device, a caller tag), for the small launch-bound forwards that
// run once per image: the text encoders (a CLIP-L forward is ~340 small kernels, ~6 ms of
// host time against ~1 ms of GPU time). The UNet has its own runner (unet_runner.h).
//
// Capture: a warm-up call (errors surface here, before anything is recorded), then the
// recorded call, on a side stream; all graphs of one cache share one memory pool. Replays copy
// the inputs into the captured ones and clone the outputs. Weights are read where they live
// (in-place LoRA patches are seen; replaced parameter tensors are not: Clear()).
//
// Without CUDA (CPU builds, CPU tensors, disabled) Run is exactly fn(inputs).
// Not thread-safe; one cache per model, used by one caller at a time.
#pragma once

#include <torch/types.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

namespace easel::engine {

class GraphCache {
 public:
  using Fn = std::function<std::vector<torch::Tensor>(const std::vector<torch::Tensor>&)>;

  explicit GraphCache(size_t max_graphs = 4);
  ~GraphCache();
  GraphCache(const GraphCache&) = delete;
  GraphCache& operator=(const GraphCache&) = delete;

  // fn(inputs), replayed from a graph when enabled, this build has CUDA graphs and the first
  // input is a CUDA tensor. `tag` tells apart calls whose fn differs for the same shapes
  // (options captured by the lambda). fn must not synchronise with the host nor change its
  // outputs' shapes for the same inputs' shapes.
  std::vector<torch::Tensor> Run(const std::vector<torch::Tensor>& inputs, const Fn& fn,
                                 int64_t tag = 0);

  void set_enabled(bool enabled) { enabled_ = enabled; }
  bool enabled() const { return enabled_; }
  void Clear();
  size_t captures() const { return captures_; }

 private:
  struct Graphs;  // CUDA state; empty in CPU builds
  size_t max_graphs_;
  bool enabled_ = true;
  size_t captures_ = 0;
  std::unique_ptr<Graphs> graphs_;
};

}  // namespace easel::engine
