// The LoRAs of one request — its --lora flags, then the prompt's <lora:name:te:unet> (and
// <lyco:...>) tags in A1111's semantics — resolved to files, matched against the loaded
// model and applied through a LoraPatcher, which restores the weights bit for bit when it
// goes out of scope (whether the request ends, fails or is cancelled).
#pragma once

#include <string>
#include <vector>

#include "engine/adapt/lora.h"
#include "engine/pipeline/request.h"
#include "util/status.h"

namespace torch::nn {
class Module;
}

namespace easel::engine {

class TextConditioner;

// The flags' LoRAs followed by the prompt's tags. kUnsupported for other extra networks
// (hypernetworks), kInvalidArgument for LoRA tags in the negative prompt.
Result<std::vector<LoraRequest>> CollectLoras(const GenerateRequest& request);

// A flag or tag names a file, or a name under loras_dir (name.safetensors, also in
// sub-folders, as A1111 and ComfyUI users organise them). kNotFound names what was tried.
Result<std::string> ResolveLoraPath(const LoraRequest& lora, const std::string& loras_dir);

// Loads, matches and applies every LoRA of `request` through `patcher`. Keys that match
// nothing are reported in `warnings` (one line per LoRA), not silently dropped. Fails (and
// applies nothing) on a missing, corrupt or wrong-family LoRA.
Status ApplyRequestLoras(const GenerateRequest& request, torch::nn::Module& unet,
                         TextConditioner& text, LoraPatcher& patcher,
                         std::vector<std::string>* warnings);

}  // namespace easel::engine
