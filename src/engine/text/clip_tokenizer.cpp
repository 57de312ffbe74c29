// ClipTokenizer: loading (vocab.json + merges.txt, or the CLIP .txt.gz) and BPE encoding.
#include "engine/text/clip_tokenizer.h"

#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <queue>
#include <sstream>

#include "engine/text/unicode.h"

namespace easel::text {

namespace {

constexpr const char* kEndOfWord = "</w>";
// CLIP uses the first 49152 - 256 - 2 merges of its list: with 512 byte symbols and two
// special tokens that makes a 49408-token vocabulary.
constexpr int kClipMergeCount = 49152 - 256 - 2;
constexpr size_t kMaxCachedWords = 1 << 16;
constexpr size_t kMaxCachedWordBytes = 256;

// CLIP's (GPT-2's) byte alphabet: the bytes that print as themselves ('!'..'~', '¡'..'¬',
// '®'..'ÿ') keep their code point; the other 68 get U+0100, U+0101, ... in byte order.
// Returns the bytes in vocabulary order (the printable ones first) and each byte's symbol.
struct ByteAlphabet {
  unsigned char order[256];
  char32_t symbol[256];
};

ByteAlphabet MakeByteAlphabet() {
  ByteAlphabet a{};
  auto printable = [](int b) {
    return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
  };
  int n = 0;
  for (int b = 0; b < 256; ++b)
    if (printable(b)) a.order[n++] = static_cast<unsigned char>(b), a.symbol[b] = b;
  int extra = 0;
  for (int b = 0; b < 256; ++b)
    if (!printable(b)) a.order[n++] = static_cast<unsigned char>(b), a.symbol[b] = 256 + extra++;
  return a;
}

bool FileExists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

Result<std::string> ReadFile(const std::string& path, const char* what) {
  if (!FileExists(path))
    return NotFound(std::string(what) + " '" + path + "' does not exist (or is not a file)");
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  if (!in.good() && !in.eof())
    return IoError("could not read " + std::string(what) + " '" + path + "'");
  return ss.str();
}

std::vector<std::string_view> SplitLines(std::string_view text) {
  std::vector<std::string_view> lines;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    lines.push_back(line);
    start = end + 1;
  }
  return lines;
}

// Splits a merges line into its two tokens; false unless there are exactly two.
bool SplitMerge(std::string_view line, bool any_whitespace, std::string* left, std::string* right) {
  auto is_sep = [&](char c) { return c == ' ' || (any_whitespace && (c == '\t' || c == '\r')); };
  std::vector<std::string_view> parts;
  size_t i = 0;
  while (i < line.size()) {
    if (is_sep(line[i])) {
      if (!any_whitespace && (i == 0 || is_sep(line[i - 1]))) return false;  // "a  b", " a b"
      ++i;
      continue;
    }
    size_t j = i;
    while (j < line.size() && !is_sep(line[j])) ++j;
    parts.push_back(line.substr(i, j - i));
    i = j;
  }
  if (parts.size() != 2) return false;
  *left = std::string(parts[0]);
  *right = std::string(parts[1]);
  return true;
}

std::string Quote(std::string_view s, size_t max = 60) {
  std::string q = "'" + std::string(s.substr(0, max)) + (s.size() > max ? "...'" : "'");
  return q;
}

std::string ExeDir() {
  char buf[4096];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0) return "";
  std::string exe(buf, static_cast<size_t>(n));
  size_t slash = exe.rfind('/');
  return slash == std::string::npos ? "" : exe.substr(0, slash);
}

}  // namespace

struct ClipTokenizer::Cache {
  std::mutex mu;
  std::unordered_map<std::string, std::vector<int>> words;  // guarded by mu
};

Result<ClipTokenizer> ClipTokenizer::Build(
    std::vector<std::string> id_to_token,
    const std::vector<std::pair<std::string, std::string>>& merges, const std::string& source) {
  ClipTokenizer t;
  t.id_to_token_ = std::move(id_to_token);
  t.token_to_id_.reserve(t.id_to_token_.size());
  for (size_t id = 0; id < t.id_to_token_.size(); ++id) {
    const std::string& tok = t.id_to_token_[id];
    if (tok.empty()) continue;
    if (!t.token_to_id_.emplace(tok, static_cast<int>(id)).second)
      return Corrupt(source + ": the token " + Quote(tok) + " appears twice in the vocabulary");
  }

  const ByteAlphabet alphabet = MakeByteAlphabet();
  for (int b = 0; b < 256; ++b) {
    std::string sym;
    AppendUtf8(alphabet.symbol[b], &sym);
    t.byte_to_symbol_[b] = sym;
    for (int last = 0; last < 2; ++last) {
      std::string tok = last ? sym + kEndOfWord : sym;
      int id = t.TokenId(tok);
      if (id < 0)
        return Corrupt(source + ": the vocabulary lacks the byte token " + Quote(tok) +
                       ": is this a CLIP (byte-level BPE) vocabulary?");
      t.byte_ids_[b][last] = id;
    }
  }
  t.bos_id_ = t.TokenId(kBosToken);
  t.eos_id_ = t.TokenId(kEosToken);
  if (t.bos_id_ < 0 || t.eos_id_ < 0)
    return Corrupt(source + ": the vocabulary lacks " + std::string(kBosToken) + " or " +
                   kEosToken + ": is this a CLIP vocabulary?");

  t.merges_.reserve(merges.size());
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const auto& [left, right] = merges[rank];
    int l = t.TokenId(left), r = t.TokenId(right), m = t.TokenId(left + right);
    if (l < 0 || r < 0 || m < 0)
      return Corrupt(source + ": merge " + std::to_string(rank + 1) + " (" + Quote(left) + " " +
                     Quote(right) + ") uses or makes a token missing from the vocabulary");
    uint64_t key = (static_cast<uint64_t>(l) << 32) | static_cast<uint32_t>(r);
    t.merges_.emplace(key, std::make_pair(static_cast<int>(rank), m));  // first rank wins
  }
  t.cache_ = std::make_shared<Cache>();
  return t;
}

Result<ClipTokenizer> ClipTokenizer::FromHfFiles(const std::string& vocab_json,
                                                 const std::string& merges_txt) {
  Result<std::string> vocab_text = ReadFile(vocab_json, "vocab.json");
  if (!vocab_text.ok()) return vocab_text.status();
  Result<std::string> merges_text = ReadFile(merges_txt, "merges.txt");
  if (!merges_text.ok()) return merges_text.status();

  nlohmann::json vocab;
  try {
    vocab = nlohmann::json::parse(*vocab_text);
  } catch (const nlohmann::json::exception& e) {
    return Corrupt(vocab_json + ": not valid JSON (" + e.what() +
                   "): expected the tokenizer/vocab.json of a diffusers model");
  }
  if (!vocab.is_object() || vocab.empty())
    return Corrupt(vocab_json + ": expected a JSON object mapping tokens to ids, got " +
                   std::string(vocab.type_name()));
  constexpr int64_t kMaxId = 1 << 22;
  std::vector<std::string> id_to_token;
  for (const auto& [tok, id] : vocab.items()) {
    if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() >= kMaxId)
      return Corrupt(vocab_json + ": the id of " + Quote(tok) + " is " + id.dump(0).substr(0, 40) +
                     ", expected an integer in [0, " + std::to_string(kMaxId) + ")");
    if (tok.empty()) return Corrupt(vocab_json + ": has an empty token");
    const auto i = static_cast<size_t>(id.get<int64_t>());
    if (i >= id_to_token.size()) id_to_token.resize(i + 1);
    if (!id_to_token[i].empty())
      return Corrupt(vocab_json + ": id " + std::to_string(i) + " is given to both " +
                     Quote(id_to_token[i]) + " and " + Quote(tok));
    id_to_token[i] = tok;
  }

  std::vector<std::pair<std::string, std::string>> merges;
  std::vector<std::string_view> lines = SplitLines(*merges_text);
  for (size_t n = 0; n < lines.size(); ++n) {
    std::string_view line = lines[n];
    if (n == 0 && line.rfind("#version", 0) == 0) continue;
    if (line.empty()) continue;
    std::string left, right;
    if (!SplitMerge(line, /*any_whitespace=*/false, &left, &right))
      return Corrupt(merges_txt + ":" + std::to_string(n + 1) + ": " + Quote(line) +
                     " is not a merge: expected two tokens separated by one space");
    merges.emplace_back(std::move(left), std::move(right));
  }
  return Build(std::move(id_to_token), merges, vocab_json + " + " + merges_txt);
}

Result<ClipTokenizer> ClipTokenizer::FromBpeGz(const std::string& path) {
  Result<std::string> raw = ReadFile(path, "the CLIP vocabulary");
  if (!raw.ok()) return raw.status();
  if (raw->size() < 18 || static_cast<unsigned char>((*raw)[0]) != 0x1F ||
      static_cast<unsigned char>((*raw)[1]) != 0x8B)
    return Corrupt(path + ": not a gzip file (it does not start with 1f 8b): expected " +
                   kVocabFileName + "; tools/fetch_clip_vocab.sh installs it");

  // Inflate in memory; 16 + MAX_WBITS asks zlib for the gzip wrapper.
  std::string text;
  z_stream zs{};
  if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) return Internal("zlib inflateInit2 failed");
  zs.next_in = reinterpret_cast<Bytef*>(raw->data());
  zs.avail_in = static_cast<uInt>(raw->size());
  char buf[1 << 16];
  int rc = Z_OK;
  while (rc == Z_OK) {
    zs.next_out = reinterpret_cast<Bytef*>(buf);
    zs.avail_out = sizeof(buf);
    rc = inflate(&zs, Z_NO_FLUSH);
    text.append(buf, sizeof(buf) - zs.avail_out);
    if (text.size() > (64u << 20)) rc = Z_MEM_ERROR;
    if (rc == Z_BUF_ERROR && zs.avail_in == 0) break;  // input ended before the stream did
  }
  inflateEnd(&zs);
  if (rc != Z_STREAM_END)
    return Corrupt(path + ": the gzip data is truncated or damaged (zlib: " +
                   (zs.msg ? std::string(zs.msg) : std::to_string(rc)) +
                   "): delete it and run tools/fetch_clip_vocab.sh again");

  std::vector<std::string_view> lines = SplitLines(text);
  if (lines.size() < static_cast<size_t>(kClipMergeCount) + 1)
    return Corrupt(path + ": has " + std::to_string(lines.size()) +
                   " lines, expected a header and " + "at least " +
                   std::to_string(kClipMergeCount) + " merges");
  std::vector<std::pair<std::string, std::string>> merges;
  merges.reserve(kClipMergeCount);
  for (int n = 1; n <= kClipMergeCount; ++n) {
    std::string left, right;
    if (!SplitMerge(lines[n], /*any_whitespace=*/true, &left, &right))
      return Corrupt(path + ": line " + std::to_string(n + 1) + " " + Quote(lines[n]) +
                     " is not a merge: expected two tokens separated by a space");
    merges.emplace_back(std::move(left), std::move(right));
  }

  const ByteAlphabet alphabet = MakeByteAlphabet();
  std::vector<std::string> vocab;
  vocab.reserve(512 + merges.size() + 2);
  for (int i = 0; i < 256; ++i) {
    vocab.emplace_back();
    AppendUtf8(alphabet.symbol[alphabet.order[i]], &vocab.back());
  }
  for (int i = 0; i < 256; ++i) vocab.push_back(vocab[i] + kEndOfWord);
  for (const auto& [l, r] : merges) vocab.push_back(l + r);
  vocab.emplace_back(kBosToken);
  vocab.emplace_back(kEosToken);
  return Build(std::move(vocab), merges, path);
}

std::vector<std::string> ClipTokenizer::DefaultVocabPaths() {
  std::vector<std::string> paths;
  const char* env = std::getenv("EASEL_CLIP_VOCAB");
  if (env && *env) paths.emplace_back(env);
  const std::string exe_dir = ExeDir();
  if (!exe_dir.empty()) {
    paths.push_back(exe_dir + "/../share/easel/" + kVocabFileName);
    paths.push_back(exe_dir + "/share/easel/" + kVocabFileName);
  }
  paths.push_back(std::string("/usr/local/share/easel/") + kVocabFileName);
  paths.push_back(std::string("/usr/share/easel/") + kVocabFileName);
  return paths;
}

Result<ClipTokenizer> ClipTokenizer::FindDefault() {
  const char* env = std::getenv("EASEL_CLIP_VOCAB");
  if (env && *env) {
    if (!FileExists(env))
      return NotFound(std::string("EASEL_CLIP_VOCAB is set to '") + env +
                      "', which does not exist: point it at " + kVocabFileName +
                      " or unset it (tools/fetch_clip_vocab.sh DIR installs the file)");
    return FromBpeGz(env);
  }
  std::string looked;
  for (const std::string& p : DefaultVocabPaths()) {
    if (FileExists(p)) return FromBpeGz(p);
    looked += "\n  " + p;
  }
  return NotFound(std::string("CLIP's vocabulary ") + kVocabFileName +
                  " was not found; looked at (set EASEL_CLIP_VOCAB to override):" + looked +
                  "\nRun tools/fetch_clip_vocab.sh <dir of the easel binary>/share/easel to "
                  "install it (it comes from the PyPI package open_clip_torch)");
}

int ClipTokenizer::TokenId(std::string_view token) const {
  auto it = token_to_id_.find(std::string(token));
  return it == token_to_id_.end() ? -1 : it->second;
}

const std::string& ClipTokenizer::Token(int id) const {
  static const std::string kEmpty;
  if (id < 0 || id >= vocab_size()) return kEmpty;
  return id_to_token_[static_cast<size_t>(id)];
}

std::vector<int> ClipTokenizer::Bpe(std::string_view word) const {
  // Symbols form a linked list over the word's bytes; a heap holds candidate pairs ordered by
  // (merge rank, position), so the best-ranked pair merges first and equal ranks merge left
  // to right, as CLIP's loop and `tokenizers` both do. A candidate is stale once either
  // side has changed; then its ids no longer match and it is dropped.
  struct Symbol {
    int id;
    int prev;
    int next;
  };
  struct Candidate {
    int rank;
    int pos;
    int left;
    int right;
    bool operator>(const Candidate& o) const {
      return rank != o.rank ? rank > o.rank : pos > o.pos;
    }
  };
  const int n = static_cast<int>(word.size());
  std::vector<Symbol> syms(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    const auto b = static_cast<unsigned char>(word[static_cast<size_t>(i)]);
    syms[i] = {byte_ids_[b][i == n - 1 ? 1 : 0], i - 1, i + 1 < n ? i + 1 : -1};
  }
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<Candidate>> heap;
  auto push = [&](int pos) {
    if (pos < 0) return;
    int next = syms[pos].next;
    if (next < 0) return;
    uint64_t key =
        (static_cast<uint64_t>(syms[pos].id) << 32) | static_cast<uint32_t>(syms[next].id);
    auto it = merges_.find(key);
    if (it != merges_.end()) heap.push({it->second.first, pos, syms[pos].id, syms[next].id});
  };
  for (int i = 0; i + 1 < n; ++i) push(i);
  while (!heap.empty()) {
    Candidate c = heap.top();
    heap.pop();
    Symbol& s = syms[c.pos];
    if (s.id != c.left || s.next < 0 || syms[s.next].id != c.right) continue;  // stale
    const int right = s.next;
    s.id =
        merges_.at((static_cast<uint64_t>(c.left) << 32) | static_cast<uint32_t>(c.right)).second;
    s.next = syms[right].next;
    if (s.next >= 0) syms[s.next].prev = c.pos;
    syms[right].id = -1;
    push(s.prev);
    push(c.pos);
  }
  std::vector<int> ids;
  for (int i = n > 0 ? 0 : -1; i >= 0; i = syms[i].next) ids.push_back(syms[i].id);
  return ids;
}

void ClipTokenizer::EncodeWord(std::string_view word, std::vector<int>* out) const {
  if (word.empty()) return;
  const bool cacheable = word.size() <= kMaxCachedWordBytes;
  if (cacheable) {
    std::lock_guard<std::mutex> lock(cache_->mu);
    auto it = cache_->words.find(std::string(word));
    if (it != cache_->words.end()) {
      out->insert(out->end(), it->second.begin(), it->second.end());
      return;
    }
  }
  std::vector<int> ids = Bpe(word);
  out->insert(out->end(), ids.begin(), ids.end());
  if (cacheable) {
    std::lock_guard<std::mutex> lock(cache_->mu);
    if (cache_->words.size() >= kMaxCachedWords) cache_->words.clear();
    cache_->words.emplace(std::string(word), std::move(ids));
  }
}

namespace {

// CLIP's pre-tokenizer over normalized text: calls emit(begin, end) for each word.
template <class Emit>
void PreTokenize(const std::u32string& s, Emit&& emit) {
  const size_t n = s.size();
  size_t i = 0;
  auto at = [&](size_t k) -> char32_t { return k < n ? s[k] : 0; };
  while (i < n) {
    const char32_t c = s[i];
    if (IsWhitespace(c)) {
      ++i;
      continue;
    }
    if (c == U'\'') {  // 's 't 're 've 'm 'll 'd, tried in that order
      const char32_t a = at(i + 1), b = at(i + 2);
      size_t len = 0;
      if (a == U's' || a == U't' || a == U'm' || a == U'd')
        len = 2;
      else if ((a == U'r' && b == U'e') || (a == U'v' && b == U'e') || (a == U'l' && b == U'l'))
        len = 3;
      if (len) {
        emit(i, i + len);
        i += len;
        continue;
      }
    }
    size_t j = i + 1;
    if (IsLetter(c)) {
      while (j < n && IsLetter(s[j])) ++j;
    } else if (!IsNumber(c)) {
      while (j < n && !IsWhitespace(s[j]) && !IsLetter(s[j]) && !IsNumber(s[j])) ++j;
    }
    emit(i, j);
    i = j;
  }
}

}  // namespace

std::vector<int> ClipTokenizer::Encode(std::string_view text) const {
  std::vector<int> ids;
  auto encode_plain = [&](std::string_view part) {
    if (part.empty()) return;
    std::u32string composed = ComposeNfc(DecodeUtf8(part));
    std::u32string lower;
    lower.reserve(composed.size());
    for (char32_t cp : composed) AppendLower(cp, &lower);
    std::string word;
    PreTokenize(lower, [&](size_t b, size_t e) {
      word.clear();
      for (size_t k = b; k < e; ++k) AppendUtf8(lower[k], &word);
      EncodeWord(word, &ids);
    });
  };
  // Special tokens written in the text are matched first, exactly, before normalization.
  const std::string_view bos = kBosToken, eos = kEosToken;
  size_t start = 0;
  while (start <= text.size()) {
    size_t pb = text.find(bos, start), pe = text.find(eos, start);
    size_t p = std::min(pb, pe);
    if (p == std::string_view::npos) {
      encode_plain(text.substr(start));
      break;
    }
    encode_plain(text.substr(start, p - start));
    ids.push_back(p == pb ? bos_id_ : eos_id_);
    start = p + (p == pb ? bos.size() : eos.size());
  }
  return ids;
}

std::string ClipTokenizer::Decode(const std::vector<int>& ids) const {
  // Symbol code point -> byte.
  std::unordered_map<char32_t, unsigned char> to_byte;
  const ByteAlphabet alphabet = MakeByteAlphabet();
  for (int b = 0; b < 256; ++b) to_byte[alphabet.symbol[b]] = static_cast<unsigned char>(b);
  std::string out;
  for (int id : ids) {
    if (id == bos_id_ || id == eos_id_) {
      out += Token(id);
      continue;
    }
    std::string_view tok = Token(id);
    bool end_of_word = false;
    const std::string_view eow = kEndOfWord;
    if (tok.size() >= eow.size() && tok.substr(tok.size() - eow.size()) == eow) {
      tok.remove_suffix(eow.size());
      end_of_word = true;
    }
    for (char32_t cp : DecodeUtf8(tok)) {
      auto it = to_byte.find(cp);
      if (it != to_byte.end())
        out.push_back(static_cast<char>(it->second));
      else
        AppendUtf8(cp, &out);
    }
    if (end_of_word) out.push_back(' ');
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

}  // namespace easel::text
