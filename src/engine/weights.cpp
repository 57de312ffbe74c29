// Weights: safetensors tensors as torch::Tensors over the file mapping, and the name-for-name
// copy into modules. See weights.h for the contract.
#include "engine/weights.h"

#include <torch/torch.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <set>
#include <sstream>

namespace easel::engine {
namespace {

// The torch dtype holding a safetensors dtype bit for bit; false where torch has none that
// every supported libtorch version offers (unsigned 16/32/64-bit, 8-bit floats).
bool TorchDType(io::DType dtype, torch::Dtype* out) {
  switch (dtype) {
    case io::DType::kBool: *out = torch::kBool; return true;
    case io::DType::kU8: *out = torch::kUInt8; return true;
    case io::DType::kI8: *out = torch::kInt8; return true;
    case io::DType::kI16: *out = torch::kInt16; return true;
    case io::DType::kI32: *out = torch::kInt32; return true;
    case io::DType::kI64: *out = torch::kInt64; return true;
    case io::DType::kF16: *out = torch::kFloat16; return true;
    case io::DType::kBF16: *out = torch::kBFloat16; return true;
    case io::DType::kF32: *out = torch::kFloat32; return true;
    case io::DType::kF64: *out = torch::kFloat64; return true;
    default: return false;
  }
}

// Value of an 8-bit float. E4M3FN (OCP "fn": no infinities, 0x7F/0xFF are NaN, bias 7) and
// E5M2 (IEEE-like, bias 15, the top byte of an F16).
float DecodeF8(io::DType dtype, uint8_t b) {
  const float sign = (b & 0x80) ? -1.0f : 1.0f;
  if (dtype == io::DType::kF8E4M3) {
    const int e = (b >> 3) & 0xF, m = b & 0x7;
    if (e == 0xF && m == 0x7) return std::numeric_limits<float>::quiet_NaN();
    if (e == 0) return sign * std::ldexp(m / 8.0f, -6);
    return sign * std::ldexp(1.0f + m / 8.0f, e - 7);
  }
  const int e = (b >> 2) & 0x1F, m = b & 0x3;
  if (e == 0x1F)
    return m == 0 ? sign * std::numeric_limits<float>::infinity()
                  : std::numeric_limits<float>::quiet_NaN();
  if (e == 0) return sign * std::ldexp(m / 4.0f, -14);
  return sign * std::ldexp(1.0f + m / 4.0f, e - 15);
}

}  // namespace

torch::Tensor TensorFromInfo(const std::shared_ptr<const io::SafetensorsFile>& file,
                             const io::TensorInfo& info) {
  const std::string where = "tensor '" + info.name + "' of " + (file ? file->path() : "?");
  std::vector<int64_t> shape(info.shape.begin(), info.shape.end());
  if (info.numel() == 0) {
    torch::Dtype dt = torch::kFloat16;
    TorchDType(info.dtype, &dt);
    return torch::empty(shape, torch::TensorOptions().dtype(dt));
  }
  if (!file || info.data == nullptr)
    throw Error(Code::kInternal, where + " has no data: the file was opened header-only");
  // The mapping is read-only; from_blob wants a mutable pointer. Callers never write
  // through it (weights.h: copy before writing).
  void* data = const_cast<uint8_t*>(info.data);
  // Each tensor holds a reference to the file: the mapping outlives every view of it.
  auto keep_alive = [file](void*) {};

  if (info.dtype == io::DType::kF8E4M3 || info.dtype == io::DType::kF8E5M2) {
    // Widen through a 256-entry table: every F8 value is exact in F16.
    std::vector<float> table(256);
    for (int b = 0; b < 256; ++b) table[b] = DecodeF8(info.dtype, static_cast<uint8_t>(b));
    torch::Tensor lut = torch::tensor(table).to(torch::kFloat16);
    torch::Tensor bytes =
        torch::from_blob(data, shape, keep_alive, torch::TensorOptions().dtype(torch::kUInt8));
    return lut.index({bytes.to(torch::kInt64)});
  }

  torch::Dtype dt;
  if (!TorchDType(info.dtype, &dt))
    throw Error(Code::kUnsupported, where + " has dtype " + io::DTypeName(info.dtype) +
                                        ", which Easel cannot compute with: convert the file "
                                        "to F16, BF16 or F32");
  torch::Tensor t = torch::from_blob(data, shape, keep_alive, torch::TensorOptions().dtype(dt));
  // safetensors does not promise alignment; torch kernels may assume an element-aligned
  // pointer, so a misaligned tensor gets its own copy.
  const size_t elem = io::DTypeSize(info.dtype);
  if (reinterpret_cast<uintptr_t>(info.data) % elem != 0) t = t.clone();
  return t;
}

StateDict LoadSafetensors(const std::shared_ptr<const io::SafetensorsFile>& file,
                          const std::string& prefix) {
  StateDict out;
  for (const io::TensorInfo& info : file->tensors()) {
    if (info.name.compare(0, prefix.size(), prefix) != 0) continue;
    out.emplace(info.name.substr(prefix.size()), TensorFromInfo(file, info));
  }
  return out;
}

StateDict SubDict(const StateDict& dict, const std::string& prefix) {
  StateDict out;
  for (auto it = dict.lower_bound(prefix);
       it != dict.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it)
    out.emplace(it->first.substr(prefix.size()), it->second);
  return out;
}

Status LoadIntoModule(torch::nn::Module& module, const StateDict& dict, const std::string& what,
                      const std::vector<std::string>& optional, const WeightPlacement& placement) {
  return CatchAll([&] {
    std::vector<std::pair<std::string, torch::Tensor>> targets;
    for (const auto& item : module.named_parameters(/*recurse=*/true))
      targets.emplace_back(item.key(), item.value());
    for (const auto& item : module.named_buffers(/*recurse=*/true))
      targets.emplace_back(item.key(), item.value());

    const std::set<std::string> optional_names(optional.begin(), optional.end());
    std::set<std::string> wanted;
    std::vector<std::string> missing, mismatched;
    for (const auto& [name, target] : targets) {
      wanted.insert(name);
      auto it = dict.find(name);
      if (it == dict.end()) {
        if (!optional_names.count(name)) missing.push_back(name);
        continue;
      }
      if (it->second.sizes() != target.sizes())
        mismatched.push_back("'" + name + "' is " + ShapeText(it->second.sizes()) +
                             " in the file but the model expects " + ShapeText(target.sizes()));
    }
    std::vector<std::string> unexpected;
    for (const auto& [name, tensor] : dict)
      if (!wanted.count(name)) unexpected.push_back(name);

    if (!missing.empty() || !unexpected.empty() || !mismatched.empty()) {
      std::string msg = what + " does not match the network Easel built for it:";
      if (!missing.empty())
        msg +=
            " " + std::to_string(missing.size()) + " weights missing (" + NameList(missing) + ");";
      if (!unexpected.empty())
        msg += " " + std::to_string(unexpected.size()) + " unexpected weights (" +
               NameList(unexpected) + ");";
      if (!mismatched.empty())
        msg += " " + std::to_string(mismatched.size()) + " shape mismatches (" +
               NameList(mismatched, 5) + ");";
      msg += " the file is probably a different architecture or variant than detected";
      throw Error(Code::kInvalidArgument, msg);
    }

    // One conversion per tensor, straight from the file's bytes to the final dtype and
    // device (CPU -> CUDA copies convert on the CPU first, so only the final bytes travel);
    // copy=true so a tensor already in its final form still stops aliasing the read-only file
    // mapping (LoRA merges write into parameters). set_data replaces the storage of the
    // module's own tensor, so the layer members holding it see the new values.
    torch::NoGradGuard no_grad;
    for (auto& [name, target] : targets) {
      const torch::Device device = placement.device.value_or(target.device());
      torch::ScalarType dtype = target.scalar_type();
      if (placement.dtype && torch::isFloatingType(dtype)) dtype = *placement.dtype;
      auto it = dict.find(name);
      if (it == dict.end()) {  // an optional buffer: keeps its value, moves along
        target.set_data(target.to(device, dtype));
        continue;
      }
      target.set_data(it->second.to(device, dtype, /*non_blocking=*/false, /*copy=*/true));
    }
  });
}

std::string ShapeText(c10::IntArrayRef shape) {
  std::ostringstream os;
  os << '[';
  for (size_t i = 0; i < shape.size(); ++i) os << (i ? ", " : "") << shape[i];
  os << ']';
  return os.str();
}

std::string NameList(const std::vector<std::string>& names, size_t limit) {
  std::string out;
  for (size_t i = 0; i < names.size() && i < limit; ++i) out += (i ? ", " : "") + names[i];
  if (names.size() > limit) out += " and " + std::to_string(names.size() - limit) + " more";
  return out;
}

}  // namespace easel::engine
