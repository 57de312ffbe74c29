// request_json: GenerateRequest <-> JSON with A1111 field names, every wrong type or unknown
// field refused with the field's name; and the latent preview / base64 helpers the worker uses.
#include "engine/pipeline/request_json.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <array>
#include <string>

#include "engine/pipeline/preview.h"

namespace easel::engine {
namespace {

using json = nlohmann::json;

json Minimal() {
  return {{"model", "/models/x.safetensors"}};
}

std::string ErrorOf(const json& j) {
  auto r = RequestFromJson(j);
  EXPECT_FALSE(r.ok()) << j.dump();
  if (r.ok()) return "";
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  return r.status().message();
}

TEST(RequestJson, ReadsA1111FieldNames) {
  json j = {{"prompt", "a fox"},
            {"negative_prompt", "blurry"},
            {"steps", 30},
            {"cfg_scale", 6.5},
            {"sampler_name", "DPM++ 2M"},
            {"scheduler", "karras"},
            {"seed", 1234567890123},
            {"width", 768},
            {"height", 512},
            {"batch_size", 2},
            {"clip_skip", 2},
            {"model", "/m/a.safetensors"},
            {"vae", "/m/vae.safetensors"},
            {"device", "cpu"},
            {"dtype", "bf16"},
            {"prediction", "v"},
            {"text_heads", 2}};
  auto r = RequestFromJson(j);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->prompt, "a fox");
  EXPECT_EQ(r->negative_prompt, "blurry");
  EXPECT_EQ(r->steps, 30);
  EXPECT_EQ(r->cfg_scale, 6.5);
  EXPECT_EQ(r->sampler, "DPM++ 2M");
  EXPECT_EQ(r->scheduler, "karras");
  EXPECT_EQ(r->seed, 1234567890123);
  EXPECT_EQ(r->width, 768);
  EXPECT_EQ(r->height, 512);
  EXPECT_EQ(r->batch, 2);
  EXPECT_EQ(r->clip_skip, 2);
  EXPECT_EQ(r->model_path, "/m/a.safetensors");
  EXPECT_EQ(r->vae_path, "/m/vae.safetensors");
  EXPECT_EQ(r->dtype, "bf16");
  EXPECT_EQ(r->prediction, "v");
  EXPECT_EQ(r->text_heads, 2);
  // And back: every field given, the same names and values (plus the defaults of the rest).
  json back = RequestToJson(*r);
  for (const auto& [key, value] : j.items()) EXPECT_EQ(back[key], value) << key;
}

TEST(RequestJson, MissingFieldsAndNullsKeepTheDefaults) {
  json j = Minimal();
  j["negative_prompt"] = nullptr;
  auto r = RequestFromJson(j);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  GenerateRequest d;
  EXPECT_EQ(r->steps, d.steps);
  EXPECT_EQ(r->cfg_scale, d.cfg_scale);
  EXPECT_EQ(r->seed, -1);
  EXPECT_EQ(r->negative_prompt, "");
  auto again = RequestFromJson(RequestToJson(*r));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(RequestToJson(*again), RequestToJson(*r));
}

TEST(RequestJson, WholeFloatsAreIntegersButFractionsAreNot) {
  json j = Minimal();
  j["steps"] = 20.0;
  auto r = RequestFromJson(j);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->steps, 20);
  j["steps"] = 20.5;
  EXPECT_EQ(ErrorOf(j), "'steps' must be an integer, got number 20.5");
}

TEST(RequestJson, WrongTypesNameTheFieldAndTheExpectedType) {
  struct Case {
    const char* field;
    json value;
    const char* message;
  };
  const Case cases[] = {
      {"steps", "20", "'steps' must be an integer, got string"},
      {"steps", true, "'steps' must be an integer, got boolean"},
      {"cfg_scale", "7", "'cfg_scale' must be a number, got string"},
      {"prompt", 5, "'prompt' must be a string, got integer 5"},
      {"prompt", json::array({"a"}), "'prompt' must be a string, got array"},
      {"seed", json::object(), "'seed' must be an integer, got object"},
      {"width", 1e12, "'width' is 1000000000000, outside -2147483648..2147483647"},
      {"seed", 18446744073709551615ull, "'seed' is 18446744073709551615, over 9223372036854775807"},
  };
  for (const Case& c : cases) {
    json j = Minimal();
    j[c.field] = c.value;
    EXPECT_EQ(ErrorOf(j), c.message) << c.field;
  }
}

TEST(RequestJson, UnknownFieldsAndNonObjectsAreRefused) {
  json j = Minimal();
  j["cfg"] = 7;
  const std::string m = ErrorOf(j);
  EXPECT_NE(m.find("unknown field 'cfg'"), std::string::npos) << m;
  EXPECT_NE(m.find("cfg_scale"), std::string::npos) << "should list the known fields: " << m;
  EXPECT_EQ(ErrorOf(json::array()), "a request must be a JSON object, got array");
  EXPECT_EQ(ErrorOf("x"), "a request must be a JSON object, got string");
}

TEST(RequestJson, ValidatesLimitsAfterParsing) {
  json j = Minimal();
  j["steps"] = 0;
  EXPECT_NE(ErrorOf(j).find("steps 0 is out of range"), std::string::npos);
  EXPECT_NE(ErrorOf(json::object()).find("no model given"), std::string::npos);
}

TEST(RequestJson, EditHiresRefinerAndLoraFieldsRoundTrip) {
  json j = Minimal();
  j.update({{"init_image", "/in/a.png"},
            {"mask", "/in/m.png"},
            {"denoising_strength", 0.55},
            {"resize_mode", 2},
            {"mask_blur", 8},
            {"inpaint_full_res", 1},
            {"inpaint_full_res_padding", 48},
            {"inpainting_fill", 2},
            {"inpainting_mask_invert", 1},
            {"refiner_checkpoint", "/m/refiner.safetensors"},
            {"refiner_switch_at", 0.7},
            {"vae_tiling", "on"},
            {"embeddings_dir", "/emb"},
            {"loras_dir", "/loras"},
            {"loras", json::array({{{"name", "a"}, {"weight", 0.8}},
                                   {{"name", "b"}, {"weight", 1.0}, {"te_weight", 0.5}}})}});
  auto r = RequestFromJson(j);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->init_image, "/in/a.png");
  EXPECT_EQ(r->mask, "/in/m.png");
  EXPECT_EQ(r->denoising_strength, 0.55);
  EXPECT_EQ(r->resize_mode, 2);
  EXPECT_EQ(r->mask_blur, 8);
  EXPECT_TRUE(r->inpaint_full_res);
  EXPECT_EQ(r->inpaint_full_res_padding, 48);
  EXPECT_EQ(r->inpainting_fill, 2);
  EXPECT_EQ(r->inpainting_mask_invert, 1);
  EXPECT_EQ(r->refiner_checkpoint, "/m/refiner.safetensors");
  EXPECT_EQ(r->refiner_switch_at, 0.7);
  EXPECT_EQ(r->vae_tiling, "on");
  EXPECT_EQ(r->embeddings_dir, "/emb");
  EXPECT_EQ(r->loras_dir, "/loras");
  ASSERT_EQ(r->loras.size(), 2u);
  EXPECT_EQ(r->loras[0].name_or_path, "a");
  EXPECT_EQ(r->loras[0].unet_weight, 0.8);
  EXPECT_EQ(r->loras[0].text_encoder_weight, 0.8);  // te_weight defaults to weight
  EXPECT_EQ(r->loras[1].text_encoder_weight, 0.5);
  json back = RequestToJson(*r);
  EXPECT_EQ(back["inpaint_full_res"], true);
  auto again = RequestFromJson(back);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(RequestToJson(*again), back);

  json hr = Minimal();
  hr.update({{"enable_hr", true},
             {"hr_scale", 1.5},
             {"hr_second_pass_steps", 10},
             {"hr_upscaler", "Latent (nearest-exact)"},
             {"hr_denoising_strength", 0.4},
             {"outpaint", json::array({0, 0, 0, 0})}});
  auto h = RequestFromJson(hr);
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  EXPECT_TRUE(h->enable_hr);
  EXPECT_EQ(h->hr_scale, 1.5);
  EXPECT_EQ(h->hr_second_pass_steps, 10);
  EXPECT_EQ(h->hr_upscaler, "Latent (nearest-exact)");
  EXPECT_EQ(h->hr_denoising_strength, 0.4);
  EXPECT_EQ(RequestToJson(*RequestFromJson(RequestToJson(*h))), RequestToJson(*h));

  json out = Minimal();
  out.update({{"init_image", "/a.png"}, {"outpaint", json::array({8, 16, 0, 64})}});
  auto o = RequestFromJson(out);
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EXPECT_EQ(o->outpaint, (std::array<int, 4>{8, 16, 0, 64}));
}

TEST(RequestJson, EditFieldsAreValidatedWithClearMessages) {
  auto with = [](json extra) {
    json j = Minimal();
    j.update(extra);
    return j;
  };
  const json img = {{"init_image", "/a.png"}};
  EXPECT_NE(ErrorOf(with({{"denoising_strength", 1.5}})).find("denoising strength"),
            std::string::npos);
  EXPECT_NE(ErrorOf(with({{"mask", "/m.png"}})).find("needs an init image"), std::string::npos);
  EXPECT_NE(ErrorOf(with({{"outpaint", json::array({8, 0, 0, 0})}})).find("init image"),
            std::string::npos);
  EXPECT_NE(ErrorOf(with({{"outpaint", json::array({8, 0})}})).find("4 integers"),
            std::string::npos);
  EXPECT_NE(ErrorOf(with({{"outpaint", json::array({-8, 0, 0, 0})}})).find("outpaint"),
            std::string::npos);
  EXPECT_NE(ErrorOf(with({{"resize_mode", 4}})).find("resize mode 4"), std::string::npos);
  EXPECT_NE(ErrorOf(with({{"inpainting_fill", 7}})).find("latent nothing"), std::string::npos);
  EXPECT_NE(ErrorOf(with({{"mask_blur", -1}})).find("mask blur"), std::string::npos);
  EXPECT_NE(ErrorOf(with({{"inpaint_full_res", "yes"}})).find("true or false"), std::string::npos);
  EXPECT_NE(ErrorOf(with({{"hr_scale", 8.0}})).find("hires scale"), std::string::npos);
  EXPECT_NE(ErrorOf(with({{"hr_upscaler", "ESRGAN"}})).find("Lanczos"), std::string::npos);
  EXPECT_NE(ErrorOf(with({{"enable_hr", true}, {"init_image", "/a.png"}})).find("text-to-image"),
            std::string::npos);
  EXPECT_NE(ErrorOf(with({{"enable_hr", true}, {"hr_scale", 4.0}, {"width", 2048}})).find("4096"),
            std::string::npos);
  EXPECT_NE(ErrorOf(with({{"refiner_switch_at", 0.0}})).find("switch-at"), std::string::npos);
  EXPECT_NE(ErrorOf(with({{"vae_tiling", "maybe"}})).find("auto, on or off"), std::string::npos);
  EXPECT_NE(ErrorOf(with({{"loras", json::array({{{"name", "a"}, {"strength", 1}}})}}))
                .find("name, weight, te_weight"),
            std::string::npos);
  json ok = with(img);
  ok["outpaint"] = json::array({2048, 2048, 0, 0});
  EXPECT_NE(ErrorOf(ok).find("4096"), std::string::npos);
}

TEST(Preview, Base64MatchesRfc4648Vectors) {
  EXPECT_EQ(Base64Encode(""), "");
  EXPECT_EQ(Base64Encode("f"), "Zg==");
  EXPECT_EQ(Base64Encode("fo"), "Zm8=");
  EXPECT_EQ(Base64Encode("foo"), "Zm9v");
  EXPECT_EQ(Base64Encode("foob"), "Zm9vYg==");
  EXPECT_EQ(Base64Encode("fooba"), "Zm9vYmE=");
  EXPECT_EQ(Base64Encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(Base64Encode(std::string("\xff\xfe\x00", 3)), "//4A");
}

TEST(Preview, LatentMapsThroughTheLinearApproximationAndUpsamples) {
  // x0: [1, 4, 2, 3]: channel 0 = 1 everywhere, others 0 -> RGB = (0.298, 0.207, 0.208),
  // bytes = (v + 1) * 127.5 truncated.
  torch::Tensor x0 = torch::zeros({1, 4, 2, 3});
  x0.select(1, 0).fill_(1.0);
  auto p = LatentPreview(x0, 12);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->width, 12);  // factor 4 = 12 / 3
  EXPECT_EQ(p->height, 8);
  ASSERT_EQ(p->rgb.size(), 12u * 8u * 3u);
  EXPECT_EQ(p->rgb[0], static_cast<uint8_t>((1 + 0.298) * 127.5));
  EXPECT_EQ(p->rgb[1], static_cast<uint8_t>((1 + 0.207) * 127.5));
  EXPECT_EQ(p->rgb[2], static_cast<uint8_t>((1 + 0.208) * 127.5));
  EXPECT_EQ(p->rgb[p->rgb.size() - 3], p->rgb[0]);
  // Large latents are not upsampled past 8x nor shrunk.
  auto big = LatentPreview(torch::zeros({2, 4, 64, 32}), 256);
  ASSERT_TRUE(big.ok());
  EXPECT_EQ(big->width, 128);
  EXPECT_EQ(big->height, 256);
  EXPECT_FALSE(LatentPreview(torch::zeros({1, 3, 8, 8})).ok());
  EXPECT_FALSE(LatentPreview(torch::Tensor()).ok());
}

}  // namespace
}  // namespace easel::engine
