// A1111 "Original" emphasis and chunk concatenation (engine/nets/clip_conditioner.h).
#include "engine/nets/clip_conditioner.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "engine/nets/layers.h"

namespace easel::engine {
namespace {

TEST(ClipEmphasis, HandComputedExample) {
  // z = [[1, 2], [3, 4]], weights [1, 2]: z*w = [[1, 2], [6, 8]] (mean 4.25); the original
  // mean 2.5 is restored: z*w * 2.5 / 4.25.
  torch::Tensor z = torch::tensor({1.0f, 2.0f, 3.0f, 4.0f}).view({1, 2, 2});
  torch::Tensor w = torch::tensor({1.0f, 2.0f}).view({1, 2});
  torch::Tensor want = torch::tensor({1.0f, 2.0f, 6.0f, 8.0f}).view({1, 2, 2}) * (2.5f / 4.25f);
  EXPECT_TRUE(torch::allclose(ApplyEmphasis(z, w), want));
}

TEST(ClipEmphasis, UnitWeightsAreIdentityAndMeansArePerChunk) {
  torch::manual_seed(0);
  torch::Tensor z = torch::randn({2, 77, 8}) + 0.5;
  EXPECT_TRUE(torch::allclose(ApplyEmphasis(z, torch::ones({2, 77})), z));
  torch::Tensor w = torch::ones({2, 77});
  w[1].slice(0, 3, 9).fill_(1.3);
  torch::Tensor out = ApplyEmphasis(z, w);
  EXPECT_TRUE(torch::allclose(out[0], z[0]));  // chunk 0 unweighted: untouched
  EXPECT_NEAR(out[1].mean().item<float>(), z[1].mean().item<float>(), 1e-5);
  EXPECT_FALSE(torch::allclose(out[1], z[1]));
  EXPECT_THROW(ApplyEmphasis(z, torch::ones({2, 76})), Error);
}

ClipTextConfig Tiny() {
  ClipTextConfig c;
  c.vocab_size = 60;
  c.hidden = 8;
  c.layers = 2;
  c.intermediate = 16;
  c.heads = 2;
  return c;
}

text::TokenChunk Chunk(int first, float weight) {
  text::TokenChunk c;
  for (int i = 0; i < text::kChunkLength; ++i) {
    c.ids[i] = (first + i) % 60;
    c.weights[i] = (i > 0 && i < 5) ? weight : 1.0f;
  }
  return c;
}

TEST(ClipConditioner, ChunksAreEncodedSeparatelyAndConcatenated) {
  torch::manual_seed(1);
  ClipTextModel clip(Tiny());
  layers::InitLikeTorch(*clip);
  torch::NoGradGuard no_grad;
  std::vector<text::TokenChunk> chunks = {Chunk(0, 1.0f), Chunk(7, 1.2f)};
  torch::Tensor out = EncodeChunks(*clip, chunks, /*clip_skip=*/1);
  ASSERT_EQ(out.sizes(), (std::vector<int64_t>{1, 154, 8}));

  auto ids_of = [](const text::TokenChunk& c) {
    torch::Tensor t = torch::empty({1, 77}, torch::kInt64);
    for (int i = 0; i < 77; ++i) t[0][i] = c.ids[i];
    return t;
  };
  torch::Tensor first = clip->Forward(ids_of(chunks[0]));
  torch::Tensor second = clip->Forward(ids_of(chunks[1]));
  torch::Tensor w2 = torch::ones({1, 77});
  w2[0].slice(0, 1, 5).fill_(1.2f);
  EXPECT_TRUE(torch::allclose(out.slice(1, 0, 77), first, 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(out.slice(1, 77, 154), ApplyEmphasis(second, w2), 1e-5, 1e-6));

  torch::Tensor skip2 = EncodeChunks(*clip, {chunks[0]}, 2);
  EXPECT_TRUE(torch::allclose(skip2, clip->Forward(ids_of(chunks[0]), 2), 1e-5, 1e-6));
  EXPECT_THROW(EncodeChunks(*clip, std::vector<text::TokenChunk>{}, 1), Error);
}

}  // namespace
}  // namespace easel::engine
