// Loading a model for the built-in runtime. See llm_loader.h.
#include "llm/torch/llm_loader.h"

#include <sys/stat.h>

#include <algorithm>

#include "llm/gguf.h"
#include "llm/torch/hf_model.h"

namespace easel::llm {

Result<torch::Device> ParseLlmDevice(const std::string& device) {
  if (device.empty() || device == "cpu") return torch::Device(torch::kCPU);
  if (device.rfind("cuda", 0) != 0) {
    return InvalidArgument("device '" + device + "': expected cpu, cuda or cuda:N");
  }
  try {
    torch::Device d(device);
    if (!torch::cuda::is_available()) {
      return Unsupported("device '" + device +
                         "': this build of Easel has no CUDA device available; use --device cpu");
    }
    return d;
  } catch (const std::exception&) {
    return InvalidArgument("device '" + device + "': expected cpu, cuda or cuda:N");
  }
}

Result<torch::Dtype> ParseLlmDtype(const std::string& dtype, torch::Device device) {
  if (dtype.empty() || dtype == "auto")
    return device.is_cuda() ? torch::kBFloat16 : torch::kFloat32;
  if (dtype == "float32" || dtype == "f32" || dtype == "fp32") return torch::kFloat32;
  if (dtype == "float16" || dtype == "f16" || dtype == "fp16") return torch::kFloat16;
  if (dtype == "bfloat16" || dtype == "bf16") return torch::kBFloat16;
  return InvalidArgument("dtype '" + dtype + "': expected auto, float32, float16 or bfloat16");
}

std::vector<int32_t> EndTokens(const Tokenizer& tok) {
  std::vector<int32_t> ids;
  if (tok.eos_id() >= 0) ids.push_back(tok.eos_id());
  for (const char* t :
       {"<|im_end|>", "<|eot_id|>", "<|end_of_text|>", "<|endoftext|>", "</s>", "<|eom_id|>"}) {
    auto id = tok.Find(t);
    if (id && std::find(ids.begin(), ids.end(), *id) == ids.end()) ids.push_back(*id);
  }
  return ids;
}

namespace {

Result<LoadedLlm> LoadGguf(const std::string& path, torch::Device device, torch::Dtype dtype) {
  auto file = GgufFile::Open(path);
  if (!file.ok()) return file.status();
  auto tok = Tokenizer::FromGguf(**file);
  if (!tok.ok()) return tok.status();
  LoadedLlm out;
  const GgufValue* tmpl = (*file)->Find("tokenizer.chat_template");
  if (tmpl != nullptr && tmpl->AsString() != nullptr) {
    auto t = DetectChatTemplate(*tmpl->AsString());
    if (!t.ok()) return Status(t.status().code(), path + ": " + t.status().message());
    out.chat_template = *t;
  } else if (tok->Find("<|im_start|>")) {
    out.chat_template.format = ChatFormat::kChatML;  // no template, but ChatML's tokens
  } else {
    return NotFound(path +
                    ": the model has no chat template (tokenizer.chat_template), so it "
                    "is probably not an instruction-tuned model; use an -Instruct GGUF");
  }
  auto model = LlamaModel::FromGguf(**file, device, dtype);
  if (!model.ok()) return model.status();
  out.model = std::move(*model);
  out.end_ids = EndTokens(*tok);
  out.tokenizer = std::make_shared<const Tokenizer>(std::move(*tok));
  out.name =
      path.substr(path.find_last_of('/') == std::string::npos ? 0 : path.find_last_of('/') + 1);
  return out;
}

}  // namespace

Result<LoadedLlm> LoadLlm(const BuiltinOptions& options) {
  auto device = ParseLlmDevice(options.device);
  if (!device.ok()) return device.status();
  auto dtype = ParseLlmDtype(options.dtype, *device);
  if (!dtype.ok()) return dtype.status();
  struct stat st {};
  if (::stat(options.model_path.c_str(), &st) != 0) {
    return NotFound("no model at '" + options.model_path +
                    "': give a .gguf file or a Hugging Face folder (config.json, "
                    "model.safetensors, tokenizer.json)");
  }
  try {
    if (S_ISDIR(st.st_mode)) return LoadHfFolder(options.model_path, *device, *dtype);
    return LoadGguf(options.model_path, *device, *dtype);
  } catch (const std::exception&) {
    return StatusFromCurrentException();
  }
}

}  // namespace easel::llm
