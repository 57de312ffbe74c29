// The external language-model backends against real HTTP servers on loopback:
//   - OllamaBackend against a small server written here that speaks Ollama's wire format
//     (POST /api/chat answering newline-delimited JSON, POST /api/generate with keep_alive 0
//     to unload), as documented at https://github.com/ollama/ollama/blob/main/docs/api.md;
//   - OpenAiBackend against a small SSE server (fragments of text and of a tool call, as
//     llama.cpp and vLLM send them), and the unreachable-server error naming the URL.
// OpenAiBackend against Easel's own /v1/chat/completions with SmolLM2 is in
// tests/unit/engine/server_llm_e2e_test.cpp. Also: the LlmManager's memory decisions.
#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "llm/backends/http_stream.h"
#include "llm/backends/ollama_backend.h"
#include "llm/backends/openai_backend.h"
#include "server/llm_manager.h"

namespace easel::llm {
namespace {

using json = nlohmann::json;

// An httplib server on a free loopback port, on its own thread.
class LocalServer {
 public:
  httplib::Server svr;
  int port = 0;
  void Start() {
    port = svr.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { svr.listen_after_bind(); });
    while (!svr.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~LocalServer() {
    svr.stop();
    if (thread_.joinable()) thread_.join();
  }
  std::string Url(const std::string& path = "") const {
    return "http://127.0.0.1:" + std::to_string(port) + path;
  }

 private:
  std::thread thread_;
};

// Streams `pieces` as a chunked body.
void StreamPieces(httplib::Response& res, const char* type, std::vector<std::string> pieces) {
  auto shared = std::make_shared<std::vector<std::string>>(std::move(pieces));
  res.set_chunked_content_provider(type, [shared](size_t, httplib::DataSink& sink) {
    for (const std::string& p : *shared) sink.write(p.data(), p.size());
    sink.done();
    return true;
  });
}

TEST(OllamaBackend, StreamsTextToolCallsAndUnloads) {
  LocalServer server;
  std::mutex mu;
  std::vector<json> bodies;
  json unload_body;
  server.svr.Post("/api/chat", [&](const httplib::Request& req, httplib::Response& res) {
    json body = json::parse(req.body);
    {
      std::lock_guard<std::mutex> lock(mu);
      bodies.push_back(body);
    }
    if (body.contains("tools")) {
      StreamPieces(
          res, "application/x-ndjson",
          {R"({"message":{"role":"assistant","content":"","tool_calls":[{"function":{"name":"get_styles","arguments":{}}}]},"done":false})"
           "\n",
           R"({"message":{"role":"assistant","content":""},"done":true,"done_reason":"stop","prompt_eval_count":12,"eval_count":3})"
           "\n"});
      return;
    }
    // Lines split across writes, one without its newline until the next write.
    StreamPieces(
        res, "application/x-ndjson",
        {R"({"message":{"role":"assistant","content":"Hel"},"done":false})"
         "\n{\"message\":{\"role\":\"assistant\",",
         R"("content":"lo"},"done":false})"
         "\n",
         R"({"message":{"role":"assistant","content":""},"done":true,"done_reason":"length","prompt_eval_count":7,"eval_count":2,"prompt_eval_duration":1000000000,"eval_duration":500000000})"});
  });
  server.svr.Post("/api/generate", [&](const httplib::Request& req, httplib::Response& res) {
    unload_body = json::parse(req.body);
    res.set_content(R"({"done":true,"done_reason":"unload"})", "application/json");
  });
  server.Start();

  OllamaOptions o;
  o.base_url = server.Url();
  o.model = "llama3.2";
  o.num_ctx = 4096;
  auto backend = OpenOllamaBackend(o);
  ASSERT_TRUE(backend.ok()) << backend.status().ToString();
  ChatRequest r;
  r.messages = {{"system", "be brief", {}, "", ""},
                {"assistant", "", {{"call_0", "get_styles", "{}"}}, "", ""},
                {"tool", "{\"styles\":[]}", {}, "call_0", "get_styles"},
                {"user", "hi", {}, "", ""}};
  r.temperature = 0;
  r.max_tokens = 9;
  r.seed = 5;
  r.stop = {"\n\n"};
  r.json_schema = R"({"type":"object","properties":{"a":{"type":"string"}}})";
  std::string streamed;
  auto result = (*backend)->Chat(r, [&](std::string_view d) {
    streamed += d;
    return true;
  });
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ(streamed, "Hello");
  EXPECT_EQ(result->content, "Hello");
  EXPECT_EQ(result->finish_reason, "length");
  EXPECT_EQ(result->usage.prompt_tokens, 7);
  EXPECT_EQ(result->usage.completion_tokens, 2);
  EXPECT_DOUBLE_EQ(result->usage.prefill_seconds, 1.0);
  // What Ollama received.
  const json& sent = bodies.at(0);
  EXPECT_EQ(sent["model"], "llama3.2");
  EXPECT_EQ(sent["stream"], true);
  EXPECT_EQ(sent["options"]["num_predict"], 9);
  EXPECT_EQ(sent["options"]["seed"], 5);
  EXPECT_EQ(sent["options"]["num_ctx"], 4096);
  EXPECT_EQ(sent["options"]["stop"][0], "\n\n");
  EXPECT_EQ(sent["format"]["type"], "object");
  EXPECT_EQ(sent["messages"][1]["tool_calls"][0]["function"]["arguments"], json::object());
  EXPECT_EQ(sent["messages"][2]["tool_name"], "get_styles");
  EXPECT_FALSE(sent.contains("tools"));

  r.json_schema.reset();
  r.tools = {{"get_styles", "list styles", R"({"type":"object","properties":{}})"}};
  auto calls = (*backend)->Chat(r, nullptr);
  ASSERT_TRUE(calls.ok()) << calls.status().ToString();
  ASSERT_EQ(calls->tool_calls.size(), 1u);
  EXPECT_EQ(calls->tool_calls[0].name, "get_styles");
  EXPECT_EQ(calls->tool_calls[0].arguments_json, "{}");
  EXPECT_EQ(calls->finish_reason, "tool_calls");
  EXPECT_EQ(bodies.at(1)["tools"][0]["function"]["name"], "get_styles");
  EXPECT_TRUE((*backend)->Info().loaded);

  ASSERT_TRUE((*backend)->Unload(/*hard=*/true).ok());
  EXPECT_EQ(unload_body["keep_alive"], 0);
  EXPECT_EQ(unload_body["model"], "llama3.2");
  EXPECT_FALSE((*backend)->Info().loaded);
}

TEST(OllamaBackend, ErrorsNameTheServer) {
  LocalServer server;
  server.svr.Post("/api/chat", [](const httplib::Request&, httplib::Response& res) {
    res.status = 404;
    res.set_content(R"({"error":"model 'nope' not found"})", "application/json");
  });
  server.Start();
  OllamaOptions o;
  o.base_url = server.Url();
  o.model = "nope";
  auto backend = OpenOllamaBackend(o);
  ASSERT_TRUE(backend.ok());
  ChatRequest r;
  r.messages = {{"user", "hi", {}, "", ""}};
  auto result = (*backend)->Chat(r, nullptr);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), Code::kNotFound);
  EXPECT_NE(result.status().message().find("model 'nope' not found"), std::string::npos);
  EXPECT_NE(result.status().message().find("ollama pull nope"), std::string::npos);
  o.model = "";
  EXPECT_EQ(OpenOllamaBackend(o).status().code(), Code::kInvalidArgument);
}

TEST(OpenAiBackend, ReassemblesStreamedTextAndToolCalls) {
  LocalServer server;
  json received;
  server.svr.Get("/v1/models", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(R"({"object":"list","data":[{"id":"qwen2.5","object":"model"}]})",
                    "application/json");
  });
  server.svr.Post("/v1/chat/completions", [&](const httplib::Request& req, httplib::Response& res) {
    received = json::parse(req.body);
    StreamPieces(
        res, "text/event-stream",
        {"data: "
         "{\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n",
         ": keepalive\n\n",
         "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Sure\"}}]}\n\ndata: {\"choi",
         "ces\":[{\"index\":0,\"delta\":{\"content\":\", one.\"}}]}\r\n\r\n",
         "data: "
         "{\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"call_a\","
         "\"type\":\"function\",\"function\":{\"name\":\"apply_style\",\"arguments\":\"\"}}]}}]}"
         "\n\n",
         "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":"
         "{\"arguments\":\"{\\\"style\\\": \\\"cin\"}}]}}]}\n\n",
         "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":"
         "{\"arguments\":\"ematic\\\"}\"}}]},\"finish_reason\":\"tool_calls\"}]}\n\n",
         "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":20,\"completion_tokens\":6}}\n\n",
         "data: [DONE]\n\n"});
  });
  server.Start();
  OpenAiOptions o;
  o.base_url = server.Url();  // no path: /v1 is added
  o.api_key = "sk-test";
  auto backend = OpenOpenAiBackend(o);
  ASSERT_TRUE(backend.ok()) << backend.status().ToString();
  ChatRequest r;
  r.messages = {{"user", "style?", {}, "", ""}};
  r.tools = {{"apply_style", "", R"({"type":"object","properties":{"style":{"type":"string"}}})"}};
  std::string streamed;
  auto result = (*backend)->Chat(r, [&](std::string_view d) {
    streamed += d;
    return true;
  });
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ(streamed, "Sure, one.");
  ASSERT_EQ(result->tool_calls.size(), 1u);
  EXPECT_EQ(result->tool_calls[0].id, "call_a");
  EXPECT_EQ(result->tool_calls[0].name, "apply_style");
  EXPECT_EQ(json::parse(result->tool_calls[0].arguments_json)["style"], "cinematic");
  EXPECT_EQ(result->finish_reason, "tool_calls");
  EXPECT_EQ(result->usage.prompt_tokens, 20);
  EXPECT_EQ(received["model"], "qwen2.5");  // the first model the server lists
  EXPECT_EQ(received["stream"], true);
  EXPECT_EQ(received["tool_choice"], "auto");
  EXPECT_EQ((*backend)->Info().kind, "openai");
}

TEST(OpenAiBackend, UnreachableServerIsAnIoErrorNamingTheUrl) {
  int port = 0;
  {
    LocalServer gone;
    gone.Start();
    port = gone.port;
  }  // stopped: nothing listens there now
  OpenAiOptions o;
  o.base_url = "http://127.0.0.1:" + std::to_string(port) + "/v1";
  o.model = "m";
  o.connect_timeout_s = 2;
  auto backend = OpenOpenAiBackend(o);
  ASSERT_TRUE(backend.ok());
  ChatRequest r;
  r.messages = {{"user", "hi", {}, "", ""}};
  auto result = (*backend)->Chat(r, nullptr);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), Code::kIo);
  EXPECT_NE(result.status().message().find("127.0.0.1:" + std::to_string(port) + "/v1"),
            std::string::npos)
      << result.status().message();
  EXPECT_EQ(OpenOpenAiBackend({"ftp://x", "", "", 1, 1, true}).status().code(),
            Code::kInvalidArgument);
}

TEST(OpenAiBackend, HttpErrorsCarryTheServersMessage) {
  LocalServer server;
  server.svr.Post("/v1/chat/completions", [](const httplib::Request&, httplib::Response& res) {
    res.status = 400;
    res.set_content(
        R"({"error":{"message":"context is 8192 tokens, got 9000","type":"invalid_request_error"}})",
        "application/json");
  });
  server.Start();
  OpenAiOptions o;
  o.base_url = server.Url("/v1");
  o.model = "m";
  auto backend = OpenOpenAiBackend(o);
  ChatRequest r;
  r.messages = {{"user", "hi", {}, "", ""}};
  auto result = (*backend)->Chat(r, nullptr);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), Code::kInvalidArgument);
  EXPECT_NE(result.status().message().find("context is 8192 tokens"), std::string::npos);
}

TEST(HttpStream, EndpointsAndLines) {
  auto e = ParseHttpEndpoint("https://api.example.com/v1/");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->origin, "https://api.example.com");
  EXPECT_EQ(e->base_path, "/v1");
  EXPECT_FALSE(ParseHttpEndpoint("localhost:8080").ok());
  EXPECT_FALSE(ParseHttpEndpoint("http://user@host/").ok());
  LineSplitter s;
  std::vector<std::string> lines;
  auto take = [&](const std::string& l) {
    lines.push_back(l);
    return true;
  };
  s.Feed("a\r\nb", take);
  s.Feed("c\n\nd", take);
  EXPECT_EQ(lines, (std::vector<std::string>{"a", "bc", ""}));
  EXPECT_EQ(s.Rest(), "d");
}

}  // namespace
}  // namespace easel::llm

namespace easel::server {
namespace {

llm::BackendInfo Loaded(int64_t weights, int64_t kv, std::string kind = "worker") {
  llm::BackendInfo i;
  i.kind = std::move(kind);
  i.loaded = true;
  i.weights_bytes = weights;
  i.kv_cache_bytes = kv;
  return i;
}

TEST(LlmMemory, DecisionsForAnImageJob) {
  const int64_t G = 1ll << 30, safety = 512ll << 20;
  EXPECT_EQ(DecideForImageJob(Loaded(2 * G, G), true, 3 * G, 8 * G, safety).action, "keep");
  EXPECT_EQ(DecideForImageJob(Loaded(2 * G, G), true, 3 * G, 3 * G, safety).action, "soft_unload");
  auto hard = DecideForImageJob(Loaded(2 * G, G), true, 6 * G, 3 * G, safety);
  EXPECT_EQ(hard.action, "hard_unload");
  EXPECT_EQ(hard.bytes, 3 * G);
  EXPECT_EQ(DecideForImageJob(Loaded(2 * G, G), true, 3 * G, std::nullopt, safety).action,
            "hard_unload");  // a GPU: free memory unknown
  EXPECT_EQ(DecideForImageJob(Loaded(2 * G, G), false, 30 * G, G, safety).action, "keep");
  EXPECT_EQ(DecideForImageJob(Loaded(2 * G, G, "openai"), true, 30 * G, G, safety).action, "keep");
  llm::BackendInfo idle = Loaded(2 * G, G);
  idle.loaded = false;
  EXPECT_EQ(DecideForImageJob(idle, true, 30 * G, G, safety).action, "keep");
}

// A backend that counts unloads.
class CountingBackend : public llm::ChatBackend {
 public:
  std::atomic<int> soft{0}, hard{0};
  std::atomic<bool> loaded{true};
  Result<llm::ChatResult> Chat(const llm::ChatRequest&, const llm::DeltaFn&) override {
    loaded = true;
    llm::ChatResult r;
    r.content = "ok";
    r.finish_reason = "stop";
    return r;
  }
  void Cancel() override {}
  Status Unload(bool h) override {
    (h ? hard : soft)++;
    if (h) loaded = false;
    return Status::Ok();
  }
  llm::BackendInfo Info() const override {
    llm::BackendInfo i = Loaded(1ll << 30, 256ll << 20);
    i.loaded = loaded;
    return i;
  }
};

TEST(LlmManager, YieldsToImageJobsAndUnloadsWhenIdle) {
  CountingBackend* raw = nullptr;
  LlmConfig c;
  c.source = "/";  // exists; the factory below ignores it
  c.idle_unload_s = 1;
  auto m =
      LlmManager::Create(c, [&](const LlmConfig&) -> Result<std::unique_ptr<llm::ChatBackend>> {
        auto b = std::make_unique<CountingBackend>();
        raw = b.get();
        return std::unique_ptr<llm::ChatBackend>(std::move(b));
      });
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  int64_t free_bytes = 0;
  (*m)->SetMemoryProbe([&](const std::string&) { return std::optional<int64_t>(free_bytes); });
  const nlohmann::json job = {{"width", 512}, {"height", 512}, {"batch_size", 1}};
  const int64_t need = EstimateImageJobBytes(job);
  free_bytes = need + (1ll << 30);
  (*m)->BeforeImageJob("j_1", job);
  EXPECT_EQ(raw->soft + raw->hard, 0);
  EXPECT_EQ((*m)->StatusJson()["last_decision"]["action"], "keep");
  free_bytes = need + (512ll << 20) - (128ll << 20);  // fits once the 256 MiB cache goes
  (*m)->BeforeImageJob("j_2", job);
  EXPECT_EQ(raw->soft, 1);
  free_bytes = 0;
  (*m)->BeforeImageJob("j_3", job);
  EXPECT_EQ(raw->hard, 1);
  const nlohmann::json status = (*m)->StatusJson();
  EXPECT_EQ(status["last_decision"]["action"], "hard_unload");
  EXPECT_GT(status["last_decision"]["bytes"].get<int64_t>(), 0);
  EXPECT_NE(status["last_decision"]["reason"].get<std::string>().find("j_3"), std::string::npos);

  // A chat loads it again ("load"), then idleness unloads it.
  ASSERT_TRUE((*m)->Use([](llm::ChatBackend& b) { return b.Chat({}, nullptr).status(); }).ok());
  EXPECT_EQ((*m)->StatusJson()["last_decision"]["action"], "load");
  for (int i = 0; i < 40 && raw->hard < 2; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(raw->hard, 2);
  EXPECT_EQ((*m)->StatusJson()["last_decision"]["action"], "idle_unload");
}

TEST(LlmManager, ConfigErrors) {
  LlmConfig c;
  EXPECT_EQ(LlmManager::Create(c, nullptr).status().code(), Code::kInvalidArgument);
  c.source = "/no/such/model.gguf";
  EXPECT_EQ(LlmManager::Create(c, nullptr).status().code(), Code::kNotFound);
  c.source = "http://127.0.0.1:1/v1";
  c.api = "grpc";
  EXPECT_EQ(LlmManager::Create(c, nullptr).status().code(), Code::kInvalidArgument);
  c.api = "ollama";
  EXPECT_EQ(LlmKindOf(c), "ollama");
}

}  // namespace
}  // namespace easel::server
