// Textual-inversion embeddings of one folder, for one model: which names exist (for the
// prompt chunker, engine/text/embedding_vocab.h) and their vectors per text encoder.
//
// Files: <dir>/**/<name>.safetensors (A1111 also looks in sub-folders). Formats:
//   SD1.x / SD2.x   one tensor [n, D] or [D]: "emb_params" (A1111 / kohya), "string_to_param.*",
//                   or a diffusers "<token>" key
//   SDXL            "clip_l" [n, 768] + "clip_g" [n, 1280]
// An SD1 model takes clip_l of an SDXL file (as ComfyUI does); the SDXL refiner (bigG only)
// takes clip_g. Pickled .pt / .bin / .ckpt embeddings are listed so that using one gives a
// clear kUnsupported ("convert it to safetensors"); unused ones are harmless. Files are read
// when the prompt first uses them.
// Thread-safety: one caller at a time (loading caches).
#pragma once

#include <torch/types.h>

#include <memory>
#include <string>
#include <vector>

#include "engine/text/clip_tokenizer.h"
#include "engine/text/embedding_vocab.h"
#include "util/status.h"

namespace easel::engine {

// What a model's text encoder i reads from an embedding file.
struct EmbeddingSlot {
  std::string key;      // "clip_l", "clip_g", or "" (SD1/SD2: the file's one tensor, else clip_l)
  int64_t width = 0;    // the encoder's width
  std::string encoder;  // for messages: "CLIP-L", "OpenCLIP-bigG", "text encoder"
};

class EmbeddingSet {
 public:
  // Lists `dir` (recursively). Fails with kNotFound when it is not a folder. Names are file
  // stems; when two files share a stem the first in path order wins.
  static Result<std::unique_ptr<EmbeddingSet>> Scan(const std::string& dir,
                                                    const text::ClipTokenizer& tokenizer,
                                                    std::vector<EmbeddingSlot> slots);
  EmbeddingSet(const EmbeddingSet&) = delete;
  EmbeddingSet& operator=(const EmbeddingSet&) = delete;

  // The names for ChunkPrompt; its vector_count loads the file and throws easel::Error:
  // kUnsupported for a pickled file, kInvalidArgument for a file of another width or format
  // than the model needs (naming the file and the model's width), kCorrupt for a file that is
  // no embedding.
  const text::EmbeddingVocabulary& vocabulary() const { return vocabulary_; }

  // Embedding `index`'s vectors for slot `slot`: [n, width] float32 on the CPU (loaded by
  // vector_count first).
  const torch::Tensor& Vectors(int index, size_t slot) const;

  const std::string& dir() const { return dir_; }

 private:
  EmbeddingSet() = default;
  int Load(int index);

  struct File {
    std::string path;
    bool pickled = false;
    std::vector<torch::Tensor> vectors;  // per slot, once loaded
  };
  std::string dir_;
  std::vector<EmbeddingSlot> slots_;
  std::vector<File> files_;  // parallel to the vocabulary
  text::EmbeddingVocabulary vocabulary_;
};

}  // namespace easel::engine
