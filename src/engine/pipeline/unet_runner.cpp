// UNetRunner: see unet_runner.h. The CUDA part is compiled only when EASEL_WITH_CUDA is
// defined (CMake sets it when the LibTorch found has CUDA).
#include "engine/pipeline/unet_runner.h"

#include <torch/torch.h>

#include <algorithm>
#include <list>
#include <vector>

#include "engine/nets/unet.h"

#ifdef EASEL_WITH_CUDA
#include <ATen/cuda/CUDAEvent.h>
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace easel::engine {

bool CudaGraphsAvailable() {
#ifdef EASEL_WITH_CUDA
  return true;
#else
  return false;
#endif
}

#ifdef EASEL_WITH_CUDA

namespace {

// What a captured graph depends on: every input's shape and dtype, and the device.
struct ShapeKey {
  std::vector<std::vector<int64_t>> sizes;
  torch::ScalarType dtype = torch::kFloat32;
  c10::DeviceIndex device = 0;
  bool operator==(const ShapeKey& o) const {
    return sizes == o.sizes && dtype == o.dtype && device == o.device;
  }
};

ShapeKey KeyOf(const torch::Tensor& x, const torch::Tensor& t, const torch::Tensor& c,
               const torch::Tensor& y) {
  ShapeKey k;
  for (const torch::Tensor* p : {&x, &t, &c, &y})
    k.sizes.push_back(p->defined() ? p->sizes().vec() : std::vector<int64_t>{-1});
  k.dtype = x.scalar_type();
  k.device = x.device().index();
  return k;
}

// One captured forward: static inputs the replay reads, the output it writes.
struct Captured {
  ShapeKey key;
  at::cuda::CUDAGraph graph;
  torch::Tensor x, t, context, y, out;
};

}  // namespace

struct UNetRunner::Graphs {
  std::list<std::unique_ptr<Captured>> lru;  // most recently used first
  c10::MempoolId_t pool = at::cuda::graph_pool_handle();
};

#else

struct UNetRunner::Graphs {};

#endif

UNetRunner::UNetRunner(UNetImpl& unet, bool use_graphs, size_t max_graphs)
    : unet_(unet),
      use_graphs_(use_graphs && CudaGraphsAvailable()),
      max_graphs_(std::max<size_t>(1, max_graphs)) {}

UNetRunner::~UNetRunner() = default;

void UNetRunner::Clear() {
  graphs_.reset();
}

torch::Tensor UNetRunner::operator()(const torch::Tensor& x, const torch::Tensor& timesteps,
                                     const torch::Tensor& context, const torch::Tensor& y) {
  if (!use_graphs_ || !x.is_cuda()) return unet_.forward(x, timesteps, context, y);
#ifdef EASEL_WITH_CUDA
  if (!graphs_) graphs_ = std::make_unique<Graphs>();
  const ShapeKey key = KeyOf(x, timesteps, context, y);
  auto& lru = graphs_->lru;
  auto it = std::find_if(lru.begin(), lru.end(), [&](const auto& g) { return g->key == key; });
  if (it != lru.end()) {
    lru.splice(lru.begin(), lru, it);  // now the most recently used
  } else {
    if (lru.size() >= max_graphs_) lru.pop_back();
    auto g = std::make_unique<Captured>();
    g->key = key;
    g->x = x.clone();
    g->t = timesteps.clone();
    g->context = context.clone();
    if (y.defined()) g->y = y.clone();
    // Capture on a side stream (the current one may be the legacy default stream, which
    // cannot capture), ordered after and before the current stream's work.
    const c10::cuda::CUDAStream current = c10::cuda::getCurrentCUDAStream(x.device().index());
    const c10::cuda::CUDAStream side = c10::cuda::getStreamFromPool(false, x.device().index());
    at::cuda::CUDAEvent ready;
    ready.record(current);
    ready.block(side);
    {
      c10::cuda::CUDAStreamGuard guard(side);
      unet_.forward(g->x, g->t, g->context, g->y);  // warm-up: library handles, workspaces
      g->graph.capture_begin(graphs_->pool);
      g->out = unet_.forward(g->x, g->t, g->context, g->y);
      g->graph.capture_end();
    }
    at::cuda::CUDAEvent done;
    done.record(side);
    done.block(current);
    ++captures_;
    lru.push_front(std::move(g));
  }
  Captured& g = *lru.front();
  g.x.copy_(x);
  g.t.copy_(timesteps);
  g.context.copy_(context);
  if (y.defined()) g.y.copy_(y);
  g.graph.replay();
  return g.out.clone();
#else
  return unet_.forward(x, timesteps, context, y);
#endif
}

}  // namespace easel::engine
