// Device and dtype placement from user strings ("cuda:1", "fp16"), with the checks a user
// needs before minutes of loading: CUDA present in this build and machine, fp16 not on CPU.
#pragma once

#include <torch/types.h>

#include <string>

#include "util/status.h"

namespace easel::engine {

struct Placement {
  torch::Device device{torch::kCPU};
  torch::ScalarType dtype = torch::kFloat32;
};

Result<Placement> ResolvePlacement(const std::string& device, const std::string& dtype);

}  // namespace easel::engine
