// The real CivitAI transport (library/civitai_http.h) over the network stack: a local HTTP
// server standing in for civitai.com (by-hash answers, 404s, the request's headers), the
// offline path against a closed local port (one clear error, then no more requests), origin
// checks, the opt-in switch in the data dir, and EnrichLibrary merging answers into records.
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "closed_port.h"
#include "io_temp_dir.h"
#include "library/civitai.h"
#include "library/civitai_http.h"
#include "library/library_api.h"
#include "library_tree.h"

namespace easel::library {
namespace {

using namespace easel::testing;  // NOLINT

// A stand-in for civitai.com on a free loopback port.
class FakeCivitai {
 public:
  explicit FakeCivitai(std::string known_sha) : known_(std::move(known_sha)) {
    server_.Get(R"(/api/v1/model-versions/by-hash/([0-9a-f]+))", [this](const httplib::Request& req,
                                                                        httplib::Response& res) {
      ++hits_;
      user_agent_ = req.get_header_value("User-Agent");
      authorization_ = req.get_header_value("Authorization");
      cookie_ = req.get_header_value("Cookie");
      if (req.matches[1] == known_)
        res.set_content(R"({"baseModel": "SD 1.5", "trainedWords": ["pnkhr"], "model":)"
                        R"( {"name": "Pink Hair", "tags": ["anime", "hair"]},)"
                        R"( "stats": {"downloadCount": 4242, "rating": 4.8}})",
                        "application/json");
      else
        res.status = 404, res.set_content(R"({"error":"Model not found"})", "application/json");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ~FakeCivitai() {
    server_.stop();
    thread_.join();
  }
  std::string origin() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int hits() const { return hits_; }
  std::string user_agent_, authorization_, cookie_;

 private:
  std::string known_;
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  std::atomic<int> hits_{0};
};

TEST(LibraryCivitaiHttp, RefusesOriginsThatAreNotHttp) {
  EXPECT_EQ(MakeHttpTransport("ftp://civitai.com").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(MakeHttpTransport("https://civitai.com/api").status().code(), Code::kInvalidArgument);
  EXPECT_EQ(MakeHttpTransport("https://").status().code(), Code::kInvalidArgument);
  EXPECT_TRUE(MakeHttpTransport("https://civitai.com/").ok());  // OpenSSL in this build
}

TEST(LibraryCivitaiHttp, OfflineIsOneClearErrorThenNoMoreRequests) {
  TempDir dir;
  auto index = store::SqliteModelIndex::Open(dir.File("easel.db"));
  ASSERT_TRUE(index.ok());
  const std::string origin = "http://127.0.0.1:" + std::to_string(ClosedPort());
  auto t = MakeHttpTransport(origin);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  auto direct = (*t)->Get(origin + "/api/v1/model-versions/by-hash/" + std::string(64, 'a'));
  EXPECT_EQ(direct.status().code(), Code::kIo);
  EXPECT_NE(direct.status().message().find(origin), std::string::npos);

  CivitaiOptions o;
  o.enabled = true;
  o.base_url = origin;
  o.min_interval_ms = 0;
  CivitaiClient client(o, t->get(), index->get());
  auto first = client.LookupByHash(std::string(64, 'a'));
  ASSERT_EQ(first.status().code(), Code::kIo);
  EXPECT_NE(first.status().message().find("could not be reached"), std::string::npos);
  EXPECT_NE(first.status().message().find("working offline"), std::string::npos);
  auto second = client.LookupByHash(std::string(64, 'b'));
  EXPECT_EQ(second.status().code(), Code::kIo);
  EXPECT_EQ(client.requests(), 1);  // the second did not try the network again
}

TEST(LibraryCivitaiHttp, EnrichesHashedRecordsOverHttpAndCaches) {
  TempDir dir;
  const std::string root = dir.File("models");
  WriteModel(root + "/loras/pink.safetensors", KohyaLora(768));
  WriteModel(root + "/loras/other.safetensors", KohyaLora(768, false, 8));
  auto api = LibraryApi::Open(dir.File("easel.db"));
  ASSERT_TRUE(api.ok());
  ASSERT_TRUE((*api)->Rescan({{"paths", {root}}, {"hash", true}}).ok());
  auto& index = (*api)->index();
  store::ModelFilter only_pink;
  only_pink.text = "pink";
  const std::string pink_sha = (*index.List(only_pink)).at(0).sha256;
  ASSERT_EQ(pink_sha.size(), 64u);
  FakeCivitai site(pink_sha);
  auto t = MakeHttpTransport(site.origin());
  ASSERT_TRUE(t.ok());
  CivitaiOptions o;
  o.enabled = true;
  o.base_url = site.origin();
  o.min_interval_ms = 50;
  CivitaiClient client(o, t->get(), &index);
  auto report = EnrichLibrary(index, client);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->considered, 2);
  EXPECT_EQ(report->enriched, 1);
  EXPECT_EQ(report->unknown, 1);
  EXPECT_EQ(report->requests, 2);
  EXPECT_TRUE(report->stopped.empty());
  EXPECT_EQ(site.hits(), 2);
  EXPECT_NE(site.user_agent_.find("easel"), std::string::npos);  // anonymous
  EXPECT_TRUE(site.authorization_.empty());
  EXPECT_TRUE(site.cookie_.empty());
  auto pink = index.FindByHash(pink_sha);
  ASSERT_TRUE(pink.ok());
  EXPECT_EQ(pink->downloads, 4242);
  EXPECT_EQ(pink->trigger_words, std::vector<std::string>{"pnkhr"});
  // Again: the enriched record is skipped, the unknown one answered from the cache.
  CivitaiClient again(o, t->get(), &index);
  auto second = EnrichLibrary(index, again);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->considered, 1);
  EXPECT_EQ(second->requests, 0);
  EXPECT_EQ(site.hits(), 2);
}

TEST(LibraryCivitaiHttp, TheSwitchLivesInTheDataDirAndIsOffByDefault) {
  TempDir dir;
  EXPECT_FALSE(*CivitaiEnabled(dir.path()));
  ASSERT_TRUE(SetCivitaiEnabled(dir.path(), true).ok());
  EXPECT_TRUE(*CivitaiEnabled(dir.path()));
  ASSERT_TRUE(SetCivitaiEnabled(dir.path(), false).ok());
  EXPECT_FALSE(*CivitaiEnabled(dir.path()));
  dir.Write("library.json", "{oops");
  EXPECT_EQ(CivitaiEnabled(dir.path()).status().code(), Code::kCorrupt);
}

}  // namespace
}  // namespace easel::library
