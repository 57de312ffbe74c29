// easel chat: a conversation with a language model in this process (the built-in runtime).
//
//   easel chat --model PATH [--system TEXT] [--device cpu] [--dtype auto] [--context N]
//              [--temp 0.7] [--seed 0] [--max-tokens 512] [--verbose] [--bench]
//
// On a terminal: a prompt ("> "), one user message per line, the reply streamed; "/reset"
// starts over, "/exit" (or end of input) leaves. Otherwise each line of stdin is a user
// message and each reply is streamed to stdout followed by an empty line. The conversation
// is kept between lines. --verbose prints token counts and speeds on stderr after each reply;
// --bench runs a fixed greedy prompt and prints prefill and decode tokens/s (a benchmark,
// not a test).
#include <torch/torch.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <thread>

#include "cli/commands.h"
#include "llm/torch/builtin_backend.h"

namespace easel::cli {
namespace {

struct ChatOptions {
  llm::BuiltinOptions builtin;
  std::string system;
  float temperature = 0.7f;
  uint64_t seed = 0;
  int max_tokens = 512;
  int threads = 0;
  bool verbose = false;
  bool bench = false;
};

void PrintUsage(const llm::ChatUsage& u) {
  const double pre = u.prefill_seconds > 0 ? u.prompt_tokens / u.prefill_seconds : 0;
  const double dec = u.decode_seconds > 0 ? u.completion_tokens / u.decode_seconds : 0;
  std::fprintf(stderr,
               "[prefill %d tokens in %.2f s: %.1f tok/s; decode %d tokens in %.2f s: %.1f "
               "tok/s]\n",
               u.prompt_tokens, u.prefill_seconds, pre, u.completion_tokens, u.decode_seconds, dec);
}

Status Bench(llm::BuiltinBackend& b, const ChatOptions& o) {
  // A long prompt (about 300 tokens) for prefill; a story for decode.
  std::string text;
  for (int i = 0; i < 12; ++i) {
    text += "The lighthouse keeper walked along the cliff at dawn, counting the ships. ";
  }
  llm::ChatRequest r;
  r.messages = {
      {"user", text + "\nNow write a long story about a dragon who guards a library.", {}, "", ""}};
  r.temperature = 0;
  r.max_tokens = o.max_tokens == 512 ? 64 : o.max_tokens;
  const llm::BackendInfo info = b.Info();
  std::fprintf(stderr, "bench: %s on %s (%d threads), weights %.0f MB\n", info.model.c_str(),
               o.builtin.device.c_str(), static_cast<int>(torch::get_num_threads()),
               info.weights_bytes / 1e6);
  for (int run = 0; run < 2; ++run) {  // the first run warms up allocations and caches
    EASEL_RETURN_IF_ERROR(b.Unload(false));
    auto res = b.Chat(r, nullptr);
    if (!res.ok()) return res.status();
    if (run == 1) {
      const llm::ChatUsage& u = res->usage;
      std::printf("prefill: %d tokens in %.3f s = %.1f tok/s\n", u.prompt_tokens, u.prefill_seconds,
                  u.prompt_tokens / u.prefill_seconds);
      std::printf("decode: %d tokens in %.3f s = %.1f tok/s\n", u.completion_tokens,
                  u.decode_seconds, u.completion_tokens / u.decode_seconds);
    }
  }
  return Status::Ok();
}

}  // namespace

Command AddChat(CLI::App& app) {
  auto o = std::make_shared<ChatOptions>();
  CLI::App* sub = app.add_subcommand("chat", "Chat with a language model (GGUF or HF folder)");
  sub->add_option("--model", o->builtin.model_path, "A .gguf file or a Hugging Face folder")
      ->required();
  sub->add_option("--system", o->system, "A system message");
  sub->add_option("--device", o->builtin.device, "cpu, cuda or cuda:N")->capture_default_str();
  sub->add_option("--dtype", o->builtin.dtype, "auto, float32, float16 or bfloat16")
      ->capture_default_str();
  sub->add_option("--context", o->builtin.context, "Context limit in tokens (0: the model's)")
      ->capture_default_str();
  sub->add_option("--temp", o->temperature, "Temperature (0: greedy)")->capture_default_str();
  sub->add_option("--seed", o->seed, "Sampling seed")->capture_default_str();
  sub->add_option("--max-tokens", o->max_tokens, "Most tokens per reply")->capture_default_str();
  sub->add_option("--threads", o->threads, "CPU threads (0: libtorch's default)");
  sub->add_flag("--verbose", o->verbose, "Print token counts and speeds after each reply");
  sub->add_flag("--bench", o->bench, "Measure prefill and decode tokens/s and exit");
  return [o]() -> Status {
    if (o->threads > 0) torch::set_num_threads(o->threads);
    auto backend = llm::BuiltinBackend::Open(o->builtin);
    if (!backend.ok()) return backend.status();
    llm::BuiltinBackend& b = **backend;
    if (o->bench) return Bench(b, *o);
    const bool tty = ::isatty(0) && ::isatty(1);
    std::vector<llm::Message> history;
    if (!o->system.empty()) history.push_back({"system", o->system, {}, "", ""});
    std::string line;
    for (;;) {
      if (tty) {
        std::printf("> ");
        std::fflush(stdout);
      }
      if (!std::getline(std::cin, line)) break;
      if (line.empty()) continue;
      if (tty && line == "/exit") break;
      if (tty && line == "/reset") {
        history.resize(o->system.empty() ? 0 : 1);
        continue;
      }
      history.push_back({"user", line, {}, "", ""});
      llm::ChatRequest r;
      r.messages = history;
      r.temperature = o->temperature;
      r.seed = o->seed;
      r.max_tokens = o->max_tokens;
      auto res = b.Chat(r, [](std::string_view d) {
        std::fwrite(d.data(), 1, d.size(), stdout);
        std::fflush(stdout);
        return true;
      });
      if (!res.ok()) {
        history.pop_back();
        if (!tty) return res.status();
        std::fprintf(stderr, "easel chat: %s\n", res.status().ToString().c_str());
        continue;
      }
      std::printf("\n\n");
      std::fflush(stdout);
      history.push_back({"assistant", res->content, {}, "", ""});
      if (o->verbose) PrintUsage(res->usage);
    }
    return Status::Ok();
  };
}

}  // namespace easel::cli
