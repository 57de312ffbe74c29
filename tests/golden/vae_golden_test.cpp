// The VAE against diffusers' AutoencoderKL on the tiny fixture VAEs: posterior mean of a
// 64x64 image and the raw decode of that mean, with weights from the diffusers folder
// (through VaeDiffusersToLdm), from the single file (first_stage_model.*) and from a
// stand-alone VAE file without prefix (vae_other.safetensors).
//
// Tolerance: max |ours - reference| <= 1e-4 * max(1, max |reference|). float32 on both sides
// from the same fp16-rounded weights; only op order differs (mid attention: SDPA vs explicit
// softmax; conv blocking), a few ulps per op over ~30 layers. Measured: <= 2.2e-6 relative
// (8.6e-6 abs at scale 6.9) with libtorch 1.13 and 2.x. Any real bug (padding side of the
// downsample, norm eps, up-block order) moves outputs by >1e-2.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "engine/nets/ldm_convert.h"
#include "engine/nets/vae.h"
#include "nets_golden_util.h"

namespace easel::engine {
namespace {

using testing::Compare;
using testing::LoadFixture;
using testing::LoadJson;

constexpr double kRelTolerance = 1e-4;

struct VaeOutputs {
  torch::Tensor mean, decoded;
};

VaeOutputs RunVae(const StateDict& ldm, const StateDict& golden, const std::string& what) {
  Vae vae(VaeConfig::FromWeights(ldm));
  const Status st = LoadVaeWeights(*vae, ldm, what);
  EXPECT_TRUE(st.ok()) << st.ToString();
  vae->eval();
  torch::NoGradGuard no_grad;
  // Decode the reference mean (not ours) so the two checks are independent.
  return {vae->Encode(golden.at("image")), vae->Decode(golden.at("latent_mean"))};
}

void Check(const std::string& golden_name, const std::string& what, const VaeOutputs& got) {
  const StateDict golden = LoadFixture("golden/" + golden_name + "_vae.safetensors");
  for (const auto& [name, out, ref] :
       {std::tuple{"latent_mean", got.mean, golden.at("latent_mean")},
        std::tuple{"decoded", got.decoded, golden.at("decoded")}}) {
    ASSERT_EQ(out.sizes(), ref.sizes()) << what << " " << name;
    const auto e = Compare(out, ref);
    std::printf("[ vae golden ] %s %s: max abs error %.3g, reference max %.3g\n", what.c_str(),
                name, e.max_abs, e.ref_scale);
    EXPECT_LE(e.max_abs, kRelTolerance * std::max(1.0, e.ref_scale)) << what << " " << name;
  }
}

void CheckModel(const std::string& model) {
  const StateDict golden = LoadFixture("golden/" + model + "_vae.safetensors");
  const StateDict folder =
      VaeDiffusersToLdm(LoadFixture(model + "/vae/diffusion_pytorch_model.safetensors"),
                        LoadJson(model + "/vae/config.json"));
  const VaeOutputs from_folder = RunVae(folder, golden, model + " folder VAE");
  Check(model, model + " folder", from_folder);
  const StateDict single = LoadFixture(model + ".safetensors", "first_stage_model.");
  const VaeOutputs from_file = RunVae(single, golden, model + ".safetensors");
  Check(model, model + " single file", from_file);
  EXPECT_TRUE(torch::equal(from_folder.mean, from_file.mean));
  EXPECT_TRUE(torch::equal(from_folder.decoded, from_file.decoded));
}

TEST(VaeGolden, Sd1MatchesDiffusers) {
  CheckModel("sd1");
}

TEST(VaeGolden, Sd2vMatchesDiffusers) {
  CheckModel("sd2v");
}

TEST(VaeGolden, StandaloneVaeFile) {
  const StateDict golden = LoadFixture("golden/vae_other_vae.safetensors");
  const StateDict ldm = LoadFixture("vae_other.safetensors");
  Check("vae_other", "vae_other.safetensors", RunVae(ldm, golden, "vae_other.safetensors"));
}

}  // namespace
}  // namespace easel::engine
