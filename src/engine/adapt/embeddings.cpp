// Textual-inversion embedding files: see embeddings.h.
#include "engine/adapt/embeddings.h"

#include <torch/torch.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <map>

#include "engine/weights.h"

namespace easel::engine {
namespace {

namespace fs = std::filesystem;

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

std::string Keys(const StateDict& dict) {
  std::string out;
  for (const auto& [k, v] : dict) {
    if (out.size() > 120) return out + ", ...";
    out += (out.empty() ? "" : ", ") + k;
  }
  return out;
}

}  // namespace

Result<std::unique_ptr<EmbeddingSet>> EmbeddingSet::Scan(const std::string& dir,
                                                         const text::ClipTokenizer& tokenizer,
                                                         std::vector<EmbeddingSlot> slots) {
  std::unique_ptr<EmbeddingSet> set(new EmbeddingSet());
  set->dir_ = dir;
  set->slots_ = std::move(slots);
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    return NotFound("the embeddings folder " + dir + " does not exist or is not a folder");
  std::vector<fs::path> paths;
  for (auto it = fs::recursive_directory_iterator(dir, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_regular_file(ec)) paths.push_back(it->path());
  }
  std::sort(paths.begin(), paths.end());
  std::map<std::string, int> seen;
  for (const fs::path& p : paths) {
    const std::string ext = Lower(p.extension().string());
    const bool pickled = ext == ".pt" || ext == ".bin" || ext == ".ckpt";
    if (ext != ".safetensors" && !pickled) continue;
    const std::string name = p.stem().string();
    if (!seen.emplace(name, 0).second) continue;
    set->vocabulary_.Add(name, tokenizer.Encode(name));
    set->files_.push_back({p.string(), pickled, {}});
  }
  EmbeddingSet* self = set.get();
  set->vocabulary_.vector_count = [self](int index) { return self->Load(index); };
  return set;
}

const torch::Tensor& EmbeddingSet::Vectors(int index, size_t slot) const {
  return files_.at(static_cast<size_t>(index)).vectors.at(slot);
}

int EmbeddingSet::Load(int index) {
  File& f = files_.at(static_cast<size_t>(index));
  if (!f.vectors.empty()) return static_cast<int>(f.vectors[0].size(0));
  const std::string& name = vocabulary_.at(index).name;
  if (f.pickled)
    throw Error(Code::kUnsupported,
                f.path + ": embedding '" + name +
                    "' is a pickled file, which Easel does not load because loading it can run "
                    "code; convert it to " +
                    name +
                    ".safetensors (e.g. with A1111's or "
                    "kohya's converters) and put it in " +
                    dir_);
  auto file = io::SafetensorsFile::Open(f.path).ValueOrThrow();
  const StateDict all = LoadSafetensors(file);
  const bool xl = all.count("clip_l") && all.count("clip_g");
  std::vector<torch::Tensor> out;
  for (const EmbeddingSlot& slot : slots_) {
    torch::Tensor v;
    if (!slot.key.empty()) {
      if (!xl)
        throw Error(Code::kInvalidArgument,
                    f.path + " is an SD1.x/SD2.x embedding (one tensor: " + Keys(all) +
                        "); this SDXL model needs an SDXL embedding with clip_l and clip_g "
                        "vectors");
      v = all.at(slot.key);
    } else if (xl) {
      v = all.at("clip_l");  // an SD1 model reads the CLIP-L half (as ComfyUI does)
    } else if (all.size() == 1) {
      v = all.begin()->second;
    } else {
      throw Error(Code::kCorrupt, f.path +
                                      " is not a textual-inversion embedding: expected one "
                                      "tensor (emb_params) or clip_l + clip_g, found " +
                                      Keys(all));
    }
    if (v.dim() == 1) v = v.unsqueeze(0);
    if (v.dim() != 2 || v.size(0) < 1)
      throw Error(Code::kCorrupt, f.path + ": embedding vectors must be [count, width], got " +
                                      ShapeText(v.sizes()));
    if (v.size(1) != slot.width)
      throw Error(Code::kInvalidArgument,
                  f.path + ": embedding '" + name + "' has vectors of width " +
                      std::to_string(v.size(1)) + " but this model's " + slot.encoder +
                      " has width " + std::to_string(slot.width) +
                      ": the embedding was made for another model family");
    if (!out.empty() && v.size(0) != out[0].size(0))
      throw Error(Code::kCorrupt, f.path + ": clip_l and clip_g hold different vector counts");
    out.push_back(v.to(torch::kFloat32).clone());
  }
  f.vectors = std::move(out);
  return static_cast<int>(f.vectors[0].size(0));
}

}  // namespace easel::engine
