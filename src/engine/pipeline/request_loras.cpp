// A request's LoRAs: collect, resolve, match, apply (see the header).
#include "engine/pipeline/request_loras.h"

#include <torch/torch.h>

#include <filesystem>

#include "engine/pipeline/text_conditioner.h"
#include "engine/text/prompt_parser.h"

namespace easel::engine {

Result<std::vector<LoraRequest>> CollectLoras(const GenerateRequest& r) {
  std::vector<LoraRequest> out = r.loras;
  for (const std::string* p : {&r.prompt, &r.negative_prompt}) {
    for (const text::ExtraNetworkTag& tag : text::ExtractExtraNetworks(*p).tags) {
      if (tag.kind != "lora" && tag.kind != "lyco")
        return Status(Code::kUnsupported, "the prompt uses <" + tag.kind + ":" + tag.name +
                                              ">: only LoRA/LyCORIS extra networks are supported");
      if (p == &r.negative_prompt)
        return Status(Code::kInvalidArgument, "<" + tag.kind + ":" + tag.name +
                                                  "> in the negative prompt: put LoRA tags in "
                                                  "the prompt (A1111 ignores them there)");
      auto mult = text::ParseLoraMultipliers(tag);
      if (!mult.ok()) return mult.status();
      out.push_back({tag.name, mult->unet, mult->te});
    }
  }
  return out;
}

Result<std::string> ResolveLoraPath(const LoraRequest& l, const std::string& loras_dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::is_regular_file(l.name_or_path, ec)) return l.name_or_path;
  if (loras_dir.empty())
    return Status(Code::kNotFound, "LoRA '" + l.name_or_path +
                                       "' is not a file, and no LoRA folder was given: pass "
                                       "--loras-dir DIR or the LoRA's path");
  const std::string want = l.name_or_path + ".safetensors";
  fs::path direct = fs::path(loras_dir) / want;
  if (fs::is_regular_file(direct, ec)) return direct.string();
  for (fs::recursive_directory_iterator it(loras_dir, ec), end; !ec && it != end;
       it.increment(ec)) {
    if (it->is_regular_file(ec) && it->path().filename() == fs::path(want).filename())
      return it->path().string();
  }
  return Status(Code::kNotFound, "LoRA '" + l.name_or_path + "' not found: looked for " + want +
                                     " in " + loras_dir + " and its sub-folders");
}

Status ApplyRequestLoras(const GenerateRequest& r, torch::nn::Module& unet,
                         TextConditioner& text, LoraPatcher& patcher,
                         std::vector<std::string>* warnings) {
  return CatchAll([&] {
    const std::vector<LoraRequest> loras = CollectLoras(r).ValueOrThrow();
    if (loras.empty()) return;
    const StateDict unet_params = NamedParameters(unet);
    const StateDict text_params = NamedParameters(*text.text_encoder());
    const StateDict text2_params =
        text.text_encoder2() ? NamedParameters(*text.text_encoder2()) : StateDict{};
    std::vector<LoraMatch> matches;
    matches.reserve(loras.size());
    for (const LoraRequest& l : loras) {
      LoraFile file = LoadLora(ResolveLoraPath(l, r.loras_dir).ValueOrThrow()).ValueOrThrow();
      matches.push_back(MatchLora(file, unet_params, text_params, text2_params).ValueOrThrow());
      const auto& unmatched = matches.back().unmatched_keys;
      if (!unmatched.empty() && warnings) {
        std::string w = "LoRA '" + l.name_or_path + "': " + std::to_string(unmatched.size()) +
                        " key(s) match nothing in this model and were not applied:";
        for (size_t i = 0; i < unmatched.size() && i < 5; ++i) w += " " + unmatched[i];
        if (unmatched.size() > 5) w += " ...";
        warnings->push_back(w);
      }
    }
    std::vector<LoraUse> uses;
    for (size_t i = 0; i < loras.size(); ++i)
      uses.push_back({&matches[i], loras[i].unet_weight, loras[i].text_encoder_weight});
    Status applied = patcher.Apply(uses, &unet, text.text_encoder(), text.text_encoder2());
    if (!applied.ok()) throw Error(applied);
  });
}

}  // namespace easel::engine
