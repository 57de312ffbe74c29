// The model library through the real `easel serve` and `easel models`: model previews
// (preview_url, the file, 404/400), library stats, jobs naming a preset, styles (native and
// A1111's "styles") and "model": "auto", the gallery's history filters as query parameters,
// A1111 sd-models hashes and sd-vae from the library, /api/v1/models "modified" as a Unix
// time, and the CivitAI switch and offline scan of the CLI (against a closed local port).
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "../core/closed_port.h"
#include "../core/io_temp_dir.h"
#include "server/process.h"
#include "test_paths.h"

namespace easel::server {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

const std::string kEasel = EASEL_BINARY_DIR "/easel";

json Parse(const httplib::Result& r) {
  return r ? json::parse(r->body, nullptr, false) : json();
}

json Post(httplib::Client& c, const std::string& path, const json& body, int* status) {
  auto r = c.Post(path, body.dump(), "application/json");
  *status = r ? r->status : -1;
  return Parse(r);
}

json WaitJob(httplib::Client& c, const std::string& id) {
  const auto deadline = Clock::now() + std::chrono::seconds(120);
  json job;
  while (Clock::now() < deadline) {
    job = Parse(c.Get("/api/v1/jobs/" + id));
    const std::string s = job.value("state", "");
    if (s == "succeeded" || s == "failed" || s == "cancelled") return job;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ADD_FAILURE() << "job " << id << " did not end: " << job.dump();
  return job;
}

// `env easel ARGS` through the shell: exit code and output.
std::pair<int, std::string> RunEasel(const std::string& env_and_args) {
  const std::string cmd = "env " + env_and_args.substr(0, env_and_args.find('|')) + " " + kEasel +
                          " " + env_and_args.substr(env_and_args.find('|') + 1) + " 2>&1";
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  std::array<char, 4096> buf;
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  const int st = ::pclose(p);
  return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, out};
}

class LibraryServerE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    // The server's models folder: the fixture checkpoint as one file.
    models_ = tmp_.File("models");
    fs::create_directories(models_);
    fs::create_symlink(EASEL_FIXTURES_DIR "/sd1.safetensors", models_ + "/single.safetensors");
    // A1111 requests cannot pass text_heads: they use the diffusers folder (its config says).
    fs::create_directory_symlink(EASEL_FIXTURES_DIR "/sd1", models_ + "/sd1");
    // A library folder elsewhere: the same checkpoint by another name with a preview, a VAE.
    lib_ = tmp_.File("library");
    fs::create_directories(lib_ + "/checkpoints");
    fs::create_directories(lib_ + "/vae");
    // A copy, not a link: a link to the models folder's file would be that file (its name).
    fs::copy_file(EASEL_FIXTURES_DIR "/sd1.safetensors",
                  lib_ + "/checkpoints/pinkgirl.safetensors");
    tmp_.Write("library/checkpoints/pinkgirl.preview.png", "\x89PNG preview bytes");
    fs::create_symlink(EASEL_FIXTURES_DIR "/vae_other.safetensors",
                       lib_ + "/vae/other_vae.safetensors");
    const std::string port_file = tmp_.File("port");
    process::SpawnOptions o;
    o.path = kEasel;
    o.args = {"serve",           "--port",       "0",    "--port-file", port_file, "--data-dir",
              tmp_.File("data"), "--models-dir", models_};
    auto pid = process::Spawn(o);
    ASSERT_TRUE(pid.ok()) << pid.status().ToString();
    pid_ = *pid;
    const auto deadline = Clock::now() + std::chrono::seconds(60);
    while (Clock::now() < deadline && port_ <= 0) {
      std::ifstream in(port_file);
      in >> port_;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ASSERT_GT(port_, 0);
    while (Clock::now() < deadline) {
      auto r = C().Get("/api/v1/health");
      if (r && r->status == 200) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    FAIL() << "easel serve did not become ready";
  }
  void TearDown() override {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      process::Reap(pid_);
    }
  }
  httplib::Client C() const {
    httplib::Client c("127.0.0.1", port_);
    c.set_read_timeout(120);
    return c;
  }

  testing::TempDir tmp_;
  std::string models_, lib_;
  int pid_ = -1, port_ = 0;
};

TEST_F(LibraryServerE2E, PreviewsStatsPresetsStylesAutoFiltersAndA1111) {
  auto c = C();
  int st = 0;
  json scan =
      Post(c, "/api/v1/library/models/rescan", {{"paths", {lib_, models_}}, {"hash", true}}, &st);
  ASSERT_EQ(st, 200) << scan.dump();

  // Previews.
  json listed = Parse(c.Get("/api/v1/library/models?kind=checkpoint"));
  json pink, single;
  for (const json& m : listed["models"]) {
    if (m["name"] == "pinkgirl") pink = m;
    if (m["name"] == "single") single = m;
  }
  ASSERT_TRUE(pink.contains("preview_url")) << listed.dump();
  EXPECT_FALSE(single.contains("preview_url"));
  auto preview = c.Get(pink["preview_url"].get<std::string>());
  ASSERT_TRUE(preview);
  EXPECT_EQ(preview->status, 200);
  EXPECT_EQ(preview->get_header_value("Content-Type"), "image/png");
  EXPECT_EQ(preview->body, "\x89PNG preview bytes");
  EXPECT_EQ(c.Get("/api/v1/library/models/" + single["id"].get<std::string>() + "/preview")->status,
            404);
  EXPECT_EQ(c.Get("/api/v1/library/models/m_nothex/preview")->status, 400);
  json stats = Parse(c.Get("/api/v1/library/stats"));
  EXPECT_GE(stats["by_kind"]["checkpoint"].get<int>(), 2);
  EXPECT_EQ(stats["by_kind"]["vae"], 1);

  // "modified" is seconds since 1970 (was negative).
  json models = Parse(c.Get("/api/v1/models"));
  ASSERT_EQ(models["models"].size(), 2u);
  for (const json& m : models["models"]) EXPECT_GT(m["modified"].get<int64_t>(), 1600000000);
  // A1111: the hashes the library computed, VAEs from the library, styles.
  json sd = Parse(c.Get("/sdapi/v1/sd-models"));
  ASSERT_EQ(sd.size(), 2u);
  const json& s1 = sd[0]["model_name"] == "single" ? sd[0] : sd[1];
  EXPECT_EQ(s1["hash"], single["autov2"]) << sd.dump();
  EXPECT_EQ(s1["sha256"].get<std::string>().size(), 64u);
  EXPECT_EQ(s1["title"], "single.safetensors [" + single["autov2"].get<std::string>() + "]");
  json vaes = Parse(c.Get("/sdapi/v1/sd-vae"));
  ASSERT_EQ(vaes.size(), 1u);
  EXPECT_EQ(vaes[0]["model_name"], "other_vae.safetensors");

  // Styles: native and A1111.
  Post(c, "/api/v1/styles/e2e-frame", {{"prompt", "framed {prompt}"}}, &st);
  ASSERT_EQ(st, 200);
  const json fast = {{"steps", 2}, {"width", 64}, {"height", 64}, {"text_heads", 2}};
  json a = {{"steps", 2},
            {"width", 64},
            {"height", 64},
            {"prompt", "a fox"},
            {"override_settings", {{"sd_model_checkpoint", "sd1"}}}};
  a["styles"] = {"e2e-frame"};
  json a1111 = Post(c, "/sdapi/v1/txt2img", a, &st);
  ASSERT_EQ(st, 200) << a1111.dump();
  json info = json::parse(a1111["info"].get<std::string>());
  EXPECT_EQ(info["prompt"], "framed a fox");
  EXPECT_EQ(info["styles"], json({"e2e-frame"}));
  EXPECT_EQ(Parse(c.Get("/sdapi/v1/prompt-styles"))[0]["name"], "e2e-frame");
  a["styles"] = {"e2e-none"};
  json bad = Post(c, "/sdapi/v1/txt2img", a, &st);
  EXPECT_EQ(st, 400);
  EXPECT_NE(bad.dump().find("e2e-frame"), std::string::npos) << bad.dump();

  // A preset naming a library checkpoint outside the models folder.
  json preset = {{"name", "e2e-pink"},
                 {"checkpoint", pink["path"]},
                 {"params", {{"steps", 2}, {"width", 64}, {"height", 64}}}};
  Post(c, "/api/v1/presets", preset, &st);
  ASSERT_EQ(st, 201);
  json job =
      Post(c, "/api/v1/jobs",
           {{"prompt", "a castle"}, {"preset", "e2e-pink"}, {"text_heads", 2}, {"seed", 4}}, &st);
  ASSERT_EQ(st, 202) << job.dump();
  EXPECT_EQ(job["library"]["preset"]["name"], "e2e-pink");
  EXPECT_EQ(job["request"]["model"], "pinkgirl");
  json done = WaitJob(c, job["id"]);
  ASSERT_EQ(done["state"], "succeeded") << done.dump();
  json unknown = Post(c, "/api/v1/jobs", {{"prompt", "x"}, {"preset", "e2e-nope"}}, &st);
  EXPECT_EQ(st, 400);
  EXPECT_NE(unknown["error"]["message"].get<std::string>().find("e2e-pink"), std::string::npos);

  // "model": "auto".
  json autojob = fast;
  autojob["prompt"] = "a girl, anime";
  autojob["model"] = "auto";
  autojob["quality"] = "fast";
  json chosen = Post(c, "/api/v1/jobs", autojob, &st);
  ASSERT_EQ(st, 202) << chosen.dump();
  EXPECT_FALSE(chosen["library"]["selection"]["explanation"].empty());
  EXPECT_EQ(WaitJob(c, chosen["id"])["state"], "succeeded");

  // Gallery filters (3 images: A1111, preset, auto).
  auto total = [&](const std::string& q) {
    auto r = c.Get("/api/v1/images?" + q);
    if (!r) return int64_t{-1};
    return r->status == 200 ? Parse(r)["total"].get<int64_t>() : -int64_t{r->status};
  };
  EXPECT_EQ(total(""), 3);
  EXPECT_EQ(total("model=pinkgirl"), chosen["request"]["model"] == "pinkgirl" ? 2 : 1);
  EXPECT_EQ(total("size=64x64"), 3);
  EXPECT_EQ(total("width=64&height=64"), 3);
  EXPECT_EQ(total("size=64x128"), 0);
  EXPECT_EQ(total("from=2000-01-01&to=2999-12-31"), 3);
  EXPECT_EQ(total("to=2000-01-01"), 0);
  EXPECT_EQ(total("lora=none-such"), 0);
  EXPECT_EQ(total("q=castle&model=pinkgirl&size=64x64"), 1);
  EXPECT_EQ(total("size=64"), -400);
  EXPECT_EQ(total("from=yesterday"), -400);
  EXPECT_EQ(total("size=64x64&width=128"), -400);
}

TEST(LibraryCliE2E, CivitaiSwitchAndAnOfflineScan) {
  testing::TempDir tmp;
  const std::string data = tmp.File("data"), models = tmp.File("models");
  fs::create_directories(models);
  fs::create_symlink(EASEL_FIXTURES_DIR "/sd1.safetensors", models + "/one.safetensors");
  const std::string d = " --data-dir '" + data + "'";
  auto off = RunEasel("|models civitai status" + d);
  EXPECT_EQ(off.first, 0) << off.second;
  EXPECT_NE(off.second.find("off (the default)"), std::string::npos) << off.second;
  EXPECT_EQ(RunEasel("|models civitai on" + d).first, 0);
  EXPECT_NE(RunEasel("|models civitai status" + d).second.find("lookups: on"), std::string::npos);
  EXPECT_EQ(RunEasel("|models civitai sometimes" + d).first, 2);  // usage error
  // The switch is on: a scan looks up by hash; nothing listens there, so: offline, exit 0.
  const std::string env =
      "EASEL_CIVITAI_URL=http://127.0.0.1:" + std::to_string(testing::ClosedPort()) + "|";
  auto scan = RunEasel(env + "models scan '" + models + "' -q" + d);
  EXPECT_EQ(scan.first, 0) << scan.second;
  EXPECT_NE(scan.second.find("could not be reached"), std::string::npos) << scan.second;
  EXPECT_NE(scan.second.find("working offline"), std::string::npos);
  EXPECT_NE(scan.second.find("stopped early"), std::string::npos);
  // Off again: a scan sends nothing (no message), unless --civitai asks for it once.
  EXPECT_EQ(RunEasel("|models civitai off" + d).first, 0);
  auto quiet = RunEasel(env + "models scan '" + models + "' -q" + d);
  EXPECT_EQ(quiet.first, 0);
  EXPECT_EQ(quiet.second.find("CivitAI"), std::string::npos) << quiet.second;
  auto once = RunEasel(env + "models scan '" + models + "' -q --civitai" + d);
  EXPECT_NE(once.second.find("working offline"), std::string::npos) << once.second;
}

}  // namespace
}  // namespace easel::server
