// Byte-level BPE and SentencePiece BPE tokenizers. See tokenizer.h.
#include "llm/tokenizer.h"

#include <algorithm>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <queue>

#include "util/files.h"

namespace easel::llm {

namespace {

constexpr const char* kSpmSpace = "\xE2\x96\x81";  // U+2581 "▁"

// GPT-2's table: printable Latin-1 bytes stand for themselves, the other 68 bytes for
// U+0100 upwards in byte order.
struct ByteLevelTable {
  std::array<std::string, 256> chars;
  std::unordered_map<std::string, uint8_t> bytes;
  ByteLevelTable() {
    int n = 0;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174;
      const char32_t cp = printable ? static_cast<char32_t>(b) : static_cast<char32_t>(256 + n++);
      std::string s;
      if (cp < 0x80) {
        s.push_back(static_cast<char>(cp));
      } else {
        s.push_back(static_cast<char>(0xC0 | (cp >> 6)));
        s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
      }
      chars[static_cast<size_t>(b)] = s;
      bytes.emplace(s, static_cast<uint8_t>(b));
    }
  }
};

const ByteLevelTable& Table() {
  static const ByteLevelTable table;
  return table;
}

// The bytes of a byte-level token text; nullopt when a character is not in the table.
std::optional<std::string> UnmapByteLevel(const std::string& token) {
  const ByteLevelTable& t = Table();
  std::string out;
  size_t i = 0;
  while (i < token.size()) {
    const auto b0 = static_cast<uint8_t>(token[i]);
    const size_t len = b0 < 0x80 ? 1 : (b0 & 0xE0) == 0xC0 ? 2 : 0;
    if (len == 0 || i + len > token.size()) return std::nullopt;
    auto it = t.bytes.find(token.substr(i, len));
    if (it == t.bytes.end()) return std::nullopt;
    out.push_back(static_cast<char>(it->second));
    i += len;
  }
  return out;
}

// "<0x0A>" -> 0x0A.
std::optional<uint8_t> ParseByteToken(const std::string& s) {
  if (s.size() != 6 || s.compare(0, 3, "<0x") != 0 || s[5] != '>') return std::nullopt;
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  const int hi = hex(s[3]), lo = hex(s[4]);
  if (hi < 0 || lo < 0) return std::nullopt;
  return static_cast<uint8_t>(hi * 16 + lo);
}

std::string ReplaceAll(std::string_view s, std::string_view from, std::string_view to) {
  std::string out;
  size_t i = 0;
  while (true) {
    const size_t j = s.find(from, i);
    out.append(s.substr(i, j == std::string_view::npos ? std::string_view::npos : j - i));
    if (j == std::string_view::npos) break;
    out.append(to);
    i = j + from.size();
  }
  return out;
}

uint64_t PairKey(int32_t a, int32_t b) {
  return static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32 | static_cast<uint32_t>(b);
}

}  // namespace

const std::string& ByteLevelChar(uint8_t b) {
  return Table().chars[b];
}

bool Tokenizer::IsSpecial(int32_t id) const {
  const TokenType t = type(id);
  return t == TokenType::kControl || t == TokenType::kUserDefined;
}

std::optional<int32_t> Tokenizer::Find(std::string_view token_text) const {
  auto it = ids_.find(std::string(token_text));
  if (it == ids_.end()) return std::nullopt;
  return it->second;
}

// Builds the derived tables and checks ids; `merges` are "left right" strings.
Status Tokenizer::Finish(const std::string& name, const std::vector<std::string>& merges) {
  const auto n = static_cast<int32_t>(tokens_.size());
  if (n == 0) return Corrupt(name + ": the tokenizer has an empty vocabulary");
  if (types_.empty()) types_.assign(tokens_.size(), TokenType::kNormal);
  for (int32_t* id : {&bos_, &eos_, &pad_, &unk_}) {
    if (*id >= n || *id < -1) {
      const char* which = id == &bos_   ? "bos"
                          : id == &eos_ ? "eos"
                          : id == &pad_ ? "padding"
                                        : "unknown";
      return Corrupt(name + ": the " + which + " token id is " + std::to_string(*id) +
                     " but the vocabulary has " + std::to_string(n) + " tokens (ids 0-" +
                     std::to_string(n - 1) + "): corrupt");
    }
  }
  ids_.clear();
  ids_.reserve(tokens_.size());
  bytes_.assign(tokens_.size(), std::string());
  byte_token_.fill(-1);
  specials_.clear();
  for (int32_t id = 0; id < n; ++id) {
    const std::string& t = tokens_[static_cast<size_t>(id)];
    ids_.emplace(t, id);  // the first of duplicates wins
    const TokenType ty = types_[static_cast<size_t>(id)];
    std::string& bytes = bytes_[static_cast<size_t>(id)];
    if (ty == TokenType::kControl || ty == TokenType::kUserDefined) {
      bytes = t;
      if (!t.empty()) specials_.push_back(id);
      continue;
    }
    if (model_ == TokenizerModel::kByteBpe) {
      std::optional<std::string> b = UnmapByteLevel(t);
      bytes = b ? *b : t;
      if (b && b->size() == 1 && t == ByteLevelChar(static_cast<uint8_t>((*b)[0]))) {
        int32_t& slot = byte_token_[static_cast<uint8_t>((*b)[0])];
        if (slot < 0) slot = id;
      }
    } else {
      if (std::optional<uint8_t> b = ParseByteToken(t); b && ty == TokenType::kByte) {
        bytes = std::string(1, static_cast<char>(*b));
        if (byte_token_[*b] < 0) byte_token_[*b] = id;
      } else {
        bytes = ReplaceAll(t, kSpmSpace, " ");
      }
    }
  }
  std::stable_sort(specials_.begin(), specials_.end(), [&](int32_t a, int32_t b) {
    return tokens_[static_cast<size_t>(a)].size() > tokens_[static_cast<size_t>(b)].size();
  });

  merges_.clear();
  merges_.reserve(merges.size());
  for (size_t r = 0; r < merges.size(); ++r) {
    const std::string& m = merges[r];
    const size_t sp = m.find(' ', 1);
    auto bad = [&](const std::string& why) {
      return Corrupt(name + ": merge #" + std::to_string(r) + " \"" + m + "\" " + why +
                     ": corrupt tokenizer");
    };
    if (sp == std::string::npos) return bad("is not two tokens separated by a space");
    const std::string left = m.substr(0, sp), right = m.substr(sp + 1);
    auto l = ids_.find(left), rt = ids_.find(right), merged = ids_.find(left + right);
    if (l == ids_.end() || rt == ids_.end()) return bad("names a token not in the vocabulary");
    if (merged == ids_.end()) return bad("makes a token not in the vocabulary");
    merges_.emplace(PairKey(l->second, rt->second),
                    std::make_pair(static_cast<int32_t>(r), merged->second));
  }
  return Status::Ok();
}

Result<Tokenizer> Tokenizer::FromGguf(const GgufFile& file) {
  const std::string& name = file.path();
  Tokenizer tok;
  Result<std::string> model = file.GetString("tokenizer.ggml.model");
  if (!model.ok()) return model.status();
  if (*model == "gpt2") {
    tok.model_ = TokenizerModel::kByteBpe;
  } else if (*model == "llama") {
    tok.model_ = TokenizerModel::kSentencePiece;
  } else {
    return Unsupported(name + ": tokenizer.ggml.model is '" + *model +
                       "'; Easel reads 'gpt2' (byte-level BPE) and 'llama' (SentencePiece) "
                       "tokenizers");
  }
  const GgufValue* tokens = file.Find("tokenizer.ggml.tokens");
  if (tokens == nullptr || tokens->AsStringArray() == nullptr) {
    return Corrupt(name + ": tokenizer.ggml.tokens is missing or not an array of strings");
  }
  tok.tokens_ = *tokens->AsStringArray();
  if (tok.tokens_.size() > 0x7FFFFFFF) return Corrupt(name + ": the vocabulary is too large");
  const size_t n = tok.tokens_.size();
  if (const GgufValue* types = file.Find("tokenizer.ggml.token_type")) {
    const std::vector<int64_t>* t = types->AsIntArray();
    if (t == nullptr || t->size() != n) {
      return Corrupt(name + ": tokenizer.ggml.token_type has " +
                     std::to_string(types->array_size()) + " entries for " + std::to_string(n) +
                     " tokens (or is not an integer array): corrupt");
    }
    tok.types_.resize(n);
    for (size_t i = 0; i < n; ++i) {
      if ((*t)[i] < 0 || (*t)[i] > 6) {
        return Corrupt(name + ": token " + std::to_string(i) + " has type " +
                       std::to_string((*t)[i]) + ", expected 0-6: corrupt");
      }
      tok.types_[i] = static_cast<TokenType>((*t)[i]);
    }
  }
  if (const GgufValue* scores = file.Find("tokenizer.ggml.scores")) {
    const std::vector<double>* s = scores->AsFloatArray();
    if (s == nullptr || s->size() != n) {
      return Corrupt(name + ": tokenizer.ggml.scores has " + std::to_string(scores->array_size()) +
                     " entries for " + std::to_string(n) + " tokens: corrupt");
    }
    tok.scores_.assign(s->begin(), s->end());
  } else if (tok.model_ == TokenizerModel::kSentencePiece) {
    tok.scores_.assign(n, 0.0f);
  }
  std::vector<std::string> merges;
  if (tok.model_ == TokenizerModel::kByteBpe) {
    const GgufValue* m = file.Find("tokenizer.ggml.merges");
    if (m == nullptr || m->AsStringArray() == nullptr) {
      return Corrupt(name +
                     ": a 'gpt2' tokenizer needs tokenizer.ggml.merges (an array of "
                     "strings)");
    }
    merges = *m->AsStringArray();
    std::string pre = "default";
    if (file.Find("tokenizer.ggml.pre") != nullptr) {
      Result<std::string> p = file.GetString("tokenizer.ggml.pre");
      if (!p.ok()) return p.status();
      pre = *p;
    }
    std::optional<PreTokenizer> kind = PreTokenizerFromName(pre);
    if (!kind) {
      return Unsupported(name + ": the pre-tokenizer '" + pre +
                         "' is not one Easel implements (it knows gpt2, llama-bpe, qwen2, "
                         "smollm and their aliases)");
    }
    tok.pre_ = *kind;
    tok.ignore_merges_ = tok.pre_ == PreTokenizer::kLlama3;
  }
  auto id = [&](const char* key, int32_t* out) -> Status {
    if (file.Find(key) == nullptr) return Status::Ok();
    Result<int64_t> v = file.GetInt(key);
    if (!v.ok()) return v.status();
    if (*v < 0 || *v >= static_cast<int64_t>(n)) {
      return Corrupt(name + ": " + key + " is " + std::to_string(*v) + " but the vocabulary has " +
                     std::to_string(n) + " tokens: corrupt");
    }
    *out = static_cast<int32_t>(*v);
    return Status::Ok();
  };
  EASEL_RETURN_IF_ERROR(id("tokenizer.ggml.bos_token_id", &tok.bos_));
  EASEL_RETURN_IF_ERROR(id("tokenizer.ggml.eos_token_id", &tok.eos_));
  EASEL_RETURN_IF_ERROR(id("tokenizer.ggml.padding_token_id", &tok.pad_));
  EASEL_RETURN_IF_ERROR(id("tokenizer.ggml.unknown_token_id", &tok.unk_));
  tok.add_bos_ = tok.model_ == TokenizerModel::kSentencePiece;
  if (file.Find("tokenizer.ggml.add_bos_token") != nullptr) {
    Result<bool> b = file.GetBool("tokenizer.ggml.add_bos_token");
    if (!b.ok()) return b.status();
    tok.add_bos_ = *b;
  }
  if (file.Find("tokenizer.ggml.add_space_prefix") != nullptr) {
    Result<bool> b = file.GetBool("tokenizer.ggml.add_space_prefix");
    if (!b.ok()) return b.status();
    tok.add_space_prefix_ = *b;
  }
  EASEL_RETURN_IF_ERROR(tok.Finish(name, merges));
  return tok;
}

Result<Tokenizer> Tokenizer::FromTokenizerJson(std::string_view json_text,
                                               const std::string& name) {
  using nlohmann::json;
  json j = json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return Corrupt(name + ": not a JSON object");
  const json& model = j.value("model", json::object());
  if (!model.is_object() || model.value("type", "") != "BPE" || !model.contains("vocab") ||
      !model["vocab"].is_object()) {
    return Unsupported(name +
                       ": Easel reads tokenizer.json files of BPE models only (its "
                       "model.type is not \"BPE\" or it has no vocab)");
  }
  Tokenizer tok;
  // Vocabulary: ids must be 0..n-1 without holes, counting the added tokens.
  std::vector<std::pair<int64_t, std::string>> entries;
  for (auto it = model["vocab"].begin(); it != model["vocab"].end(); ++it) {
    if (!it.value().is_number_integer()) return Corrupt(name + ": a vocab id is not an integer");
    entries.emplace_back(it.value().get<int64_t>(), it.key());
  }
  std::vector<std::pair<int64_t, std::string>> added;
  std::vector<bool> added_special;
  if (j.contains("added_tokens") && j["added_tokens"].is_array()) {
    for (const json& a : j["added_tokens"]) {
      if (!a.is_object() || !a.contains("id") || !a["id"].is_number_integer() ||
          !a.contains("content") || !a["content"].is_string())
        return Corrupt(name + ": an added_tokens entry lacks an integer id or a content string");
      added.emplace_back(a["id"].get<int64_t>(), a["content"].get<std::string>());
      added_special.push_back(a.value("special", false));
    }
  }
  int64_t max_id = -1;
  for (const auto& e : entries) max_id = std::max(max_id, e.first);
  for (const auto& e : added) max_id = std::max(max_id, e.first);
  if (max_id < 0 || max_id > 0x7FFFFFFE)
    return Corrupt(name + ": the vocabulary is empty or too large");
  tok.tokens_.assign(static_cast<size_t>(max_id + 1), std::string());
  tok.types_.assign(tok.tokens_.size(), TokenType::kNormal);
  std::vector<bool> seen(tok.tokens_.size(), false);
  for (const auto& e : entries) {
    if (e.first < 0) return Corrupt(name + ": token '" + e.second + "' has a negative id");
    tok.tokens_[static_cast<size_t>(e.first)] = e.second;
    seen[static_cast<size_t>(e.first)] = true;
  }
  for (size_t i = 0; i < added.size(); ++i) {
    if (added[i].first < 0) return Corrupt(name + ": an added token has a negative id");
    const auto id = static_cast<size_t>(added[i].first);
    tok.tokens_[id] = added[i].second;
    tok.types_[id] = added_special[i] ? TokenType::kControl : TokenType::kUserDefined;
    seen[id] = true;
  }
  for (size_t i = 0; i < seen.size(); ++i) {
    if (!seen[i]) {
      return Corrupt(name + ": no token has id " + std::to_string(i) + " though ids go up to " +
                     std::to_string(max_id) + ": corrupt");
    }
  }
  std::vector<std::string> merges;
  if (model.contains("merges") && model["merges"].is_array()) {
    for (const json& m : model["merges"]) {
      if (m.is_string()) {
        merges.push_back(m.get<std::string>());
      } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
        merges.push_back(m[0].get<std::string>() + " " + m[1].get<std::string>());
      } else {
        return Corrupt(name + ": a merge is neither \"a b\" nor [\"a\", \"b\"]");
      }
    }
  }
  tok.ignore_merges_ = model.value("ignore_merges", false);
  // The pre-tokenizer: ByteLevel alone (GPT-2), Digits + ByteLevel (SmolLM), or a Split by
  // the Llama 3 / Qwen2 pattern followed by ByteLevel without its own regex.
  static const std::string kLlama3Regex =
      R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
  static const std::string kQwen2Regex =
      R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
  const json pre = j.value("pre_tokenizer", json());
  std::vector<json> steps;
  if (pre.is_object() && pre.value("type", "") == "Sequence" && pre.contains("pretokenizers")) {
    for (const json& s : pre["pretokenizers"]) steps.push_back(s);
  } else if (pre.is_object()) {
    steps.push_back(pre);
  }
  bool byte_level = false, byte_level_regex = false, digits = false;
  std::string split_regex;
  for (const json& s : steps) {
    const std::string type = s.is_object() ? s.value("type", "") : "";
    if (type == "ByteLevel") {
      byte_level = true;
      byte_level_regex = s.value("use_regex", true);
    } else if (type == "Digits" && s.value("individual_digits", false)) {
      digits = true;
    } else if (type == "Split" && s.contains("pattern") && s["pattern"].is_object() &&
               s["pattern"].contains("Regex") && s["pattern"]["Regex"].is_string()) {
      split_regex = s["pattern"]["Regex"].get<std::string>();
    } else {
      return Unsupported(name + ": the pre-tokenizer step '" + (s.is_object() ? s.dump() : "?") +
                         "' is not one Easel implements");
    }
  }
  if (!byte_level) {
    return Unsupported(name +
                       ": only byte-level BPE tokenizer.json files are read (this one has "
                       "no ByteLevel pre-tokenizer; SentencePiece-style tokenizer.json "
                       "is not supported yet, use the model's GGUF)");
  }
  if (split_regex.empty() && byte_level_regex) {
    tok.pre_ = digits ? PreTokenizer::kSmolLM : PreTokenizer::kGpt2;
  } else if (split_regex == kLlama3Regex && !byte_level_regex && !digits) {
    tok.pre_ = PreTokenizer::kLlama3;
  } else if (split_regex == kQwen2Regex && !byte_level_regex && !digits) {
    tok.pre_ = PreTokenizer::kQwen2;
  } else {
    return Unsupported(name + ": the pre-tokenizer split pattern '" + split_regex +
                       "' is not one Easel implements (GPT-2, Llama 3, Qwen2, SmolLM)");
  }
  tok.model_ = TokenizerModel::kByteBpe;
  auto special_id = [&](const char* text) {
    auto it = std::find(tok.tokens_.begin(), tok.tokens_.end(), text);
    return it == tok.tokens_.end() ? -1 : static_cast<int32_t>(it - tok.tokens_.begin());
  };
  // tokenizer.json does not say which token is bos/eos (tokenizer_config.json does); the
  // usual names are looked up so eos_id() is useful.
  for (const char* eos : {"<|endoftext|>", "<|im_end|>", "<|eot_id|>", "</s>"}) {
    if (tok.eos_ < 0) tok.eos_ = special_id(eos);
  }
  for (const char* bos : {"<|begin_of_text|>", "<s>"}) {
    if (tok.bos_ < 0) tok.bos_ = special_id(bos);
  }
  EASEL_RETURN_IF_ERROR(tok.Finish(name, merges));
  return tok;
}

Result<Tokenizer> Tokenizer::FromTokenizerJsonFile(const std::string& path) {
  Result<std::string> text = ReadFile(path);
  if (!text.ok()) return text.status();
  return FromTokenizerJson(*text, path);
}

void Tokenizer::EncodeBytePiece(std::string_view piece, std::vector<int32_t>* out) const {
  if (ignore_merges_) {
    std::string mapped;
    for (char c : piece) mapped += ByteLevelChar(static_cast<uint8_t>(c));
    if (auto it = ids_.find(mapped); it != ids_.end()) {
      out->push_back(it->second);
      return;
    }
  }
  std::vector<int32_t> syms;
  syms.reserve(piece.size());
  for (char c : piece) {
    const int32_t id = byte_token_[static_cast<uint8_t>(c)];
    if (id >= 0) {
      syms.push_back(id);
    } else if (unk_ >= 0) {
      syms.push_back(unk_);
    }
  }
  // Merge the adjacent pair of lowest rank, leftmost first, until none is left.
  while (syms.size() > 1) {
    int32_t best_rank = INT32_MAX, best_id = -1;
    size_t best_at = 0;
    for (size_t k = 0; k + 1 < syms.size(); ++k) {
      auto it = merges_.find(PairKey(syms[k], syms[k + 1]));
      if (it != merges_.end() && it->second.first < best_rank) {
        best_rank = it->second.first;
        best_id = it->second.second;
        best_at = k;
      }
    }
    if (best_id < 0) break;
    syms[best_at] = best_id;
    syms.erase(syms.begin() + static_cast<std::ptrdiff_t>(best_at) + 1);
  }
  out->insert(out->end(), syms.begin(), syms.end());
}

void Tokenizer::EncodeSentencePiece(std::string_view text, bool prefix_space,
                                    std::vector<int32_t>* out) const {
  const std::string s =
      (prefix_space ? std::string(kSpmSpace) : std::string()) + ReplaceAll(text, " ", kSpmSpace);
  // Symbols: UTF-8 characters in a linked list; merged pairwise by the score of the token
  // their concatenation makes, highest first (leftmost on ties).
  struct Sym {
    size_t begin, len;
    int prev, next;
  };
  std::vector<Sym> syms;
  for (size_t i = 0; i < s.size();) {
    const auto b = static_cast<uint8_t>(s[i]);
    size_t len = b < 0x80             ? 1
                 : (b & 0xE0) == 0xC0 ? 2
                 : (b & 0xF0) == 0xE0 ? 3
                 : (b & 0xF8) == 0xF0 ? 4
                                      : 1;
    len = std::min(len, s.size() - i);
    syms.push_back({i, len, static_cast<int>(syms.size()) - 1, static_cast<int>(syms.size()) + 1});
    i += len;
  }
  if (syms.empty()) return;
  syms.back().next = -1;
  struct Bigram {
    float score;
    int left;
    size_t size;
    bool operator<(const Bigram& o) const {
      return score < o.score || (score == o.score && left > o.left);
    }
  };
  std::priority_queue<Bigram> queue;
  auto try_add = [&](int left, int right) {
    if (left < 0 || right < 0) return;
    const size_t size = syms[static_cast<size_t>(left)].len + syms[static_cast<size_t>(right)].len;
    auto it = ids_.find(s.substr(syms[static_cast<size_t>(left)].begin, size));
    if (it == ids_.end()) return;
    queue.push({scores_[static_cast<size_t>(it->second)], left, size});
  };
  for (size_t i = 1; i < syms.size(); ++i) try_add(static_cast<int>(i) - 1, static_cast<int>(i));
  while (!queue.empty()) {
    const Bigram top = queue.top();
    queue.pop();
    Sym& left = syms[static_cast<size_t>(top.left)];
    if (left.len == 0 || left.next < 0) continue;
    Sym& right = syms[static_cast<size_t>(left.next)];
    if (left.len + right.len != top.size) continue;  // stale
    left.len += right.len;
    right.len = 0;
    left.next = right.next;
    if (right.next >= 0) syms[static_cast<size_t>(right.next)].prev = top.left;
    try_add(left.prev, top.left);
    try_add(top.left, left.next);
  }
  for (int i = 0; i >= 0; i = syms[static_cast<size_t>(i)].next) {
    const Sym& sym = syms[static_cast<size_t>(i)];
    auto it = ids_.find(s.substr(sym.begin, sym.len));
    if (it != ids_.end()) {
      out->push_back(it->second);
      continue;
    }
    for (size_t k = 0; k < sym.len; ++k) {  // byte fallback
      const int32_t id = byte_token_[static_cast<uint8_t>(s[sym.begin + k])];
      if (id >= 0) {
        out->push_back(id);
      } else if (unk_ >= 0) {
        out->push_back(unk_);
      }
    }
  }
}

std::vector<int32_t> Tokenizer::Encode(std::string_view text, bool parse_special) const {
  std::vector<int32_t> out;
  bool first_fragment = true;
  auto encode_fragment = [&](std::string_view frag) {
    if (frag.empty()) return;
    if (model_ == TokenizerModel::kSentencePiece) {
      EncodeSentencePiece(frag, add_space_prefix_ && first_fragment, &out);
    } else {
      for (std::string_view piece : PreTokenize(pre_, frag)) EncodeBytePiece(piece, &out);
    }
    first_fragment = false;
  };
  size_t start = 0, i = 0;
  while (parse_special && i < text.size()) {
    int32_t match = -1;
    for (int32_t id : specials_) {
      const std::string& t = tokens_[static_cast<size_t>(id)];
      if (text.compare(i, t.size(), t) == 0) {
        match = id;
        break;
      }
    }
    if (match < 0) {
      ++i;
      continue;
    }
    encode_fragment(text.substr(start, i - start));
    out.push_back(match);
    first_fragment = false;
    i += tokens_[static_cast<size_t>(match)].size();
    start = i;
  }
  encode_fragment(text.substr(start));
  return out;
}

std::string Tokenizer::Decode(const std::vector<int32_t>& ids, bool skip_special) const {
  std::string out;
  for (int32_t id : ids) {
    if (id < 0 || id >= vocab_size()) continue;
    if (skip_special && IsSpecial(id)) continue;
    out += bytes_[static_cast<size_t>(id)];
  }
  if (model_ == TokenizerModel::kSentencePiece && add_space_prefix_ && !out.empty() &&
      out[0] == ' ')
    out.erase(0, 1);
  return out;
}

}  // namespace easel::llm
