// UNetRunner: on the CPU (and with graphs off) it is exactly the UNet's forward; on a CUDA
// device of a CUDA build, graph replays match eager forwards and capture once per shape.
#include "engine/pipeline/unet_runner.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "engine/nets/layers.h"
#include "engine/nets/unet.h"
#include "ldm_test_shapes.h"

namespace easel::engine {
namespace {

UNet TinyUnet() {
  testing::LdmUnetSpec s;
  s.model_channels = 32;
  s.context = 16;
  UNet unet(UNetConfig::FromWeights(testing::LdmUnetShapes(s), HeadRule::Heads(8)));
  layers::InitLikeTorch(*unet);
  unet->eval();
  return unet;
}

TEST(UNetRunner, CpuIsTheEagerForwardBitForBit) {
  torch::manual_seed(3);
  torch::NoGradGuard no_grad;
  UNet unet = TinyUnet();
  UNetRunner runner(*unet, /*use_graphs=*/true);
  const torch::Tensor x = torch::randn({2, 4, 16, 16});
  const torch::Tensor t = torch::tensor({10.0f, 500.0f});
  const torch::Tensor ctx = torch::randn({2, 77, 16});
  // Exact equality: the same ops in the same order (no graph on the CPU).
  EXPECT_TRUE(torch::equal(runner(x, t, ctx, {}), unet->forward(x, t, ctx, {})));
  EXPECT_EQ(runner.captures(), 0u);
}

TEST(UNetRunner, CudaGraphReplayMatchesEager) {
  if (!torch::cuda::is_available() || !CudaGraphsAvailable())
    GTEST_SKIP() << "needs a CUDA device and a CUDA build";
  torch::manual_seed(3);
  torch::NoGradGuard no_grad;
  UNet unet = TinyUnet();
  unet->to(torch::kCUDA);
  UNetRunner runner(*unet, /*use_graphs=*/true);
  for (int i = 0; i < 3; ++i) {  // fresh inputs each time: the replay must read them
    const torch::Tensor x = torch::randn({2, 4, 16, 16}).cuda();
    const torch::Tensor t = torch::tensor({10.0f + i, 500.0f}).cuda();
    const torch::Tensor ctx = torch::randn({2, 77, 16}).cuda();
    const torch::Tensor eager = unet->forward(x, t, ctx, {});
    // float32 kernels, same algorithms: only reduction order may differ (1e-5 relative).
    EXPECT_TRUE(torch::allclose(runner(x, t, ctx, {}), eager, 1e-4, 1e-5)) << "call " << i;
  }
  EXPECT_EQ(runner.captures(), 1u);
  runner(torch::randn({4, 4, 8, 8}).cuda(), torch::tensor({1.0f, 2.0f, 3.0f, 4.0f}).cuda(),
         torch::randn({4, 77, 16}).cuda(), {});
  EXPECT_EQ(runner.captures(), 2u);  // a new shape, a new graph
}

}  // namespace
}  // namespace easel::engine
