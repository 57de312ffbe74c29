#include "engine/pipeline/request.h"

#include <cmath>
#include <cstdlib>
#include <string>

namespace easel::engine {
namespace {

Status CheckSize(const char* name, int value) {
  if (value < 64 || value > 4096)
    return InvalidArgument(std::string(name) + " " + std::to_string(value) +
                           " is out of range: use 64 to 4096 pixels");
  if (value % 8 != 0)
    return InvalidArgument(std::string(name) + " " + std::to_string(value) +
                           " is not a multiple of 8 (the VAE works on 8x8 pixel cells): try " +
                           std::to_string(value / 8 * 8) + " or " +
                           std::to_string((value / 8 + 1) * 8));
  return Status::Ok();
}

}  // namespace

Status Validate(const GenerateRequest& r) {
  if (r.model_path.empty()) return InvalidArgument("no model given: pass --model PATH");
  EASEL_RETURN_IF_ERROR(CheckSize("width", r.width));
  EASEL_RETURN_IF_ERROR(CheckSize("height", r.height));
  if (r.steps < 1 || r.steps > 500)
    return InvalidArgument("steps " + std::to_string(r.steps) + " is out of range: use 1 to 500");
  if (r.batch < 1 || r.batch > 64)
    return InvalidArgument("batch " + std::to_string(r.batch) + " is out of range: use 1 to 64");
  if (!(r.cfg_scale >= 0.0 && r.cfg_scale <= 100.0))
    return InvalidArgument("cfg scale " + std::to_string(r.cfg_scale) +
                           " is out of range: use 0 to 100 (7 is typical)");
  if (r.clip_skip < 1 || r.clip_skip > 12)
    return InvalidArgument("clip skip " + std::to_string(r.clip_skip) +
                           " is out of range: use 1 (last layer) to 12");
  if (r.seed < -1) return InvalidArgument("seed must be -1 (random) or a non-negative integer");
  if (r.dtype != "fp32" && r.dtype != "fp16" && r.dtype != "bf16")
    return InvalidArgument("dtype '" + r.dtype + "' is unknown: use fp32, fp16 or bf16");
  if (r.device != "cpu" && r.device.rfind("cuda", 0) != 0)
    return InvalidArgument("device '" + r.device + "' is unknown: use cpu, cuda or cuda:N");
  if (!r.prediction.empty() && r.prediction != "eps" && r.prediction != "v")
    return InvalidArgument("prediction '" + r.prediction + "' is unknown: use eps or v");
  if (r.loras.size() > 16) return InvalidArgument("at most 16 LoRAs per request");
  for (const LoraRequest& l : r.loras) {
    if (l.name_or_path.empty()) return InvalidArgument("a LoRA without a name or path");
    if (!(std::abs(l.unet_weight) <= 10 && std::abs(l.text_encoder_weight) <= 10))
      return InvalidArgument("LoRA '" + l.name_or_path + "': weights must be within -10..10");
  }
  if (r.text_heads < 0 || r.text_heads > 64)
    return InvalidArgument("text heads " + std::to_string(r.text_heads) +
                           " is out of range: use 0 (automatic) to 64");
  if (r.prompt.size() > 64 * 1024 || r.negative_prompt.size() > 64 * 1024)
    return InvalidArgument("the prompt is longer than 64 KiB");
  return Status::Ok();
}

Result<LoraRequest> ParseLoraFlag(const std::string& flag) {
  // Weights are the trailing ':'-separated fields that parse as numbers; the rest is the name
  // (so a path holding ':' still works when weights are given).
  std::vector<double> weights;
  std::string name = flag;
  while (weights.size() < 2) {
    size_t colon = name.rfind(':');
    if (colon == std::string::npos) break;
    const std::string tail = name.substr(colon + 1);
    char* end = nullptr;
    double v = std::strtod(tail.c_str(), &end);
    if (tail.empty() || end != tail.c_str() + tail.size()) break;
    weights.insert(weights.begin(), v);
    name.resize(colon);
  }
  if (name.empty()) return InvalidArgument("--lora '" + flag + "': expected NAME_OR_PATH[:WEIGHT]");
  LoraRequest r;
  r.name_or_path = name;
  if (weights.size() == 1) r.unet_weight = r.text_encoder_weight = weights[0];
  if (weights.size() == 2) {  // A1111's <lora:name:te:unet> order
    r.text_encoder_weight = weights[0];
    r.unet_weight = weights[1];
  }
  return r;
}

}  // namespace easel::engine
