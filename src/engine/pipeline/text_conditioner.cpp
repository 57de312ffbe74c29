// TextConditioner: tokenizer + text encoder(s) of a loaded model (see the header).
#include "engine/pipeline/text_conditioner.h"

#include <torch/torch.h>

#include <optional>

#include "engine/nets/clip_conditioner.h"
#include "engine/nets/clip_text.h"
#include "engine/text/clip_tokenizer.h"
#include "engine/text/prompt_chunks.h"
#include "engine/text/prompt_parser.h"

namespace easel::engine {

struct TextConditioner::Impl {
  std::optional<text::ClipTokenizer> tokenizer;
  int pad_id = 0;
  ClipTextModel text_encoder{nullptr};

  // A prompt's 77-token chunks (A1111 syntax); extra-network tags such as <lora:...> are
  // removed first, since they are applied to the weights, not encoded.
  std::vector<text::TokenChunk> Chunks(const std::string& prompt) const {
    const std::string text = text::ExtractExtraNetworks(prompt).prompt;
    return text::ChunkPrompt(text::ParsePromptAttention(text), *tokenizer, pad_id);
  }
};

TextConditioner::TextConditioner(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TextConditioner::~TextConditioner() = default;

torch::nn::Module* TextConditioner::text_encoder() {
  return impl_->text_encoder.get();
}
torch::nn::Module* TextConditioner::text_encoder2() {
  return nullptr;
}

Result<std::unique_ptr<TextConditioner>> TextConditioner::Load(ModelFiles& files,
                                                               torch::Device device,
                                                               torch::ScalarType dtype) {
  auto impl = std::make_unique<Impl>();
  Status st = CatchAll([&] {
    if (!files.vocab_path.empty()) {
      impl->tokenizer =
          text::ClipTokenizer::FromHfFiles(files.vocab_path, files.merges_path).ValueOrThrow();
    } else {
      impl->tokenizer = text::ClipTokenizer::FindDefault().ValueOrThrow();
    }
    impl->pad_id = static_cast<int>(files.pad_id);

    torch::NoGradGuard no_grad;
    const std::string& name = files.model_name;
    ClipTextConfig text_config = files.TextConfig().ValueOrThrow();
    if (text_config.vocab_size < impl->tokenizer->vocab_size())
      throw Error(Code::kCorrupt, "the text encoder of " + name + " has " +
                                      std::to_string(text_config.vocab_size) +
                                      " token embeddings but its tokenizer has " +
                                      std::to_string(impl->tokenizer->vocab_size()) + " tokens");
    impl->text_encoder = ClipTextModel(text_config);
    Status s = LoadIntoModule(*impl->text_encoder, files.text_encoder, "text encoder of " + name);
    if (!s.ok()) throw Error(s);
    files.text_encoder.clear();
    impl->text_encoder->eval();
    impl->text_encoder->to(device, dtype);
  });
  if (!st.ok()) return st;
  return std::unique_ptr<TextConditioner>(new TextConditioner(std::move(impl)));
}

Result<std::pair<Conditioning, Conditioning>> TextConditioner::Encode(
    const std::string& prompt, const std::string& negative, const ConditionParams& params) {
  std::pair<Conditioning, Conditioning> out;
  Status st = CatchAll([&] {
    Impl& m = *impl_;
    torch::NoGradGuard no_grad;
    auto cond_chunks = m.Chunks(prompt);
    auto uncond_chunks = m.Chunks(negative);
    text::PadToSameChunkCount(&cond_chunks, &uncond_chunks, *m.tokenizer, m.pad_id);
    out.first.context = EncodeChunks(*m.text_encoder, cond_chunks, params.clip_skip);
    out.second.context = EncodeChunks(*m.text_encoder, uncond_chunks, params.clip_skip);
  });
  if (!st.ok()) return st;
  return out;
}

}  // namespace easel::engine
