// The YAML-subset reader, extra_model_paths.yaml and install discovery under a fake $HOME.
#include <gtest/gtest.h>

#include <filesystem>

#include "io_temp_dir.h"
#include "library/model_roots.h"
#include "library/yaml_lite.h"
#include "library_tree.h"

namespace easel::library {
namespace {

namespace fs = std::filesystem;

constexpr const char* kComfyExample = R"yaml(
# ComfyUI's example file, trimmed
a111:
    base_path: path/to/stable-diffusion-webui/   # relative to this file

    checkpoints: models/Stable-diffusion
    configs: models/Stable-diffusion
    vae: models/VAE
    loras: |
         models/Lora
         models/LyCORIS
    upscale_models: |
                  models/ESRGAN
                  models/RealESRGAN
    embeddings: embeddings
    hypernetworks: models/hypernetworks
    controlnet: models/ControlNet

comfyui:
     base_path: ~/other_ui/
     is_default: true
     checkpoints: "models/check points"
     clip: 'models/clip'
     text_encoders:
       - models/te_a
       - /abs/te_b
     diffusion_models: |
                  models/diffusion_models
                  models/unet
     custom_nodes: path/custom_nodes
)yaml";

TEST(LibraryYaml, ParsesTheSubset) {
  auto doc = ParseYaml(kComfyExample);
  ASSERT_TRUE(doc.ok()) << doc.status().ToString();
  ASSERT_EQ(doc->type, YamlNode::Type::kMap);
  const YamlNode* a = doc->Find("a111");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->Find("base_path")->scalar, "path/to/stable-diffusion-webui/");
  EXPECT_EQ(a->Find("loras")->scalar, "models/Lora\nmodels/LyCORIS\n");
  const YamlNode* c = doc->Find("comfyui");
  EXPECT_EQ(c->Find("checkpoints")->scalar, "models/check points");
  EXPECT_EQ(c->Find("clip")->scalar, "models/clip");
  ASSERT_EQ(c->Find("text_encoders")->type, YamlNode::Type::kList);
  EXPECT_EQ(c->Find("text_encoders")->list[1].scalar, "/abs/te_b");

  auto folded = ParseYaml("k: >-\n  one\n  two\n\n  three\nnext: 'it''s'\nn: ~\n");
  ASSERT_TRUE(folded.ok()) << folded.status().ToString();
  EXPECT_EQ(folded->Find("k")->scalar, "one two\nthree");
  EXPECT_EQ(folded->Find("next")->scalar, "it's");
  EXPECT_EQ(folded->Find("n")->type, YamlNode::Type::kNull);
  EXPECT_EQ(ParseYaml("")->type, YamlNode::Type::kNull);
  EXPECT_EQ(ParseYaml("# only a comment\n\n")->type, YamlNode::Type::kNull);
}

TEST(LibraryYaml, MalformedInputNamesTheLine) {
  struct Case {
    const char* text;
    const char* line;
    const char* says;
  };
  const Case cases[] = {
      {"a:\n\tb: c\n", "line 2", "tab"},
      {"a: b\n  c: d\n", "line 2", "unexpected indentation"},
      {"a:\n  b: c\n just text\n", "line 3", "unexpected indentation"},
      {"a: b\nplain words\n", "line 2", "expected 'key: value'"},
      {"a: \"open\n", "line 1", "unterminated"},
      {"a: {b: c}\n", "line 1", "flow collections"},
      {"a: b\na: c\n", "line 2", "duplicate key"},
      {"a: *ref\n", "line 1", "anchors"},
      {"a: 'x' y\n", "line 1", "after the closing quote"},
      {"a: b\n---\nc: d\n", "line 2", "second document"},
      {"- a: b\n", "line 1", "mappings inside list items"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.text);
    auto r = ParseYaml(c.text, "x.yaml");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Code::kCorrupt);
    const std::string& m = r.status().message();
    EXPECT_NE(m.find(c.line), std::string::npos) << m;
    EXPECT_NE(m.find(c.says), std::string::npos) << m;
    EXPECT_EQ(m.rfind("x.yaml", 0), 0u) << m;
  }
  // Binary junk never crashes.
  std::string junk;
  for (int i = 0; i < 512; ++i) junk += static_cast<char>((i * 37) % 256);
  (void)ParseYaml(junk);
}

TEST(LibraryRoots, ExtraModelPathsResolvesBaseAndKinds) {
  auto roots = ParseExtraModelPaths(kComfyExample, "/srv/comfy", "/home/me");
  ASSERT_TRUE(roots.ok()) << roots.status().ToString();
  std::vector<std::pair<std::string, std::string>> got;
  for (const auto& r : *roots) got.push_back({r.path, KindName(r.kind)});
  const std::vector<std::pair<std::string, std::string>> want = {
      {"/srv/comfy/path/to/stable-diffusion-webui/models/Stable-diffusion", "checkpoint"},
      {"/srv/comfy/path/to/stable-diffusion-webui/models/VAE", "vae"},
      {"/srv/comfy/path/to/stable-diffusion-webui/models/Lora", "lora"},
      {"/srv/comfy/path/to/stable-diffusion-webui/models/LyCORIS", "lora"},
      {"/srv/comfy/path/to/stable-diffusion-webui/models/ESRGAN", "upscaler"},
      {"/srv/comfy/path/to/stable-diffusion-webui/models/RealESRGAN", "upscaler"},
      {"/srv/comfy/path/to/stable-diffusion-webui/embeddings", "embedding"},
      {"/srv/comfy/path/to/stable-diffusion-webui/models/ControlNet", "controlnet"},
      {"/home/me/other_ui/models/check points", "checkpoint"},
      {"/home/me/other_ui/models/clip", "text_encoder"},
      {"/home/me/other_ui/models/te_a", "text_encoder"},
      {"/abs/te_b", "text_encoder"},
      {"/home/me/other_ui/models/diffusion_models", "diffusion_model"},
      {"/home/me/other_ui/models/unet", "diffusion_model"},
  };
  EXPECT_EQ(got, want);
  auto bad = ParseExtraModelPaths("comfyui: just a string\n", "/x", "/h");
  EXPECT_EQ(bad.status().code(), Code::kCorrupt);
}

TEST(LibraryRoots, DiscoversInstallsUnderHome) {
  testing::TempDir home;
  fs::create_directories(home.File("ComfyUI/models/checkpoints"));
  fs::create_directories(home.File("stable-diffusion-webui-forge/models/Stable-diffusion"));
  fs::create_directories(home.File("stable-diffusion-webui-forge/embeddings"));
  fs::create_directories(home.File("invokeai/models"));
  fs::create_directories(home.File("shared/my_loras"));
  testing::WriteText(home.File("ComfyUI/extra_model_paths.yaml"),
                     "mine:\n  base_path: ~/shared\n  loras: my_loras\n  vae: missing_dir\n");
  DiscoveryEnv env;
  env.home = home.path();
  Discovery d = DiscoverInstalls(env);
  std::vector<std::string> paths;
  for (const auto& r : d.roots) paths.push_back(r.path.substr(home.path().size()));
  EXPECT_EQ(paths,
            (std::vector<std::string>{
                "/ComfyUI/models", "/shared/my_loras", "/stable-diffusion-webui-forge/models",
                "/stable-diffusion-webui-forge/embeddings", "/invokeai/models"}));
  EXPECT_EQ(d.roots[1].kind, ModelKind::kLora);
  // A malformed YAML is a note, not a failure.
  testing::WriteText(home.File("ComfyUI/extra_model_paths.yaml"), "mine:\n\tloras: x\n");
  d = DiscoverInstalls(env);
  bool noted = false;
  for (const auto& n : d.notes) noted |= n.find("line 2") != std::string::npos;
  EXPECT_TRUE(noted);
  EXPECT_EQ(d.roots.size(), 4u);
}

}  // namespace
}  // namespace easel::library
