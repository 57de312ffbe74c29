// libFuzzer target: arbitrary bytes as a .safetensors file through Open and OpenHeaderOnly.
// Any crash, sanitizer report or accepted file whose tensors leave the file is a bug.
// Build: configure with clang and -DEASEL_FUZZ=ON; run: build/safetensors_fuzz corpus/
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // One file per process, rewritten for each input (Open only takes paths). A plain write,
  // not WriteFileAtomic: an fsync per input would slow fuzzing down a hundredfold.
  static const std::string path =
      "/tmp/easel-safetensors-fuzz-" + std::to_string(::getpid()) + ".safetensors";
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return 0;
  const bool written = std::fwrite(data, 1, size, f) == size;
  if (std::fclose(f) != 0 || !written) return 0;

  volatile uint64_t sink = 0;  // keeps the reads of mapped bytes from being optimized away
  for (bool header_only : {false, true}) {
    auto file = header_only ? easel::io::SafetensorsFile::OpenHeaderOnly(path)
                            : easel::io::SafetensorsFile::Open(path);
    if (!file.ok()) continue;
    for (const easel::io::TensorInfo& t : (*file)->tensors()) {
      if (t.offset + t.nbytes > size || t.offset + t.nbytes < t.offset) std::abort();
      if ((*file)->Find(t.name) != &t) std::abort();
      if (t.data != nullptr && t.nbytes > 0) sink = sink + t.data[0] + t.data[t.nbytes - 1];
    }
  }
  return 0;
}
