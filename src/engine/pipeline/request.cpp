#include "engine/pipeline/request.h"

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
  if (r.text_heads < 0 || r.text_heads > 64)
    return InvalidArgument("text heads " + std::to_string(r.text_heads) +
                           " is out of range: use 0 (automatic) to 64");
  if (r.prompt.size() > 64 * 1024 || r.negative_prompt.size() > 64 * 1024)
    return InvalidArgument("the prompt is longer than 64 KiB");
  return Status::Ok();
}

}  // namespace easel::engine
