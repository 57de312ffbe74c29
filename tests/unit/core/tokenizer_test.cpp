// ClipTokenizer: exact ids against transformers' CLIPTokenizer, loading from both file
// formats, and clear errors for broken files.
#include <gtest/gtest.h>
#include <zlib.h>

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "engine/text/clip_tokenizer.h"
#include "engine/text/unicode.h"
#include "test_paths.h"
#include "text_test_support.h"

namespace easel::text {
namespace {

std::string TempPath(const std::string& name) {
  return ::testing::TempDir() + "easel_tokenizer_test_" + name;
}

void WriteFile(const std::string& path, const std::string& content) {
  std::ofstream(path, std::ios::binary) << content;
}

std::string ReadGz(const std::string& path) {
  std::string out;
  gzFile f = gzopen(path.c_str(), "rb");
  char buf[1 << 16];
  int n;
  while (f && (n = gzread(f, buf, sizeof(buf))) > 0) out.append(buf, static_cast<size_t>(n));
  if (f) gzclose(f);
  return out;
}

std::string Gzip(const std::string& text) {
  std::string path = TempPath("tmp.gz");
  gzFile f = gzopen(path.c_str(), "wb");
  gzwrite(f, text.data(), static_cast<unsigned>(text.size()));
  gzclose(f);
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The 256 byte symbols of CLIP's alphabet, in vocabulary order.
std::vector<std::string> ByteSymbols() {
  std::vector<int> order;
  std::vector<char32_t> sym(256);
  auto printable = [](int b) {
    return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
  };
  for (int b = 0; b < 256; ++b)
    if (printable(b)) order.push_back(b), sym[b] = b;
  int extra = 0;
  for (int b = 0; b < 256; ++b)
    if (!printable(b)) order.push_back(b), sym[b] = 256 + extra++;
  std::vector<std::string> out;
  for (int b : order) out.push_back(EncodeUtf8(std::u32string(1, sym[b])));
  return out;
}

// A tiny diffusers-style vocabulary: the 512 byte tokens, "he", "hel</w>", "lo</w>", specials.
void WriteToyHfFiles(const std::string& vocab_path, const std::string& merges_path) {
  nlohmann::json vocab = nlohmann::json::object();
  int id = 0;
  for (const std::string& s : ByteSymbols()) vocab[s] = id++;
  for (const std::string& s : ByteSymbols()) vocab[s + "</w>"] = id++;
  for (const char* t : {"he", "hel</w>", "lo</w>", "<|startoftext|>", "<|endoftext|>"})
    vocab[t] = id++;
  WriteFile(vocab_path, vocab.dump());
  WriteFile(merges_path, "#version: 0.2\nh e\nhe l</w>\nl o</w>\n");
}

// Tokenization must be exact: the text encoder sees these ids, and one different id changes
// the image. Every case of the golden file must match transformers' ids exactly.
TEST(ClipTokenizer, MatchesTransformersIdsExactly) {
  EASEL_CLIP_TOKENIZER_OR_SKIP(tok);
  std::ifstream in(std::string(EASEL_FIXTURES_DIR) + "/golden/tokens.json");
  ASSERT_TRUE(in) << "missing tests/fixtures/golden/tokens.json (tools/make_token_goldens.py)";
  nlohmann::json golden = nlohmann::json::parse(in);
  EXPECT_EQ(tok.vocab_size(), golden["vocab_size"].get<int>());
  EXPECT_EQ(tok.bos_id(), golden["bos_id"].get<int>());
  EXPECT_EQ(tok.eos_id(), golden["eos_id"].get<int>());
  ASSERT_GE(golden["cases"].size(), 40u);
  for (const auto& c : golden["cases"]) {
    const std::string text = c["text"].get<std::string>();
    const std::vector<int> want = c["ids"].get<std::vector<int>>();
    EXPECT_EQ(tok.Encode(text), want) << "text: '" << text << "'";
  }
}

TEST(ClipTokenizer, KnownIdsOfClipVitLarge) {
  EASEL_CLIP_TOKENIZER_OR_SKIP(tok);
  EXPECT_EQ(tok.vocab_size(), 49408);
  EXPECT_EQ(tok.bos_id(), 49406);
  EXPECT_EQ(tok.eos_id(), 49407);
  EXPECT_EQ(tok.TokenId(",</w>"), 267);
  EXPECT_EQ(tok.TokenId("not a token"), -1);
  EXPECT_EQ(tok.Token(320), "a</w>");
  EXPECT_EQ(tok.Token(-1), "");
  EXPECT_EQ(tok.Token(49408), "");
  EXPECT_EQ(tok.Encode("a photo of a cat"), (std::vector<int>{320, 1125, 539, 320, 2368}));
  EXPECT_TRUE(tok.Encode("").empty());
  EXPECT_TRUE(tok.Encode(" \n\t ").empty());
}

TEST(ClipTokenizer, DecodeReadsTokensBack) {
  EASEL_CLIP_TOKENIZER_OR_SKIP(tok);
  EXPECT_EQ(tok.Decode(tok.Encode("Hello, World!")), "hello , world !");
  EXPECT_EQ(tok.Decode(tok.Encode("Москва 東京")), "москва 東京");
  EXPECT_EQ(tok.Decode({tok.bos_id(), 320, tok.eos_id()}), "<|startoftext|>a <|endoftext|>");
}

TEST(ClipTokenizer, InvalidUtf8BecomesReplacementCharacter) {
  EASEL_CLIP_TOKENIZER_OR_SKIP(tok);
  EXPECT_EQ(tok.Encode("a\xff"
                       "b"),
            tok.Encode("a\xEF\xBF\xBD"
                       "b"));
  EXPECT_EQ(tok.Encode("a\xC3"), tok.Encode("a\xEF\xBF\xBD"));  // truncated sequence
}

TEST(ClipTokenizer, SafeFromSeveralThreads) {
  EASEL_CLIP_TOKENIZER_OR_SKIP(tok);
  const std::string text = "a castle on a hill, (masterpiece), sunset, 4k, детали, 城";
  const std::vector<int> want = tok.Encode(text);
  std::vector<std::thread> threads;
  std::vector<int> ok(4, 0);
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      bool all = true;
      for (int i = 0; i < 200; ++i)
        all =
            all && tok.Encode(text + std::to_string(i % 7)).size() > 0 && tok.Encode(text) == want;
      ok[t] = all;
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok, std::vector<int>(4, 1));
}

TEST(ClipTokenizer, LongWordsAreFast) {
  EASEL_CLIP_TOKENIZER_OR_SKIP(tok);
  std::string word(20000, 'a');
  std::vector<int> ids = tok.Encode(word);
  EXPECT_FALSE(ids.empty());
  EXPECT_EQ(tok.Decode(ids), word);
}

// The same vocabulary written as a diffusers tokenizer/ folder gives the same ids.
TEST(ClipTokenizer, HfFilesMatchGzVocabulary) {
  EASEL_CLIP_TOKENIZER_OR_SKIP(tok);
  std::string text = ReadGz(testing::ClipVocabPath());
  std::istringstream lines(text);
  std::string line, merges = "#version: 0.2\n";
  std::getline(lines, line);  // header
  for (int i = 0; i < 48894 && std::getline(lines, line); ++i) merges += line + "\n";
  nlohmann::json vocab = nlohmann::json::object();
  for (int id = 0; id < tok.vocab_size(); ++id) vocab[tok.Token(id)] = id;
  const std::string vocab_path = TempPath("vocab.json"), merges_path = TempPath("merges.txt");
  WriteFile(vocab_path, vocab.dump());
  WriteFile(merges_path, merges);
  Result<ClipTokenizer> hf = ClipTokenizer::FromHfFiles(vocab_path, merges_path);
  ASSERT_TRUE(hf.ok()) << hf.status().ToString();
  EXPECT_EQ(hf->vocab_size(), 49408);
  std::ifstream in(std::string(EASEL_FIXTURES_DIR) + "/golden/tokens.json");
  for (const auto& c : nlohmann::json::parse(in)["cases"]) {
    const std::string s = c["text"].get<std::string>();
    EXPECT_EQ(hf->Encode(s), c["ids"].get<std::vector<int>>()) << s;
  }
}

TEST(ClipTokenizer, LoadsToyHfFiles) {
  const std::string vocab = TempPath("toy_vocab.json"), merges = TempPath("toy_merges.txt");
  WriteToyHfFiles(vocab, merges);
  Result<ClipTokenizer> t = ClipTokenizer::FromHfFiles(vocab, merges);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(t->vocab_size(), 517);
  EXPECT_EQ(t->bos_id(), 515);
  EXPECT_EQ(t->eos_id(), 516);
  const int hel = t->TokenId("hel</w>"), lo = t->TokenId("lo</w>"), he = t->TokenId("he");
  EXPECT_EQ(t->Encode("HEL lo"), (std::vector<int>{hel, lo}));
  // "hello": h e l l o</w> -> he l l o</w> -> he l lo</w>: "hel</w>" needs l</w>, not l.
  EXPECT_EQ(t->Encode("hello"), (std::vector<int>{he, t->TokenId("l"), lo}));
  EXPECT_EQ(t->Encode("<|endoftext|>"), (std::vector<int>{516}));
}

// ---- broken files ------------------------------------------------------------------------

TEST(ClipTokenizerErrors, MissingFiles) {
  const std::string vocab = TempPath("ok_vocab.json"), merges = TempPath("ok_merges.txt");
  WriteToyHfFiles(vocab, merges);
  Result<ClipTokenizer> r = ClipTokenizer::FromHfFiles(TempPath("nope.json"), merges);
  EXPECT_EQ(r.status().code(), Code::kNotFound);
  EXPECT_NE(r.status().message().find("nope.json"), std::string::npos);
  r = ClipTokenizer::FromHfFiles(vocab, TempPath("nope.txt"));
  EXPECT_EQ(r.status().code(), Code::kNotFound);
  r = ClipTokenizer::FromBpeGz(TempPath("nope.txt.gz"));
  EXPECT_EQ(r.status().code(), Code::kNotFound);
  r = ClipTokenizer::FromBpeGz(::testing::TempDir());  // a directory
  EXPECT_EQ(r.status().code(), Code::kNotFound);
}

TEST(ClipTokenizerErrors, VocabNotJson) {
  const std::string vocab = TempPath("bad_vocab.json"), merges = TempPath("bad_merges.txt");
  WriteToyHfFiles(vocab, merges);
  WriteFile(vocab, "{\"a\": 1,");
  Result<ClipTokenizer> r = ClipTokenizer::FromHfFiles(vocab, merges);
  EXPECT_EQ(r.status().code(), Code::kCorrupt);
  EXPECT_NE(r.status().message().find("not valid JSON"), std::string::npos)
      << r.status().ToString();

  WriteFile(vocab, "[1, 2, 3]");
  r = ClipTokenizer::FromHfFiles(vocab, merges);
  EXPECT_EQ(r.status().code(), Code::kCorrupt);
  EXPECT_NE(r.status().message().find("JSON object"), std::string::npos) << r.status().ToString();

  WriteFile(vocab, "{\"a\": \"one\"}");
  r = ClipTokenizer::FromHfFiles(vocab, merges);
  EXPECT_EQ(r.status().code(), Code::kCorrupt);
  EXPECT_NE(r.status().message().find("'a'"), std::string::npos) << r.status().ToString();

  WriteFile(vocab, "{\"a\": 0, \"b\": 0}");
  r = ClipTokenizer::FromHfFiles(vocab, merges);
  EXPECT_EQ(r.status().code(), Code::kCorrupt);
  EXPECT_NE(r.status().message().find("id 0"), std::string::npos) << r.status().ToString();

  // Valid JSON, but not a byte-level vocabulary.
  WriteFile(vocab, "{\"a\": 0, \"<|startoftext|>\": 1, \"<|endoftext|>\": 2}");
  WriteFile(merges, "#version: 0.2\n");
  r = ClipTokenizer::FromHfFiles(vocab, merges);
  EXPECT_EQ(r.status().code(), Code::kCorrupt);
  EXPECT_NE(r.status().message().find("byte token"), std::string::npos) << r.status().ToString();
}

TEST(ClipTokenizerErrors, MergesWithBadLines) {
  const std::string vocab = TempPath("m_vocab.json"), merges = TempPath("m_merges.txt");
  WriteToyHfFiles(vocab, merges);
  WriteFile(merges, "#version: 0.2\nh e\nhe l </w> x\n");
  Result<ClipTokenizer> r = ClipTokenizer::FromHfFiles(vocab, merges);
  EXPECT_EQ(r.status().code(), Code::kCorrupt);
  EXPECT_NE(r.status().message().find("m_merges.txt:3"), std::string::npos)
      << r.status().ToString();

  WriteFile(merges, "#version: 0.2\nh e\nsingle\n");
  r = ClipTokenizer::FromHfFiles(vocab, merges);
  EXPECT_EQ(r.status().code(), Code::kCorrupt);

  // Well-formed line, but the merged token is not in the vocabulary.
  WriteFile(merges, "#version: 0.2\nx y\n");
  r = ClipTokenizer::FromHfFiles(vocab, merges);
  EXPECT_EQ(r.status().code(), Code::kCorrupt);
  EXPECT_NE(r.status().message().find("merge 1"), std::string::npos) << r.status().ToString();
}

TEST(ClipTokenizerErrors, GzThatIsNotGzip) {
  const std::string path = TempPath("plain.txt.gz");
  WriteFile(path, "#version: 0.2\nh e\nthis is plain text, not gzip\n");
  Result<ClipTokenizer> r = ClipTokenizer::FromBpeGz(path);
  EXPECT_EQ(r.status().code(), Code::kCorrupt);
  EXPECT_NE(r.status().message().find("not a gzip file"), std::string::npos)
      << r.status().ToString();
  EXPECT_NE(r.status().message().find("fetch_clip_vocab.sh"), std::string::npos);
}

TEST(ClipTokenizerErrors, TruncatedOrShortGz) {
  std::string gz = Gzip(std::string("\"bpe_simple_vocab_16e6.txt#version: 0.2\n") + "h e\n");
  const std::string short_path = TempPath("short.txt.gz");
  WriteFile(short_path, gz);
  Result<ClipTokenizer> r = ClipTokenizer::FromBpeGz(short_path);
  EXPECT_EQ(r.status().code(), Code::kCorrupt);
  EXPECT_NE(r.status().message().find("48894 merges"), std::string::npos) << r.status().ToString();

  std::string big;
  for (int i = 0; i < 5000; ++i) big += "line " + std::to_string(i) + "\n";
  gz = Gzip(big);
  const std::string cut_path = TempPath("cut.txt.gz");
  WriteFile(cut_path, gz.substr(0, gz.size() / 2));
  r = ClipTokenizer::FromBpeGz(cut_path);
  EXPECT_EQ(r.status().code(), Code::kCorrupt);
  EXPECT_NE(r.status().message().find("truncated"), std::string::npos) << r.status().ToString();
}

// ---- FindDefault ---------------------------------------------------------------------------

class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old, had_ = true;
    ::setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() { had_ ? ::setenv(name_, old_.c_str(), 1) : ::unsetenv(name_); }

 private:
  const char* name_;
  std::string old_;
  bool had_ = false;
};

TEST(ClipTokenizerFindDefault, ExplicitPathThatDoesNotExist) {
  ScopedEnv env("EASEL_CLIP_VOCAB", TempPath("missing_vocab.txt.gz"));
  Result<ClipTokenizer> r = ClipTokenizer::FindDefault();
  EXPECT_EQ(r.status().code(), Code::kNotFound);
  EXPECT_NE(r.status().message().find("EASEL_CLIP_VOCAB"), std::string::npos);
  EXPECT_NE(r.status().message().find("fetch_clip_vocab.sh"), std::string::npos);
}

TEST(ClipTokenizerFindDefault, SearchOrder) {
  ScopedEnv env("EASEL_CLIP_VOCAB", "/some/where.txt.gz");
  std::vector<std::string> paths = ClipTokenizer::DefaultVocabPaths();
  ASSERT_GE(paths.size(), 5u);
  EXPECT_EQ(paths[0], "/some/where.txt.gz");
  EXPECT_NE(paths[1].find("/../share/easel/bpe_simple_vocab_16e6.txt.gz"), std::string::npos);
  EXPECT_EQ(paths[paths.size() - 2], "/usr/local/share/easel/bpe_simple_vocab_16e6.txt.gz");
  EXPECT_EQ(paths.back(), "/usr/share/easel/bpe_simple_vocab_16e6.txt.gz");
}

TEST(ClipTokenizerFindDefault, FindsTheInstalledVocabulary) {
  const std::string path = testing::ClipVocabPath();
  if (path.empty()) GTEST_SKIP() << testing::MissingVocabMessage();
  ScopedEnv env("EASEL_CLIP_VOCAB", path);
  Result<ClipTokenizer> r = ClipTokenizer::FindDefault();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->vocab_size(), 49408);
}

}  // namespace
}  // namespace easel::text
