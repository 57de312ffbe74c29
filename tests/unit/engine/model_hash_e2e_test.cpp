// The model hash in real outputs, now that it is computed beside the sampling rather than
// before it (library/model_hash.h): `easel generate` and `easel worker` write the file's own
// AutoV2 hash into the PNG's infotext, the sidecar and the worker's "done", and take the hash
// the library index already holds for the very same file instead of reading the file.
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "../core/io_temp_dir.h"
#include "cli_run.h"
#include "io/png.h"
#include "server/ipc.h"
#include "server/process.h"
#include "server/worker_protocol.h"
#include "store/model_index.h"
#include "test_paths.h"
#include "util/sha256.h"

namespace easel {
namespace {

using json = nlohmann::json;
using testing::Q;
using testing::TempDir;
namespace fs = std::filesystem;

// The single-file fixture (the library indexes files; its tiny text encoder has 2 heads).
const std::string kModel = EASEL_FIXTURES_DIR "/sd1.safetensors";
const std::string kFakeSha(64, 'c');  // a hash the model cannot have: proof it was not read

std::string Abs(const std::string& p) {
  return fs::absolute(p).lexically_normal().string();
}

std::string RealAutoV2() {
  auto sha = Sha256File(kModel);
  EXPECT_TRUE(sha.ok());
  return sha.ok() ? AutoV2Hash(*sha) : "";
}

// Sets environment variables for the easel processes a test starts; restores them after.
class ScopedEnv {
 public:
  void Set(const std::string& name, const std::string& value) {
    const char* old = std::getenv(name.c_str());
    saved_.push_back({name, old ? std::optional<std::string>(old) : std::nullopt});
    ::setenv(name.c_str(), value.c_str(), 1);
  }
  ~ScopedEnv() {
    for (auto it = saved_.rbegin(); it != saved_.rend(); ++it) {
      if (it->second)
        ::setenv(it->first.c_str(), it->second->c_str(), 1);
      else
        ::unsetenv(it->first.c_str());
    }
  }

 private:
  std::vector<std::pair<std::string, std::optional<std::string>>> saved_;
};

// A data dir whose library knows the fixture model by kFakeSha (same size and mtime).
void IndexModelWithFakeHash(const std::string& data_dir) {
  fs::create_directories(data_dir);
  auto index = store::SqliteModelIndex::Open(data_dir + "/easel.db");
  ASSERT_TRUE(index.ok()) << index.status().ToString();
  struct stat st {};
  ASSERT_EQ(::stat(kModel.c_str(), &st), 0);
  library::ModelRecord r;
  r.path = Abs(kModel);
  r.root = Abs(EASEL_FIXTURES_DIR);
  r.name = "sd1";
  r.kind = library::ModelKind::kCheckpoint;
  r.family = library::Family::kSD1;
  r.size = st.st_size;
  r.mtime_ns = int64_t{st.st_mtim.tv_sec} * 1000000000 + st.st_mtim.tv_nsec;
  r.sha256 = kFakeSha;
  r.autov2 = AutoV2Hash(kFakeSha);
  ASSERT_TRUE((*index)->Upsert({r}).ok());
}

std::string Parameters(const std::string& png) {
  auto text = io::ReadPngText(png);
  EXPECT_TRUE(text.ok()) << png;
  if (!text.ok() || text->empty()) return "";
  return (*text)[0].second;
}

std::string Generate(const TempDir& dir, const std::string& out) {
  testing::CliRun r =
      testing::Easel("generate -q --model " + Q(kModel) +
                     " -p 'a fox' --text-heads 2 --steps 1 --seed 5 -W 64 -H 64 -o " + Q(out));
  EXPECT_EQ(r.code, 0) << r.out;
  (void)dir;
  return Parameters(out);
}

TEST(ModelHashE2E, GenerateWritesTheFilesOwnHash) {
  TempDir dir;
  ScopedEnv env;
  env.Set("EASEL_CACHE_DIR", dir.File("cache"));  // nothing cached: hashed during sampling
  env.Set("EASEL_DATA_DIR", dir.File("data"));    // no library
  const std::string want = RealAutoV2();
  const std::string params = Generate(dir, dir.File("a.png"));
  EXPECT_NE(params.find("Model hash: " + want + ","), std::string::npos) << params;
  auto side = json::parse(dir.Read("a.json"));
  EXPECT_EQ(side["model"]["hash"], want);
  // The hash went into the cache; the second run takes it from there, same infotext.
  EXPECT_NE(dir.Read("cache/hashes.json").find(*Sha256File(kModel)), std::string::npos);
  EXPECT_EQ(Generate(dir, dir.File("b.png")), params);
}

TEST(ModelHashE2E, GenerateTakesTheLibraryHashOfTheSameFile) {
  TempDir dir;
  ScopedEnv env;
  env.Set("EASEL_CACHE_DIR", dir.File("cache"));
  env.Set("EASEL_DATA_DIR", dir.File("data"));
  IndexModelWithFakeHash(dir.File("data"));
  const std::string params = Generate(dir, dir.File("a.png"));
  EXPECT_NE(params.find("Model hash: " + AutoV2Hash(kFakeSha) + ","), std::string::npos) << params;
}

// Plays the server for one `easel worker` (see worker_test.cpp for the protocol).
class Worker {
 public:
  Worker(const TempDir& dir, const std::vector<std::string>& env) : dir_(dir) {
    auto addr = ipc::Address::Parse("unix:" + dir.File("s.sock"));
    EXPECT_TRUE(addr.ok());
    auto l = ipc::Listener::Listen(*addr);
    EXPECT_TRUE(l.ok()) << l.status().ToString();
    listener_ = std::move(*l);
    process::SpawnOptions so;
    so.path = EASEL_BINARY_DIR "/easel";
    so.args = {"worker", "--connect", addr->ToString(), "--worker-id", "wh"};
    so.env = env;
    so.env.push_back(std::string(worker_protocol::kTokenEnv) + "=secret");
    auto pid = process::Spawn(so);
    EXPECT_TRUE(pid.ok()) << pid.status().ToString();
    if (pid.ok()) pid_ = *pid;
    auto c = listener_.Accept(20000);
    EXPECT_TRUE(c.ok() && c->connected());
    if (c.ok()) conn_ = std::move(*c);
  }
  ~Worker() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      process::Reap(pid_);
    }
  }
  json Next() {
    auto r = conn_.Recv(60000);
    if (!r.ok() || r->state != ipc::RecvState::kMessage) return json{{"type", "<nothing>"}};
    return r->message;
  }
  // Runs a job; returns its outcome (the first message that is neither hello nor progress).
  json Run(const std::string& job_id) {
    json request = {{"model", kModel}, {"prompt", "a fox"}, {"steps", 1},     {"width", 64},
                    {"height", 64},    {"seed", 5},         {"text_heads", 2}};
    EXPECT_TRUE(conn_
                    .Send({{"type", "run"},
                           {"job_id", job_id},
                           {"request", request},
                           {"output_dir", dir_.File("out")}},
                          1000)
                    .ok());
    for (;;) {
      json m = Next();
      if (m["type"] != "progress" && m["type"] != "hello") return m;
    }
  }

 private:
  const TempDir& dir_;
  ipc::Listener listener_;
  ipc::Connection conn_;
  pid_t pid_ = -1;
};

TEST(ModelHashE2E, WorkerReportsTheFilesOwnHashInInfotextAndDone) {
  TempDir dir;
  Worker w(dir, {"EASEL_CACHE_DIR=" + dir.File("cache"), "EASEL_DATA_DIR=" + dir.File("data")});
  const std::string want = RealAutoV2();
  for (const char* id : {"j1", "j2"}) {  // j2: the same loaded model, the same hash
    json done = w.Run(id);
    ASSERT_EQ(done["type"], "done") << done.dump();
    EXPECT_EQ(done["model"]["hash"], want);
    EXPECT_TRUE(done["timings"].contains("hash_wait_s")) << done.dump();
    const std::string params = done["images"][0]["parameters"];
    EXPECT_NE(params.find("Model hash: " + want + ","), std::string::npos) << params;
    EXPECT_EQ(Parameters(done["images"][0]["path"]), params);
  }
}

TEST(ModelHashE2E, WorkerTakesTheLibraryHashOfTheSameFile) {
  TempDir dir;
  IndexModelWithFakeHash(dir.File("data"));
  Worker w(dir, {"EASEL_CACHE_DIR=" + dir.File("cache"), "EASEL_DATA_DIR=" + dir.File("data")});
  json done = w.Run("j1");
  ASSERT_EQ(done["type"], "done") << done.dump();
  EXPECT_EQ(done["model"]["hash"], AutoV2Hash(kFakeSha));
  const std::string params = done["images"][0]["parameters"];
  EXPECT_NE(params.find("Model hash: " + AutoV2Hash(kFakeSha) + ","), std::string::npos) << params;
}

}  // namespace
}  // namespace easel
