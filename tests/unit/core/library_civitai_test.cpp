// Opt-in CivitAI lookups with a fake transport: off by default, cache (24 h), minimum
// interval between requests, 404s cached, a clear offline error.
#include <gtest/gtest.h>

#include "io_temp_dir.h"
#include "library/civitai.h"

namespace easel::library {
namespace {

struct FakeTransport : HttpTransport {
  std::vector<std::string> urls;
  bool offline = false;
  Result<HttpReply> Get(const std::string& url) override {
    urls.push_back(url);
    if (offline) return IoError("could not resolve host civitai.com");
    if (url.find(std::string(64, 'a')) != std::string::npos)
      return HttpReply{
          200,
          R"({"baseModel": "SDXL 1.0", "trainedWords": ["xyz"], "stats": {"downloadCount": 777}})"};
    return HttpReply{404, R"({"error": "Model not found"})"};
  }
};

TEST(LibraryCivitai, OptInCacheRateLimitOffline) {
  testing::TempDir dir;
  auto index = store::SqliteModelIndex::Open(dir.File("easel.db"));
  ASSERT_TRUE(index.ok());
  FakeTransport net;
  int64_t now = 1000000;
  std::vector<int64_t> sleeps;
  CivitaiClock clock{[&] { return now; },
                     [&](int64_t ms) {
                       sleeps.push_back(ms);
                       now += ms;
                     }};
  const std::string known(64, 'a'), unknown(64, 'b');

  CivitaiClient off(CivitaiOptions{}, &net, index->get(), clock);
  EXPECT_EQ(off.LookupByHash(known).status().code(), Code::kUnsupported);
  EXPECT_TRUE(net.urls.empty());  // nothing left the machine

  CivitaiOptions on;
  on.enabled = true;
  CivitaiClient c(on, &net, index->get(), clock);
  auto a = c.LookupByHash(known);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(net.urls.back(), "https://civitai.com/api/v1/model-versions/by-hash/" + known);
  EXPECT_EQ(c.LookupByHash(unknown).status().code(), Code::kNotFound);
  ASSERT_EQ(sleeps.size(), 1u);  // the second request waited for the minimum interval
  EXPECT_EQ(sleeps[0], 1000);
  // Both answers are cached: no new requests within 24 h, even from a new client.
  CivitaiClient again(on, &net, index->get(), clock);
  EXPECT_TRUE(again.LookupByHash(known).ok());
  EXPECT_EQ(again.LookupByHash(unknown).status().code(), Code::kNotFound);
  EXPECT_EQ(net.urls.size(), 2u);
  now += on.cache_ttl_ms + 1;  // expired: asked again
  EXPECT_TRUE(again.LookupByHash(known).ok());
  EXPECT_EQ(net.urls.size(), 3u);

  ModelRecord r;
  r.name = "x";
  r.sha256 = known;
  ASSERT_TRUE(*again.Enrich(&r));
  EXPECT_EQ(r.base_model, "SDXL 1.0");
  EXPECT_EQ(r.downloads, 777);
  EXPECT_EQ(r.trigger_words, std::vector<std::string>{"xyz"});

  net.offline = true;
  now += on.cache_ttl_ms + 1;
  auto o = again.LookupByHash(known);
  EXPECT_EQ(o.status().code(), Code::kIo);
  EXPECT_NE(o.status().message().find("offline"), std::string::npos) << o.status().message();
  const size_t asked = net.urls.size();
  EXPECT_EQ(again.LookupByHash(unknown).status().code(), Code::kIo);
  EXPECT_EQ(net.urls.size(), asked);  // no more attempts once offline
  EXPECT_EQ(again.LookupByHash("nothex").status().code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace easel::library
