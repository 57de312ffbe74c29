// TextConditioner: tokenizer + text encoder(s) of a loaded model (see the header).
#include "engine/pipeline/text_conditioner.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <optional>

#include "engine/adapt/embeddings.h"
#include "engine/nets/clip_conditioner.h"
#include "engine/nets/clip_text.h"
#include "engine/pipeline/graph_cache.h"
#include "engine/text/clip_tokenizer.h"
#include "engine/text/embedding_vocab.h"
#include "engine/text/prompt_chunks.h"
#include "engine/text/prompt_parser.h"

namespace easel::engine {
namespace {

enum class Mode { kSd, kSdxlBase, kSdxlRefiner };

struct Encoder {
  ClipTextModel model{nullptr};
  int pad_id = 0;
  EmbeddingSlot slot;
  bool pooled = false;  // SDXL's bigG: its pooled output is part of y
  std::unique_ptr<GraphCache> graphs = std::make_unique<GraphCache>();
};

std::string Trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t\r\n") - b + 1);
}

}  // namespace

torch::Tensor SdxlSizeEmbedding(const std::vector<double>& values, int64_t dim) {
  if (dim <= 0 || dim % 2 != 0)
    throw Error(Code::kInvalidArgument,
                "SDXL size embedding width must be even, got " + std::to_string(dim));
  const int64_t half = dim / 2;
  torch::Tensor freqs =
      torch::exp(torch::arange(half, torch::kFloat32) * (-std::log(10000.0) / double(half)));
  std::vector<torch::Tensor> parts;
  for (double v : values) {
    torch::Tensor args = freqs * static_cast<float>(v);  // [half]
    parts.push_back(torch::cat({torch::cos(args), torch::sin(args)}));
  }
  return torch::cat(parts).unsqueeze(0);  // [1, values * dim]
}

struct TextConditioner::Impl {
  std::optional<text::ClipTokenizer> tokenizer;
  Mode mode = Mode::kSd;
  std::vector<Encoder> encoders;  // SD: [te]; SDXL base: [CLIP-L, bigG]; refiner: [bigG]
  int64_t time_dim = 0;           // SDXL: per-value embedding width
  torch::Device device = torch::kCPU;
  torch::ScalarType dtype = torch::kFloat32;

  // Encodes one prompt (both chunk lists padded to the same count by the caller).
  struct Encoded {
    torch::Tensor context;
    torch::Tensor pooled;
  };

  std::vector<std::vector<text::TokenChunk>> Chunks(const std::string& prompt,
                                                    const text::EmbeddingVocabulary& vocab) const {
    const std::string text = text::ExtractExtraNetworks(prompt).prompt;
    const auto fragments = text::ParsePromptAttention(text);
    std::vector<std::vector<text::TokenChunk>> out;
    for (const Encoder& e : encoders)
      out.push_back(text::ChunkPrompt(fragments, *tokenizer, e.pad_id, {}, &vocab));
    return out;
  }

  Encoded Run(size_t i, const std::vector<text::TokenChunk>& chunks, const EmbeddingSet* set,
              int clip_skip) {
    Encoder& e = encoders[i];
    torch::Tensor ids, weights;
    ChunksToTensors(chunks, &ids, &weights);
    torch::Tensor embeds;
    for (size_t c = 0; c < chunks.size(); ++c) {
      for (const text::EmbeddingFix& fix : chunks[c].fixes) {
        if (!embeds.defined()) embeds = e.model->TokenEmbeddings(ids).clone();
        const torch::Tensor& v = set->Vectors(fix.embedding, i);  // [n, D]
        const int64_t n = std::min<int64_t>(v.size(0), text::kChunkLength - 1 - fix.offset);
        embeds[static_cast<int64_t>(c)]
            .narrow(0, 1 + fix.offset, n)
            .copy_(v.narrow(0, 0, n).to(embeds.device(), embeds.scalar_type()));
      }
    }
    ClipTextModelImpl::RunOptions options;
    if (mode == Mode::kSd) {
      options.clip_skip = clip_skip;
    } else {
      options.clip_skip = 2;  // the penultimate layer, without the final norm
      options.final_norm = false;
      options.pooled = e.pooled;
    }
    // Token embeddings (with any textual-inversion vectors) are looked up eagerly; the layers
    // run from a CUDA graph when enabled (graph_cache.h).
    if (!embeds.defined()) embeds = e.model->TokenEmbeddings(ids);
    const std::vector<torch::Tensor> inputs = {embeds, ids.to(embeds.device()),
                                               weights.to(embeds.device())};
    const int64_t tag =
        options.clip_skip * 4 + (options.pooled ? 2 : 0) + (options.final_norm ? 1 : 0);
    ClipTextModelImpl& model = *e.model;
    const std::vector<torch::Tensor> out = e.graphs->Run(
        inputs,
        [&model, options](const std::vector<torch::Tensor>& in) {
          ChunkEncoding enc = EncodeChunks(model, in[1], in[2], in[0], options);
          return std::vector<torch::Tensor>{enc.context, enc.pooled};
        },
        tag);
    return {out[0], out[1]};
  }
};

TextConditioner::TextConditioner(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TextConditioner::~TextConditioner() = default;

torch::nn::Module* TextConditioner::text_encoder() {
  if (impl_->mode == Mode::kSdxlRefiner) return nullptr;
  return impl_->encoders[0].model.get();
}
void TextConditioner::SetCudaGraphs(bool enabled) {
  for (Encoder& e : impl_->encoders) {
    e.graphs->set_enabled(enabled);
    if (!enabled) e.graphs->Clear();
  }
}

torch::nn::Module* TextConditioner::text_encoder2() {
  switch (impl_->mode) {
    case Mode::kSdxlBase: return impl_->encoders[1].model.get();
    case Mode::kSdxlRefiner: return impl_->encoders[0].model.get();
    default: return nullptr;
  }
}

Result<std::unique_ptr<TextConditioner>> TextConditioner::Load(ModelFiles& files,
                                                               torch::Device device,
                                                               torch::ScalarType dtype) {
  auto impl = std::make_unique<Impl>();
  impl->device = device;
  impl->dtype = dtype;
  Status st = CatchAll([&] {
    if (!files.vocab_path.empty()) {
      impl->tokenizer =
          text::ClipTokenizer::FromHfFiles(files.vocab_path, files.merges_path).ValueOrThrow();
    } else {
      impl->tokenizer = text::ClipTokenizer::FindDefault().ValueOrThrow();
    }
    if (files.IsSdxl()) impl->mode = files.IsSdxlRefiner() ? Mode::kSdxlRefiner : Mode::kSdxlBase;

    torch::NoGradGuard no_grad;
    const std::string& name = files.model_name;
    auto build = [&](const ClipTextConfig& config, StateDict& weights, const std::string& what,
                     int pad_id, EmbeddingSlot slot, bool pooled) {
      if (config.vocab_size < impl->tokenizer->vocab_size())
        throw Error(Code::kCorrupt, "the " + what + " of " + name + " has " +
                                        std::to_string(config.vocab_size) +
                                        " token embeddings but its tokenizer has " +
                                        std::to_string(impl->tokenizer->vocab_size()) + " tokens");
      Encoder e;
      e.model = ClipTextModel(config);
      Status s = LoadIntoModule(*e.model, weights, what + " of " + name, {},
                                WeightPlacement{device, dtype});
      if (!s.ok()) throw Error(s);
      weights.clear();
      e.model->eval();
      e.model->to(device, dtype);  // already there (loaded in place): a no-op safety net
      e.pad_id = pad_id;
      slot.width = config.hidden;
      e.slot = slot;
      e.pooled = pooled;
      impl->encoders.push_back(std::move(e));
    };
    const int pad = static_cast<int>(files.pad_id), pad2 = static_cast<int>(files.pad_id2);
    switch (impl->mode) {
      case Mode::kSd:
        build(files.TextConfig().ValueOrThrow(), files.text_encoder, "text encoder", pad,
              {"", 0, "text encoder"}, false);
        break;
      case Mode::kSdxlBase:
        build(files.TextConfig().ValueOrThrow(), files.text_encoder, "CLIP-L text encoder", pad,
              {"clip_l", 0, "CLIP-L text encoder"}, false);
        build(files.TextConfig2().ValueOrThrow(), files.text_encoder2, "OpenCLIP-bigG text encoder",
              pad2, {"clip_g", 0, "OpenCLIP-bigG text encoder"}, true);
        break;
      case Mode::kSdxlRefiner:
        build(files.TextConfig2().ValueOrThrow(), files.text_encoder2, "OpenCLIP-bigG text encoder",
              pad2, {"clip_g", 0, "OpenCLIP-bigG text encoder"}, true);
        break;
    }
    if (impl->mode != Mode::kSd) {
      const int64_t pooled = impl->encoders.back().model->config().projection_dim;
      const int64_t values = impl->mode == Mode::kSdxlBase ? 6 : 5;
      const int64_t rest = files.adm_in_channels - pooled;
      if (files.adm_in_channels <= 0 || rest <= 0 || rest % values != 0 || (rest / values) % 2 != 0)
        throw Error(Code::kInvalidArgument,
                    name + ": the SDXL UNet's label_emb takes " +
                        std::to_string(files.adm_in_channels) + " features, which is not the " +
                        std::to_string(pooled) + " pooled text features plus " +
                        std::to_string(values) + " equal even-width size embeddings");
      impl->time_dim = rest / values;
    }
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
    std::unique_ptr<EmbeddingSet> set;
    text::EmbeddingVocabulary empty;
    if (!params.embeddings_dir.empty()) {
      std::vector<EmbeddingSlot> slots;
      for (const Encoder& e : m.encoders) slots.push_back(e.slot);
      set = EmbeddingSet::Scan(params.embeddings_dir, *m.tokenizer, slots).ValueOrThrow();
    }
    const text::EmbeddingVocabulary& vocab = set ? set->vocabulary() : empty;
    std::vector<std::vector<text::TokenChunk>> cond, uncond;
    try {
      cond = m.Chunks(prompt, vocab);
      uncond = m.Chunks(negative, vocab);
    } catch (const Error& e) {
      if (e.status().code() != Code::kNotFound) throw;
      throw Error(Code::kNotFound,
                  e.status().message() +
                      (set ? " in " + set->dir()
                           : std::string(": no embeddings folder is set (--embeddings-dir)")));
    }
    std::vector<Impl::Encoded> c, u;
    for (size_t i = 0; i < m.encoders.size(); ++i) {
      text::PadToSameChunkCount(&cond[i], &uncond[i], *m.tokenizer, m.encoders[i].pad_id);
      c.push_back(m.Run(i, cond[i], set.get(), params.clip_skip));
      u.push_back(m.Run(i, uncond[i], set.get(), params.clip_skip));
    }
    if (m.mode == Mode::kSd) {
      out.first.context = c[0].context;
      out.second.context = u[0].context;
      return;
    }
    auto join = [](const std::vector<Impl::Encoded>& parts) {
      std::vector<torch::Tensor> ctx;
      for (const auto& p : parts) ctx.push_back(p.context);
      return torch::cat(ctx, /*dim=*/-1);  // SDXL base: [1, 77K, 768 + 1280]
    };
    Conditioning pos{join(c), c.back().pooled}, neg{join(u), u.back().pooled};
    if (Trim(text::ExtractExtraNetworks(negative).prompt).empty()) {
      // A1111 (sd_models_xl.py): an empty negative prompt is zeros, pooled included.
      neg.context = torch::zeros_like(neg.context);
      neg.y = torch::zeros_like(neg.y);
    }
    const double h = params.height, w = params.width;
    auto sizes = [&](double last) {
      std::vector<double> v = {h, w, double(params.crop_top), double(params.crop_left)};
      if (m.mode == Mode::kSdxlBase) {
        v.push_back(h);
        v.push_back(w);
      } else {
        v.push_back(last);
      }
      return SdxlSizeEmbedding(v, m.time_dim).to(m.device, pos.y.scalar_type());
    };
    pos.y = torch::cat({pos.y, sizes(params.aesthetic_score)}, 1);
    neg.y = torch::cat({neg.y, sizes(params.negative_aesthetic_score)}, 1);
    out.first = pos;
    out.second = neg;
  });
  if (!st.ok()) return st;
  return out;
}

}  // namespace easel::engine
