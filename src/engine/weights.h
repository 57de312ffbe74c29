// Weights as name -> torch::Tensor maps, read from safetensors files, and the one
// name-for-name copy into a torch::nn::Module.
//
// Tensors returned by LoadSafetensors() alias the file's memory mapping (zero copy, kept
// alive by the tensor's deleter); they are read-only: copy before writing. Conversions
// between key layouts (diffusers -> LDM, OpenCLIP -> HF CLIP) are plain functions over a
// StateDict, next to the module they serve.
#pragma once

#include <torch/types.h>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "io/safetensors.h"
#include "util/status.h"

namespace torch::nn {
class Module;
}

namespace easel::engine {

using StateDict = std::map<std::string, torch::Tensor>;

// A tensor viewing the mapped bytes of `info` (dtype converted from the safetensors dtype;
// F8 types are widened to F16 with a copy). Throws easel::Error(kUnsupported) for dtypes
// torch cannot hold.
torch::Tensor TensorFromInfo(const std::shared_ptr<const io::SafetensorsFile>& file,
                             const io::TensorInfo& info);

// Every tensor of the file whose name starts with `prefix`, with the prefix stripped.
StateDict LoadSafetensors(const std::shared_ptr<const io::SafetensorsFile>& file,
                          const std::string& prefix = "");

// The sub-dict of keys starting with prefix, prefix stripped.
StateDict SubDict(const StateDict& dict, const std::string& prefix);

// Where LoadIntoModule puts the weights. Unset fields keep each target's own device /
// dtype; `dtype` applies to floating-point parameters and buffers only (integer buffers keep
// theirs).
struct WeightPlacement {
  std::optional<torch::Device> device;
  std::optional<torch::ScalarType> dtype;
};

// Gives every parameter and buffer of `module` the value of the same name in `dict`. Each
// one's storage is replaced by the file's tensor converted once to its final dtype and device
// (`placement`; by default the target's own), a fresh writable copy that no longer aliases the
// file: the module's constructor values are never read, so modules may allocate parameters
// uninitialised (nets/layers.h), and nothing is converted twice. Tensors that alias the
// parameters' old storage (views taken before loading) do not see the new values.
// Keys in `dict` matching nothing and parameters missing from `dict` are errors listing the
// names (up to 10 of each, then a count); a shape mismatch names the key and both shapes;
// on any error the module is left untouched. `what` names the component in messages ("UNet
// of model.safetensors"). Buffers whose name is in `optional` may be missing (they keep their
// value and move to `placement`).
Status LoadIntoModule(torch::nn::Module& module, const StateDict& dict, const std::string& what,
                      const std::vector<std::string>& optional = {},
                      const WeightPlacement& placement = {});

// "[320, 4, 3, 3]": a shape for messages.
std::string ShapeText(c10::IntArrayRef shape);

// "a, b, c" for the first `limit` names, then "and N more": name lists in messages.
std::string NameList(const std::vector<std::string>& names, size_t limit = 10);

}  // namespace easel::engine
