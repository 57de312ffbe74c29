// UNetRunner: see unet_runner.h. The captures are GraphCache's (graph_cache.h).
#include "engine/pipeline/unet_runner.h"

#include <torch/torch.h>

#include <vector>

#include "engine/nets/unet.h"

namespace easel::engine {

bool CudaGraphsAvailable() {
#ifdef EASEL_WITH_CUDA
  return true;
#else
  return false;
#endif
}

UNetRunner::UNetRunner(UNetImpl& unet, bool use_graphs, size_t max_graphs)
    : unet_(unet), use_graphs_(use_graphs && CudaGraphsAvailable()), graphs_(max_graphs) {}

UNetRunner::~UNetRunner() = default;

void UNetRunner::Clear() {
  graphs_.Clear();
}

torch::Tensor UNetRunner::operator()(const torch::Tensor& x, const torch::Tensor& timesteps,
                                     const torch::Tensor& context, const torch::Tensor& y) {
  if (!use_graphs_ || !x.is_cuda()) return unet_.forward(x, timesteps, context, y);
  return graphs_.Run({x, timesteps, context, y}, [this](const std::vector<torch::Tensor>& in) {
    return std::vector<torch::Tensor>{unet_.forward(in[0], in[1], in[2], in[3])};
  })[0];
}

}  // namespace easel::engine
