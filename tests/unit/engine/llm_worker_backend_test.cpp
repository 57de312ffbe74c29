// WorkerBackend (llm/worker_backend.h) against a real `easel worker llm` process with
// SmolLM2: the greedy reply equals the in-process BuiltinBackend's, Cancel(), soft and hard
// unloads, a worker killed mid-chat gives a clear error and the next chat starts a new one,
// and a model that cannot load fails Start() with the worker's own message.
// Needs the easel binary: $EASEL_TEST_BINARY, else <build dir>/easel (skips when absent).
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "llm/torch/builtin_backend.h"
#include "llm/worker_backend.h"
#include "unit/core/llm_test_support.h"

namespace easel::llm {
namespace {

std::string EaselBinary() {
  const char* env = std::getenv("EASEL_TEST_BINARY");
  return env != nullptr ? env : std::string(EASEL_BINARY_DIR) + "/easel";
}

#define EASEL_REQUIRE_EASEL_BINARY()                                                  \
  do {                                                                                \
    if (::access(EaselBinary().c_str(), X_OK) != 0)                                   \
      GTEST_SKIP() << EaselBinary() << " is missing: build the easel target (or set " \
                   << "EASEL_TEST_BINARY)";                                           \
  } while (0)

WorkerBackendOptions Options(const std::string& model) {
  WorkerBackendOptions o;
  o.builtin.model_path = model;
  o.builtin.context = 512;
  o.easel_binary = EaselBinary();
  o.env = {"OMP_NUM_THREADS=2"};
  o.hello_timeout_ms = 120000;
  return o;
}

ChatRequest Greedy(const std::string& user, int max_tokens) {
  ChatRequest r;
  r.messages = {{"user", user, {}, "", ""}};
  r.temperature = 0;
  r.max_tokens = max_tokens;
  return r;
}

TEST(LlmWorkerBackend, MatchesBuiltinCancelsUnloadsAndSurvivesDeath) {
  EASEL_REQUIRE_SMOLLM2();
  EASEL_REQUIRE_EASEL_BINARY();
  auto w = WorkerBackend::Start(Options(testing::SmolLM2Path()));
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  WorkerBackend& worker = **w;
  EXPECT_TRUE(worker.Info().loaded);
  EXPECT_EQ(worker.Info().kind, "worker");
  EXPECT_EQ(worker.Info().context_length, 512);
  EXPECT_GT(worker.Info().weights_bytes, 100'000'000);

  const ChatRequest req = Greedy("What is the capital of France?", 10);
  std::string streamed;
  auto got = worker.Chat(req, [&](std::string_view d) {
    streamed += d;
    return true;
  });
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(streamed, got->content);
  EXPECT_GT(worker.Info().kv_cache_bytes, 0);
  {
    BuiltinOptions o;
    o.model_path = testing::SmolLM2Path();
    o.context = 512;
    auto builtin = BuiltinBackend::Open(o);
    ASSERT_TRUE(builtin.ok());
    auto want = (*builtin)->Chat(req, nullptr);
    ASSERT_TRUE(want.ok());
    EXPECT_EQ(got->content, want->content);
    EXPECT_EQ(got->finish_reason, want->finish_reason);
    EXPECT_EQ(got->usage.completion_tokens, want->usage.completion_tokens);
  }

  // Cancel from the delta callback's thread of view: the worker stops soon.
  int deltas = 0;
  auto cancelled =
      worker.Chat(Greedy("Write a long story about a dragon.", 200), [&](std::string_view) {
        if (++deltas == 2) worker.Cancel();
        return true;
      });
  ASSERT_TRUE(cancelled.ok()) << cancelled.status().ToString();
  EXPECT_EQ(cancelled->finish_reason, "cancelled");
  EXPECT_LT(cancelled->usage.completion_tokens, 30);

  ASSERT_TRUE(worker.Unload(false).ok());
  EXPECT_EQ(worker.Info().kv_cache_bytes, 0);
  EXPECT_TRUE(worker.Info().loaded);
  auto soft = worker.Chat(req, nullptr);
  ASSERT_TRUE(soft.ok()) << soft.status().ToString();
  EXPECT_EQ(soft->content, got->content);

  const pid_t first = worker.pid();
  ASSERT_TRUE(worker.Unload(true).ok());
  EXPECT_EQ(worker.pid(), -1);
  EXPECT_FALSE(worker.Info().loaded);
  auto hard = worker.Chat(req, nullptr);  // starts a new worker
  ASSERT_TRUE(hard.ok()) << hard.status().ToString();
  EXPECT_EQ(hard->content, got->content);
  EXPECT_NE(worker.pid(), first);

  // Killed mid-chat: a clear kIo error saying how it ended; the next chat works again.
  auto dead = worker.Chat(Greedy("Write a long story about a dragon.", 200), [&](std::string_view) {
    ::kill(worker.pid(), SIGKILL);
    return true;
  });
  ASSERT_FALSE(dead.ok());
  EXPECT_EQ(dead.status().code(), Code::kIo) << dead.status().ToString();
  EXPECT_NE(dead.status().message().find("killed by signal 9"), std::string::npos)
      << dead.status().message();
  EXPECT_FALSE(worker.Info().loaded);
  auto again = worker.Chat(req, nullptr);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->content, got->content);
}

TEST(LlmWorkerBackend, LoadFailureIsTheWorkersMessage) {
  EASEL_REQUIRE_EASEL_BINARY();
  auto w = WorkerBackend::Start(Options("/nonexistent/model.gguf"));
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.status().code(), Code::kNotFound);
  EXPECT_NE(w.status().message().find("/nonexistent/model.gguf"), std::string::npos)
      << w.status().message();
}

}  // namespace
}  // namespace easel::llm
