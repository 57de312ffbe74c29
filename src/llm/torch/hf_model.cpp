// Hugging Face safetensors folders. See hf_model.h.
#include "llm/torch/hf_model.h"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "io/safetensors.h"
#include "util/files.h"

namespace easel::llm {
namespace {

using nlohmann::json;

bool Exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

// The safetensors files of the folder: from the index when there is one, else every
// model*.safetensors.
Result<std::vector<std::string>> WeightFiles(const std::string& dir) {
  std::set<std::string> files;
  const std::string index = dir + "/model.safetensors.index.json";
  if (Exists(index)) {
    auto text = ReadFile(index);
    if (!text.ok()) return text.status();
    json j = json::parse(*text, nullptr, false);
    if (j.is_discarded() || !j.contains("weight_map") || !j["weight_map"].is_object()) {
      return Corrupt(index + ": no weight_map object");
    }
    for (const auto& [name, file] : j["weight_map"].items()) {
      if (!file.is_string()) return Corrupt(index + ": weight_map['" + name + "'] is not a string");
      const std::string f = file.get<std::string>();
      if (f.find('/') != std::string::npos || f.find("..") != std::string::npos) {
        return Corrupt(index + ": weight_map names a file outside the folder: '" + f + "'");
      }
      files.insert(dir + "/" + f);
    }
  } else {
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) return IoError("cannot list " + dir);
    while (dirent* e = ::readdir(d)) {
      const std::string n = e->d_name;
      if (n.rfind("model", 0) == 0 && n.size() > 12 &&
          n.compare(n.size() - 12, 12, ".safetensors") == 0) {
        files.insert(dir + "/" + n);
      }
    }
    ::closedir(d);
  }
  if (files.empty()) {
    return NotFound(dir +
                    ": no model*.safetensors weights (a Hugging Face folder needs "
                    "config.json, model.safetensors and tokenizer.json)");
  }
  return std::vector<std::string>(files.begin(), files.end());
}

Result<torch::Tensor> ToTensor(const io::TensorInfo& t, const std::string& file) {
  torch::Dtype dt;
  switch (t.dtype) {
    case io::DType::kF32: dt = torch::kFloat32; break;
    case io::DType::kF16: dt = torch::kFloat16; break;
    case io::DType::kBF16: dt = torch::kBFloat16; break;
    default:
      return Unsupported(file + ": tensor '" + t.name + "' is " + io::DTypeName(t.dtype) +
                         "; Easel reads F32, F16 and BF16 language-model weights");
  }
  return torch::from_blob(const_cast<uint8_t*>(t.data), t.shape, torch::TensorOptions().dtype(dt))
      .clone();
}

std::string EosText(const json& cfg) {
  if (!cfg.contains("eos_token")) return {};
  const json& e = cfg["eos_token"];
  if (e.is_string()) return e.get<std::string>();
  if (e.is_object() && e.contains("content") && e["content"].is_string())
    return e["content"].get<std::string>();
  return {};
}

std::string TemplateText(const std::string& dir, const json& cfg) {
  if (cfg.contains("chat_template")) {
    const json& t = cfg["chat_template"];
    if (t.is_string()) return t.get<std::string>();
    if (t.is_array()) {  // [{name, template}]: the "default" one, else the first
      std::string first;
      for (const json& e : t) {
        if (!e.is_object() || !e.contains("template") || !e["template"].is_string()) continue;
        if (first.empty()) first = e["template"].get<std::string>();
        if (e.value("name", "") == "default") return e["template"].get<std::string>();
      }
      return first;
    }
  }
  auto jinja = ReadFile(dir + "/chat_template.jinja");
  return jinja.ok() ? *jinja : std::string();
}

}  // namespace

Result<LlamaConfig> LlamaConfigFromHfJson(const std::string& config_text, const std::string& name) {
  json j = json::parse(config_text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Corrupt(name + ": not a JSON object");
  LlamaConfig c;
  c.arch = j.value("model_type", "");
  if (c.arch == "llama" || c.arch == "mistral") {
    c.qkv_bias = j.value("attention_bias", false);
  } else if (c.arch == "qwen2") {
    c.qkv_bias = true;
  } else {
    return Unsupported(name + ": model_type '" + c.arch +
                       "' is not one Easel runs (llama, mistral, qwen2)");
  }
  c.rope_style = RopeStyle::kHalves;
  auto get = [&](const char* key, int64_t* out, bool required) -> Status {
    if (!j.contains(key) || j[key].is_null()) {
      return required ? Corrupt(name + ": '" + key + "' is missing") : Status::Ok();
    }
    if (!j[key].is_number_integer() || j[key].get<int64_t>() <= 0 ||
        j[key].get<int64_t>() > (int64_t{1} << 32)) {
      return Corrupt(name + ": '" + key + "' is " + j[key].dump() + ", expected a positive count");
    }
    *out = j[key].get<int64_t>();
    return Status::Ok();
  };
  EASEL_RETURN_IF_ERROR(get("num_hidden_layers", &c.n_layers, true));
  EASEL_RETURN_IF_ERROR(get("hidden_size", &c.d_model, true));
  EASEL_RETURN_IF_ERROR(get("intermediate_size", &c.d_ff, true));
  EASEL_RETURN_IF_ERROR(get("num_attention_heads", &c.n_heads, true));
  EASEL_RETURN_IF_ERROR(get("vocab_size", &c.vocab_size, true));
  c.n_kv_heads = c.n_heads;
  EASEL_RETURN_IF_ERROR(get("num_key_value_heads", &c.n_kv_heads, false));
  c.context_length = 2048;
  EASEL_RETURN_IF_ERROR(get("max_position_embeddings", &c.context_length, false));
  if (c.d_model % c.n_heads != 0 || c.n_heads % c.n_kv_heads != 0) {
    return Corrupt(name + ": " + std::to_string(c.n_heads) + " heads (" +
                   std::to_string(c.n_kv_heads) +
                   " for keys/values) do not divide a hidden size of " + std::to_string(c.d_model));
  }
  c.head_dim = c.d_model / c.n_heads;
  EASEL_RETURN_IF_ERROR(get("head_dim", &c.head_dim, false));
  c.rope_dim = c.head_dim;
  // transformers 4 writes rope_theta / rope_scaling; 5 writes rope_parameters.
  const json* rope = j.contains("rope_parameters") && j["rope_parameters"].is_object()
                         ? &j["rope_parameters"]
                         : nullptr;
  if (rope != nullptr && rope->contains("rope_theta") && (*rope)["rope_theta"].is_number()) {
    c.rope_theta = (*rope)["rope_theta"].get<double>();
  } else if (j.contains("rope_theta") && j["rope_theta"].is_number()) {
    c.rope_theta = j["rope_theta"].get<double>();
  }
  std::string scaling = "default";
  if (rope != nullptr && rope->contains("rope_type") && (*rope)["rope_type"].is_string()) {
    scaling = (*rope)["rope_type"].get<std::string>();
  }
  if (j.contains("rope_scaling") && j["rope_scaling"].is_object()) {
    const json& s = j["rope_scaling"];
    scaling = s.value("rope_type", s.value("type", std::string("default")));
  }
  if (scaling != "default") {
    return Unsupported(name + ": rope scaling '" + scaling + "' is not supported yet");
  }
  if (j.contains("rms_norm_eps") && j["rms_norm_eps"].is_number()) {
    c.rms_eps = j["rms_norm_eps"].get<double>();
  }
  c.tied_embeddings = j.value("tie_word_embeddings", false);
  return c;
}

std::string GgufNameOfHf(const std::string& n) {
  static const std::map<std::string, std::string> kTop = {
      {"model.embed_tokens.weight", "token_embd.weight"},
      {"model.norm.weight", "output_norm.weight"},
      {"lm_head.weight", "output.weight"}};
  if (auto it = kTop.find(n); it != kTop.end()) return it->second;
  static const std::string kLayers = "model.layers.";
  if (n.rfind(kLayers, 0) != 0) return "";
  const size_t dot = n.find('.', kLayers.size());
  if (dot == std::string::npos) return "";
  const std::string layer = n.substr(kLayers.size(), dot - kLayers.size());
  if (layer.empty() || !std::all_of(layer.begin(), layer.end(), ::isdigit)) return "";
  static const std::map<std::string, std::string> kLayer = {
      {"input_layernorm.weight", "attn_norm.weight"},
      {"self_attn.q_proj.weight", "attn_q.weight"},
      {"self_attn.k_proj.weight", "attn_k.weight"},
      {"self_attn.v_proj.weight", "attn_v.weight"},
      {"self_attn.o_proj.weight", "attn_output.weight"},
      {"self_attn.q_proj.bias", "attn_q.bias"},
      {"self_attn.k_proj.bias", "attn_k.bias"},
      {"self_attn.v_proj.bias", "attn_v.bias"},
      {"post_attention_layernorm.weight", "ffn_norm.weight"},
      {"mlp.gate_proj.weight", "ffn_gate.weight"},
      {"mlp.up_proj.weight", "ffn_up.weight"},
      {"mlp.down_proj.weight", "ffn_down.weight"}};
  auto it = kLayer.find(n.substr(dot + 1));
  return it == kLayer.end() ? "" : "blk." + layer + "." + it->second;
}

Result<LoadedLlm> LoadHfFolder(const std::string& dir, torch::Device device, torch::Dtype dtype) {
  auto config_text = ReadFile(dir + "/config.json");
  if (!config_text.ok()) {
    return NotFound(dir +
                    ": no config.json (a Hugging Face folder needs config.json, "
                    "model.safetensors and tokenizer.json)");
  }
  auto config = LlamaConfigFromHfJson(*config_text, dir + "/config.json");
  if (!config.ok()) return config.status();
  if (!Exists(dir + "/tokenizer.json")) {
    return NotFound(dir +
                    ": no tokenizer.json (SentencePiece-only folders with tokenizer.model "
                    "are not read; use the model's GGUF)");
  }
  auto tok = Tokenizer::FromTokenizerJsonFile(dir + "/tokenizer.json");
  if (!tok.ok()) return tok.status();
  if (tok->vocab_size() > config->vocab_size) {
    return Corrupt(dir + ": tokenizer.json has " + std::to_string(tok->vocab_size()) +
                   " tokens but config.json's vocab_size is " + std::to_string(config->vocab_size));
  }
  json tcfg = json::object();
  if (auto t = ReadFile(dir + "/tokenizer_config.json"); t.ok()) {
    tcfg = json::parse(*t, nullptr, false);
    if (tcfg.is_discarded() || !tcfg.is_object()) {
      return Corrupt(dir + "/tokenizer_config.json: not a JSON object");
    }
  }
  LoadedLlm out;
  const std::string tmpl = TemplateText(dir, tcfg);
  if (!tmpl.empty()) {
    auto t = DetectChatTemplate(tmpl);
    if (!t.ok()) return Status(t.status().code(), dir + ": " + t.status().message());
    out.chat_template = *t;
  } else if (tok->Find("<|im_start|>")) {
    out.chat_template.format = ChatFormat::kChatML;
  } else {
    return NotFound(dir +
                    ": no chat template (tokenizer_config.json chat_template or "
                    "chat_template.jinja); use an instruction-tuned model");
  }
  auto files = WeightFiles(dir);
  if (!files.ok()) return files.status();
  std::map<std::string, torch::Tensor> weights;
  for (const std::string& path : *files) {
    auto st = io::SafetensorsFile::Open(path);
    if (!st.ok()) return st.status();
    for (const io::TensorInfo& t : (*st)->tensors()) {
      const std::string g = GgufNameOfHf(t.name);
      if (g.empty()) continue;
      if (g == "output.weight" && config->tied_embeddings) continue;
      auto w = ToTensor(t, path);
      if (!w.ok()) return w.status();
      weights[g] = *w;
    }
  }
  // Some tied checkpoints still store lm_head; some untied ones omit it (then it is tied).
  if (!config->tied_embeddings && weights.count("output.weight") == 0) {
    config->tied_embeddings = true;
  }
  auto model = LlamaModel::FromWeights(*config, std::move(weights), dir, device, dtype);
  if (!model.ok()) return model.status();
  out.model = std::move(*model);
  out.end_ids = EndTokens(*tok);
  if (auto eos = tok->Find(EosText(tcfg));
      eos && std::find(out.end_ids.begin(), out.end_ids.end(), *eos) == out.end_ids.end()) {
    out.end_ids.push_back(*eos);
  }
  out.tokenizer = std::make_shared<const Tokenizer>(std::move(*tok));
  std::string name = dir;
  while (name.size() > 1 && name.back() == '/') name.pop_back();
  out.name =
      name.substr(name.find_last_of('/') == std::string::npos ? 0 : name.find_last_of('/') + 1);
  return out;
}

}  // namespace easel::llm
