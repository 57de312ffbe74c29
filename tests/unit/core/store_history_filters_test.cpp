// The gallery's server-side filters on SqliteHistory::Search (ImageFilters): LoRA (by name in
// the loras column, by its last path component, or by a <lora:...> tag in the prompt), date
// ranges, exact sizes, and model, combined with a text query.
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "io_temp_dir.h"
#include "store/sqlite_history.h"

namespace easel::store {
namespace {

ImageRecord Rec(const std::string& id, const std::string& prompt, const std::string& model,
                const std::string& loras, int w, int h, int64_t created_ms) {
  ImageRecord r;
  r.id = id;
  r.path = "images/" + id + ".png";
  r.width = w;
  r.height = h;
  r.prompt = prompt;
  r.model = model;
  r.loras = loras;
  r.created_ms = created_ms;
  return r;
}

std::set<std::string> Ids(SqliteHistory& h, const ImageFilters& f, const std::string& q = "") {
  auto page = h.Search(q, f, 500, 0);
  EXPECT_TRUE(page.ok()) << page.status().ToString();
  std::set<std::string> out;
  if (page.ok())
    for (const ImageRecord& r : page->images) out.insert(r.id);
  return out;
}

TEST(StoreHistoryFilters, LoraDateSizeAndModelInSql) {
  testing::TempDir dir;
  auto h = SqliteHistory::Open(dir.File("easel.db"), dir.path());
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  const int64_t day = 86400000, nov25 = int64_t{1764028800000};  // 2025-11-25T00:00Z
  const std::string detail = R"([{"name": "styles/detail_v2", "weight": 0.8}])";
  const std::string pinky = R"([{"name": "pinky", "weight": 1.0}])";
  for (const ImageRecord& r : {
           Rec("i_0000000000000001", "a castle", "sd15/dream", detail, 512, 768, nov25 - day),
           Rec("i_0000000000000002", "a castle <lora:pinky:0.5>", "sd15/dream", "[]", 512, 512,
               nov25),
           Rec("i_0000000000000003", "a tower", "xl/base", pinky, 1024, 1024, nov25 + 3600000),
           Rec("i_0000000000000004", "a 50%_odd <lora:pinky>", "xl/base", "[]", 512, 768,
               nov25 + day),
       })
    ASSERT_TRUE((*h)->Add(r).ok());

  ImageFilters f;
  f.lora = "pinky";  // the loras column, or an A1111 tag with or without a weight
  EXPECT_EQ(Ids(**h, f), (std::set<std::string>{"i_0000000000000002", "i_0000000000000003",
                                                "i_0000000000000004"}));
  f.lora = "detail_v2";  // the last path component of "styles/detail_v2"
  EXPECT_EQ(Ids(**h, f), std::set<std::string>{"i_0000000000000001"});
  f.lora = "styles/detail_v2";
  EXPECT_EQ(Ids(**h, f), std::set<std::string>{"i_0000000000000001"});
  f.lora = "detail";  // not a prefix match
  EXPECT_TRUE(Ids(**h, f).empty());
  f.lora = "%";  // LIKE wildcards are literal
  EXPECT_TRUE(Ids(**h, f).empty());
  f.lora = "pink";  // "<lora:pink" is not "<lora:pinky"
  EXPECT_TRUE(Ids(**h, f).empty());

  ImageFilters d;  // [from, to): the day of Nov 25
  d.created_from_ms = nov25;
  d.created_to_ms = nov25 + day;
  EXPECT_EQ(Ids(**h, d), (std::set<std::string>{"i_0000000000000002", "i_0000000000000003"}));

  ImageFilters s;  // exact size
  s.min_width = s.max_width = 512;
  s.min_height = s.max_height = 768;
  EXPECT_EQ(Ids(**h, s), (std::set<std::string>{"i_0000000000000001", "i_0000000000000004"}));

  ImageFilters all;  // every filter with a text query
  all.model = "sd15/dream";
  all.lora = "pinky";
  all.created_from_ms = nov25;
  all.min_width = all.max_width = 512;
  EXPECT_EQ(Ids(**h, all, "castle"), std::set<std::string>{"i_0000000000000002"});
  EXPECT_TRUE(Ids(**h, all, "tower").empty());
}

}  // namespace
}  // namespace easel::store
