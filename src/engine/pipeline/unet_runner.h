// UNetRunner: the UNet forward of a denoising step, run eagerly or, on a CUDA device in a
// CUDA build, by replaying a CUDA graph captured once per input shape.
//
// A UNet step at SD1.5 sizes is ~1,500 small kernel launches: the GPU finishes each faster
// than the host issues the next, so eager steps are launch-bound. A CUDA graph records the
// launches of one forward and replays them with a single call. Capture runs the forward twice
// (a warm-up that lets cuDNN/cuBLAS set up, then the recorded run, which computes nothing),
// about two eager steps; the graph is cached per (x, timesteps, context, y) shape and dtype,
// so a second image of the same size replays at once. All graphs of one runner share one
// memory pool (they never run at the same time, and each result is copied out before the
// next replay), so caching several shapes costs the activations of the largest.
//
// Weights are read where they live at every replay: in-place weight changes (LoRA patching
// with copy_) are seen, replacing a parameter tensor is not (call Clear() after that).
//
// Without CUDA (CPU builds, CPU devices, graphs off) operator() is exactly unet.forward.
// Not thread-safe; one runner per UNet, used by one caller at a time.
#pragma once

#include <torch/types.h>

#include <cstddef>
#include <memory>

#include "engine/pipeline/graph_cache.h"

namespace easel::engine {

class UNetImpl;

// Whether this build can capture CUDA graphs (built against a CUDA LibTorch).
bool CudaGraphsAvailable();

class UNetRunner {
 public:
  // use_graphs: replay captured graphs when the UNet is on a CUDA device (ignored elsewhere).
  // max_graphs: shapes kept; the least recently used is dropped beyond that.
  UNetRunner(UNetImpl& unet, bool use_graphs, size_t max_graphs = 4);
  ~UNetRunner();
  UNetRunner(const UNetRunner&) = delete;
  UNetRunner& operator=(const UNetRunner&) = delete;

  // x: [N, C, h, w], timesteps: [N], context: [N, L, D], y: [N, adm] or undefined, all on the
  // UNet's device in its dtype -> [N, out_channels, h, w] (a tensor of its own, not a view of
  // the graph's buffers).
  torch::Tensor operator()(const torch::Tensor& x, const torch::Tensor& timesteps,
                           const torch::Tensor& context, const torch::Tensor& y);

  // Drops every captured graph and its memory.
  void Clear();
  // Graphs captured so far (for tests and logs).
  size_t captures() const { return graphs_.captures(); }
  bool use_graphs() const { return use_graphs_; }

 private:
  UNetImpl& unet_;
  bool use_graphs_;
  GraphCache graphs_;
};

}  // namespace easel::engine
