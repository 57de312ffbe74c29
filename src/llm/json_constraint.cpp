// The JSON recogniser and the vocabulary trie walk. See json_constraint.h.
#include "llm/json_constraint.h"

#include <algorithm>
#include <cstdint>

namespace easel::llm {

namespace {

using Frame = JsonConstraint::Frame;
using Kind = JsonSchema::Kind;

enum FrameKind : uint8_t { kValue, kObject, kArray, kString, kNumber, kLiteral };

// Object phases.
enum : uint8_t { kObjOpen, kObjAfterValue, kObjAfterComma, kObjInKey, kObjColon };
// Array phases.
enum : uint8_t { kArrOpen, kArrAfterValue, kArrAfterComma };
// String phases.
enum : uint8_t { kStrChars, kStrEscape, kStrHex1, kStrHex2, kStrHex3, kStrHex4, kStrUtf8 };
// Number phases (accepting: kNumZero, kNumInt, kNumFrac, kNumExp).
enum : uint8_t {
  kNumStart,
  kNumMinus,
  kNumZero,
  kNumInt,
  kNumDot,
  kNumFrac,
  kNumE,
  kNumESign,
  kNumExp
};

constexpr uint32_t kMaxIntDigits = 15, kMaxFracDigits = 15, kMaxExpDigits = 2;

bool IsDigit(uint8_t c) {
  return c >= '0' && c <= '9';
}
bool IsHex(uint8_t c) {
  return IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

Frame Make(const JsonSchema* node, uint8_t kind, uint8_t phase = 0) {
  return Frame{node, kind, phase, 0, 0, 0, 0};
}

const std::vector<std::string>& Literals(const JsonSchema* node) {
  return node->literals;
}

// Index of the first required property at or after `from`, or n.
size_t NextRequired(const JsonSchema* obj, size_t from) {
  while (from < obj->properties.size() && !obj->required[from]) ++from;
  return from;
}

// Property keys allowed at `from`: every property up to and including the next required.
uint64_t KeyCandidates(const JsonSchema* obj, size_t from) {
  const size_t last = std::min(NextRequired(obj, from), obj->properties.size() - 1);
  uint64_t mask = 0;
  for (size_t j = from; j <= last && j < obj->properties.size(); ++j) mask |= uint64_t{1} << j;
  return mask;
}

bool NumberAccepting(uint8_t phase) {
  return phase == kNumZero || phase == kNumInt || phase == kNumFrac || phase == kNumExp;
}

}  // namespace

JsonConstraint::JsonConstraint(std::shared_ptr<const JsonSchema> schema)
    : schema_(std::move(schema)) {
  stack_.push_back(Make(schema_.get(), kValue));
}

bool JsonConstraint::Feed(uint8_t c) {
  while (true) {
    if (stack_.empty()) return false;
    Frame& f = stack_.back();
    const JsonSchema* node = f.node;
    switch (f.kind) {
      case kValue: {
        if (c == ' ' && f.flag == 1) {  // the one space allowed after ':' or ','
          f.flag = 2;
          return true;
        }
        stack_.pop_back();
        switch (node->kind) {
          case Kind::kObject:
            if (c != '{') return false;
            stack_.push_back(Make(node, kObject, kObjOpen));
            return true;
          case Kind::kArray:
            if (c != '[') return false;
            stack_.push_back(Make(node, kArray, kArrOpen));
            return true;
          case Kind::kString:
            if (c != '"') return false;
            stack_.push_back(Make(node, kString, kStrChars));
            return true;
          case Kind::kNumber:
          case Kind::kInteger:
            stack_.push_back(Make(node, kNumber, kNumStart));
            continue;  // the number frame takes c
          default: {
            Frame lit = Make(node, kLiteral);
            const size_t n = Literals(node).size();
            lit.live = n >= 64 ? ~uint64_t{0} : (uint64_t{1} << n) - 1;
            stack_.push_back(lit);
            continue;
          }
        }
      }
      case kObject: {
        const size_t n = node->properties.size();
        const bool can_close = NextRequired(node, f.count) >= n;
        if (f.phase == kObjColon) {
          if (c != ':') return false;
          f.phase = kObjAfterValue;
          Frame v = Make(node->properties[f.count - 1].second.get(), kValue);
          v.flag = 1;
          stack_.push_back(v);
          return true;
        }
        if (f.phase == kObjAfterValue) {
          if (c == '}' && can_close) {
            stack_.pop_back();
            return true;
          }
          if (c == ',' && f.count < n) {
            f.phase = kObjAfterComma;
            return true;
          }
          return false;
        }
        // kObjOpen / kObjAfterComma: a key (after a comma, maybe one space first).
        if (f.phase == kObjOpen && c == '}' && can_close) {
          stack_.pop_back();
          return true;
        }
        if (f.phase == kObjAfterComma && c == ' ' && f.flag == 0) {
          f.flag = 1;
          return true;
        }
        if (c != '"' || f.count >= n) return false;
        f.phase = kObjInKey;
        f.flag = 0;
        Frame key = Make(node, kLiteral);
        key.live = KeyCandidates(node, f.count);
        stack_.push_back(key);
        continue;
      }
      case kArray: {
        const auto count = static_cast<int64_t>(f.count);
        const bool can_close = count >= node->min_items;
        const bool can_add = node->max_items < 0 || count < node->max_items;
        if (f.phase == kArrAfterValue) {
          if (c == ']' && can_close) {
            stack_.pop_back();
            return true;
          }
          if (c == ',' && can_add) {
            f.phase = kArrAfterComma;
            return true;
          }
          return false;
        }
        if (f.phase == kArrOpen && c == ']' && can_close) {
          stack_.pop_back();
          return true;
        }
        if (f.phase == kArrAfterComma && c == ' ' && f.flag == 0) {
          f.flag = 1;
          return true;
        }
        if (!can_add) return false;
        ++f.count;
        f.phase = kArrAfterValue;
        f.flag = 0;
        stack_.push_back(Make(node->items.get(), kValue));
        continue;
      }
      case kString: {
        const bool room = node->max_length < 0 || static_cast<int64_t>(f.count) < node->max_length;
        switch (f.phase) {
          case kStrChars:
            if (c == '"') {
              if (static_cast<int64_t>(f.count) < node->min_length) return false;
              stack_.pop_back();
              return true;
            }
            if (c < 0x20 || !room) return false;
            if (c == '\\') {
              f.phase = kStrEscape;
            } else if (c >= 0x80) {
              // UTF-8 lead bytes C2-F4; the continuation count follows.
              if (c < 0xC2 || c > 0xF4) return false;
              f.phase = kStrUtf8;
              f.flag = c < 0xE0 ? 1 : c < 0xF0 ? 2 : 3;
              f.aux = c;
            }
            ++f.count;
            return true;
          case kStrEscape:
            if (c == 'u') {
              f.phase = kStrHex1;
              return true;
            }
            if (c == '"' || c == '\\' || c == '/' || c == 'b' || c == 'f' || c == 'n' || c == 'r' ||
                c == 't') {
              f.phase = kStrChars;
              return true;
            }
            return false;
          case kStrHex1:
            // No U+D000-U+DFFF: keeps lone surrogates out.
            if (!IsHex(c) || c == 'd' || c == 'D') return false;
            f.phase = kStrHex2;
            return true;
          case kStrHex2:
          case kStrHex3:
          case kStrHex4:
            if (!IsHex(c)) return false;
            f.phase = f.phase == kStrHex4 ? static_cast<uint8_t>(kStrChars)
                                          : static_cast<uint8_t>(f.phase + 1);
            return true;
          case kStrUtf8: {
            uint8_t lo = 0x80, hi = 0xBF;
            if (f.aux != 0) {  // the first continuation byte has narrower ranges
              if (f.aux == 0xE0) lo = 0xA0;
              if (f.aux == 0xED) hi = 0x9F;
              if (f.aux == 0xF0) lo = 0x90;
              if (f.aux == 0xF4) hi = 0x8F;
            }
            if (c < lo || c > hi) return false;
            f.aux = 0;
            if (--f.flag == 0) f.phase = kStrChars;
            return true;
          }
        }
        return false;
      }
      case kNumber: {
        const bool integer = node->kind == Kind::kInteger;
        switch (f.phase) {
          case kNumStart:
            if (c == '-') {
              f.phase = kNumMinus;
              return true;
            }
            [[fallthrough]];
          case kNumMinus:
            if (!IsDigit(c)) return false;
            f.phase = c == '0' ? kNumZero : kNumInt;
            f.count = 1;
            return true;
          case kNumInt:
            if (IsDigit(c) && f.count < kMaxIntDigits) {
              ++f.count;
              return true;
            }
            [[fallthrough]];
          case kNumZero:
            if (!integer && c == '.') {
              f.phase = kNumDot;
              f.count = 0;
              return true;
            }
            if (!integer && (c == 'e' || c == 'E')) {
              f.phase = kNumE;
              f.count = 0;
              return true;
            }
            break;  // ends here
          case kNumDot:
            if (!IsDigit(c)) return false;
            f.phase = kNumFrac;
            f.count = 1;
            return true;
          case kNumFrac:
            if (IsDigit(c) && f.count < kMaxFracDigits) {
              ++f.count;
              return true;
            }
            if (c == 'e' || c == 'E') {
              f.phase = kNumE;
              f.count = 0;
              return true;
            }
            break;
          case kNumE:
            if (c == '+' || c == '-') {
              f.phase = kNumESign;
              return true;
            }
            [[fallthrough]];
          case kNumESign:
            if (!IsDigit(c)) return false;
            f.phase = kNumExp;
            f.count = 1;
            return true;
          case kNumExp:
            if (IsDigit(c) && f.count < kMaxExpDigits) {
              ++f.count;
              return true;
            }
            break;
        }
        // c does not continue the number: it ends here (if it may) and c goes to the parent.
        if (!NumberAccepting(f.phase)) return false;
        stack_.pop_back();
        if (stack_.empty()) return false;  // nothing may follow a top-level number
        continue;
      }
      case kLiteral: {
        const std::vector<std::string>& lits = Literals(node);
        const uint32_t pos = f.count;
        uint64_t next = 0;
        int complete = -1;
        for (size_t j = 0; j < lits.size() && j < 64; ++j) {
          if ((f.live >> j & 1) == 0) continue;
          if (lits[j].size() == pos) complete = static_cast<int>(j);
          if (lits[j].size() > pos && static_cast<uint8_t>(lits[j][pos]) == c)
            next |= uint64_t{1} << j;
        }
        if (next != 0) {
          f.live = next;
          f.count = pos + 1;
          // Finished when the only live candidate is fully matched.
          int only = -1, live = 0;
          for (size_t j = 0; j < lits.size() && j < 64; ++j) {
            if (next >> j & 1) {
              ++live;
              only = static_cast<int>(j);
            }
          }
          if (live == 1 && lits[static_cast<size_t>(only)].size() == f.count) {
            stack_.pop_back();
            if (!stack_.empty() && stack_.back().kind == kObject &&
                stack_.back().phase == kObjInKey) {
              stack_.back().count = static_cast<uint32_t>(only) + 1;
              stack_.back().phase = kObjColon;
            }
          }
          return true;
        }
        // A fully matched candidate that a longer one shadowed ends here (numeric enums:
        // 1 vs 12); c goes to the parent. Keys end with '"' and never get here.
        if (complete < 0) return false;
        stack_.pop_back();
        if (stack_.empty()) return false;
        continue;
      }
    }
    return false;
  }
}

bool JsonConstraint::EndFrame(const Frame& f) const {
  if (f.kind == kNumber) return NumberAccepting(f.phase);
  if (f.kind == kLiteral) {
    const std::vector<std::string>& lits = Literals(f.node);
    for (size_t j = 0; j < lits.size() && j < 64; ++j) {
      if ((f.live >> j & 1) && lits[j].size() == f.count) return true;
    }
  }
  return false;
}

bool JsonConstraint::CanEnd() const {
  if (stack_.empty()) return true;
  return stack_.size() == 1 && EndFrame(stack_[0]);
}

bool JsonConstraint::CanAccept(std::string_view bytes) const {
  JsonConstraint copy = *this;
  return copy.Accept(bytes);
}

bool JsonConstraint::Accept(std::string_view bytes) {
  std::vector<Frame> saved = stack_;
  for (char ch : bytes) {
    if (!Feed(static_cast<uint8_t>(ch))) {
      stack_ = std::move(saved);
      return false;
    }
  }
  return true;
}

// ---- JsonTokenMask ------------------------------------------------------------------

JsonTokenMask::JsonTokenMask(const Tokenizer& tok, int32_t eos) {
  eos_ = eos == -2 ? tok.eos_id() : eos;
  std::vector<std::string> bytes(static_cast<size_t>(tok.vocab_size()));
  for (int32_t id = 0; id < tok.vocab_size(); ++id) {
    if (!tok.IsSpecial(id) && tok.type(id) != TokenType::kUnused) {
      bytes[static_cast<size_t>(id)] = tok.TokenBytes(id);
    }
  }
  Build(bytes);
}

JsonTokenMask::JsonTokenMask(const std::vector<std::string>& token_bytes, int32_t eos) : eos_(eos) {
  Build(token_bytes);
}

void JsonTokenMask::Build(const std::vector<std::string>& token_bytes) {
  bytes_ = token_bytes;
  trie_.assign(1, TrieNode());
  for (size_t id = 0; id < token_bytes.size(); ++id) {
    const std::string& b = token_bytes[id];
    if (b.empty()) continue;
    int32_t node = 0;
    for (char ch : b) {
      const auto c = static_cast<uint8_t>(ch);
      auto& kids = trie_[static_cast<size_t>(node)].children;
      auto it = std::find_if(kids.begin(), kids.end(), [c](const auto& p) { return p.first == c; });
      if (it != kids.end()) {
        node = it->second;
      } else {
        const auto next = static_cast<int32_t>(trie_.size());
        trie_[static_cast<size_t>(node)].children.emplace_back(c, next);
        trie_.emplace_back();
        node = next;
      }
    }
    trie_[static_cast<size_t>(node)].tokens.push_back(static_cast<int32_t>(id));
  }
}

void JsonTokenMask::Walk(int32_t node, const JsonConstraint& state,
                         std::vector<int32_t>* out) const {
  for (const auto& [c, child] : trie_[static_cast<size_t>(node)].children) {
    JsonConstraint next = state;
    if (!next.Feed(c)) continue;
    const TrieNode& t = trie_[static_cast<size_t>(child)];
    out->insert(out->end(), t.tokens.begin(), t.tokens.end());
    if (!t.children.empty()) Walk(child, next, out);
  }
}

std::vector<int32_t> JsonTokenMask::Allowed(const JsonConstraint& c) const {
  std::vector<int32_t> out;
  Walk(0, c, &out);
  if (c.CanEnd() && eos_ >= 0) out.push_back(eos_);
  std::sort(out.begin(), out.end());
  return out;
}

bool JsonTokenMask::Accept(JsonConstraint* c, int32_t id) const {
  if (id == eos_ && eos_ >= 0) return c->CanEnd();
  if (id < 0 || static_cast<size_t>(id) >= bytes_.size() || bytes_[static_cast<size_t>(id)].empty())
    return false;
  return c->Accept(bytes_[static_cast<size_t>(id)]);
}

}  // namespace easel::llm
