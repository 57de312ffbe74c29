// Model previews through the library API (the /api/v1/library/models/{id}/preview route's
// handler): preview_url in listings, the file's bytes and content type, 404s; and the
// server catalog's "modified" (seconds since the Unix epoch, never negative).
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>

#include "io_temp_dir.h"
#include "library/library_api.h"
#include "library_tree.h"
#include "server/model_catalog.h"

namespace easel::library {
namespace {

using namespace easel::testing;  // NOLINT
using nlohmann::json;

TEST(LibraryPreview, ListingsCarryPreviewUrlsAndTheRouteServesTheFile) {
  TempDir dir;
  const std::string root = dir.File("models");
  WriteModel(root + "/loras/pink.safetensors", KohyaLora(768));
  WriteText(root + "/loras/pink.preview.png", "\x89PNG fake bytes");
  WriteModel(root + "/checkpoints/plain.safetensors", Sd1Checkpoint());
  WriteModel(root + "/checkpoints/photo.safetensors", Sd1Checkpoint());
  WriteText(root + "/checkpoints/photo.jpeg", "jpeg bytes");
  auto api_r = LibraryApi::Open(dir.File("easel.db"));
  ASSERT_TRUE(api_r.ok());
  LibraryApi& api = **api_r;
  ASSERT_TRUE(api.Rescan({{"paths", {root}}, {"hash", true}}).ok());

  auto list = api.ListModels({});
  ASSERT_TRUE(list.ok());
  std::map<std::string, json> by_name;
  for (const json& m : (*list)["models"]) by_name[m["name"]] = m;
  ASSERT_EQ(by_name.size(), 3u);
  const json pink = by_name["pink"], plain = by_name["plain"], photo = by_name["photo"];
  EXPECT_EQ(pink["id"], ModelId(pink["path"]));
  EXPECT_EQ(pink["preview_url"],
            "/api/v1/library/models/" + pink["id"].get<std::string>() + "/preview");
  EXPECT_FALSE(plain.contains("preview_url"));
  EXPECT_TRUE(photo.contains("preview_url"));
  // Ids are stable across rescans.
  ASSERT_TRUE(api.Rescan(json::object()).ok());
  EXPECT_EQ((*api.ListModels({{"q", "pink"}}))["models"][0]["id"], pink["id"]);

  auto png = api.Preview(pink["id"]);
  ASSERT_TRUE(png.ok()) << png.status().ToString();
  EXPECT_EQ(png->content_type, "image/png");
  EXPECT_EQ(png->bytes, "\x89PNG fake bytes");
  auto jpeg = api.Preview(photo["id"]);
  ASSERT_TRUE(jpeg.ok());
  EXPECT_EQ(jpeg->content_type, "image/jpeg");
  // By hash too (AutoV2 or SHA-256).
  EXPECT_TRUE(api.Preview(pink["autov2"]).ok());
  EXPECT_EQ(api.Preview(plain["id"]).status().code(), Code::kNotFound);
  EXPECT_EQ(api.Preview("m_0000000000000000").status().code(), Code::kNotFound);
  EXPECT_EQ(api.Preview("../../etc/passwd").status().code(), Code::kInvalidArgument);
  // The preview deleted since the scan: 404, saying to rescan.
  std::filesystem::remove(root + "/loras/pink.preview.png");
  auto gone = api.Preview(pink["id"]);
  EXPECT_EQ(gone.status().code(), Code::kNotFound);
  EXPECT_NE(gone.status().message().find("rescan"), std::string::npos);
  // "modified" is a Unix time in seconds.
  const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  EXPECT_NEAR(plain["modified"].get<double>(), static_cast<double>(now), 3600.0);
}

TEST(ServerCatalog, ModifiedIsSecondsSinceTheUnixEpoch) {
  TempDir dir;
  WriteModel(dir.File("models/one.safetensors"), Sd1Checkpoint());
  server::ModelCatalog catalog(dir.File("models"), "");
  auto models = catalog.Models();
  ASSERT_EQ(models.size(), 1u);
  const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  // Was -6.4e9 (std::filesystem's clock counts from 2174 in libstdc++).
  EXPECT_GT(models[0].mtime, 0);
  EXPECT_NEAR(static_cast<double>(models[0].mtime), static_cast<double>(now), 3600.0);
  EXPECT_EQ(models[0].ToJson()["modified"], models[0].mtime);
  EXPECT_EQ(server::UnixMtime(dir.File("nothing-here")), 0);
}

}  // namespace
}  // namespace easel::library
