// Constrained decoding to a JSON schema (llm/json_schema.h): a byte-level pushdown
// recogniser of the documents the schema allows, and the set of vocabulary tokens that can
// come next.
//
// The documents it accepts are compact JSON with one optional space after ':' and ',';
// object properties come in declared order (optional ones may be left out, required ones
// may not); strings are valid UTF-8 without raw control characters, \u escapes outside
// U+D000-U+DFFF; numbers are JSON numbers with at most 15 integer and 15 fraction digits and
// a 2-digit exponent (integers: no fraction or exponent). Every accepted prefix can still be
// completed to a valid document, so generation cannot dead-end.
//
// JsonTokenMask walks a byte trie of the vocabulary with the recogniser, so one step costs
// one pass over the tokens that remain possible (all of them inside a free string).
//
// Thread-safety: JsonConstraint and JsonTokenMask are values; a JsonTokenMask is
// immutable after construction and may be shared by threads; each decoding stream owns its
// own JsonConstraint.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "llm/json_schema.h"
#include "llm/tokenizer.h"
#include "util/status.h"

namespace easel::llm {

class JsonConstraint {
 public:
  explicit JsonConstraint(std::shared_ptr<const JsonSchema> schema);

  // Consumes `bytes` if the document can continue with them; otherwise returns false and
  // leaves the state unchanged.
  bool Accept(std::string_view bytes);
  bool CanAccept(std::string_view bytes) const;
  // True when the bytes so far are a whole document (end of generation is allowed).
  bool CanEnd() const;
  // True when nothing but the end can follow.
  bool Done() const { return stack_.empty(); }

  // Recogniser internals, public for the trie walk in json_constraint.cpp.
  struct Frame {
    const JsonSchema* node;
    uint8_t kind;
    uint8_t phase;
    uint8_t flag;    // a one-space allowance used / utf-8 bytes pending
    uint8_t aux;     // string: utf-8 lead byte; literal: matched candidate
    uint32_t count;  // object: next property; array: items; string: code points; number: digits
    uint64_t live;   // literal candidates still matching
  };
  bool Feed(uint8_t c);  // one byte; on false the state is unspecified (callers copy)

 private:
  bool EndFrame(const Frame& f) const;
  std::shared_ptr<const JsonSchema> schema_;
  std::vector<Frame> stack_;
};

class JsonTokenMask {
 public:
  // The vocabulary of `tok` minus its special tokens; `eos` is allowed when a document is
  // complete (defaults to the tokenizer's eos id).
  explicit JsonTokenMask(const Tokenizer& tok, int32_t eos = -2);
  // Token i stands for token_bytes[i] (empty: never allowed).
  JsonTokenMask(const std::vector<std::string>& token_bytes, int32_t eos);

  // The tokens that may follow the state `c` is in, ascending.
  std::vector<int32_t> Allowed(const JsonConstraint& c) const;
  // Advances `c` by token `id`; false (state unchanged) when the token is not allowed.
  bool Accept(JsonConstraint* c, int32_t id) const;
  int32_t eos() const { return eos_; }

 private:
  struct TrieNode {
    std::vector<std::pair<uint8_t, int32_t>> children;  // byte -> node
    std::vector<int32_t> tokens;                        // tokens ending here
  };
  void Build(const std::vector<std::string>& token_bytes);
  void Walk(int32_t node, const JsonConstraint& state, std::vector<int32_t>* out) const;
  std::vector<TrieNode> trie_;
  std::vector<std::string> bytes_;
  int32_t eos_;
};

}  // namespace easel::llm
