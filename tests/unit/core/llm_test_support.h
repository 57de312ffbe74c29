// Shared helpers of the LLM tests: where SmolLM2's GGUF is, and a skip when it is absent.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

#include "test_paths.h"

namespace easel::llm::testing {

// tools/fetch_smollm2.sh installs it here (tools/setup.sh runs it).
inline std::string SmolLM2Path() {
  return std::string(EASEL_SOURCE_DIR) +
         "/build/share/easel/models/SmolLM2-135M-Instruct.Q4_1.gguf";
}

inline bool HaveSmolLM2() {
  return ::access(SmolLM2Path().c_str(), R_OK) == 0;
}

inline std::string ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace easel::llm::testing

#define EASEL_REQUIRE_SMOLLM2()                                                           \
  do {                                                                                    \
    if (!::easel::llm::testing::HaveSmolLM2())                                            \
      GTEST_SKIP() << ::easel::llm::testing::SmolLM2Path()                                \
                   << " is missing: run tools/fetch_smollm2.sh build/share/easel/models"; \
  } while (0)
