// The built-in runtime as a ChatBackend. See builtin_backend.h.
#include "llm/torch/builtin_backend.h"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <nlohmann/json.hpp>

#include "llm/json_constraint.h"
#include "llm/json_schema.h"
#include "llm/sampler.h"
#include "llm/token_stream.h"
#include "llm/tool_calls.h"

namespace easel::llm {

namespace {

constexpr int64_t kDefaultContextCap = 8192;
constexpr int64_t kCacheStep = 512;
constexpr int64_t kPrefillChunk = 512;

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// The CUDA caching allocator keeps freed blocks; returning them to the driver needs
// c10_cuda, which a CPU build lacks. Hard unloads in the worker end the process instead.
void ReleaseDeviceCache() {}

}  // namespace

// The state of one Chat() call: feeds tokens through the model (keeping the backend's cache
// record in step), samples, streams.
class BuiltinSession {
 public:
  BuiltinSession(BuiltinBackend* b, const ChatRequest& r, const DeltaFn& on_delta)
      : b_(*b),
        llm_(*b->llm_),
        tok_(*b->llm_->tokenizer),
        req_(r),
        on_delta_(on_delta),
        sampler_(SamplingParams{r.temperature, r.top_k, r.top_p, r.min_p, r.repeat_penalty, 64,
                                r.seed}) {}

  Result<ChatResult> Run();

 private:
  enum class End { kStop, kLength, kCancelled };
  Status EnsureCapacity(int64_t need);
  // Runs `ids` after what the cache holds; last_ becomes the logits of the last one.
  Status Feed(const std::vector<int32_t>& ids);
  // Prefills the prompt, reusing the cached prefix.
  Status Prefill(const std::vector<int32_t>& ids);
  // Decodes until an end; appends the text to *text. constraint: mask every token.
  Result<End> Decode(JsonConstraint* constraint, TokenStream* stream, bool stream_out,
                     std::string* text);
  Status Emit(const std::string& piece);
  bool IsEnd(int32_t id) const {
    return std::find(llm_.end_ids.begin(), llm_.end_ids.end(), id) != llm_.end_ids.end();
  }
  const JsonTokenMask& Mask();

  BuiltinBackend& b_;
  LoadedLlm& llm_;
  const Tokenizer& tok_;
  const ChatRequest& req_;
  const DeltaFn& on_delta_;
  Sampler sampler_;
  torch::Tensor last_;            // [vocab] logits after the last fed token
  std::vector<int32_t> history_;  // prompt and generated tokens (for the penalty)
  int64_t budget_ = 0;            // tokens that may still be generated
  int completion_ = 0;
  bool delta_refused_ = false;  // on_delta returned false
  // Auto tool choice: text held back while it may be a tool call.
  bool hold_for_tools_ = false;
  std::string held_;
  std::string shown_;
  Clock::time_point decode_start_;
};

Status BuiltinSession::EnsureCapacity(int64_t need) {
  std::optional<KvCache>& cache = b_.cache_;
  if (cache && cache->capacity >= need) return Status::Ok();
  int64_t cap = std::min<int64_t>(b_.context_, (need + kCacheStep - 1) / kCacheStep * kCacheStep);
  cap = std::max(cap, need);
  auto fresh = llm_.model->NewCache(cap);
  if (!fresh.ok()) return fresh.status();
  if (cache && cache->length > 0) {
    for (size_t l = 0; l < fresh->k.size(); ++l) {
      fresh->k[l].narrow(1, 0, cache->length).copy_(cache->k[l].narrow(1, 0, cache->length));
      fresh->v[l].narrow(1, 0, cache->length).copy_(cache->v[l].narrow(1, 0, cache->length));
    }
    fresh->length = cache->length;
  }
  cache = std::move(*fresh);
  std::lock_guard<std::mutex> lock(b_.info_mu_);
  b_.info_.kv_cache_bytes = llm_.model->CacheBytes(cap);
  return Status::Ok();
}

Status BuiltinSession::Feed(const std::vector<int32_t>& ids) {
  if (ids.empty()) return Status::Ok();
  EASEL_RETURN_IF_ERROR(EnsureCapacity(b_.cache_
                                           ? b_.cache_->length + static_cast<int64_t>(ids.size())
                                           : static_cast<int64_t>(ids.size())));
  for (size_t at = 0; at < ids.size(); at += kPrefillChunk) {
    const size_t n = std::min<size_t>(kPrefillChunk, ids.size() - at);
    std::vector<int32_t> chunk(ids.begin() + static_cast<std::ptrdiff_t>(at),
                               ids.begin() + static_cast<std::ptrdiff_t>(at + n));
    auto logits = llm_.model->Forward(chunk, &*b_.cache_, /*last_only=*/true);
    if (!logits.ok()) {
      b_.cached_.clear();
      b_.cache_->length = 0;
      return logits.status();
    }
    b_.cached_.insert(b_.cached_.end(), chunk.begin(), chunk.end());
    last_ = (*logits)[0];
  }
  return Status::Ok();
}

Status BuiltinSession::Prefill(const std::vector<int32_t>& ids) {
  size_t p = 0;
  if (b_.cache_) {
    const size_t n = std::min(ids.size(), b_.cached_.size());
    while (p < n && ids[p] == b_.cached_[p]) ++p;
    if (p == ids.size()) --p;  // at least one token runs, for the logits
    b_.cache_->length = static_cast<int64_t>(p);
    b_.cached_.resize(p);
  } else {
    b_.cached_.clear();
  }
  return Feed(std::vector<int32_t>(ids.begin() + static_cast<std::ptrdiff_t>(p), ids.end()));
}

Status BuiltinSession::Emit(const std::string& piece) {
  if (piece.empty() || delta_refused_) return Status::Ok();
  if (hold_for_tools_) {
    held_ += piece;
    if (MayBeToolCall(held_)) return Status::Ok();
    hold_for_tools_ = false;
    std::string out;
    out.swap(held_);
    return Emit(out);
  }
  shown_ += piece;
  if (on_delta_ && !on_delta_(piece)) delta_refused_ = true;
  return Status::Ok();
}

const JsonTokenMask& BuiltinSession::Mask() {
  if (!b_.mask_) {
    b_.mask_ = std::make_unique<JsonTokenMask>(tok_, llm_.end_ids.empty() ? -1 : llm_.end_ids[0]);
  }
  return *b_.mask_;
}

Result<BuiltinSession::End> BuiltinSession::Decode(JsonConstraint* constraint, TokenStream* stream,
                                                   bool stream_out, std::string* text) {
  std::vector<float> logits;
  for (;;) {
    if (b_.cancel_ || delta_refused_) return End::kCancelled;
    if (budget_ <= 0) return End::kLength;
    std::vector<int32_t> allowed;
    if (constraint != nullptr) {
      if (constraint->Done()) return End::kStop;
      allowed = Mask().Allowed(*constraint);
      if (allowed.empty()) {
        return Internal("constrained decoding reached a state with no allowed token");
      }
    }
    const torch::Tensor cpu = last_.to(torch::kCPU, torch::kFloat32).contiguous();
    logits.assign(cpu.data_ptr<float>(), cpu.data_ptr<float>() + cpu.numel());
    const int32_t id = sampler_.Sample(logits, history_, constraint ? &allowed : nullptr);
    if (id < 0) return Internal("the sampler chose no token");
    if (IsEnd(id)) return End::kStop;
    if (constraint != nullptr && !Mask().Accept(constraint, id)) {
      return Internal("the sampler chose a token the JSON constraint refuses");
    }
    history_.push_back(id);
    --budget_;
    ++completion_;
    if (stream != nullptr) {
      const std::string piece = stream->Push(id);
      *text += piece;
      if (stream_out) EASEL_RETURN_IF_ERROR(Emit(piece));
      if (stream->stopped()) return End::kStop;
    } else {
      *text += tok_.TokenBytes(id);
    }
    if (constraint != nullptr && constraint->Done()) return End::kStop;
    EASEL_RETURN_IF_ERROR(Feed({id}));
  }
}

Result<ChatResult> BuiltinSession::Run() {
  const Clock::time_point t0 = Clock::now();
  const bool required = req_.tool_choice == ToolChoice::kRequired && !req_.tools.empty();
  const bool offer_tools = req_.tool_choice != ToolChoice::kNone && !req_.tools.empty();
  if (req_.messages.empty()) return InvalidArgument("the chat request has no messages");
  if (req_.max_tokens <= 0) return InvalidArgument("max_tokens must be at least 1");
  std::vector<ChatMessage> msgs =
      FlattenForTemplate(req_.messages, req_.tools, llm_.chat_template.format, offer_tools);
  auto prompt = RenderChat(llm_.chat_template, msgs, /*add_generation_prompt=*/true);
  if (!prompt.ok()) return prompt.status();
  std::vector<int32_t> ids = tok_.Encode(*prompt, /*parse_special=*/true);
  const auto n_prompt = static_cast<int64_t>(ids.size());
  if (n_prompt + 1 > b_.context_) {
    return InvalidArgument("the conversation is " + std::to_string(n_prompt) +
                           " tokens but the context limit is " + std::to_string(b_.context_) +
                           " tokens (--context, or the model's own limit): shorten the "
                           "conversation or raise the limit");
  }
  // Schemas are checked before any compute.
  std::shared_ptr<const JsonSchema> reply_schema;
  if (req_.json_schema && !required) {
    auto s = ParseJsonSchema(std::string_view(*req_.json_schema));
    if (!s.ok()) return Status(s.status().code(), "json_schema: " + s.status().message());
    reply_schema = *s;
  }
  history_ = ids;
  budget_ = std::min<int64_t>(req_.max_tokens, b_.context_ - n_prompt);
  EASEL_RETURN_IF_ERROR(Prefill(ids));
  decode_start_ = Clock::now();
  ChatResult result;
  result.usage.prompt_tokens = static_cast<int>(n_prompt);
  result.usage.prefill_seconds = Seconds(t0, decode_start_);
  End end = End::kStop;
  // Forced text (tool-call scaffolding) is fed as the assistant's own words.
  auto force = [&](const std::string& s) -> Status {
    std::vector<int32_t> f = tok_.Encode(s, /*parse_special=*/true);
    if (static_cast<int64_t>(f.size()) > budget_) {
      budget_ = 0;
      return Status::Ok();
    }
    history_.insert(history_.end(), f.begin(), f.end());
    budget_ -= static_cast<int64_t>(f.size());
    return Feed(f);
  };
  if (required) {
    // Stage 1: the tool's name (an enum of the names); stage 2: its arguments.
    const ToolSpec* tool = &req_.tools[0];
    EASEL_RETURN_IF_ERROR(force(std::string(kToolCallOpen) + "{\"name\": "));
    if (req_.tools.size() > 1) {
      nlohmann::ordered_json names = nlohmann::ordered_json::array();
      for (const ToolSpec& t : req_.tools) names.push_back(t.name);
      auto schema = ParseJsonSchema(nlohmann::ordered_json{{"enum", names}});
      if (!schema.ok()) return schema.status();
      JsonConstraint c(*schema);
      std::string name_text;
      auto e = Decode(&c, nullptr, false, &name_text);
      if (!e.ok()) return e.status();
      end = *e;
      if (end == End::kStop) {
        const std::string name = nlohmann::json::parse(name_text).get<std::string>();
        for (const ToolSpec& t : req_.tools) {
          if (t.name == name) tool = &t;
        }
      }
    } else {
      EASEL_RETURN_IF_ERROR(force(nlohmann::json(tool->name).dump()));
    }
    if (end == End::kStop) {
      auto schema = ParseJsonSchema(std::string_view(tool->parameters_schema_json));
      if (!schema.ok()) {
        return Status(schema.status().code(),
                      "tool '" + tool->name + "': " + schema.status().message());
      }
      EASEL_RETURN_IF_ERROR(force(", \"arguments\": "));
      JsonConstraint c(*schema);
      std::string args;
      auto e = Decode(&c, nullptr, false, &args);
      if (!e.ok()) return e.status();
      end = *e;
      if (end == End::kStop && budget_ <= 0 && !c.Done()) end = End::kLength;
      if (end == End::kStop) {
        const nlohmann::json parsed = nlohmann::json::parse(args);
        result.tool_calls.push_back({"call_0", tool->name, parsed.dump()});
      }
    }
  } else if (reply_schema) {
    JsonConstraint c(reply_schema);
    TokenStream stream(tok_, {});
    std::string text;
    auto e = Decode(&c, &stream, true, &text);
    if (!e.ok()) return e.status();
    end = *e;
    const std::string rest = stream.Flush();
    text += rest;
    EASEL_RETURN_IF_ERROR(Emit(rest));
    result.content = text;
  } else {
    hold_for_tools_ = offer_tools;
    TokenStream stream(tok_, req_.stop);
    std::string text;
    auto e = Decode(nullptr, &stream, true, &text);
    if (!e.ok()) return e.status();
    end = *e;
    const std::string rest = stream.Flush();
    text += rest;
    if (offer_tools) result.tool_calls = ParseToolCalls(text, req_.tools);
    if (result.tool_calls.empty()) {
      hold_for_tools_ = false;
      EASEL_RETURN_IF_ERROR(Emit(held_ + rest));
      held_.clear();
      result.content = text;
    }
  }
  result.usage.completion_tokens = completion_;
  result.usage.decode_seconds = Seconds(decode_start_, Clock::now());
  if (end == End::kCancelled) {
    result.finish_reason = "cancelled";
  } else if (!result.tool_calls.empty()) {
    result.finish_reason = "tool_calls";
  } else {
    result.finish_reason = end == End::kLength ? "length" : "stop";
  }
  return result;
}

// ---- BuiltinBackend -------------------------------------------------------------------

Result<std::unique_ptr<BuiltinBackend>> BuiltinBackend::Open(const BuiltinOptions& options) {
  if (options.context < 0) {
    return InvalidArgument("context " + std::to_string(options.context) +
                           ": expected a positive number of tokens (0: the model's)");
  }
  std::unique_ptr<BuiltinBackend> b(new BuiltinBackend(options));
  EASEL_RETURN_IF_ERROR(b->EnsureLoaded());
  return b;
}

BuiltinBackend::~BuiltinBackend() = default;

Status BuiltinBackend::EnsureLoaded() {
  if (llm_) return Status::Ok();
  auto loaded = LoadLlm(options_);
  if (!loaded.ok()) return loaded.status();
  llm_ = std::move(*loaded);
  const int64_t model_ctx = llm_->model->config().context_length;
  context_ = options_.context > 0 ? std::min(options_.context, model_ctx)
                                  : std::min(model_ctx, kDefaultContextCap);
  std::lock_guard<std::mutex> lock(info_mu_);
  info_.kind = "builtin";
  info_.model = options_.model_path;
  info_.context_length = context_;
  info_.weights_bytes = llm_->model->weights_bytes();
  info_.kv_cache_bytes = 0;
  info_.loaded = true;
  return Status::Ok();
}

Result<ChatResult> BuiltinBackend::Chat(const ChatRequest& request, const DeltaFn& on_delta) {
  std::lock_guard<std::mutex> lock(mu_);
  cancel_ = false;
  Result<ChatResult> r = InvalidArgument("unset");
  const Status s = CatchAll([&] { r = ChatLocked(request, on_delta); });
  if (!s.ok()) {
    cached_.clear();
    if (cache_) cache_->length = 0;
    return s;
  }
  return r;
}

Result<ChatResult> BuiltinBackend::ChatLocked(const ChatRequest& request, const DeltaFn& on_delta) {
  EASEL_RETURN_IF_ERROR(EnsureLoaded());
  torch::NoGradGuard no_grad;
  BuiltinSession session(this, request, on_delta);
  return session.Run();
}

Status BuiltinBackend::Unload(bool hard) {
  std::unique_lock<std::mutex> lock(mu_, std::try_to_lock);
  if (!lock.owns_lock()) {
    cancel_ = true;  // a Chat() runs: stop it, then unload
    lock.lock();
  }
  cache_.reset();
  cached_.clear();
  if (hard) {
    mask_.reset();
    llm_.reset();
  }
  ReleaseDeviceCache();
  std::lock_guard<std::mutex> info_lock(info_mu_);
  info_.kv_cache_bytes = 0;
  if (hard) {
    info_.weights_bytes = 0;
    info_.loaded = false;
  }
  return Status::Ok();
}

BackendInfo BuiltinBackend::Info() const {
  std::lock_guard<std::mutex> lock(info_mu_);
  return info_;
}

Result<std::unique_ptr<ChatBackend>> OpenBuiltinBackend(const BuiltinOptions& options) {
  auto b = BuiltinBackend::Open(options);
  if (!b.ok()) return b.status();
  return std::unique_ptr<ChatBackend>(std::move(*b));
}

}  // namespace easel::llm
