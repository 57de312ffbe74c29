// `easel chat` and `easel enhance` through the real binary with SmolLM2: a greedy chat from
// stdin, a JSON enhancement, the model-resolution error, and the --bench output format.
// The binary: $EASEL_TEST_BINARY, else <build dir>/easel (skips when absent).
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "test_paths.h"
#include "unit/core/llm_test_support.h"

namespace easel::llm {
namespace {

std::string Binary() {
  const char* env = std::getenv("EASEL_TEST_BINARY");
  return env != nullptr ? env : std::string(EASEL_BINARY_DIR) + "/easel";
}

struct CliResult {
  int code = -1;
  std::string out;
};

// Runs `sh -c "<env> BINARY ARGS 2>&1"`; the test's own arguments hold no single quotes.
CliResult Easel(const std::string& args, const std::string& stdin_text = "") {
  const std::string data = ::testing::TempDir() + "easel-llm-cli-data";
  std::string cmd = "printf '" + stdin_text + "' | EASEL_DATA_DIR='" + data + "' '" + Binary() +
                    "' " + args + " 2>&1";
  CliResult r;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return r;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  const int status = ::pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

#define EASEL_REQUIRE_BINARY()                                                   \
  do {                                                                           \
    if (::access(Binary().c_str(), X_OK) != 0)                                   \
      GTEST_SKIP() << Binary() << " is missing: build the easel target (or set " \
                   << "EASEL_TEST_BINARY)";                                      \
  } while (0)

std::string Model() {
  return "--model '" + testing::SmolLM2Path() + "'";
}

TEST(LlmCli, ChatReadsStdinLinesAndStreamsReplies) {
  EASEL_REQUIRE_SMOLLM2();
  EASEL_REQUIRE_BINARY();
  CliResult r = Easel("chat " + Model() + " --temp 0 --max-tokens 10 --context 512",
                      "What is the capital of France?\\n");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("Paris"), std::string::npos) << r.out;
}

TEST(LlmCli, EnhanceJsonAndErrors) {
  EASEL_REQUIRE_SMOLLM2();
  EASEL_REQUIRE_BINARY();
  CliResult r = Easel("enhance 'a cat in a garden' " + Model() + " --json --seed 1");
  ASSERT_EQ(r.code, 0) << r.out;
  const auto j = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_TRUE(j.is_object()) << r.out;
  EXPECT_EQ(j["original"], "a cat in a garden");
  EXPECT_FALSE(j["prompt"].get<std::string>().empty());
  std::printf("[ figures  ] enhanced: %s\n", j["prompt"].get<std::string>().c_str());

  CliResult missing = Easel("enhance 'a cat' --model /nonexistent/model.gguf");
  EXPECT_EQ(missing.code, 3) << missing.out;
  EXPECT_NE(missing.out.find("/nonexistent/model.gguf"), std::string::npos) << missing.out;

  CliResult style = Easel("enhance 'a cat' " + Model() + " --style no-such-style");
  EXPECT_EQ(style.code, 3) << style.out;
  EXPECT_NE(style.out.find("no-such-style"), std::string::npos) << style.out;

  // No --model and no preset: the bundled SmolLM2 next to the binary, else a clear error.
  const bool bundled =
      std::filesystem::exists(std::filesystem::path(Binary()).parent_path() /
                              "share/easel/models/SmolLM2-135M-Instruct.Q4_1.gguf");
  CliResult fallback = Easel("enhance 'a cat' --temp 0");
  if (bundled) {
    EXPECT_EQ(fallback.code, 0) << fallback.out;
  } else {
    EXPECT_EQ(fallback.code, 3) << fallback.out;
    EXPECT_NE(fallback.out.find("tools/fetch_smollm2.sh"), std::string::npos) << fallback.out;
  }
}

TEST(LlmCli, BenchPrintsTokensPerSecond) {
  EASEL_REQUIRE_SMOLLM2();
  EASEL_REQUIRE_BINARY();
  CliResult r = Easel("chat " + Model() + " --bench --max-tokens 4 --context 512");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("prefill: "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("decode: "), std::string::npos) << r.out;
}

}  // namespace
}  // namespace easel::llm
