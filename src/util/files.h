// Whole-file reads, atomic writes and file sniffing (POSIX): the one place Easel touches
// file descriptors for small files. Large tensors are memory-mapped by io/safetensors.h.
//
// Every error names the path and says why (the operating system's reason, strerror text).
// All functions are thread-safe: they share no state.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "util/status.h"

namespace easel {

// 256 MiB: more than any PNG, JSON or prompt file Easel reads whole.
inline constexpr uint64_t kDefaultMaxReadBytes = uint64_t{256} << 20;

// Reads the whole file. Fails with kNotFound (no such file), kIo (unreadable, a directory)
// or kInvalidArgument (larger than max_bytes; the message gives both sizes).
Result<std::string> ReadFile(const std::string& path, uint64_t max_bytes = kDefaultMaxReadBytes);

// Writes `bytes` to `path` so that readers see either the old file or the whole new one:
// a temp file in the same directory, fsync, rename over `path`, fsync of the directory.
// The new file gets mode 0666 minus the umask. Fails with kIo naming the path and the
// reason ("cannot write '/no/dir/x.png': No such file or directory"); on failure the temp
// file is removed and `path` is untouched.
Status WriteFileAtomic(const std::string& path, std::string_view bytes);
// The same for bytes given in pieces, written one after the other (no concatenated copy).
Status WriteFileAtomic(const std::string& path, const std::vector<std::string_view>& pieces);

// True when `path` is a pickled PyTorch checkpoint that Easel must not execute: it has a
// pickle checkpoint extension (.ckpt .pt .pth .bin) or starts with a zip ("PK\3\4", the
// torch.save format) or pickle protocol (0x80 0x02..0x05) magic; unless its first bytes
// read as a safetensors header (u64 length, then '{'), which wins over the name.
// Unreadable or missing files are judged by their extension alone.
bool IsPickleFile(const std::string& path);

// The operating system's text for an errno value ("No such file or directory").
std::string ErrnoText(int err);

}  // namespace easel
