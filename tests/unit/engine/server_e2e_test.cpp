// `easel serve` end to end: the real binary on a free loopback port with a temporary data dir
// and a models folder holding the fixture model (tests/fixtures/sd1: 64x64 images, 2 steps,
// well under a second a job on a CPU), driven over HTTP with cpp-httplib's client.
//
// Covers every endpoint's happy path (native, A1111, OpenAI), a malformed-input table per
// endpoint (always 4xx, never 5xx, and the server keeps serving), SSE streams, cancel,
// kill -9 of the server with 20 queued jobs (all done exactly once after a restart), kill -9
// of a worker mid-job (retried), 32 concurrent clients, and auth on a non-loopback bind.
// img2img/inpaint need the engine's edit fields (request_json.h: init_image, mask ...).
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "../core/io_temp_dir.h"
#include "io/png.h"
#include "server/base64.h"
#include "server/process.h"
#include "test_paths.h"

namespace easel::server {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

const std::string kEasel = EASEL_BINARY_DIR "/easel";

// One `easel serve` process.
class Server {
 public:
  Server(const std::string& data_dir, const std::string& models_dir,
         std::vector<std::string> extra = {}, std::string host = "127.0.0.1")
      : data_dir_(data_dir),
        models_dir_(models_dir),
        extra_(std::move(extra)),
        host_(std::move(host)) {}
  ~Server() { Kill(SIGKILL); }

  // Starts and waits for the port; with wait_ready, also for /api/v1/health = 200.
  bool Start(bool wait_ready = true) {
    const std::string port_file = data_dir_ + ".port";
    fs::remove(port_file);
    process::SpawnOptions o;
    o.path = kEasel;
    o.args = {"serve",       "--host",      host_,        "--port",  "0",
              "--port-file", port_file,     "--data-dir", data_dir_, "--models-dir",
              models_dir_,   "--max-steps", "500"};
    o.args.insert(o.args.end(), extra_.begin(), extra_.end());
    auto pid = process::Spawn(o);
    if (!pid.ok()) {
      ADD_FAILURE() << pid.status().ToString();
      return false;
    }
    pid_ = *pid;
    const auto deadline = Clock::now() + std::chrono::seconds(30);
    while (Clock::now() < deadline) {
      std::ifstream in(port_file);
      if (in >> port_) break;
      if (auto st = process::TryReap(pid_)) {
        exit_status_ = *st;
        pid_ = -1;
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (port_ <= 0) return false;
    if (!wait_ready) return true;
    while (Clock::now() < deadline + std::chrono::seconds(60)) {
      auto r = Client().Get("/api/v1/health");
      if (r && r->status == 200) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }

  void Kill(int sig) {
    if (pid_ <= 0) return;
    ::kill(pid_, sig);
    exit_status_ = process::Reap(pid_);
    pid_ = -1;
  }

  httplib::Client Client(const std::string& key = "") const {
    httplib::Client c("127.0.0.1", port_);
    c.set_read_timeout(120);
    c.set_connection_timeout(10);
    if (!key.empty()) c.set_bearer_token_auth(key.c_str());
    return c;
  }
  int port() const { return port_; }
  int exit_status() const { return exit_status_; }

 private:
  std::string data_dir_, models_dir_;
  std::vector<std::string> extra_;
  std::string host_;
  int pid_ = -1, port_ = 0, exit_status_ = -1;
};

json Parse(const httplib::Result& r) {
  if (!r) return json();
  return json::parse(r->body, nullptr, false);
}

json PostJson(httplib::Client& c, const std::string& path, const json& body,
              int* status = nullptr) {
  auto r = c.Post(path, body.dump(), "application/json");
  if (status) *status = r ? r->status : -1;
  if (!r) return json{{"client_error", httplib::to_string(r.error())}};
  return Parse(r);
}

json FastJob(int64_t seed = 1) {
  return {
      {"prompt", "a red fox in snow"}, {"steps", 2}, {"width", 64}, {"height", 64}, {"seed", seed}};
}

// Polls GET /api/v1/jobs/{id} until the job ended.
json WaitJob(httplib::Client& c, const std::string& id, int timeout_s = 120) {
  const auto deadline = Clock::now() + std::chrono::seconds(timeout_s);
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

std::string TestPng(int w, int h, uint8_t value) {
  std::vector<uint8_t> px(static_cast<size_t>(w * h * 3), value);
  return *io::EncodePng(px.data(), w, h, 3, {});
}

bool IsPng(const std::string& bytes) {
  return bytes.size() > 8 && bytes.compare(1, 3, "PNG") == 0;
}

// The models folder: a symlink to the fixture model.
std::string MakeModels(const testing::TempDir& tmp) {
  const std::string dir = tmp.path() + "/models";
  fs::create_directories(dir + "/Lora");
  fs::create_directory_symlink(EASEL_FIXTURES_DIR "/sd1", dir + "/sd1");
  return dir;
}

// One server shared by the tests that leave it serving.
class ServerE2E : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    tmp_ = new testing::TempDir();
    server_ = new Server(tmp_->path() + "/data", MakeModels(*tmp_));
    ASSERT_TRUE(server_->Start()) << "easel serve did not become ready";
  }
  static void TearDownTestSuite() {
    server_->Kill(SIGTERM);
    delete server_;
    delete tmp_;
  }
  void SetUp() override {
    if (server_->port() <= 0) GTEST_SKIP() << "no server";
  }
  static httplib::Client C() { return server_->Client(); }

  static testing::TempDir* tmp_;
  static Server* server_;
};
testing::TempDir* ServerE2E::tmp_ = nullptr;
Server* ServerE2E::server_ = nullptr;

TEST_F(ServerE2E, HealthStatsModelsAndOpenApi) {
  auto c = C();
  EXPECT_EQ(c.Get("/api/v1/health")->status, 200);
  json stats = Parse(c.Get("/api/v1/stats"));
  ASSERT_TRUE(stats.contains("devices")) << stats.dump();
  EXPECT_EQ(stats["devices"].size(), 1u);
  EXPECT_GT(stats["memory"]["server_rss_bytes"].get<int64_t>(), 0);
  EXPECT_TRUE(stats["queue"].contains("queued"));
  json models = Parse(c.Get("/api/v1/models"));
  ASSERT_EQ(models["models"].size(), 1u) << models.dump();
  EXPECT_EQ(models["models"][0]["name"], "sd1");
  EXPECT_EQ(models["models"][0]["family"], "SD1");
  EXPECT_EQ(c.Post("/api/v1/models/refresh")->status, 200);
  json doc = Parse(c.Get("/api/v1/openapi.json"));
  EXPECT_EQ(doc["openapi"], "3.0.3");
  EXPECT_TRUE(doc["paths"].contains("/api/v1/jobs"));
  EXPECT_TRUE(doc["paths"].contains("/api/v1/images"));
}

TEST_F(ServerE2E, NativeJobLifecycleAndHistory) {
  auto c = C();
  int status = 0;
  json body = FastJob(7);
  body["prompt"] = "a lighthouse castle at dusk";
  body["tags"] = {"Test", "castle"};
  body["batch_size"] = 2;
  json job = PostJson(c, "/api/v1/jobs", body, &status);
  ASSERT_EQ(status, 202) << job.dump();
  EXPECT_EQ(job["state"], "queued");
  EXPECT_EQ(job["kind"], "txt2img");
  job = WaitJob(c, job["id"]);
  ASSERT_EQ(job["state"], "succeeded") << job.dump();
  ASSERT_EQ(job["result"]["images"].size(), 2u);
  const std::string image_id = job["result"]["images"][0]["id"];
  EXPECT_EQ(job["result"]["images"][0]["seed"], 7);
  EXPECT_EQ(job["result"]["images"][1]["seed"], 8);

  auto file = c.Get("/api/v1/images/" + image_id + "/file");
  ASSERT_EQ(file->status, 200);
  EXPECT_TRUE(IsPng(file->body));
  auto text = io::ReadPngTextFromBytes(file->body);
  ASSERT_TRUE(text.ok());
  EXPECT_FALSE(text->empty());  // the A1111 parameters chunk
  json record = Parse(c.Get("/api/v1/images/" + image_id));
  EXPECT_EQ(record["prompt"], "a lighthouse castle at dusk");
  EXPECT_EQ(record["model"], "sd1");
  EXPECT_EQ(record["tags"], json({"castle", "test"}));
  EXPECT_TRUE(fs::exists(tmp_->path() + "/data/images"));

  json found = Parse(c.Get("/api/v1/images?q=castle%20model:sd*&limit=10"));
  EXPECT_GE(found["total"].get<int>(), 2) << found.dump();
  json by_job = Parse(c.Get("/api/v1/images?job_id=" + job["id"].get<std::string>()));
  EXPECT_EQ(by_job["total"], 2);
  json none = Parse(c.Get("/api/v1/images?q=zebra"));
  EXPECT_EQ(none["total"], 0);

  json events = Parse(c.Get("/api/v1/jobs/" + job["id"].get<std::string>() + "/events"));
  std::set<std::string> types;
  for (const json& e : events["events"]) types.insert(e["type"]);
  for (const char* t : {"queued", "running", "started", "image", "succeeded"})
    EXPECT_TRUE(types.count(t)) << t;

  json list = Parse(c.Get("/api/v1/jobs?state=succeeded&limit=5"));
  EXPECT_GE(list["total"].get<int>(), 1);

  auto del = c.Delete("/api/v1/images/" + image_id);
  EXPECT_EQ(del->status, 200);
  EXPECT_EQ(c.Get("/api/v1/images/" + image_id)->status, 404);
  EXPECT_EQ(c.Get("/api/v1/images/" + image_id + "/file")->status, 404);
}

TEST_F(ServerE2E, SseStreamsProgressUntilTheEnd) {
  auto c = C();
  json body = FastJob(3);
  body["steps"] = 6;
  json job = PostJson(c, "/api/v1/txt2img", body);
  ASSERT_TRUE(job.contains("id")) << job.dump();
  std::string stream;
  auto r = c.Get("/api/v1/jobs/" + job["id"].get<std::string>() + "/stream",
                 [&](const char* data, size_t n) {
                   stream.append(data, n);
                   return true;
                 });
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_NE(stream.find("event: progress"), std::string::npos) << stream.substr(0, 2000);
  EXPECT_NE(stream.find("event: succeeded"), std::string::npos);
  EXPECT_NE(stream.find("event: end"), std::string::npos);
  EXPECT_NE(stream.find("\"seconds_per_step\""), std::string::npos);
  // A stream of an ended job replays its history and ends at once.
  std::string again;
  c.Get("/api/v1/jobs/" + job["id"].get<std::string>() + "/stream", [&](const char* d, size_t n) {
    again.append(d, n);
    return true;
  });
  EXPECT_NE(again.find("event: end"), std::string::npos);
}

TEST_F(ServerE2E, CancelsQueuedAndRunningJobs) {
  auto c = C();
  json slow = FastJob(5);
  slow["steps"] = 500;
  json running = PostJson(c, "/api/v1/jobs", slow);
  json queued = PostJson(c, "/api/v1/jobs", slow);
  const std::string rid = running["id"], qid = queued["id"];
  // Wait for the first to run.
  const auto deadline = Clock::now() + std::chrono::seconds(60);
  while (Clock::now() < deadline) {
    json j = Parse(c.Get("/api/v1/jobs/" + rid));
    if (j.value("state", "") == "running" && j.contains("progress") && j["progress"]["step"] > 0)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  json q = PostJson(c, "/api/v1/jobs/" + qid + "/cancel", json::object());
  EXPECT_EQ(q["state"], "cancelled") << q.dump();
  auto del = c.Delete("/api/v1/jobs/" + rid);
  ASSERT_EQ(del->status, 200);
  json r = WaitJob(c, rid, 60);
  EXPECT_EQ(r["state"], "cancelled") << r.dump();
  // Cancel of an ended job changes nothing.
  json again = PostJson(c, "/api/v1/jobs/" + qid + "/cancel", json::object());
  EXPECT_EQ(again["state"], "cancelled");
}

TEST_F(ServerE2E, HigherPriorityRunsFirst) {
  auto c = C();
  json slow = FastJob(21);
  slow["steps"] = 500;
  const std::string busy = PostJson(c, "/api/v1/jobs", slow)["id"];
  json low = FastJob(22), high = FastJob(23);
  low["priority"] = -5;
  high["priority"] = 50;
  const std::string low_id = PostJson(c, "/api/v1/jobs", low)["id"];
  const std::string high_id = PostJson(c, "/api/v1/jobs", high)["id"];
  PostJson(c, "/api/v1/jobs/" + busy + "/cancel", json::object());
  json l = WaitJob(c, low_id), h = WaitJob(c, high_id);
  ASSERT_EQ(l["state"], "succeeded");
  ASSERT_EQ(h["state"], "succeeded");
  EXPECT_LT(h["started_ms"].get<int64_t>(), l["started_ms"].get<int64_t>());
  EXPECT_EQ(WaitJob(c, busy)["state"], "cancelled");
}

TEST_F(ServerE2E, KillNineOfAWorkerMidJobRetriesTheJob) {
  auto c = C();
  json body = FastJob(11);
  body["steps"] = 300;
  json job = PostJson(c, "/api/v1/jobs", body);
  const std::string id = job["id"];
  int pid = -1;
  const auto deadline = Clock::now() + std::chrono::seconds(60);
  while (Clock::now() < deadline && pid <= 0) {
    json j = Parse(c.Get("/api/v1/jobs/" + id));
    if (j.contains("progress") && j["progress"]["step"] > 0) {
      const json stats = Parse(c.Get("/api/v1/stats"));  // named: the loop reads into it
      for (const json& w : stats["devices"])
        if (w["job_id"] == id) pid = w["pid"];
    }
    if (j.value("state", "") == "succeeded") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_GT(pid, 0) << "the job never ran on a worker";
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  json done = WaitJob(c, id, 120);
  EXPECT_EQ(done["state"], "succeeded") << done.dump();
  EXPECT_EQ(done["attempts"], 2);
  json events = Parse(c.Get("/api/v1/jobs/" + id + "/events"));
  bool retried = false;
  for (const json& e : events["events"]) retried |= e["type"] == "retry";
  EXPECT_TRUE(retried) << events.dump();
  EXPECT_EQ(c.Get("/api/v1/health")->status, 200);
}

TEST_F(ServerE2E, ThirtyTwoConcurrentClients) {
  std::atomic<int> succeeded{0}, bad{0};
  std::vector<std::thread> clients;
  for (int i = 0; i < 32; ++i)
    clients.emplace_back([&, i] {
      auto c = C();
      int status = 0;
      json job = PostJson(c, "/api/v1/jobs", FastJob(100 + i), &status);
      if (status != 202) {
        ++bad;
        ADD_FAILURE() << "client " << i << ": " << status << " " << job.dump();
        return;
      }
      json end = WaitJob(c, job["id"], 170);
      if (end["state"] == "succeeded") {
        ++succeeded;
      } else {
        ++bad;
        ADD_FAILURE() << "client " << i << ": " << end.dump();
      }
    });
  for (auto& t : clients) t.join();
  EXPECT_EQ(succeeded.load(), 32);
  EXPECT_EQ(bad.load(), 0);
}

TEST_F(ServerE2E, A1111Api) {
  auto c = C();
  int status = 0;
  json body = {{"prompt", "a castle"},
               {"negative_prompt", "blurry"},
               {"steps", 2},
               {"width", 64},
               {"height", 64},
               {"seed", 42},
               {"sampler_name", "Euler a"},
               {"batch_size", 1},
               {"n_iter", 2},
               {"cfg_scale", 7},
               {"restore_faces", false},
               {"tiling", false},
               {"styles", json::array()},
               {"override_settings", {{"sd_model_checkpoint", "sd1"}}}};
  json out = PostJson(c, "/sdapi/v1/txt2img", body, &status);
  ASSERT_EQ(status, 200) << out.dump().substr(0, 1000);
  ASSERT_EQ(out["images"].size(), 2u);
  auto png = Base64Decode(out["images"][0].get<std::string>(), "image");
  ASSERT_TRUE(png.ok());
  EXPECT_TRUE(IsPng(*png));
  json info = json::parse(out["info"].get<std::string>());
  EXPECT_EQ(info["all_seeds"], json({42, 43}));
  EXPECT_EQ(info["infotexts"].size(), 2u);
  EXPECT_EQ(out["parameters"]["prompt"], "a castle");

  json pnginfo = PostJson(c, "/sdapi/v1/png-info", {{"image", out["images"][0]}}, &status);
  ASSERT_EQ(status, 200) << pnginfo.dump();
  EXPECT_EQ(pnginfo["parameters"]["Prompt"], "a castle");
  EXPECT_EQ(pnginfo["parameters"]["Steps"], "2");
  EXPECT_NE(pnginfo["info"].get<std::string>().find("Seed: 42"), std::string::npos);

  json models = Parse(c.Get("/sdapi/v1/sd-models"));
  ASSERT_EQ(models.size(), 1u);
  EXPECT_EQ(models[0]["model_name"], "sd1");
  EXPECT_TRUE(models[0].contains("title"));
  json options = Parse(c.Get("/sdapi/v1/options"));
  EXPECT_EQ(options["sd_model_checkpoint"], "sd1");
  out = PostJson(c, "/sdapi/v1/options",
                 {{"sd_model_checkpoint", "sd1"}, {"show_progressbar", true}}, &status);
  EXPECT_EQ(status, 200);
  EXPECT_EQ(Parse(c.Get("/sdapi/v1/options"))["show_progressbar"], true);
  PostJson(c, "/sdapi/v1/options", {{"sd_model_checkpoint", "no-such-model"}}, &status);
  EXPECT_EQ(status, 404);

  json samplers = Parse(c.Get("/sdapi/v1/samplers"));
  ASSERT_GE(samplers.size(), 8u);
  EXPECT_EQ(samplers[0]["name"], "Euler");
  EXPECT_TRUE(samplers[0]["aliases"].is_array());
  EXPECT_TRUE(samplers[0]["options"].is_object());
  json schedulers = Parse(c.Get("/sdapi/v1/schedulers"));
  EXPECT_EQ(schedulers[1]["name"], "karras");
  EXPECT_EQ(schedulers[1]["label"], "Karras");
  EXPECT_TRUE(Parse(c.Get("/sdapi/v1/loras")).is_array());
  json progress = Parse(c.Get("/sdapi/v1/progress?skip_current_image=true"));
  EXPECT_TRUE(progress["progress"].is_number());
  EXPECT_TRUE(progress["eta_relative"].is_number());
  EXPECT_TRUE(progress["state"].contains("sampling_steps"));
  EXPECT_EQ(c.Post("/sdapi/v1/interrupt")->status, 200);
  EXPECT_EQ(c.Post("/sdapi/v1/refresh-checkpoints")->status, 200);
}

// Waits for the engine's edit fields (request_json.h: init_image, mask, denoising_strength ...).
TEST_F(ServerE2E, A1111Img2ImgAndInpaint) {
  auto c = C();
  int status = 0;
  const std::string init = Base64Encode(TestPng(64, 64, 120)),
                    mask = Base64Encode(TestPng(64, 64, 255));
  json body = {{"prompt", "a castle"},
               {"steps", 2},
               {"width", 64},
               {"height", 64},
               {"seed", 1},
               {"init_images", {init}},
               {"denoising_strength", 0.6}};
  json out = PostJson(c, "/sdapi/v1/img2img", body, &status);
  EXPECT_EQ(status, 200) << out.dump().substr(0, 600);
  EXPECT_EQ(out["images"].size(), 1u);
  body["mask"] = mask;
  body["inpainting_fill"] = 1;
  body["inpaint_full_res"] = 0;
  out = PostJson(c, "/sdapi/v1/img2img", body, &status);
  EXPECT_EQ(status, 200) << out.dump().substr(0, 600);
  EXPECT_EQ(out["images"].size(), 1u);
  // Native, with a multipart upload.
  httplib::MultipartFormDataItems items = {
      {"request", json{{"prompt", "x"}, {"steps", 2}, {"width", 64}, {"height", 64}}.dump(), "",
       "application/json"},
      {"init_image", TestPng(64, 64, 50), "init.png", "image/png"}};
  auto r = c.Post("/api/v1/img2img", items);
  ASSERT_EQ(r->status, 202) << r->body;
  json job = WaitJob(c, Parse(r)["id"]);
  EXPECT_EQ(job["state"], "succeeded") << job.dump();
}

TEST_F(ServerE2E, OpenAiApi) {
  auto c = C();
  int status = 0;
  json out = PostJson(c, "/v1/images/generations",
                      {{"model", "dall-e-3"},
                       {"prompt", "a fox"},
                       {"n", 2},
                       {"size", "64x64"},
                       {"response_format", "b64_json"},
                       {"steps", 2}},
                      &status);
  ASSERT_EQ(status, 200) << out.dump().substr(0, 600);
  ASSERT_EQ(out["data"].size(), 2u);
  EXPECT_TRUE(IsPng(*Base64Decode(out["data"][0]["b64_json"].get<std::string>(), "x")));
  EXPECT_TRUE(out["created"].is_number_integer());
  out = PostJson(c, "/v1/images/generations",
                 {{"model", "sd1"}, {"prompt", "a fox"}, {"size", "64x64"}, {"steps", 2}}, &status);
  ASSERT_EQ(status, 200) << out.dump();
  const std::string url = out["data"][0]["url"];
  const std::string prefix = "http://127.0.0.1:" + std::to_string(server_->port());
  ASSERT_EQ(url.rfind(prefix, 0), 0u) << url;
  auto file = c.Get(url.substr(prefix.size()));
  EXPECT_EQ(file->status, 200);
  EXPECT_TRUE(IsPng(file->body));
  json models = Parse(c.Get("/v1/models"));
  EXPECT_EQ(models["object"], "list");
  EXPECT_EQ(models["data"][0]["id"], "sd1");
  EXPECT_EQ(Parse(c.Get("/v1/models/sd1"))["object"], "model");
}

struct BadCase {
  std::string method, path, body;
};

TEST_F(ServerE2E, MalformedInputIsAlways4xx) {
  const std::string big(70u << 20, 'a');
  const std::string huge_prompt = json{{"prompt", std::string(100000, 'x')}}.dump();
  const std::string bad_b64 = json{{"init_images", {"!!!notbase64"}}, {"prompt", "x"}}.dump();
  const std::string not_png = json{{"init_images", {Base64Encode("hello, not a png")}}}.dump();
  std::vector<BadCase> cases = {
      // native jobs
      {"POST", "/api/v1/jobs", ""},
      {"POST", "/api/v1/jobs", "{"},
      {"POST", "/api/v1/jobs", "[]"},
      {"POST", "/api/v1/jobs", "null"},
      {"POST", "/api/v1/jobs", R"({"steps":"20"})"},
      {"POST", "/api/v1/jobs", R"({"steps":1e30})"},
      {"POST", "/api/v1/jobs", R"({"width":99999999999})"},
      {"POST", "/api/v1/jobs", R"({"batch_size":100000})"},
      {"POST", "/api/v1/jobs", R"({"seed":"x"})"},
      {"POST", "/api/v1/jobs", R"({"model":"../../../etc/passwd"})"},
      {"POST", "/api/v1/jobs", R"({"model":"/etc/passwd"})"},
      {"POST", "/api/v1/jobs", R"({"model":"no-such-model"})"},
      {"POST", "/api/v1/jobs", R"({"init_image":"%%%"})"},
      {"POST", "/api/v1/jobs", R"({"loras":[{"name":"../../x"}]})"},
      {"POST", "/api/v1/jobs", R"({"bogus":1})"},
      {"POST", "/api/v1/jobs", huge_prompt},
      {"POST", "/api/v1/jobs", big},
      {"POST", "/api/v1/txt2img", R"({"kind":"inpaint"})"},
      {"GET", "/api/v1/jobs?state=weird", ""},
      {"GET", "/api/v1/jobs?limit=-1", ""},
      {"GET", "/api/v1/jobs?limit=abc", ""},
      {"GET", "/api/v1/jobs/j_0000000000000000", ""},
      {"GET", "/api/v1/jobs/..%2F..%2Fetc%2Fpasswd", ""},
      {"GET", "/api/v1/jobs/bad$id", ""},
      {"POST", "/api/v1/jobs/j_0000000000000000/cancel", ""},
      {"DELETE", "/api/v1/jobs/x.y", ""},
      {"GET", "/api/v1/jobs/j_0000000000000000/events?since=x", ""},
      {"GET", "/api/v1/jobs/j_0000000000000000/stream", ""},
      {"GET", "/api/v1/images?limit=100000", ""},
      {"GET", "/api/v1/images?min_width=x", ""},
      {"GET", "/api/v1/images?job_id=../x", ""},
      {"GET", "/api/v1/images/i_0000000000000000", ""},
      {"GET", "/api/v1/images/..%2F..%2Feasel.db/file", ""},
      {"GET", "/api/v1/images/bad!id/file", ""},
      {"DELETE", "/api/v1/images/i_0000000000000000", ""},
      {"PUT", "/api/v1/jobs", "{}"},
      {"GET", "/api/v1/nothing-here", ""},
      // A1111
      {"POST", "/sdapi/v1/txt2img", "not json"},
      {"POST", "/sdapi/v1/txt2img", R"({"steps":"many"})"},
      {"POST", "/sdapi/v1/txt2img", R"({"width":65})"},
      {"POST", "/sdapi/v1/txt2img", R"({"sampler_name":"Warp"})"},
      {"POST", "/sdapi/v1/txt2img", R"({"n_iter":"x"})"},
      {"POST", "/sdapi/v1/txt2img", R"({"override_settings":{"sd_model_checkpoint":"../x"}})"},
      {"POST", "/sdapi/v1/txt2img", R"({"override_settings":{"sd_model_checkpoint":"missing"}})"},
      {"POST", "/sdapi/v1/txt2img", R"({"override_settings":5})"},
      {"POST", "/sdapi/v1/img2img", R"({"prompt":"x"})"},
      {"POST", "/sdapi/v1/img2img", bad_b64},
      {"POST", "/sdapi/v1/img2img", not_png},
      {"POST", "/sdapi/v1/options", R"({"sd_model_checkpoint":5})"},
      {"POST", "/sdapi/v1/options", R"({"sd_model_checkpoint":"../../x"})"},
      {"POST", "/sdapi/v1/options", "[1]"},
      {"POST", "/sdapi/v1/png-info", R"({"image":"@@@"})"},
      {"POST", "/sdapi/v1/png-info", R"({"image":"aGVsbG8="})"},
      {"POST", "/sdapi/v1/png-info", R"({})"},
      {"GET", "/sdapi/v1/txt2img", ""},
      // OpenAI
      {"POST", "/v1/images/generations", "{}"},
      {"POST", "/v1/images/generations", R"({"prompt":""})"},
      {"POST", "/v1/images/generations", R"({"prompt":"x","n":0})"},
      {"POST", "/v1/images/generations", R"({"prompt":"x","n":1000})"},
      {"POST", "/v1/images/generations", R"({"prompt":"x","size":"big"})"},
      {"POST", "/v1/images/generations", R"({"prompt":"x","size":"100000x100000"})"},
      {"POST", "/v1/images/generations", R"({"prompt":"x","response_format":"gif"})"},
      {"POST", "/v1/images/generations", R"({"prompt":"x","model":"../../x"})"},
      {"POST", "/v1/images/generations", R"({"prompt":"x","model":"gpt-9"})"},
      {"POST", "/v1/images/generations", R"({"prompt":"x","temperature":1})"},
      {"POST", "/v1/images/generations", R"({"prompt":7})"},
      {"GET", "/v1/models/..%2F..%2Fetc", ""},
      {"GET", "/v1/models/missing", ""},
  };
  auto c = C();
  for (const BadCase& bc : cases) {
    httplib::Result r = bc.method == "GET"      ? c.Get(bc.path)
                        : bc.method == "DELETE" ? c.Delete(bc.path)
                        : bc.method == "PUT"    ? c.Put(bc.path, bc.body, "application/json")
                                                : c.Post(bc.path, bc.body, "application/json");
    const std::string what = bc.method + " " + bc.path + " " + bc.body.substr(0, 80);
    ASSERT_TRUE(r) << what << ": no answer";
    EXPECT_GE(r->status, 400) << what;
    EXPECT_LT(r->status, 500) << what << " -> " << r->body.substr(0, 300);
    json body = json::parse(r->body, nullptr, false);
    EXPECT_TRUE(body.is_object()) << what << " -> " << r->body.substr(0, 200);
    EXPECT_EQ(c.Get("/api/v1/health")->status, 200) << "not serving after " << what;
  }
}

// kill -9 of the server with 20 queued jobs, then a restart: every job ends exactly once.
TEST(ServerE2ECrash, KillNineWithTwentyQueuedJobsThenRestart) {
  testing::TempDir tmp;
  const std::string models = MakeModels(tmp), data = tmp.path() + "/data";
  std::vector<std::string> ids;
  {
    Server a(data, models);
    ASSERT_TRUE(a.Start());
    auto c = a.Client();
    for (int i = 0; i < 20; ++i) {
      int status = 0;
      json job = PostJson(c, "/api/v1/jobs", FastJob(1000 + i), &status);
      ASSERT_EQ(status, 202) << job.dump();
      ids.push_back(job["id"]);
    }
    a.Kill(SIGKILL);
  }
  Server b(data, models);
  ASSERT_TRUE(b.Start());
  auto c = b.Client();
  for (const std::string& id : ids) {
    json job = WaitJob(c, id, 150);
    EXPECT_EQ(job["state"], "succeeded") << job.dump();
    json images = Parse(c.Get("/api/v1/images?job_id=" + id));
    EXPECT_EQ(images["total"], 1) << id << ": " << images.dump();
  }
  json all = Parse(c.Get("/api/v1/images?limit=500"));
  EXPECT_EQ(all["total"], 20);
  json stats = Parse(c.Get("/api/v1/stats"));
  EXPECT_EQ(stats["queue"]["succeeded"], 20) << stats.dump();
  EXPECT_EQ(stats["queue"]["queued"], 0);
}

TEST(ServerE2EAuth, NonLoopbackBindNeedsTheKey) {
  testing::TempDir tmp;
  const std::string models = MakeModels(tmp);
  {
    Server nokey(tmp.path() + "/data0", models, {}, "0.0.0.0");
    EXPECT_FALSE(nokey.Start(false));  // refused: a non-loopback bind without a key
    EXPECT_EQ(process::ExitCodeOf(nokey.exit_status()), 2);
  }
  Server s(tmp.path() + "/data", models, {"--api-key", "test-key-123"}, "0.0.0.0");
  ASSERT_TRUE(s.Start(false));
  auto anon = s.Client();
  for (const char* path : {"/api/v1/jobs", "/api/v1/stats", "/sdapi/v1/sd-models", "/v1/models"}) {
    auto r = anon.Get(path);
    ASSERT_TRUE(r) << path;
    EXPECT_EQ(r->status, 401) << path;
  }
  auto r = anon.Post("/api/v1/jobs", FastJob().dump(), "application/json");
  EXPECT_EQ(r->status, 401);
  auto authed = s.Client("test-key-123");
  EXPECT_EQ(authed.Get("/api/v1/jobs")->status, 200);
  EXPECT_EQ(authed.Get("/v1/models")->status, 200);
  auto wrong = s.Client("wrong-key-000");
  EXPECT_EQ(wrong.Get("/api/v1/jobs")->status, 401);
}

}  // namespace
}  // namespace easel::server
