// GGUF reading (POSIX mmap) and validation. See gguf.h.
#include "llm/gguf.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <limits>

#include "util/files.h"

namespace easel::llm {

namespace {

constexpr uint64_t kMaxKeyBytes = 65536;    // keys are short ASCII names
constexpr uint64_t kMaxNameBytes = 65536;   // tensor names likewise
constexpr uint32_t kMaxDims = 4;            // GGML_MAX_DIMS
constexpr uint64_t kDefaultAlignment = 32;  // GGUF_DEFAULT_ALIGNMENT
constexpr const char* kHint = "the file is truncated or corrupt; download it again";

size_t ScalarSize(GgufValueType t) {
  switch (t) {
    case GgufValueType::kUint8:
    case GgufValueType::kInt8:
    case GgufValueType::kBool: return 1;
    case GgufValueType::kUint16:
    case GgufValueType::kInt16: return 2;
    case GgufValueType::kUint32:
    case GgufValueType::kInt32:
    case GgufValueType::kFloat32: return 4;
    case GgufValueType::kUint64:
    case GgufValueType::kInt64:
    case GgufValueType::kFloat64: return 8;
    case GgufValueType::kString: return 8;  // at least the length
    case GgufValueType::kArray: return 12;  // at least type + count
  }
  return 1;
}

bool IsIntegerType(GgufValueType t) {
  switch (t) {
    case GgufValueType::kUint8:
    case GgufValueType::kInt8:
    case GgufValueType::kUint16:
    case GgufValueType::kInt16:
    case GgufValueType::kUint32:
    case GgufValueType::kInt32:
    case GgufValueType::kUint64:
    case GgufValueType::kInt64: return true;
    default: return false;
  }
}

class FdGuard {
 public:
  explicit FdGuard(int fd) : fd_(fd) {}
  ~FdGuard() {
    if (fd_ >= 0) ::close(fd_);
  }
  FdGuard(const FdGuard&) = delete;
  FdGuard& operator=(const FdGuard&) = delete;

 private:
  int fd_;
};

}  // namespace

const char* GgufValueTypeName(GgufValueType t) {
  switch (t) {
    case GgufValueType::kUint8: return "uint8";
    case GgufValueType::kInt8: return "int8";
    case GgufValueType::kUint16: return "uint16";
    case GgufValueType::kInt16: return "int16";
    case GgufValueType::kUint32: return "uint32";
    case GgufValueType::kInt32: return "int32";
    case GgufValueType::kFloat32: return "float32";
    case GgufValueType::kBool: return "bool";
    case GgufValueType::kString: return "string";
    case GgufValueType::kArray: return "array";
    case GgufValueType::kUint64: return "uint64";
    case GgufValueType::kInt64: return "int64";
    case GgufValueType::kFloat64: return "float64";
  }
  return "?";
}

// ---- GgufValue ------------------------------------------------------------------------

size_t GgufValue::array_size() const {
  if (!is_array()) return 0;
  return strings_.size() + ints_.size() + floats_.size();
}

std::optional<int64_t> GgufValue::AsInt() const {
  if (!IsIntegerType(type_) || big_u64_) return std::nullopt;
  return i_;
}

std::optional<double> GgufValue::AsFloat() const {
  if (type_ == GgufValueType::kFloat32 || type_ == GgufValueType::kFloat64) return f_;
  if (IsIntegerType(type_)) return big_u64_ ? static_cast<double>(u_) : static_cast<double>(i_);
  return std::nullopt;
}

std::optional<bool> GgufValue::AsBool() const {
  if (type_ != GgufValueType::kBool) return std::nullopt;
  return i_ != 0;
}

const std::string* GgufValue::AsString() const {
  return type_ == GgufValueType::kString ? &s_ : nullptr;
}

const std::vector<std::string>* GgufValue::AsStringArray() const {
  return is_array() && array_type_ == GgufValueType::kString ? &strings_ : nullptr;
}

const std::vector<int64_t>* GgufValue::AsIntArray() const {
  return is_array() && (IsIntegerType(array_type_) || array_type_ == GgufValueType::kBool)
             ? &ints_
             : nullptr;
}

const std::vector<double>* GgufValue::AsFloatArray() const {
  return is_array() &&
                 (array_type_ == GgufValueType::kFloat32 || array_type_ == GgufValueType::kFloat64)
             ? &floats_
             : nullptr;
}

std::string GgufValue::Summary() const {
  switch (type_) {
    case GgufValueType::kString: {
      std::string s = s_.size() > 60 ? s_.substr(0, 57) + "..." : s_;
      return "\"" + s + "\"";
    }
    case GgufValueType::kBool: return i_ != 0 ? "true" : "false";
    case GgufValueType::kFloat32:
    case GgufValueType::kFloat64: return std::to_string(f_);
    case GgufValueType::kArray:
      return "[" + std::to_string(array_size()) + " " + GgufValueTypeName(array_type_) + "]";
    default: return big_u64_ ? std::to_string(u_) : std::to_string(i_);
  }
}

int64_t GgufTensorInfo::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;  // Parse checked that the product fits
  return n;
}

// ---- parsing ------------------------------------------------------------------------

// Reads the file image front to back; every read checks the bytes that remain first.
class GgufParser {
 public:
  GgufParser(const uint8_t* bytes, uint64_t size, const std::string& path)
      : b_(bytes), size_(size), path_(path) {}

  Status ParseInto(uint32_t* version, uint64_t* alignment, uint64_t* data_offset,
                   std::vector<std::pair<std::string, GgufValue>>* metadata,
                   std::vector<GgufTensorInfo>* tensors) {
    if (size_ < 4 || std::memcmp(b_, "GGUF", 4) != 0) {
      return Corrupt(path_ + ": not a GGUF file (it does not start with the bytes \"GGUF\")");
    }
    pos_ = 4;
    EASEL_RETURN_IF_ERROR(Need(20, "the header (version and counts)"));
    *version = U32();
    if (*version == 1) {
      return Unsupported(path_ +
                         ": GGUF version 1 (2023's first draft) is not supported; "
                         "convert the model again with a current llama.cpp");
    }
    if (*version != 2 && *version != 3) {
      // A big-endian file has its version bytes reversed: 0x03000000.
      if (*version == 0x02000000u || *version == 0x03000000u) {
        return Unsupported(path_ +
                           ": a big-endian GGUF file; Easel reads little-endian GGUF "
                           "only (the usual kind)");
      }
      return Corrupt(path_ + ": GGUF version " + std::to_string(*version) +
                     ", expected 2 or 3: not a GGUF file Easel can read, or corrupt");
    }
    const uint64_t n_tensors = U64();
    const uint64_t n_kv = U64();
    // Each metadata entry needs at least 8 (key length) + 4 (type) + 1 bytes; each tensor
    // info 8 (name length) + 4 (n_dims) + 4 (type) + 8 (offset).
    if (n_kv > Remaining() / 13) {
      return Corrupt(path_ + ": the header says " + std::to_string(n_kv) +
                     " metadata entries, but the file has room for at most " +
                     std::to_string(Remaining() / 13) + ": " + kHint);
    }
    if (n_tensors > Remaining() / 24) {
      return Corrupt(path_ + ": the header says " + std::to_string(n_tensors) +
                     " tensors, but the file has room for at most " +
                     std::to_string(Remaining() / 24) + ": " + kHint);
    }

    std::map<std::string, size_t, std::less<>> keys;
    metadata->reserve(static_cast<size_t>(n_kv));
    for (uint64_t i = 0; i < n_kv; ++i) {
      const uint64_t at = pos_;
      std::string key;
      EASEL_RETURN_IF_ERROR(String(&key, kMaxKeyBytes, "metadata key #" + std::to_string(i)));
      if (keys.count(key) != 0) {
        return Corrupt(path_ + ": metadata key '" + key + "' appears twice (at byte " +
                       std::to_string(at) + "): corrupt");
      }
      const std::string what = "metadata '" + key + "'";
      EASEL_RETURN_IF_ERROR(Need(4, what + " (its type)"));
      GgufValue v;
      EASEL_RETURN_IF_ERROR(Value(U32(), &v, what));
      keys.emplace(key, metadata->size());
      metadata->emplace_back(std::move(key), std::move(v));
    }

    *alignment = kDefaultAlignment;
    if (auto it = keys.find("general.alignment"); it != keys.end()) {
      const GgufValue& a = (*metadata)[it->second].second;
      std::optional<int64_t> n = a.AsInt();
      if (a.type() != GgufValueType::kUint32 || !n || *n == 0 || (*n & (*n - 1)) != 0) {
        return Corrupt(path_ + ": general.alignment is " + a.Summary() + " (" +
                       GgufValueTypeName(a.type()) + "), expected a uint32 power of two: corrupt");
      }
      *alignment = static_cast<uint64_t>(*n);
    }

    std::map<std::string, size_t, std::less<>> names;
    tensors->reserve(static_cast<size_t>(n_tensors));
    for (uint64_t i = 0; i < n_tensors; ++i) {
      GgufTensorInfo t;
      EASEL_RETURN_IF_ERROR(TensorInfo(i, &t));
      if (names.count(t.name) != 0) {
        return Corrupt(path_ + ": tensor '" + t.name + "' appears twice: corrupt");
      }
      names.emplace(t.name, tensors->size());
      tensors->push_back(std::move(t));
    }

    // The data section starts at the next multiple of the alignment.
    const uint64_t pad = (*alignment - pos_ % *alignment) % *alignment;
    *data_offset = pos_ + pad;
    if (!tensors->empty() && *data_offset > size_) {
      return Corrupt(path_ + ": the data section would start at byte " +
                     std::to_string(*data_offset) + " but the file has " + std::to_string(size_) +
                     " bytes: " + kHint);
    }
    const uint64_t data_bytes = size_ >= *data_offset ? size_ - *data_offset : 0;
    for (GgufTensorInfo& t : *tensors) {
      // t.offset holds the offset relative to the data section until here.
      if (t.offset % *alignment != 0) {
        return Corrupt(path_ + ": tensor '" + t.name + "' starts at data offset " +
                       std::to_string(t.offset) + ", not a multiple of the alignment " +
                       std::to_string(*alignment) + ": corrupt");
      }
      if (t.offset > data_bytes || t.nbytes > data_bytes - t.offset) {
        const long double end = static_cast<long double>(*data_offset) + t.offset + t.nbytes;
        return Corrupt(path_ + ": tensor '" + t.name + "' (" + GgmlTypeName(t.type) +
                       ") ends at byte " + std::to_string(static_cast<double>(end)) +
                       " but the file has " + std::to_string(size_) + " bytes: " + kHint);
      }
      t.offset += *data_offset;
      t.data = b_ + t.offset;
    }
    // No two tensors may share bytes.
    std::vector<const GgufTensorInfo*> order;
    for (const GgufTensorInfo& t : *tensors) order.push_back(&t);
    std::sort(order.begin(), order.end(), [](const GgufTensorInfo* a, const GgufTensorInfo* b) {
      return a->offset < b->offset;
    });
    for (size_t i = 1; i < order.size(); ++i) {
      const GgufTensorInfo& a = *order[i - 1];
      const GgufTensorInfo& b = *order[i];
      if (a.nbytes > 0 && b.nbytes > 0 && a.offset + a.nbytes > b.offset) {
        return Corrupt(path_ + ": tensors '" + a.name + "' and '" + b.name +
                       "' overlap in the data section: corrupt");
      }
    }
    return Status::Ok();
  }

 private:
  uint64_t Remaining() const { return size_ - pos_; }

  Status Need(uint64_t n, const std::string& what) const {
    if (n > Remaining()) {
      return Corrupt(path_ + ": the file ends at byte " + std::to_string(size_) + " while " +
                     "reading " + what + " at byte " + std::to_string(pos_) + " (" +
                     std::to_string(n) + " bytes needed): " + kHint);
    }
    return Status::Ok();
  }

  // Unchecked little-endian reads: callers check Need() first.
  uint64_t Le(int n) {
    uint64_t v = 0;
    for (int i = 0; i < n; ++i) v |= static_cast<uint64_t>(b_[pos_ + i]) << (8 * i);
    pos_ += static_cast<uint64_t>(n);
    return v;
  }
  uint32_t U32() { return static_cast<uint32_t>(Le(4)); }
  uint64_t U64() { return Le(8); }

  Status String(std::string* out, uint64_t max_len, const std::string& what) {
    EASEL_RETURN_IF_ERROR(Need(8, what + " (its length)"));
    const uint64_t at = pos_;
    const uint64_t len = U64();
    if (len > max_len || len > Remaining()) {
      return Corrupt(path_ + ": " + what + " at byte " + std::to_string(at) + " says it is " +
                     std::to_string(len) + " bytes long, but " +
                     (len > max_len ? "the limit is " + std::to_string(max_len)
                                    : "only " + std::to_string(Remaining()) + " bytes remain") +
                     ": " + kHint);
    }
    out->assign(reinterpret_cast<const char*>(b_ + pos_), static_cast<size_t>(len));
    pos_ += len;
    return Status::Ok();
  }

  // A scalar of type t into v (Need() already checked by the caller).
  void Scalar(GgufValueType t, GgufValue* v) {
    v->type_ = t;
    switch (t) {
      case GgufValueType::kUint8: v->i_ = static_cast<int64_t>(Le(1)); break;
      case GgufValueType::kInt8: v->i_ = static_cast<int8_t>(Le(1)); break;
      case GgufValueType::kBool: v->i_ = Le(1) != 0; break;
      case GgufValueType::kUint16: v->i_ = static_cast<int64_t>(Le(2)); break;
      case GgufValueType::kInt16: v->i_ = static_cast<int16_t>(Le(2)); break;
      case GgufValueType::kUint32: v->i_ = static_cast<int64_t>(Le(4)); break;
      case GgufValueType::kInt32: v->i_ = static_cast<int32_t>(Le(4)); break;
      case GgufValueType::kUint64:
        v->u_ = Le(8);
        v->big_u64_ = v->u_ > static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
        v->i_ = v->big_u64_ ? 0 : static_cast<int64_t>(v->u_);
        break;
      case GgufValueType::kInt64: v->i_ = static_cast<int64_t>(Le(8)); break;
      case GgufValueType::kFloat32: {
        uint32_t bits = static_cast<uint32_t>(Le(4));
        float f;
        std::memcpy(&f, &bits, 4);
        v->f_ = f;
        break;
      }
      case GgufValueType::kFloat64: {
        uint64_t bits = Le(8);
        double d;
        std::memcpy(&d, &bits, 8);
        v->f_ = d;
        break;
      }
      default: break;
    }
    if (t != GgufValueType::kUint64) v->u_ = static_cast<uint64_t>(v->i_);
  }

  Status Value(uint32_t raw_type, GgufValue* v, const std::string& what) {
    if (raw_type > static_cast<uint32_t>(GgufValueType::kFloat64)) {
      return Corrupt(path_ + ": " + what + " has value type " + std::to_string(raw_type) +
                     " at byte " + std::to_string(pos_ - 4) +
                     ", expected 0-12 (the GGUF value types): corrupt");
    }
    const auto t = static_cast<GgufValueType>(raw_type);
    if (t == GgufValueType::kString) {
      v->type_ = t;
      return String(&v->s_, std::numeric_limits<uint64_t>::max(), what);
    }
    if (t != GgufValueType::kArray) {
      EASEL_RETURN_IF_ERROR(Need(ScalarSize(t), what));
      Scalar(t, v);
      return Status::Ok();
    }
    EASEL_RETURN_IF_ERROR(Need(12, what + " (array type and count)"));
    const uint32_t raw_elem = U32();
    const uint64_t at = pos_;
    const uint64_t count = U64();
    if (raw_elem > static_cast<uint32_t>(GgufValueType::kFloat64)) {
      return Corrupt(path_ + ": " + what + " is an array of value type " +
                     std::to_string(raw_elem) + ", expected 0-12: corrupt");
    }
    const auto elem = static_cast<GgufValueType>(raw_elem);
    if (elem == GgufValueType::kArray) {
      return Unsupported(path_ + ": " + what +
                         " is an array of arrays, which Easel (like "
                         "llama.cpp) does not read");
    }
    const uint64_t min_size = ScalarSize(elem);
    if (count > Remaining() / min_size) {
      return Corrupt(path_ + ": " + what + " says at byte " + std::to_string(at) + " that it has " +
                     std::to_string(count) + " elements of " + GgufValueTypeName(elem) +
                     ", more than the " + std::to_string(Remaining()) +
                     " bytes left can hold: " + kHint);
    }
    v->type_ = GgufValueType::kArray;
    v->array_type_ = elem;
    const auto n = static_cast<size_t>(count);
    if (elem == GgufValueType::kString) {
      v->strings_.resize(n);
      for (size_t i = 0; i < n; ++i) {
        EASEL_RETURN_IF_ERROR(String(&v->strings_[i], std::numeric_limits<uint64_t>::max(),
                                     what + " element " + std::to_string(i)));
      }
      return Status::Ok();
    }
    // The count check above covered every element's bytes.
    GgufValue e;
    if (elem == GgufValueType::kFloat32 || elem == GgufValueType::kFloat64) {
      v->floats_.resize(n);
      for (size_t i = 0; i < n; ++i) {
        Scalar(elem, &e);
        v->floats_[i] = e.f_;
      }
    } else {
      v->ints_.resize(n);
      for (size_t i = 0; i < n; ++i) {
        Scalar(elem, &e);
        v->ints_[i] = e.big_u64_ ? std::numeric_limits<int64_t>::max() : e.i_;
      }
    }
    return Status::Ok();
  }

  Status TensorInfo(uint64_t index, GgufTensorInfo* t) {
    const std::string what = "tensor info #" + std::to_string(index);
    EASEL_RETURN_IF_ERROR(String(&t->name, kMaxNameBytes, what + " (its name)"));
    const std::string named = "tensor '" + t->name + "'";
    EASEL_RETURN_IF_ERROR(Need(4, named + " (n_dims)"));
    const uint32_t n_dims = U32();
    if (n_dims > kMaxDims) {
      return Corrupt(path_ + ": " + named + " has " + std::to_string(n_dims) +
                     " dimensions, at most 4 are allowed: corrupt");
    }
    EASEL_RETURN_IF_ERROR(Need(uint64_t{8} * n_dims + 12, named + " (its shape, type, offset)"));
    int64_t numel = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      const uint64_t dim = U64();
      if (dim > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        return Corrupt(path_ + ": " + named + " has dimension " + std::to_string(d) + " of size " +
                       std::to_string(static_cast<int64_t>(dim)) + " (negative): corrupt");
      }
      const auto di = static_cast<int64_t>(dim);
      if (di != 0 && numel > std::numeric_limits<int64_t>::max() / di) {
        return Corrupt(path_ + ": " + named +
                       " has more elements than fit in 63 bits "
                       "(its shape overflows): corrupt");
      }
      numel *= di;
      t->shape.push_back(di);
    }
    const uint32_t raw_type = U32();
    t->offset = U64();
    const GgmlTypeInfo* info = FindGgmlType(raw_type);
    if (info == nullptr) {
      if (IsRemovedGgmlType(raw_type)) {
        return Unsupported(path_ + ": " + named + " has ggml type " + std::to_string(raw_type) +
                           ", a type ggml has removed; convert the model again with a "
                           "current llama.cpp");
      }
      return Corrupt(path_ + ": " + named + " has ggml type id " + std::to_string(raw_type) +
                     ", which names no ggml type: corrupt, or from a newer ggml than Easel "
                     "knows");
    }
    t->type = info->type;
    const int64_t row = t->shape.empty() ? 1 : t->shape[0];
    if (row % info->block_size != 0) {
      return Corrupt(path_ + ": " + named + " is " + info->name + " (blocks of " +
                     std::to_string(info->block_size) + ") but its first dimension " +
                     std::to_string(row) + " is not a multiple of that: corrupt");
    }
    const uint64_t blocks = static_cast<uint64_t>(numel) / info->block_size;
    if (blocks > std::numeric_limits<uint64_t>::max() / info->block_bytes) {
      return Corrupt(path_ + ": " + named + "'s byte size overflows 64 bits: corrupt");
    }
    t->nbytes = blocks * info->block_bytes;
    return Status::Ok();
  }

  const uint8_t* b_;
  uint64_t size_;
  const std::string& path_;
  uint64_t pos_ = 0;
};

// ---- GgufFile -----------------------------------------------------------------------

Result<std::shared_ptr<const GgufFile>> GgufFile::Parse(std::shared_ptr<GgufFile> file) {
  GgufParser parser(file->bytes_, file->file_size_, file->path_);
  EASEL_RETURN_IF_ERROR(parser.ParseInto(&file->version_, &file->alignment_, &file->data_offset_,
                                         &file->metadata_, &file->tensors_));
  for (size_t i = 0; i < file->metadata_.size(); ++i)
    file->meta_index_.emplace(file->metadata_[i].first, i);
  for (size_t i = 0; i < file->tensors_.size(); ++i)
    file->tensor_index_.emplace(file->tensors_[i].name, i);
  return std::shared_ptr<const GgufFile>(std::move(file));
}

Result<std::shared_ptr<const GgufFile>> GgufFile::Open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT) return NotFound("'" + path + "' does not exist");
    return IoError("cannot open '" + path + "': " + ErrnoText(err));
  }
  FdGuard guard(fd);
  struct stat st {};
  if (::fstat(fd, &st) != 0) return IoError("cannot stat '" + path + "': " + ErrnoText(errno));
  if (S_ISDIR(st.st_mode)) return IoError("'" + path + "' is a directory, expected a .gguf file");
  const auto size = static_cast<uint64_t>(st.st_size);
  if (size < 4) {
    return Corrupt(path + ": the file is " + std::to_string(size) +
                   " bytes, too short for a GGUF file: " + kHint);
  }
  if (size > std::numeric_limits<size_t>::max()) {
    return Unsupported(path + ": the file is too large to map on this system");
  }
  // The private constructor rules out make_shared; ownership is taken at once.
  std::shared_ptr<GgufFile> file(new GgufFile());
  file->path_ = path;
  file->file_size_ = size;
  void* map = ::mmap(nullptr, static_cast<size_t>(size), PROT_READ, MAP_PRIVATE, fd, 0);
  if (map == MAP_FAILED) {
    return IoError("cannot map '" + path + "' into memory: " + ErrnoText(errno));
  }
  file->map_ = map;  // unmapped by the destructor from here on
  file->map_size_ = static_cast<size_t>(size);
  file->bytes_ = static_cast<const uint8_t*>(map);
  return Parse(std::move(file));
}

Result<std::shared_ptr<const GgufFile>> GgufFile::FromBytes(std::string bytes,
                                                            const std::string& name) {
  std::shared_ptr<GgufFile> file(new GgufFile());
  file->path_ = name;
  file->owned_ = std::move(bytes);
  file->file_size_ = file->owned_.size();
  file->bytes_ = reinterpret_cast<const uint8_t*>(file->owned_.data());
  return Parse(std::move(file));
}

GgufFile::~GgufFile() {
  if (map_ != nullptr) ::munmap(map_, map_size_);
}

const GgufValue* GgufFile::Find(std::string_view key) const {
  auto it = meta_index_.find(key);
  return it == meta_index_.end() ? nullptr : &metadata_[it->second].second;
}

const GgufTensorInfo* GgufFile::FindTensor(std::string_view name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

namespace {

Status Missing(const std::string& path, std::string_view key) {
  return NotFound(path + ": the GGUF metadata has no '" + std::string(key) + "'");
}
Status WrongType(const std::string& path, std::string_view key, const GgufValue& v,
                 const char* expected) {
  return Corrupt(path + ": metadata '" + std::string(key) + "' is " + GgufValueTypeName(v.type()) +
                 " " + v.Summary() + ", expected " + expected);
}

}  // namespace

Result<std::string> GgufFile::GetString(std::string_view key) const {
  const GgufValue* v = Find(key);
  if (v == nullptr) return Missing(path_, key);
  if (v->AsString() == nullptr) return WrongType(path_, key, *v, "a string");
  return *v->AsString();
}

Result<int64_t> GgufFile::GetInt(std::string_view key) const {
  const GgufValue* v = Find(key);
  if (v == nullptr) return Missing(path_, key);
  if (!v->AsInt()) return WrongType(path_, key, *v, "an integer");
  return *v->AsInt();
}

Result<double> GgufFile::GetFloat(std::string_view key) const {
  const GgufValue* v = Find(key);
  if (v == nullptr) return Missing(path_, key);
  if (!v->AsFloat()) return WrongType(path_, key, *v, "a number");
  return *v->AsFloat();
}

Result<bool> GgufFile::GetBool(std::string_view key) const {
  const GgufValue* v = Find(key);
  if (v == nullptr) return Missing(path_, key);
  if (!v->AsBool()) return WrongType(path_, key, *v, "a bool");
  return *v->AsBool();
}

}  // namespace easel::llm
