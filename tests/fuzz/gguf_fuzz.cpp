// libFuzzer target: arbitrary bytes as a .gguf file through GgufFile::FromBytes and Open,
// then every accepted tensor through the dequantiser and the tokenizer metadata through
// Tokenizer::FromGguf and Encode/Decode. Any crash, sanitizer report, an accepted tensor whose
// bytes leave the file or a token id outside the vocabulary, is a bug.
// Build: configure with clang and -DEASEL_FUZZ=ON; run: build/gguf_fuzz corpus/
// (tests/fixtures/llm/quants.gguf is a good seed).
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "llm/dequant.h"
#include "llm/gguf.h"
#include "llm/tokenizer.h"

namespace {

void Check(const easel::llm::GgufFile& file, size_t size) {
  volatile float sink = 0;  // keeps the dequantised values from being optimized away
  for (const easel::llm::GgufTensorInfo& t : file.tensors()) {
    if (t.offset + t.nbytes > size || t.offset + t.nbytes < t.offset) std::abort();
    if (file.FindTensor(t.name) != &t) std::abort();
    if (t.shape.size() > 4) std::abort();
    // Dequantise at most 64 Ki elements per tensor so one input stays fast.
    if (easel::llm::CanDequantize(t.type) && t.numel() <= 65536) {
      auto values = easel::llm::DequantizeTensor(t);
      if (values.ok() && !values->empty()) sink = sink + values->front() + values->back();
    }
  }
  if (file.Find("tokenizer.ggml.model") != nullptr) {
    auto tok = easel::llm::Tokenizer::FromGguf(file);
    if (tok.ok()) {
      const std::vector<int32_t> ids = tok->Encode("Hi <|im_start|> caf\xC3\xA9 12 \xFF!");
      for (int32_t id : ids) {
        if (id < 0 || id >= tok->vocab_size()) std::abort();
      }
      (void)tok->Decode(ids);
    }
  }
  for (const auto& kv : file.metadata()) {
    if (file.Find(kv.first) == nullptr) std::abort();
    (void)kv.second.Summary();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto mem = easel::llm::GgufFile::FromBytes(std::string(reinterpret_cast<const char*>(data), size),
                                             "fuzz.gguf");
  if (mem.ok()) Check(**mem, size);

  // The mmap path too: one file per process, rewritten for each input (a plain write; an
  // fsync per input would slow fuzzing down a hundredfold).
  static const std::string path = "/tmp/easel-gguf-fuzz-" + std::to_string(::getpid()) + ".gguf";
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return 0;
  const bool written = std::fwrite(data, 1, size, f) == size;
  if (std::fclose(f) != 0 || !written) return 0;
  auto mapped = easel::llm::GgufFile::Open(path);
  if (mapped.ok() != mem.ok()) std::abort();  // the two paths must agree
  if (mapped.ok()) Check(**mapped, size);
  return 0;
}
