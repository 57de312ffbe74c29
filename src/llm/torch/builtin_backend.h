// The built-in language-model runtime as a ChatBackend: a Llama-family model (GGUF or Hugging
// Face folder) on libtorch in this process.
//
// One Chat(): the messages (with the tool list, when tools are offered, in the system message;
// llm/tool_calls.h) are rendered by the model's chat format, tokenized, checked against the
// context limit, prefilled in one batched forward (reusing the KV cache for the prefix shared
// with the previous conversation), then decoded token by token with the sampler (temperature,
// top-k, top-p, min-p, repetition penalty, seed) until an end-of-turn token, a stop string,
// max_tokens or the context limit. Text reaches `on_delta` through a TokenStream (whole UTF-8
// characters; stop strings held back).
//   json_schema set: every token is masked by a JsonConstraint, so the reply parses and
//     validates.
//   tool_choice kRequired: the reply is a call decoded in two constrained stages: the tool
//     name (an enum of the names; skipped for one tool), then its arguments under that tool's
//     schema; ChatResult::tool_calls holds it, finish_reason "tool_calls".
//   tool_choice kAuto: the model answers freely; a reply that is a <tool_call>{...} block (or
//     a bare {"name", "arguments"} object) becomes tool_calls. Text that may be a call is held
//     back from on_delta until it is known not to be one.
//
// Memory: the KV cache grows in steps of 512 positions up to the context limit. Unload(false)
// drops it; Unload(true) frees the weights too (the next Chat() loads them again). Unload
// during a Chat() cancels it first.
//
// Thread-safety: one Chat() at a time (a second waits); Cancel(), Unload() and Info() may be
// called from any thread.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>

#include "llm/builtin_options.h"
#include "llm/chat_backend.h"
#include "llm/json_constraint.h"
#include "llm/torch/llm_loader.h"

namespace easel::llm {

class BuiltinBackend : public ChatBackend {
 public:
  // Loads the model now (so a bad path fails here, not at the first Chat()).
  static Result<std::unique_ptr<BuiltinBackend>> Open(const BuiltinOptions& options);
  ~BuiltinBackend() override;

  Result<ChatResult> Chat(const ChatRequest& request, const DeltaFn& on_delta) override;
  void Cancel() override { cancel_ = true; }
  Status Unload(bool hard) override;
  BackendInfo Info() const override;

  // The context limit in tokens (BuiltinOptions::context, or the model's capped at 8192).
  int64_t context_length() const { return context_; }

 private:
  explicit BuiltinBackend(BuiltinOptions options) : options_(std::move(options)) {}
  Status EnsureLoaded();
  Result<ChatResult> ChatLocked(const ChatRequest& request, const DeltaFn& on_delta);

  BuiltinOptions options_;
  mutable std::mutex mu_;       // held by Chat()/Unload(); guards everything below
  mutable std::mutex info_mu_;  // guards info_ (read by Info() while Chat() runs)
  std::atomic<bool> cancel_{false};
  std::optional<LoadedLlm> llm_;         // nullopt after a hard unload
  std::unique_ptr<JsonTokenMask> mask_;  // built on the first constrained request
  std::optional<KvCache> cache_;
  std::vector<int32_t> cached_;  // the tokens whose keys/values the cache holds
  int64_t context_ = 0;
  BackendInfo info_;

  friend class BuiltinSession;
};

// The factory of llm_api.md.
Result<std::unique_ptr<ChatBackend>> OpenBuiltinBackend(const BuiltinOptions& options);

}  // namespace easel::llm
