// Safetensors reading (POSIX mmap) and validation, and the atomic writer. See safetensors.h.
//
// Validation order: the file (exists, not a pickle, >= 8 bytes), the header length (<= 100 MB,
// inside the file), the JSON (an object, no duplicate keys), each entry (dtype, shape,
// data_offsets types and arithmetic), then the layout (sorted ranges are contiguous from 0 to
// the end of the file). Every message starts with the path.
#include "io/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>

#include "util/files.h"

namespace easel::io {
namespace {

using nlohmann::json;

// The reference implementation's limit on the JSON header.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;
// No valid header nests deeper than 3 (object > tensor entry > shape array).
constexpr int kMaxJsonDepth = 16;

struct DTypeEntry {
  DType dtype;
  const char* name;
  size_t size;
};

constexpr DTypeEntry kDTypes[] = {
    {DType::kBool, "BOOL", 1}, {DType::kU8, "U8", 1},          {DType::kI8, "I8", 1},
    {DType::kI16, "I16", 2},   {DType::kU16, "U16", 2},        {DType::kI32, "I32", 4},
    {DType::kU32, "U32", 4},   {DType::kI64, "I64", 8},        {DType::kU64, "U64", 8},
    {DType::kF16, "F16", 2},   {DType::kBF16, "BF16", 2},      {DType::kF32, "F32", 4},
    {DType::kF64, "F64", 8},   {DType::kF8E4M3, "F8_E4M3", 1}, {DType::kF8E5M2, "F8_E5M2", 1},
};

// Dtypes newer safetensors versions define that Easel does not read (yet).
constexpr const char* kNewerDTypes[] = {"F4", "F6_E2M3", "F6_E3M2", "F8_E8M0", "C64", "C128"};

const char* kTruncatedHint = "the download is probably truncated; download it again";

std::string ShapeText(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

std::string KnownDTypes() {
  std::string s;
  for (const DTypeEntry& e : kDTypes) s += (s.empty() ? "" : ", ") + std::string(e.name);
  return s;
}

uint64_t ReadLe64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

// True when brackets outside strings nest deeper than `limit`. Checked before parsing: the
// JSON parser keeps a stack entry per level, so 100 MB of '[' would cost gigabytes.
bool NestsDeeperThan(std::string_view text, int limit) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\')
        ++i;  // skip the escaped character
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > limit) return true;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return false;
}

// Everything parsed from a header; offsets in TensorInfo are absolute file offsets.
struct Parsed {
  std::vector<TensorInfo> tensors;
  std::map<std::string, std::string> metadata;
};

class HeaderParser {
 public:
  HeaderParser(const std::string& path, uint64_t file_size, uint64_t header_len)
      : path_(path), file_size_(file_size), data_start_(8 + header_len) {}

  Result<Parsed> Parse(std::string_view text) {
    json root;
    if (Status st = ParseJson(text, &root); !st.ok()) return st;
    if (!root.is_object()) {
      return Bad(std::string("the header is a JSON ") + root.type_name() +
                 ", expected an object of tensors: not a safetensors file, or corrupt");
    }
    Parsed out;
    for (auto& [name, entry] : root.items()) {
      if (name == "__metadata__") {
        if (Status st = ParseMetadata(entry, &out.metadata); !st.ok()) return st;
        continue;
      }
      TensorInfo info;
      info.name = name;
      if (Status st = ParseEntry(entry, &info); !st.ok()) return st;
      out.tensors.push_back(std::move(info));
    }
    if (Status st = CheckLayout(&out.tensors); !st.ok()) return st;
    return out;
  }

 private:
  Status Bad(const std::string& message) const { return Corrupt(path_ + ": " + message); }
  Status BadTensor(const std::string& name, const std::string& message) const {
    return Bad("tensor '" + name + "' " + message);
  }

  Status ParseJson(std::string_view text, json* root) {
    if (NestsDeeperThan(text, kMaxJsonDepth)) {
      return Bad("the header nests JSON more than 16 levels deep: corrupt");
    }
    // One set of seen keys per open object, to reject duplicates (the last would win
    // silently otherwise).
    std::vector<std::set<std::string>> keys;
    std::string duplicate;
    bool too_deep = false;
    auto callback = [&](int depth, json::parse_event_t event, json& parsed) {
      if (depth > kMaxJsonDepth) {
        too_deep = true;
        return false;
      }
      switch (event) {
        case json::parse_event_t::object_start: keys.emplace_back(); break;
        case json::parse_event_t::object_end:
          if (!keys.empty()) keys.pop_back();
          break;
        case json::parse_event_t::key:
          if (!keys.empty() && !keys.back().insert(parsed.get<std::string>()).second &&
              duplicate.empty()) {
            duplicate = parsed.get<std::string>();
          }
          break;
        default: break;
      }
      return true;
    };
    try {
      *root = json::parse(text.begin(), text.end(), callback);
    } catch (const json::exception& e) {
      std::string what = e.what();
      if (size_t p = what.find("] "); what.rfind("[json.", 0) == 0 && p != std::string::npos) {
        what = what.substr(p + 2);
      }
      return Bad("the header is not valid JSON (" + what +
                 "): not a safetensors file, or corrupt; download it again");
    }
    if (too_deep) return Bad("the header nests JSON more than 16 levels deep: corrupt");
    if (!duplicate.empty()) {
      return Bad("the header has the key '" + duplicate + "' twice: corrupt or hand-edited");
    }
    return Status::Ok();
  }

  Status ParseMetadata(const json& entry, std::map<std::string, std::string>* out) {
    if (!entry.is_object()) {
      return Bad(std::string("'__metadata__' is a JSON ") + entry.type_name() +
                 ", expected an object of strings");
    }
    for (const auto& [key, value] : entry.items()) {
      if (!value.is_string()) {
        return Bad("'__metadata__' must map strings to strings, but '" + key + "' holds a " +
                   value.type_name());
      }
      (*out)[key] = value.get<std::string>();
    }
    return Status::Ok();
  }

  Status ParseEntry(const json& entry, TensorInfo* info) {
    const std::string& name = info->name;
    if (!entry.is_object()) {
      return BadTensor(name, std::string("is a JSON ") + entry.type_name() +
                                 ", expected an object with dtype, shape and data_offsets");
    }
    // dtype
    auto it = entry.find("dtype");
    if (it == entry.end()) return BadTensor(name, "has no 'dtype'");
    if (!it->is_string()) {
      return BadTensor(name, std::string("has a 'dtype' that is a ") + it->type_name() +
                                 ", expected a string such as \"F16\"");
    }
    const std::string dtype = it->get<std::string>();
    if (!ParseDType(dtype, &info->dtype)) {
      for (const char* newer : kNewerDTypes) {
        if (dtype == newer) {
          return Unsupported(path_ + ": tensor '" + name + "' has dtype " + dtype +
                             ", which Easel cannot read yet (it reads " + KnownDTypes() + ")");
        }
      }
      return BadTensor(name, "has dtype '" + dtype + "', which is not a safetensors dtype (" +
                                 KnownDTypes() + "): corrupt");
    }
    // shape
    it = entry.find("shape");
    if (it == entry.end()) return BadTensor(name, "has no 'shape'");
    if (!it->is_array()) {
      return BadTensor(name, std::string("has a 'shape' that is a ") + it->type_name() +
                                 ", expected an array of dimensions");
    }
    uint64_t numel = 1;
    bool overflow = false, has_zero = false;
    for (const json& dim : *it) {
      if (!dim.is_number_integer()) {
        return BadTensor(name, "has a shape entry " + dim.dump() + ", expected an integer");
      }
      if (dim.is_number_unsigned()) {
        uint64_t d = dim.get<uint64_t>();
        if (d > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
          return BadTensor(name, "has a dimension " + std::to_string(d) + " that is too large");
        }
        info->shape.push_back(static_cast<int64_t>(d));
      } else {
        info->shape.push_back(dim.get<int64_t>());
      }
      if (info->shape.back() < 0) {
        return BadTensor(
            name, "has a negative dimension in shape " + ShapeText(info->shape) + "...: corrupt");
      }
      const uint64_t d = static_cast<uint64_t>(info->shape.back());
      if (d == 0) {
        has_zero = true;
      } else if (!overflow &&
                 numel > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) / d) {
        overflow = true;
      } else if (!overflow) {
        numel *= d;
      }
    }
    // A zero dimension makes the tensor empty whatever the other dimensions are.
    if (has_zero) {
      numel = 0;
    } else if (overflow) {
      return BadTensor(name, "has shape " + ShapeText(info->shape) +
                                 " whose element count overflows 64 bits: corrupt");
    }
    const size_t esize = DTypeSize(info->dtype);
    if (numel > std::numeric_limits<uint64_t>::max() / esize) {
      return BadTensor(name, "has shape " + ShapeText(info->shape) +
                                 " whose byte size overflows 64 bits: corrupt");
    }
    const uint64_t nbytes = numel * esize;
    // data_offsets
    it = entry.find("data_offsets");
    if (it == entry.end()) return BadTensor(name, "has no 'data_offsets'");
    if (!it->is_array() || it->size() != 2 || !(*it)[0].is_number_unsigned() ||
        !(*it)[1].is_number_unsigned()) {
      return BadTensor(name, "has 'data_offsets' " + it->dump() +
                                 ", expected [begin, end] with non-negative integers");
    }
    const uint64_t begin = (*it)[0].get<uint64_t>();
    const uint64_t end = (*it)[1].get<uint64_t>();
    if (begin > end) {
      return BadTensor(name, "has data_offsets [" + std::to_string(begin) + ", " +
                                 std::to_string(end) + "] whose begin is after its end: corrupt");
    }
    if (end - begin != nbytes) {
      return BadTensor(name, "is " + dtype + " " + ShapeText(info->shape) + " = " +
                                 std::to_string(nbytes) + " bytes, but its data_offsets [" +
                                 std::to_string(begin) + ", " + std::to_string(end) + "] span " +
                                 std::to_string(end - begin) + " bytes: corrupt");
    }
    const uint64_t data_len = file_size_ - data_start_;
    if (end > data_len) {
      // Absolute byte, computed without overflow: end > data_len implies end <= 2^64 - 1.
      std::string needs = end <= std::numeric_limits<uint64_t>::max() - data_start_
                              ? std::to_string(data_start_ + end)
                              : "beyond 2^64";
      return Bad("the file ends at " + std::to_string(file_size_) + " bytes but tensor '" + name +
                 "' needs bytes up to " + needs + ": " + kTruncatedHint);
    }
    info->offset = data_start_ + begin;
    info->nbytes = nbytes;
    return Status::Ok();
  }

  // Ranges sorted by offset must tile the data section: no overlap, no hole, no tail.
  Status CheckLayout(std::vector<TensorInfo>* tensors) {
    std::sort(tensors->begin(), tensors->end(), [](const TensorInfo& a, const TensorInfo& b) {
      if (a.offset != b.offset) return a.offset < b.offset;
      if (a.nbytes != b.nbytes) return a.nbytes < b.nbytes;
      return a.name < b.name;
    });
    uint64_t expected = data_start_;
    const TensorInfo* prev = nullptr;
    for (const TensorInfo& t : *tensors) {
      auto range = [&](const TensorInfo& x) {
        return "data_offsets [" + std::to_string(x.offset - data_start_) + ", " +
               std::to_string(x.offset - data_start_ + x.nbytes) + "]";
      };
      if (t.offset < expected) {
        return Bad("tensors '" + prev->name + "' (" + range(*prev) + ") and '" + t.name + "' (" +
                   range(t) + ") overlap: corrupt");
      }
      if (t.offset > expected) {
        return Bad("the " + std::to_string(t.offset - expected) + " bytes before tensor '" +
                   t.name + "' (" + range(t) + ") belong to no tensor: the header is corrupt");
      }
      expected = t.offset + t.nbytes;
      if (t.nbytes > 0) prev = &t;
    }
    if (expected != file_size_) {
      return Bad("the file has " + std::to_string(file_size_ - expected) +
                 " bytes after the last tensor that belong to no tensor: the header is corrupt "
                 "or the file has extra data appended");
    }
    return Status::Ok();
  }

  const std::string& path_;
  uint64_t file_size_;
  uint64_t data_start_;
};

class FdGuard {
 public:
  explicit FdGuard(int fd) : fd_(fd) {}
  ~FdGuard() {
    if (fd_ >= 0) ::close(fd_);
  }
  FdGuard(const FdGuard&) = delete;
  FdGuard& operator=(const FdGuard&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

Status ReadExact(int fd, uint64_t offset, void* out, size_t size, const std::string& path) {
  auto* p = static_cast<char*>(out);
  while (size > 0) {
    ssize_t n = ::pread(fd, p, size, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return IoError("cannot read '" + path + "': " + ErrnoText(errno));
    if (n == 0) return Corrupt(path + ": the file ended while reading it; " + kTruncatedHint);
    p += n;
    offset += static_cast<uint64_t>(n);
    size -= static_cast<size_t>(n);
  }
  return Status::Ok();
}

// Opens `path` (the descriptor goes to *fd_out, even on failure), rejects directories and
// pickles, and returns the header length once it is known to be plausible.
Result<uint64_t> OpenAndCheck(const std::string& path, int* fd_out, uint64_t* file_size) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    if (err == ENOENT) return NotFound("'" + path + "' does not exist");
    return IoError("cannot open '" + path + "': " + ErrnoText(err));
  }
  *fd_out = fd;
  struct stat st {};
  if (::fstat(fd, &st) != 0) return IoError("cannot stat '" + path + "': " + ErrnoText(errno));
  if (S_ISDIR(st.st_mode)) {
    return IoError("'" + path + "' is a directory, expected a .safetensors file");
  }
  if (IsPickleFile(path)) {
    return Unsupported("'" + path +
                       "' is a pickled PyTorch checkpoint; Easel does not execute pickles "
                       "(loading one can run arbitrary code). Convert it to .safetensors (for "
                       "example with the safetensors Python package, on a machine you trust) or "
                       "download the model's .safetensors version");
  }
  *file_size = static_cast<uint64_t>(st.st_size);
  if (*file_size < 8) {
    return Corrupt(
        path + ": the file is " + std::to_string(*file_size) +
        " bytes, but a safetensors file starts with an 8-byte header length: " + kTruncatedHint);
  }
  uint8_t len_bytes[8];
  EASEL_RETURN_IF_ERROR(ReadExact(fd, 0, len_bytes, 8, path));
  const uint64_t header_len = ReadLe64(len_bytes);
  if (header_len > kMaxHeaderBytes) {
    return Corrupt(path + ": the header length is " + std::to_string(header_len) +
                   " bytes, more than the 100000000 bytes safetensors allows: not a "
                   "safetensors file, or corrupt");
  }
  if (header_len > *file_size - 8) {
    return Corrupt(path + ": the file ends at " + std::to_string(*file_size) +
                   " bytes but its header needs bytes up to " + std::to_string(8 + header_len) +
                   ": " + kTruncatedHint);
  }
  if (header_len < 2) {
    return Corrupt(path + ": the header length is " + std::to_string(header_len) +
                   " bytes, too short for a JSON object: not a safetensors file, or corrupt");
  }
  return header_len;
}

}  // namespace

const char* DTypeName(DType dtype) {
  for (const DTypeEntry& e : kDTypes) {
    if (e.dtype == dtype) return e.name;
  }
  return "?";
}

size_t DTypeSize(DType dtype) {
  for (const DTypeEntry& e : kDTypes) {
    if (e.dtype == dtype) return e.size;
  }
  return 1;
}

bool ParseDType(std::string_view name, DType* out) {
  for (const DTypeEntry& e : kDTypes) {
    if (name == e.name) {
      *out = e.dtype;
      return true;
    }
  }
  return false;
}

int64_t TensorInfo::numel() const {
  // Open() checked that the product of non-zero dimensions fits; a zero makes it 0.
  if (std::find(shape.begin(), shape.end(), 0) != shape.end()) return 0;
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

Result<std::shared_ptr<const SafetensorsFile>> SafetensorsFile::Open(const std::string& path) {
  int fd = -1;
  uint64_t file_size = 0;
  Result<uint64_t> header_len = OpenAndCheck(path, &fd, &file_size);
  FdGuard guard(fd);
  if (!header_len.ok()) return header_len.status();

  // The private constructor rules out make_shared; ownership is taken at once.
  std::shared_ptr<SafetensorsFile> file(new SafetensorsFile());
  file->path_ = path;
  file->file_size_ = file_size;
  if (file_size > std::numeric_limits<size_t>::max()) {
    return Unsupported(path + ": the file is too large to map on this system");
  }
  void* map = ::mmap(nullptr, static_cast<size_t>(file_size), PROT_READ, MAP_PRIVATE, fd, 0);
  if (map == MAP_FAILED) {
    return IoError("cannot map '" + path + "' into memory: " + ErrnoText(errno));
  }
  file->map_ = map;  // unmapped by the destructor from here on
  file->map_size_ = static_cast<size_t>(file_size);
  const auto* bytes = static_cast<const uint8_t*>(map);

  std::string_view header(reinterpret_cast<const char*>(bytes) + 8,
                          static_cast<size_t>(*header_len));
  Result<Parsed> parsed = HeaderParser(path, file_size, *header_len).Parse(header);
  if (!parsed.ok()) return parsed.status();
  file->tensors_ = std::move(parsed->tensors);
  file->metadata_ = std::move(parsed->metadata);
  for (size_t i = 0; i < file->tensors_.size(); ++i) {
    TensorInfo& t = file->tensors_[i];
    t.data = bytes + t.offset;
    file->index_.emplace(t.name, i);
  }
  return std::shared_ptr<const SafetensorsFile>(std::move(file));
}

Result<std::shared_ptr<const SafetensorsFile>> SafetensorsFile::OpenHeaderOnly(
    const std::string& path) {
  int fd = -1;
  uint64_t file_size = 0;
  Result<uint64_t> header_len = OpenAndCheck(path, &fd, &file_size);
  FdGuard guard(fd);
  if (!header_len.ok()) return header_len.status();

  std::string header(static_cast<size_t>(*header_len), '\0');
  EASEL_RETURN_IF_ERROR(ReadExact(fd, 8, header.data(), header.size(), path));
  Result<Parsed> parsed = HeaderParser(path, file_size, *header_len).Parse(header);
  if (!parsed.ok()) return parsed.status();

  std::shared_ptr<SafetensorsFile> file(new SafetensorsFile());
  file->path_ = path;
  file->file_size_ = file_size;
  file->tensors_ = std::move(parsed->tensors);
  file->metadata_ = std::move(parsed->metadata);
  for (size_t i = 0; i < file->tensors_.size(); ++i)
    file->index_.emplace(file->tensors_[i].name, i);
  return std::shared_ptr<const SafetensorsFile>(std::move(file));
}

SafetensorsFile::~SafetensorsFile() {
  if (map_ != nullptr) ::munmap(map_, map_size_);
}

const TensorInfo* SafetensorsFile::Find(std::string_view name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

Status WriteSafetensors(const std::string& path, const std::vector<TensorBytes>& tensors,
                        const std::map<std::string, std::string>& metadata) {
  // ordered_json keeps the layout order in the header, __metadata__ first.
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::set<std::string_view> names;
  uint64_t offset = 0;
  for (const TensorBytes& t : tensors) {
    const std::string what = "cannot write '" + path + "': tensor '" + t.name + "' ";
    if (t.name == "__metadata__") return InvalidArgument(what + "uses the reserved name");
    if (!names.insert(t.name).second) return InvalidArgument(what + "is given twice");
    uint64_t numel = 1;
    for (int64_t d : t.shape) {
      if (d < 0) return InvalidArgument(what + "has a negative dimension");
      if (__builtin_mul_overflow(numel, static_cast<uint64_t>(d), &numel)) {
        return InvalidArgument(what + "has too many elements");
      }
    }
    if (numel * DTypeSize(t.dtype) != t.bytes.size()) {
      return InvalidArgument(what + "is " + DTypeName(t.dtype) + " " + ShapeText(t.shape) + " = " +
                             std::to_string(numel * DTypeSize(t.dtype)) + " bytes, but " +
                             std::to_string(t.bytes.size()) + " bytes were given");
    }
    header[t.name] = {{"dtype", DTypeName(t.dtype)},
                      {"shape", t.shape},
                      {"data_offsets", {offset, offset + t.bytes.size()}}};
    offset += t.bytes.size();
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const nlohmann::json::exception&) {
    return InvalidArgument("cannot write '" + path +
                           "': a tensor name or metadata string is not valid UTF-8");
  }
  // Pad with spaces so the data section starts 8-byte aligned, as the reference writer does.
  text.append((8 - text.size() % 8) % 8, ' ');
  char len_bytes[8];
  for (int i = 0; i < 8; ++i) len_bytes[i] = static_cast<char>(uint64_t{text.size()} >> (8 * i));

  std::vector<std::string_view> pieces = {std::string_view(len_bytes, 8), text};
  for (const TensorBytes& t : tensors) pieces.push_back(t.bytes);
  return WriteFileAtomic(path, pieces);
}

}  // namespace easel::io
