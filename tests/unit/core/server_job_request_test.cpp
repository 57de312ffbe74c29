// server/model_catalog.h and server/job_request.h: listing models by name, refusing path
// traversal, and turning API bodies into stored jobs (types, limits, images, kinds) and
// stored jobs into worker requests.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <vector>

#include "io/png.h"
#include "io_temp_dir.h"
#include "server/base64.h"
#include "server/job_request.h"
#include "server/model_catalog.h"
#include "test_paths.h"

namespace easel::server {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

class ServerJobRequest : public ::testing::Test {
 protected:
  void SetUp() override {
    models_ = tmp_.path() + "/models";
    fs::create_directories(models_ + "/sub");
    fs::create_directories(models_ + "/Lora");
    fs::create_directory_symlink(EASEL_FIXTURES_DIR "/sd1", models_ + "/sd1");
    fs::create_symlink(EASEL_FIXTURES_DIR "/sd1.safetensors", models_ + "/sub/single.safetensors");
    tmp_.Write("models/notes.txt", "not a model");
    tmp_.Write("models/Lora/style.safetensors", "x");
    catalog_ = std::make_unique<ModelCatalog>(models_, models_ + "/Lora");
    data_ = tmp_.path() + "/data";
    fs::create_directories(data_);
    ctx_.limits = &limits_;
    ctx_.catalog = catalog_.get();
    ctx_.data_dir = data_;
  }

  static std::string Png(int w, int h) {
    std::vector<uint8_t> px(static_cast<size_t>(w * h * 3), 128);
    return *io::EncodePng(px.data(), w, h, 3, {});
  }

  Status Build(const json& body) { return BuildJob(body, ctx_).status(); }

  testing::TempDir tmp_;
  std::string models_, data_;
  std::unique_ptr<ModelCatalog> catalog_;
  Limits limits_;
  BuildContext ctx_;
};

TEST_F(ServerJobRequest, ListsModelsByRelativeName) {
  auto models = catalog_->Models();
  ASSERT_EQ(models.size(), 2u);
  EXPECT_EQ(models[0].name, "sd1");
  EXPECT_EQ(models[0].format, "diffusers");
  EXPECT_EQ(models[0].family, "SD1");
  EXPECT_TRUE(models[0].supported);
  EXPECT_EQ(models[1].name, "sub/single");
  EXPECT_EQ(models[1].title, "sub/single.safetensors");
  EXPECT_EQ(models[1].format, "checkpoint");
  ASSERT_EQ(catalog_->Loras().size(), 1u);
  EXPECT_EQ(catalog_->Loras()[0].name, "style");
  EXPECT_TRUE(catalog_->Resolve("sub/single.safetensors [0123456789]").ok());
  EXPECT_EQ(catalog_->Resolve("sd1")->path, fs::absolute(models_ + "/sd1").string());
}

TEST_F(ServerJobRequest, RefusesTraversalAndUnknownModels) {
  for (const char* bad :
       {"../sd1", "/etc/passwd", "sub/../sd1", "sub\\single", "./sd1", "a//b", ""}) {
    auto r = catalog_->Resolve(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << bad;
  }
  auto missing = catalog_->Resolve("nope");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), Code::kNotFound);
  EXPECT_NE(missing.status().message().find("sd1"), std::string::npos);  // names some that exist
  EXPECT_EQ(catalog_->Resolve("notes.txt").status().code(), Code::kNotFound);
}

TEST_F(ServerJobRequest, BuildsATxt2ImgJobWithDefaults) {
  auto job = BuildJob({{"prompt", "a fox"},
                       {"steps", 2},
                       {"width", 64},
                       {"height", 64},
                       {"priority", 5},
                       {"tags", {"Fox"}}},
                      ctx_);
  ASSERT_TRUE(job.ok()) << job.status().ToString();
  EXPECT_EQ(job->kind, "txt2img");
  EXPECT_EQ(job->priority, 5);
  EXPECT_EQ(job->stored["request"]["model"], "sd1");  // the first supported model
  EXPECT_EQ(job->stored["tags"][0], "Fox");
  auto worker = WorkerRequest(job->stored, {catalog_.get(), data_, "", ""});
  ASSERT_TRUE(worker.ok());
  EXPECT_EQ((*worker)["model"], fs::absolute(models_ + "/sd1").string());
  EXPECT_FALSE(worker->contains("loras_dir"));
}

TEST_F(ServerJobRequest, WritesInputImagesAndInfersTheKind) {
  const std::string init = Base64Encode(Png(64, 64)), mask = Base64Encode(Png(64, 64));
  auto img2img =
      BuildJob({{"prompt", "x"}, {"init_image", init}, {"denoising_strength", 0.5}}, ctx_);
  ASSERT_TRUE(img2img.ok()) << img2img.status().ToString();
  EXPECT_EQ(img2img->kind, "img2img");
  const std::string rel = img2img->stored["request"]["init_image"];
  EXPECT_TRUE(fs::exists(data_ + "/" + rel)) << rel;
  auto inpaint = BuildJob({{"init_image", init}, {"mask", "data:image/png;base64," + mask}}, ctx_);
  ASSERT_TRUE(inpaint.ok()) << inpaint.status().ToString();
  EXPECT_EQ(inpaint->kind, "inpaint");
  auto worker = WorkerRequest(inpaint->stored, {catalog_.get(), data_, "", ""});
  ASSERT_TRUE(worker.ok());
  EXPECT_EQ((*worker)["mask"].get<std::string>().rfind(data_ + "/inputs/", 0), 0u);
  EXPECT_EQ(Build({{"mask", mask}}).code(), Code::kInvalidArgument);  // mask without init
  EXPECT_EQ(Build({{"kind", "inpaint"}, {"init_image", init}}).code(), Code::kInvalidArgument);
}

TEST_F(ServerJobRequest, RefusesMalformedBodies) {
  const std::vector<json> bad = {
      json::array(),
      "text",
      {{"steps", "20"}},
      {{"steps", 2.5}},
      {{"steps", 0}},
      {{"steps", 100000}},
      {{"width", 63}},
      {{"width", 100}},  // not a multiple of 8
      {{"width", 1e12}},
      {{"height", -8}},
      {{"batch_size", 1000}},
      {{"cfg_scale", "high"}},
      {{"cfg_scale", 1e308 * 10}},
      {{"seed", "42"}},
      {{"seed", 18446744073709551615ull}},
      {{"prompt", 42}},
      {{"prompt", std::string(30000, 'a')}},
      {{"prompt", "\xff\xfe"}},
      {{"sampler_name", "warp drive"}},
      {{"scheduler", "sometimes"}},
      {{"model", "../../etc/passwd"}},
      {{"init_image", "not base64!"}},
      {{"init_image", Base64Encode("GIF89a not a png")}},
      {{"init_image", Base64Encode("\xff\xd8\xff\xe0 jpeg")}},
      {{"init_image", 12}},
      {{"unknown_field", 1}},
      {{"kind", "video"}},
      {{"priority", 1000}},
      {{"tags", "x"}},
      {{"loras", {{{"name", "../x"}}}}},
      {{"loras", {{{"name", "x"}, {"weight", "heavy"}}}}},
      {{"loras", {{{"name", "x"}, {"extra", 1}}}}},
      {{"outpaint", {1, 2, 3}}},
      {{"vae_tiling", "maybe"}},
      {{"enable_hr", "yes"}},
      {{"enable_hr", true}, {"hr_scale", 4}, {"width", 1024}},
  };
  for (const json& body : bad) {
    Status st = Build(body);
    EXPECT_EQ(st.code(), Code::kInvalidArgument)
        << body.dump().substr(0, 200) << " -> " << st.ToString();
    EXPECT_FALSE(st.message().empty());
  }
  EXPECT_EQ(Build({{"model", "nope"}}).code(), Code::kNotFound);
  EXPECT_TRUE(Build({{"sampler_name", "DPM++ 2M Karras"}, {"scheduler", "Karras"}}).ok());
  EXPECT_TRUE(Build({{"steps", 20.0}, {"seed", -1}}).ok());  // integral floats are integers
}

TEST(ServerNames, SafeNames) {
  EXPECT_TRUE(IsSafeName("a/b.safetensors"));
  for (const char* bad : {"", "..", "../a", "a/../b", "/a", "a\\b", "a//b", "a/./b", "a\nb"})
    EXPECT_FALSE(IsSafeName(bad)) << bad;
  EXPECT_TRUE(IsKnownSampler("Euler a"));
  EXPECT_TRUE(IsKnownSampler("dpmpp_2m"));
  EXPECT_TRUE(IsKnownSampler("DPM++ 2M SDE Karras"));
  EXPECT_FALSE(IsKnownSampler("euler b"));
}

}  // namespace
}  // namespace easel::server
