// Helpers shared by the UNet and VAE golden tests: fixture loading and error measures.
#pragma once

#include <torch/torch.h>

#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "engine/weights.h"
#include "io/safetensors.h"
#include "test_paths.h"

namespace easel::engine::testing {

inline std::string Fixture(const std::string& rel) {
  return EASEL_FIXTURES_DIR "/" + rel;
}

// Every tensor of a fixture file (prefix stripped), or a test failure naming the file.
inline StateDict LoadFixture(const std::string& rel, const std::string& prefix = "") {
  auto file = io::SafetensorsFile::Open(Fixture(rel)).ValueOrThrow();
  return LoadSafetensors(file, prefix);
}

inline nlohmann::json LoadJson(const std::string& rel) {
  std::ifstream in(Fixture(rel));
  if (!in) throw Error(Code::kNotFound, "cannot read fixture " + rel);
  return nlohmann::json::parse(in);
}

// max |a - b| and max |b| (the reference's scale), both as doubles.
struct ErrorStats {
  double max_abs = 0;
  double ref_scale = 0;
};
inline ErrorStats Compare(const torch::Tensor& got, const torch::Tensor& ref) {
  const torch::Tensor a = got.to(torch::kFloat64), b = ref.to(torch::kFloat64);
  return {(a - b).abs().max().item<double>(), b.abs().max().item<double>()};
}

}  // namespace easel::engine::testing
