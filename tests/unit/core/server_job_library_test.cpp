// Jobs that name a preset, styles or "model": "auto" (server/job_library.h through BuildJob
// and WorkerRequest), on a generated model tree indexed by a real LibraryApi.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "io_temp_dir.h"
#include "library/library_api.h"
#include "library_tree.h"
#include "server/job_request.h"
#include "server/model_catalog.h"
#include "test_paths.h"

namespace easel::server {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;
using namespace easel::testing;  // NOLINT

class ServerJobLibrary : public ::testing::Test {
 protected:
  void SetUp() override {
    // The server's models folder: the fixture model only (what jobs without a library use).
    const std::string models = tmp_.File("models");
    fs::create_directories(models);
    fs::create_directory_symlink(EASEL_FIXTURES_DIR "/sd1", models + "/sd1");
    catalog_ = std::make_unique<ModelCatalog>(models, "");
    // The library: a ComfyUI-like tree elsewhere.
    root_ = tmp_.File("comfy/models");
    sd15_ = root_ + "/checkpoints/anime_sd15.safetensors";
    pink_ = root_ + "/loras/pink.safetensors";
    vae_ = root_ + "/vae/clear_vae.safetensors";
    WriteModel(sd15_, Sd1Checkpoint());
    WriteModel(pink_, KohyaLora(768), KohyaMetadata("sd_v1", {{"x", {{"pink hair", 5}}}}));
    WriteModel(vae_, LdmVae(""));
    fs::create_directories(tmp_.File("data"));
    auto lib = library::LibraryApi::Open(tmp_.File("data/easel.db"));
    ASSERT_TRUE(lib.ok()) << lib.status().ToString();
    lib_ = std::move(*lib);
    ASSERT_TRUE(lib_->Rescan({{"paths", {root_}}}).ok());
    ctx_.limits = &limits_;
    ctx_.catalog = catalog_.get();
    ctx_.data_dir = tmp_.File("data");
    ctx_.library = lib_.get();
  }

  testing::TempDir tmp_;
  std::string root_, sd15_, pink_, vae_;
  std::unique_ptr<ModelCatalog> catalog_;
  std::unique_ptr<library::LibraryApi> lib_;
  Limits limits_;
  BuildContext ctx_;
};

TEST_F(ServerJobLibrary, PresetFillsModelVaeLorasAndParamsAndFieldsOverride) {
  auto created = lib_->CreatePreset({{"name", "pinky"},
                                     {"checkpoint", sd15_},
                                     {"vae", vae_},
                                     {"loras", {{{"path", pink_}, {"weight", 0.6}}}},
                                     {"params",
                                      {{"steps", 12},
                                       {"width", 256},
                                       {"height", 384},
                                       {"cfg", 5.5},
                                       {"sampler", "dpmpp_2m"},
                                       {"scheduler", "karras"}}}});
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  auto job = BuildJob({{"prompt", "a cat"}, {"preset", "pinky"}, {"steps", 3}}, ctx_);
  ASSERT_TRUE(job.ok()) << job.status().ToString();
  const json& req = job->stored["request"];
  EXPECT_EQ(req["steps"], 3);  // the body's own field wins
  EXPECT_EQ(req["width"], 256);
  EXPECT_EQ(req["height"], 384);
  EXPECT_EQ(req["cfg_scale"], 5.5);
  EXPECT_EQ(req["sampler_name"], "dpmpp_2m");
  EXPECT_EQ(req["scheduler"], "karras");
  EXPECT_EQ(req["model"], "anime_sd15");  // a name in the request (history shows it) ...
  EXPECT_EQ(req["loras"], json::parse(R"([{"name": "pink", "weight": 0.6}])"));
  EXPECT_EQ(job->stored["paths"]["model"], sd15_);  // ... the paths beside it
  EXPECT_EQ(job->stored["paths"]["vae"], vae_);
  EXPECT_EQ(job->library["preset"]["name"], "pinky");
  // The worker gets absolute paths.
  WorkerContext w{catalog_.get(), ctx_.data_dir, "", ""};
  auto wreq = WorkerRequest(job->stored, w);
  ASSERT_TRUE(wreq.ok()) << wreq.status().ToString();
  EXPECT_EQ((*wreq)["model"], sd15_);
  EXPECT_EQ((*wreq)["vae"], vae_);
  EXPECT_EQ((*wreq)["loras"][0]["name"], pink_);
  // An explicit model and LoRAs override the preset's (its parameters still apply).
  auto own = BuildJob(
      {{"prompt", "a cat"}, {"preset", "pinky"}, {"model", "sd1"}, {"loras", json::array()}}, ctx_);
  ASSERT_TRUE(own.ok()) << own.status().ToString();
  EXPECT_EQ(own->stored["request"]["model"], "sd1");
  EXPECT_EQ(own->stored["request"]["loras"], json::array());
  EXPECT_FALSE(own->stored.contains("paths"));
  EXPECT_EQ(own->stored["request"]["steps"], 12);
  // The model file went away after the job was queued: a clear 404 at dispatch.
  fs::remove(sd15_);
  auto gone = WorkerRequest(job->stored, w);
  EXPECT_EQ(gone.status().code(), Code::kNotFound);
  EXPECT_NE(gone.status().message().find("has gone"), std::string::npos);
}

TEST_F(ServerJobLibrary, UnknownPresetOrStyleIs400NamingItAndListingKnownOnes) {
  ASSERT_TRUE(lib_->CreatePreset({{"name", "known-one"}, {"checkpoint", sd15_}}).ok());
  ASSERT_TRUE(lib_->PutStyle("moody", {{"prompt", "{prompt}, dark"}}).ok());
  auto p = BuildJob({{"prompt", "x"}, {"preset", "nope"}}, ctx_);
  EXPECT_EQ(p.status().code(), Code::kInvalidArgument);
  EXPECT_NE(p.status().message().find("'nope'"), std::string::npos) << p.status().message();
  EXPECT_NE(p.status().message().find("known-one"), std::string::npos);
  auto s = BuildJob({{"prompt", "x"}, {"styles", {"moody", "sunny"}}}, ctx_);
  EXPECT_EQ(s.status().code(), Code::kInvalidArgument);
  EXPECT_NE(s.status().message().find("'sunny'"), std::string::npos) << s.status().message();
  EXPECT_NE(s.status().message().find("moody"), std::string::npos);
  auto hint = BuildJob({{"prompt", "x"}, {"style", "cubist"}}, ctx_);
  EXPECT_EQ(hint.status().code(), Code::kInvalidArgument);
  EXPECT_NE(hint.status().message().find("anime"), std::string::npos);
  // Malformed fields are 400 too.
  for (const json& bad : {json{{"styles", "moody"}}, json{{"styles", {1}}}, json{{"preset", 3}},
                          json{{"quality", "max"}, {"model", "auto"}},
                          json{{"preset", "known-one"}, {"model", "auto"}}}) {
    json body = bad;
    body["prompt"] = "x";
    EXPECT_EQ(BuildJob(body, ctx_).status().code(), Code::kInvalidArgument) << bad.dump();
  }
  // null / empty library fields are no-ops, even without a library.
  ctx_.library = nullptr;
  EXPECT_TRUE(BuildJob({{"prompt", "x"}, {"styles", nullptr}, {"preset", nullptr}}, ctx_).ok());
  EXPECT_EQ(BuildJob({{"prompt", "x"}, {"styles", {"moody"}}}, ctx_).status().code(),
            Code::kUnsupported);
}

TEST_F(ServerJobLibrary, StylesApplyInOrderWithPromptPlacement) {
  ASSERT_TRUE(lib_->PutStyle("frame", {{"prompt", "masterpiece, {prompt}, framed"},
                                       {"negative_prompt", "blurry"}})
                  .ok());
  ASSERT_TRUE(
      lib_->PutStyle("moody", {{"prompt", "dark"}, {"negative_prompt", "{prompt}, sunny"}}).ok());
  auto job = BuildJob(
      {{"prompt", "a cat"}, {"negative_prompt", "dogs"}, {"styles", {"frame", "moody"}}}, ctx_);
  ASSERT_TRUE(job.ok()) << job.status().ToString();
  EXPECT_EQ(job->stored["request"]["prompt"], "masterpiece, a cat, framed, dark");
  EXPECT_EQ(job->stored["request"]["negative_prompt"], "dogs, blurry, sunny");
  EXPECT_EQ(job->stored["request"]["model"], "sd1");  // the default model: no preset, no auto
  EXPECT_EQ(job->library["styles"], json({"frame", "moody"}));
  // 'style' naming a stored style applies it too.
  auto one = BuildJob({{"prompt", "a cat"}, {"style", "moody"}}, ctx_);
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->stored["request"]["prompt"], "a cat, dark");
}

TEST_F(ServerJobLibrary, AutoModelChoosesFromTheLibraryLikeGenerate) {
  auto job = BuildJob({{"prompt", "a girl with pink hair"},
                       {"model", "auto"},
                       {"style", "anime"},
                       {"quality", "fast"},
                       {"seed", 5}},
                      ctx_);
  ASSERT_TRUE(job.ok()) << job.status().ToString();
  const json& req = job->stored["request"];
  EXPECT_EQ(job->stored["paths"]["model"], sd15_);
  EXPECT_EQ(req["model"], "anime_sd15");
  EXPECT_EQ(req["seed"], 5);
  ASSERT_TRUE(req.contains("steps"));
  ASSERT_TRUE(req.contains("width"));
  EXPECT_EQ(job->library["selection"]["quality"], "fast");
  EXPECT_EQ(job->library["selection"]["base"]["name"], "anime_sd15");
  EXPECT_FALSE(job->library["selection"]["explanation"].empty());
  // The pink-hair LoRA matches the prompt: chosen, by name, with its path beside.
  ASSERT_TRUE(req.contains("loras")) << req.dump();
  EXPECT_EQ(req["loras"][0]["name"], "pink");
  EXPECT_EQ(job->stored["paths"]["loras"]["pink"], pink_);
  // Same library and prompt, same choice; explicit parameters win.
  auto again = BuildJob({{"prompt", "a girl with pink hair"},
                         {"model", "auto"},
                         {"style", "anime"},
                         {"quality", "fast"},
                         {"seed", 5},
                         {"steps", 2},
                         {"width", 64},
                         {"height", 64}},
                        ctx_);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->stored["paths"], job->stored["paths"]);
  EXPECT_EQ(again->stored["request"]["steps"], 2);
  EXPECT_EQ(again->stored["request"]["width"], 64);
  // A library model that is also under the models folder keeps its catalog name.
  ModelCatalog inside(root_ + "/checkpoints", "");
  BuildContext c2 = ctx_;
  c2.catalog = &inside;
  auto named = BuildJob({{"prompt", "a girl with pink hair"}, {"model", "auto"}}, c2);
  ASSERT_TRUE(named.ok()) << named.status().ToString();
  EXPECT_EQ(named->stored["request"]["model"], "anime_sd15");
  EXPECT_FALSE(named->stored["paths"].contains("model"));
}

TEST_F(ServerJobLibrary, AutoWithAnEmptyLibraryIsA404SayingWhatToDo) {
  ASSERT_TRUE(lib_->index().RemoveRoot(root_).ok());  // forgets the folder and its rows
  auto job = BuildJob({{"prompt", "a cat"}, {"model", "auto"}}, ctx_);
  EXPECT_EQ(job.status().code(), Code::kNotFound);
  EXPECT_NE(job.status().message().find("rescan"), std::string::npos) << job.status().message();
}

}  // namespace
}  // namespace easel::server
