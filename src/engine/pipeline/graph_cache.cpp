// GraphCache: see graph_cache.h. The CUDA part is compiled only with EASEL_WITH_CUDA.
#include "engine/pipeline/graph_cache.h"

#include <torch/torch.h>

#include <algorithm>
#include <list>

#ifdef EASEL_WITH_CUDA
#include <ATen/cuda/CUDAEvent.h>
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace easel::engine {

#ifdef EASEL_WITH_CUDA
namespace {

struct Signature {
  std::vector<std::vector<int64_t>> sizes;
  std::vector<int> dtypes;
  c10::DeviceIndex device = 0;
  int64_t tag = 0;
  bool operator==(const Signature& o) const {
    return sizes == o.sizes && dtypes == o.dtypes && device == o.device && tag == o.tag;
  }
};

Signature SignatureOf(const std::vector<torch::Tensor>& inputs, int64_t tag) {
  Signature s;
  for (const torch::Tensor& t : inputs) {
    s.sizes.push_back(t.defined() ? t.sizes().vec() : std::vector<int64_t>{-1});
    s.dtypes.push_back(t.defined() ? static_cast<int>(t.scalar_type()) : -1);
  }
  s.device = inputs.front().device().index();
  s.tag = tag;
  return s;
}

struct Captured {
  Signature signature;
  at::cuda::CUDAGraph graph;
  std::vector<torch::Tensor> inputs, outputs;
};

}  // namespace

struct GraphCache::Graphs {
  std::list<std::unique_ptr<Captured>> lru;  // most recently used first
  c10::MempoolId_t pool = at::cuda::graph_pool_handle();
};
#else
struct GraphCache::Graphs {};
#endif

GraphCache::GraphCache(size_t max_graphs) : max_graphs_(std::max<size_t>(1, max_graphs)) {}
GraphCache::~GraphCache() = default;

void GraphCache::Clear() {
  graphs_.reset();
}

std::vector<torch::Tensor> GraphCache::Run(const std::vector<torch::Tensor>& inputs, const Fn& fn,
                                           int64_t tag) {
#ifdef EASEL_WITH_CUDA
  if (!enabled_ || inputs.empty() || !inputs.front().defined() || !inputs.front().is_cuda())
    return fn(inputs);
  if (!graphs_) graphs_ = std::make_unique<Graphs>();
  const Signature signature = SignatureOf(inputs, tag);
  auto& lru = graphs_->lru;
  auto it = std::find_if(lru.begin(), lru.end(),
                         [&](const auto& g) { return g->signature == signature; });
  if (it != lru.end()) {
    lru.splice(lru.begin(), lru, it);
  } else {
    if (lru.size() >= max_graphs_) lru.pop_back();
    auto g = std::make_unique<Captured>();
    g->signature = signature;
    for (const torch::Tensor& t : inputs) g->inputs.push_back(t.defined() ? t.clone() : t);
    const c10::DeviceIndex device = inputs.front().device().index();
    const c10::cuda::CUDAStream current = c10::cuda::getCurrentCUDAStream(device);
    const c10::cuda::CUDAStream side = c10::cuda::getStreamFromPool(false, device);
    at::cuda::CUDAEvent ready;
    ready.record(current);
    ready.block(side);
    {
      c10::cuda::CUDAStreamGuard guard(side);
      fn(g->inputs);  // warm-up: errors surface before the capture; handles and workspaces
      g->graph.capture_begin(graphs_->pool);
      g->outputs = fn(g->inputs);
      g->graph.capture_end();
    }
    at::cuda::CUDAEvent done;
    done.record(side);
    done.block(current);
    ++captures_;
    lru.push_front(std::move(g));
  }
  Captured& g = *lru.front();
  for (size_t i = 0; i < inputs.size(); ++i)
    if (inputs[i].defined()) g.inputs[i].copy_(inputs[i]);
  g.graph.replay();
  std::vector<torch::Tensor> out;
  for (const torch::Tensor& t : g.outputs) out.push_back(t.defined() ? t.clone() : t);
  return out;
#else
  (void)tag;
  return fn(inputs);
#endif
}

}  // namespace easel::engine
