// The library API's JSON handlers (what the /api/v1 routes call), without a server.
#include "library/library_api.h"

#include <gtest/gtest.h>

#include "io_temp_dir.h"
#include "library_tree.h"

namespace easel::library {
namespace {

using namespace easel::testing;  // NOLINT
using nlohmann::json;

TEST(LibraryApi, ModelsPresetsStylesAndSelect) {
  TempDir dir;
  const std::string root = dir.File("models");
  WriteModel(root + "/checkpoints/anime_sd15.safetensors", Sd1Checkpoint());
  WriteModel(root + "/checkpoints/xl.safetensors", SdxlCheckpoint());
  WriteModel(root + "/loras/pink.safetensors", KohyaLora(768),
             KohyaMetadata("sd_v1", {{"x", {{"pink hair", 5}}}}));
  WriteText(root + "/loras/broken.safetensors", "junk");
  auto api_r = LibraryApi::Open(dir.File("easel.db"));
  ASSERT_TRUE(api_r.ok()) << api_r.status().ToString();
  LibraryApi& api = **api_r;

  EXPECT_EQ(api.Rescan(json::object()).status().code(), Code::kInvalidArgument);  // no roots yet
  auto scan = api.Rescan({{"paths", {root}}, {"hash", true}});
  ASSERT_TRUE(scan.ok()) << scan.status().ToString();
  EXPECT_EQ((*scan)["added"], 4);
  EXPECT_EQ((*scan)["errors"], 1);
  EXPECT_EQ((*scan)["hashed"], 3);
  EXPECT_EQ((*api.Roots())["roots"].size(), 1u);
  EXPECT_EQ((*api.Rescan(json::object()))["unchanged"], 4);  // the stored root again

  auto list = api.ListModels({{"kind", "checkpoint"}});
  ASSERT_TRUE(list.ok());
  EXPECT_EQ((*list)["count"], 2);
  EXPECT_EQ((*list)["counts"]["total"], 4);
  EXPECT_EQ((*api.ListModels({{"family", "sdxl"}}))["count"], 1);
  EXPECT_EQ((*api.ListModels({{"errors", "1"}}))["models"][0]["name"], "broken");
  EXPECT_EQ((*api.ListModels({{"tag", "pink hair"}}))["count"], 1);
  EXPECT_EQ(api.ListModels({{"kind", "sofa"}}).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(api.ListModels({{"limit", "-3"}}).status().code(), Code::kInvalidArgument);
  const std::string pink =
      (*api.ListModels({{"kind", "lora"}, {"q", "pink"}}))["models"][0]["path"];
  auto info = api.GetModel({{"path", pink}});
  ASSERT_TRUE(info.ok());
  const std::string autov2 = (*info)["autov2"];
  EXPECT_EQ(autov2.size(), 10u);
  EXPECT_EQ((*api.GetModel({{"hash", autov2}}))["path"], pink);
  EXPECT_EQ(api.GetModel({}).status().code(), Code::kInvalidArgument);

  // Presets
  const std::string sd15 = (*api.ListModels({{"q", "anime_sd15"}}))["models"][0]["path"];
  const std::string xl =
      (*api.ListModels({{"q", "xl"}, {"kind", "checkpoint"}}))["models"][0]["path"];
  json preset = {
      {"name", "anime"}, {"checkpoint", sd15}, {"loras", {{{"path", pink}, {"weight", 0.6}}}}};
  auto created = api.CreatePreset(preset);
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  EXPECT_EQ((*created)["family"], "SD1");
  EXPECT_GT((*created)["vram_weights_mb"].get<int>(), 0);
  EXPECT_EQ(api.CreatePreset(preset).status().code(), Code::kInvalidArgument);  // exists
  auto bad = api.CreatePreset({{"name", "mixed"}, {"checkpoint", xl}, {"loras", {pink}}});
  EXPECT_EQ(bad.status().code(), Code::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("loras[0]"), std::string::npos) << bad.status().message();
  auto val = api.ValidatePreset({{"name", "mixed"}, {"checkpoint", xl}, {"loras", {pink}}});
  ASSERT_TRUE(val.ok());
  EXPECT_FALSE((*val)["valid"]);
  auto edited = api.UpdatePreset("anime", {{"params", {{"steps", 30}}}});
  ASSERT_TRUE(edited.ok()) << edited.status().ToString();
  EXPECT_EQ((*edited)["params"]["steps"], 30);
  EXPECT_EQ((*edited)["loras"][0]["weight"], 0.6);
  edited = api.UpdatePreset("anime", {{"params", {{"cfg", 5.5}}}});  // params merge
  ASSERT_TRUE(edited.ok());
  EXPECT_EQ((*edited)["params"]["steps"], 30);
  EXPECT_EQ((*edited)["params"]["cfg"], 5.5);
  EXPECT_TRUE(api.ImagePresetByName("anime").ok());
  auto exported = api.ExportPresets();
  ASSERT_TRUE(exported.ok());
  ASSERT_TRUE(api.DeletePreset("anime").ok());
  EXPECT_EQ(api.GetPreset("anime").status().code(), Code::kNotFound);
  auto imported = api.ImportPresets(*exported);
  ASSERT_TRUE(imported.ok());
  EXPECT_EQ((*imported)["imported"].size(), 1u);
  EXPECT_EQ((*api.ListPresets({{"type", "image"}}))["presets"].size(), 1u);

  // Styles
  auto st = api.ImportStylesCsv(
      "name,prompt,negative_prompt\nDreamy,\"dreamy {prompt}, soft light\",harsh\n", "");
  ASSERT_TRUE(st.ok()) << st.status().ToString();
  auto applied = api.ApplyStyle({{"style", "Dreamy"}, {"prompt", "a fox"}});
  ASSERT_TRUE(applied.ok());
  EXPECT_EQ((*applied)["prompt"], "dreamy a fox, soft light");
  EXPECT_EQ((*applied)["negative_prompt"], "harsh");
  ASSERT_TRUE(api.PutStyle("Mine", {{"prompt", "{prompt}, vivid"}}).ok());
  EXPECT_EQ(api.PutStyle("Mine", {{"promt", "x"}}).status().code(), Code::kInvalidArgument);
  EXPECT_EQ((*api.ListStyles())["styles"].size(), 2u);
  EXPECT_TRUE(api.DeleteStyle("Mine").ok());

  // Zero-config selection (Easel's engine families only, by default).
  auto sel =
      api.Select({{"prompt", "girl with pink hair"}, {"style", "anime"}, {"quality", "fast"}});
  ASSERT_TRUE(sel.ok()) << sel.status().ToString();
  EXPECT_EQ((*sel)["base"]["name"], "anime_sd15");
  EXPECT_EQ((*sel)["loras"][0]["name"], "pink");
  EXPECT_EQ(api.Select({{"prompt", "x"}, {"quality", "max"}}).status().code(),
            Code::kInvalidArgument);
}

}  // namespace
}  // namespace easel::library
