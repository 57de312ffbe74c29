// GraphCache: on the CPU it is exactly the function; on a CUDA device of a CUDA build, replays
// match eager calls, capture once per input signature and tag, and a CLIP text encoder's
// chunk encoding (emphasis, pooled output) replays equal to its eager run.
#include "engine/pipeline/graph_cache.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "engine/nets/clip_conditioner.h"
#include "engine/nets/clip_text.h"
#include "engine/nets/layers.h"
#include "engine/pipeline/unet_runner.h"

namespace easel::engine {
namespace {

std::vector<torch::Tensor> Affine(const std::vector<torch::Tensor>& in) {
  return {in[0] * 2 + in[1], in[0].sum(1)};
}

TEST(GraphCache, CpuIsTheFunction) {
  GraphCache cache;
  const torch::Tensor a = torch::randn({3, 4}), b = torch::randn({3, 4});
  const auto out = cache.Run({a, b}, Affine);
  EXPECT_TRUE(torch::equal(out[0], a * 2 + b));
  EXPECT_TRUE(torch::equal(out[1], a.sum(1)));
  EXPECT_EQ(cache.captures(), 0u);
}

TEST(GraphCache, CudaReplayMatchesEagerAndCapturesPerSignature) {
  if (!torch::cuda::is_available() || !CudaGraphsAvailable())
    GTEST_SKIP() << "needs a CUDA device and a CUDA build";
  torch::NoGradGuard no_grad;
  GraphCache cache;
  for (int i = 0; i < 3; ++i) {  // fresh inputs each time: the replay must read them
    const torch::Tensor a = torch::randn({3, 4}).cuda(), b = torch::randn({3, 4}).cuda();
    const auto out = cache.Run({a, b}, Affine);
    // Same kernels as eager: equal to the last bit.
    EXPECT_TRUE(torch::equal(out[0], a * 2 + b)) << "call " << i;
    EXPECT_TRUE(torch::equal(out[1], a.sum(1))) << "call " << i;
  }
  EXPECT_EQ(cache.captures(), 1u);
  cache.Run({torch::randn({5, 4}).cuda(), torch::randn({5, 4}).cuda()}, Affine);
  EXPECT_EQ(cache.captures(), 2u);  // new shapes
  cache.Run({torch::randn({5, 4}).cuda(), torch::randn({5, 4}).cuda()}, Affine, /*tag=*/1);
  EXPECT_EQ(cache.captures(), 3u);  // same shapes, another tag
  cache.set_enabled(false);
  cache.Run({torch::randn({5, 4}).cuda(), torch::randn({5, 4}).cuda()}, Affine, 2);
  EXPECT_EQ(cache.captures(), 3u);
}

TEST(GraphCache, CudaClipEncodingReplaysEqualToEager) {
  if (!torch::cuda::is_available() || !CudaGraphsAvailable())
    GTEST_SKIP() << "needs a CUDA device and a CUDA build";
  torch::NoGradGuard no_grad;
  torch::manual_seed(4);
  ClipTextConfig c;
  c.vocab_size = 1000;
  c.hidden = 64;
  c.layers = 3;
  c.intermediate = 128;
  c.heads = 4;
  c.projection_dim = 32;
  ClipTextModel model(c);
  layers::InitLikeTorch(*model);
  model->eval();
  model->to(torch::kCUDA, torch::kFloat16);
  ClipTextModelImpl::RunOptions options;
  options.clip_skip = 2;
  options.final_norm = false;
  options.pooled = true;
  GraphCache cache;
  auto fn = [&](const std::vector<torch::Tensor>& in) {
    ChunkEncoding enc = EncodeChunks(*model, in[1], in[2], in[0], options);
    return std::vector<torch::Tensor>{enc.context, enc.pooled};
  };
  for (int i = 0; i < 2; ++i) {
    const torch::Tensor ids = torch::randint(0, 999, {2, 77}, torch::kInt64).cuda();
    const torch::Tensor weights = (1.0 + 0.2 * torch::rand({2, 77})).cuda();
    const torch::Tensor embeds = model->TokenEmbeddings(ids);
    const auto replay = cache.Run({embeds, ids, weights}, fn);
    const auto eager = fn({embeds, ids, weights});
    EXPECT_TRUE(torch::equal(replay[0], eager[0])) << "context, call " << i;
    EXPECT_TRUE(torch::equal(replay[1], eager[1])) << "pooled, call " << i;
  }
  EXPECT_EQ(cache.captures(), 1u);
}

}  // namespace
}  // namespace easel::engine
