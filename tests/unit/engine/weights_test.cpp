// engine/weights: safetensors dtypes -> torch, zero-copy lifetime, prefixes, and the
// name-for-name LoadIntoModule with its error messages.
#include "engine/weights.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstring>
#include <filesystem>

#include "engine/nets/layers.h"

namespace easel::engine {
namespace {

std::string TempPath(const std::string& name) {
  return (std::filesystem::path(::testing::TempDir()) / ("easel_weights_" + name)).string();
}

template <class T>
std::string Bytes(const std::vector<T>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}

std::shared_ptr<const io::SafetensorsFile> WriteAndOpen(const std::string& name,
                                                        const std::vector<io::TensorBytes>& spec) {
  const std::string path = TempPath(name);
  Status st = io::WriteSafetensors(path, spec);
  EXPECT_TRUE(st.ok()) << st.ToString();
  auto file = io::SafetensorsFile::Open(path);
  EXPECT_TRUE(file.ok()) << file.status().ToString();
  return *file;
}

TEST(Weights, EveryComputeDtypeMapsBitForBit) {
  const std::vector<float> f32 = {1.5f, -2.25f, 3.0f, 0.0f};
  const std::vector<double> f64 = {1.5, -2.25};
  const std::vector<int64_t> i64 = {0, 1, 76, -5};
  const std::vector<int32_t> i32 = {7, -7};
  const std::vector<int8_t> i8 = {-128, 127};
  const std::vector<uint8_t> u8 = {0, 255};
  const std::vector<uint8_t> boolean = {1, 0, 1};
  const std::vector<uint16_t> f16 = {0x3C00, 0xC000};   // 1.0, -2.0
  const std::vector<uint16_t> bf16 = {0x3F80, 0xC040};  // 1.0, -3.0
  auto file =
      WriteAndOpen("dtypes.safetensors", {{"f32", io::DType::kF32, {2, 2}, Bytes(f32)},
                                          {"f64", io::DType::kF64, {2}, Bytes(f64)},
                                          {"i64", io::DType::kI64, {1, 4}, Bytes(i64)},
                                          {"i32", io::DType::kI32, {2}, Bytes(i32)},
                                          {"i8", io::DType::kI8, {2}, Bytes(i8)},
                                          {"u8", io::DType::kU8, {2}, Bytes(u8)},
                                          {"bool", io::DType::kBool, {3}, Bytes(boolean)},
                                          {"f16", io::DType::kF16, {2}, Bytes(f16)},
                                          {"bf16", io::DType::kBF16, {2}, Bytes(bf16)},
                                          {"empty", io::DType::kF32, {0, 3}, std::string_view()}});
  StateDict d = LoadSafetensors(file);
  ASSERT_EQ(d.size(), 10u);
  EXPECT_TRUE(torch::equal(d["f32"], torch::tensor(f32).view({2, 2})));
  EXPECT_EQ(d["f64"].scalar_type(), torch::kFloat64);
  EXPECT_TRUE(torch::equal(d["f64"], torch::tensor(f64)));
  EXPECT_EQ(d["i64"].scalar_type(), torch::kInt64);
  EXPECT_TRUE(torch::equal(d["i64"], torch::tensor(i64).view({1, 4})));
  EXPECT_EQ(d["i32"][1].item<int32_t>(), -7);
  EXPECT_EQ(d["i8"][0].item<int8_t>(), -128);
  EXPECT_EQ(d["u8"][1].item<uint8_t>(), 255);
  EXPECT_EQ(d["bool"].scalar_type(), torch::kBool);
  EXPECT_FALSE(d["bool"][1].item<bool>());
  EXPECT_EQ(d["f16"].scalar_type(), torch::kFloat16);
  EXPECT_TRUE(torch::equal(d["f16"].to(torch::kFloat32), torch::tensor({1.0f, -2.0f})));
  EXPECT_EQ(d["bf16"].scalar_type(), torch::kBFloat16);
  EXPECT_TRUE(torch::equal(d["bf16"].to(torch::kFloat32), torch::tensor({1.0f, -3.0f})));
  EXPECT_EQ(d["empty"].sizes(), (std::vector<int64_t>{0, 3}));
}

TEST(Weights, TensorsAliasTheMappingAndKeepItAlive) {
  const std::vector<float> values = {1, 2, 3, 4, 5, 6};
  auto file =
      WriteAndOpen("alias.safetensors", {{"a.weight", io::DType::kF32, {6}, Bytes(values)},
                                         {"b.weight", io::DType::kF32, {6}, Bytes(values)}});
  const io::TensorInfo* info = file->Find("b.weight");
  ASSERT_NE(info, nullptr);
  torch::Tensor t = TensorFromInfo(file, *info);
  if (reinterpret_cast<uintptr_t>(info->data) % 4 == 0) {
    EXPECT_EQ(t.data_ptr(), static_cast<const void*>(info->data));  // zero copy
  }
  std::weak_ptr<const io::SafetensorsFile> weak = file;
  file.reset();
  EXPECT_FALSE(weak.expired());  // the tensor holds the file
  EXPECT_FLOAT_EQ(t[5].item<float>(), 6.0f);
  t = torch::Tensor();
  EXPECT_TRUE(weak.expired());
}

TEST(Weights, Float8IsWidenedToFloat16) {
  // E4M3FN: 0x38 = 1.0, 0xC0 = -2.0, 0x7E = 448 (max), 0x01 = 2^-9, 0x7F = NaN.
  // E5M2: the high byte of an F16: 0x3C = 1.0, 0xC4 = -4.0, 0x7C = inf.
  const std::vector<uint8_t> e4m3 = {0x38, 0xC0, 0x7E, 0x01, 0x7F};
  const std::vector<uint8_t> e5m2 = {0x3C, 0xC4, 0x7C};
  auto file = WriteAndOpen("f8.safetensors", {{"e4m3", io::DType::kF8E4M3, {5}, Bytes(e4m3)},
                                              {"e5m2", io::DType::kF8E5M2, {3}, Bytes(e5m2)}});
  StateDict d = LoadSafetensors(file);
  ASSERT_EQ(d["e4m3"].scalar_type(), torch::kFloat16);
  torch::Tensor a = d["e4m3"].to(torch::kFloat32);
  EXPECT_FLOAT_EQ(a[0].item<float>(), 1.0f);
  EXPECT_FLOAT_EQ(a[1].item<float>(), -2.0f);
  EXPECT_FLOAT_EQ(a[2].item<float>(), 448.0f);
  EXPECT_FLOAT_EQ(a[3].item<float>(), std::ldexp(1.0f, -9));
  EXPECT_TRUE(std::isnan(a[4].item<float>()));
  torch::Tensor b = d["e5m2"].to(torch::kFloat32);
  EXPECT_FLOAT_EQ(b[0].item<float>(), 1.0f);
  EXPECT_FLOAT_EQ(b[1].item<float>(), -4.0f);
  EXPECT_TRUE(std::isinf(b[2].item<float>()));
}

TEST(Weights, UnsignedWideIntsAreUnsupportedWithTheTensorName) {
  const std::vector<uint32_t> v = {1, 2};
  auto file = WriteAndOpen("u32.safetensors", {{"counts", io::DType::kU32, {2}, Bytes(v)}});
  try {
    TensorFromInfo(file, *file->Find("counts"));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.status().code(), Code::kUnsupported);
    EXPECT_NE(e.status().message().find("counts"), std::string::npos);
    EXPECT_NE(e.status().message().find("U32"), std::string::npos);
  }
}

TEST(Weights, PrefixesAndSubDict) {
  const std::vector<float> v = {1};
  auto file = WriteAndOpen("prefix.safetensors", {{"model.a", io::DType::kF32, {1}, Bytes(v)},
                                                  {"model.b.c", io::DType::kF32, {1}, Bytes(v)},
                                                  {"modelx", io::DType::kF32, {1}, Bytes(v)},
                                                  {"vae.d", io::DType::kF32, {1}, Bytes(v)}});
  StateDict m = LoadSafetensors(file, "model.");
  ASSERT_EQ(m.size(), 2u);
  EXPECT_TRUE(m.count("a") && m.count("b.c"));
  StateDict all = LoadSafetensors(file);
  StateDict sub = SubDict(all, "model.b.");
  ASSERT_EQ(sub.size(), 1u);
  EXPECT_TRUE(sub.count("c"));
  EXPECT_TRUE(SubDict(all, "nothing.").empty());
}

// A two-level module: fc (Linear 3->2) and norm (LayerNorm 2), plus a buffer.
struct TinyImpl : torch::nn::Module {
  TinyImpl() {
    fc = register_module("fc", torch::nn::Linear(3, 2));
    norm = register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({2})));
    steps = register_buffer("steps", torch::zeros({1}));
  }
  torch::nn::Linear fc{nullptr};
  torch::nn::LayerNorm norm{nullptr};
  torch::Tensor steps;
};
TORCH_MODULE(Tiny);

StateDict TinyWeights() {
  return {{"fc.weight", torch::arange(6, torch::kFloat16).view({2, 3})},
          {"fc.bias", torch::tensor({0.5f, -0.5f})},
          {"norm.weight", torch::ones({2})},
          {"norm.bias", torch::zeros({2})},
          {"steps", torch::full({1}, 7.0)}};
}

TEST(LoadIntoModule, CopiesEveryNameConvertingDtype) {
  Tiny m;
  ASSERT_TRUE(LoadIntoModule(*m, TinyWeights(), "tiny").ok());
  EXPECT_EQ(m->fc->weight.scalar_type(), torch::kFloat32);
  EXPECT_TRUE(torch::equal(m->fc->weight, torch::arange(6, torch::kFloat32).view({2, 3})));
  EXPECT_FLOAT_EQ(m->fc->bias[1].item<float>(), -0.5f);
  EXPECT_FLOAT_EQ(m->steps[0].item<float>(), 7.0f);
}

TEST(LoadIntoModule, MissingWeightsAreNamed) {
  Tiny m;
  StateDict w = TinyWeights();
  w.erase("fc.bias");
  w.erase("norm.weight");
  Status st = LoadIntoModule(*m, w, "UNet of x.safetensors");
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
  EXPECT_NE(st.message().find("UNet of x.safetensors"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("2 weights missing"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("fc.bias"), std::string::npos);
  EXPECT_NE(st.message().find("norm.weight"), std::string::npos);
  // Nothing was copied: a failed load leaves the module untouched.
  EXPECT_FLOAT_EQ(m->steps[0].item<float>(), 0.0f);
}

TEST(LoadIntoModule, UnexpectedWeightsAreNamed) {
  Tiny m;
  StateDict w = TinyWeights();
  w["fc.extra"] = torch::zeros({1});
  Status st = LoadIntoModule(*m, w, "tiny");
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("1 unexpected weights (fc.extra)"), std::string::npos)
      << st.message();
}

TEST(LoadIntoModule, ShapeMismatchNamesKeyAndBothShapes) {
  Tiny m;
  StateDict w = TinyWeights();
  w["fc.weight"] = torch::zeros({3, 2});
  Status st = LoadIntoModule(*m, w, "tiny");
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("'fc.weight' is [3, 2] in the file but the model expects [2, 3]"),
            std::string::npos)
      << st.message();
}

TEST(LoadIntoModule, LongListsAreCutAfterTen) {
  Tiny m;
  StateDict w = TinyWeights();
  for (int i = 0; i < 13; ++i) w["junk." + std::to_string(i)] = torch::zeros({1});
  Status st = LoadIntoModule(*m, w, "tiny");
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("13 unexpected weights"), std::string::npos);
  EXPECT_NE(st.message().find("and 3 more"), std::string::npos) << st.message();
}

TEST(LoadIntoModule, OptionalNamesMayBeMissing) {
  Tiny m;
  StateDict w = TinyWeights();
  w.erase("steps");
  EXPECT_TRUE(LoadIntoModule(*m, w, "tiny", {"steps"}).ok());
  EXPECT_FALSE(LoadIntoModule(*m, w, "tiny").ok());
}

// A module of nets/layers layers (uninitialised until loaded) plus an integer buffer.
struct LayersTinyImpl : torch::nn::Module {
  LayersTinyImpl() {
    fc = register_module("fc", layers::Linear(3, 2));
    emb = register_module("emb", layers::Embedding(4, 2));
    ids = register_buffer("ids", torch::arange(3, torch::kInt64));
  }
  layers::Linear fc{nullptr};
  layers::Embedding emb{nullptr};
  torch::Tensor ids;
};
TORCH_MODULE(LayersTiny);

TEST(LoadIntoModule, PlacementConvertsOnceToTheRequestedDtypeWithTheFilesValues) {
  // fp16 and bf16 file tensors -> float64 parameters: exact, so the values must be the file's.
  const std::vector<at::Half> w = {0.5f, -1.25f, 3.0f, 1e-3f, 65504.0f, -2.0f};
  const std::vector<at::BFloat16> b = {0.1f, -7.0f};
  std::vector<float> e(8);
  for (size_t i = 0; i < e.size(); ++i) e[i] = 0.25f * static_cast<float>(i) - 1.0f;
  const std::vector<int64_t> ids = {2, 0, 1};
  auto file =
      WriteAndOpen("placement.safetensors", {{"fc.weight", io::DType::kF16, {2, 3}, Bytes(w)},
                                             {"fc.bias", io::DType::kBF16, {2}, Bytes(b)},
                                             {"emb.weight", io::DType::kF32, {4, 2}, Bytes(e)},
                                             {"ids", io::DType::kI64, {3}, Bytes(ids)}});
  const StateDict dict = LoadSafetensors(file);
  LayersTiny m;
  Status st = LoadIntoModule(*m, dict, "tiny", {}, WeightPlacement{torch::kCPU, torch::kFloat64});
  ASSERT_TRUE(st.ok()) << st.ToString();
  for (const auto& p : m->named_parameters()) {
    EXPECT_EQ(p.value().scalar_type(), torch::kFloat64) << p.key();
    EXPECT_TRUE(torch::equal(p.value(), dict.at(p.key()).to(torch::kFloat64))) << p.key();
  }
  // The layer members see the loaded tensors; integer buffers keep their dtype.
  EXPECT_EQ(m->fc->weight.scalar_type(), torch::kFloat64);
  EXPECT_DOUBLE_EQ(m->fc->weight[1][1].item<double>(), 65504.0);
  EXPECT_EQ(m->ids.scalar_type(), torch::kInt64);
  EXPECT_TRUE(torch::equal(m->ids, torch::tensor({2, 0, 1}, torch::kInt64)));
  // The loaded module runs: fc(x) with the file's weights.
  const torch::Tensor x = torch::ones({1, 3}, torch::kFloat64);
  EXPECT_DOUBLE_EQ(m->fc(x)[0][0].item<double>(), 0.5 - 1.25 + 3.0 + double(b[0]));
}

TEST(LoadIntoModule, LoadedParametersAreWritableCopiesOfTheFile) {
  // Same dtype and device as the file: still a copy (the mapping is read-only, and LoRA
  // merges write into parameters).
  const std::vector<float> w = {1, 2, 3, 4, 5, 6}, b = {7, 8}, e(8, 0.5f);
  const std::vector<int64_t> ids = {0, 1, 2};
  auto file =
      WriteAndOpen("writable.safetensors", {{"fc.weight", io::DType::kF32, {2, 3}, Bytes(w)},
                                            {"fc.bias", io::DType::kF32, {2}, Bytes(b)},
                                            {"emb.weight", io::DType::kF32, {4, 2}, Bytes(e)},
                                            {"ids", io::DType::kI64, {3}, Bytes(ids)}});
  const StateDict dict = LoadSafetensors(file);
  LayersTiny m;
  ASSERT_TRUE(LoadIntoModule(*m, dict, "tiny").ok());
  EXPECT_EQ(m->fc->weight.scalar_type(), torch::kFloat32);
  EXPECT_NE(m->fc->weight.data_ptr(), dict.at("fc.weight").data_ptr());
  torch::NoGradGuard no_grad;
  m->fc->weight.mul_(2);  // would fault on the read-only mapping
  EXPECT_FLOAT_EQ(m->fc->weight[1][2].item<float>(), 12.0f);
  EXPECT_FLOAT_EQ(dict.at("fc.weight")[1][2].item<float>(), 6.0f);
}

TEST(LoadIntoModule, LayersMismatchStillNamesTheKey) {
  StateDict w = {{"fc.weight", torch::zeros({3, 2}, torch::kFloat16)},
                 {"fc.bias", torch::zeros({2})},
                 {"emb.weight", torch::zeros({4, 2})},
                 {"ids", torch::zeros({3}, torch::kInt64)}};
  LayersTiny m;
  const torch::Tensor before = m->fc->weight;
  Status st = LoadIntoModule(*m, w, "UNet of x", {}, WeightPlacement{torch::kCPU, torch::kFloat16});
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
  EXPECT_NE(st.message().find("UNet of x"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("'fc.weight' is [3, 2] in the file but the model expects [2, 3]"),
            std::string::npos)
      << st.message();
  // A failed load leaves the module as it was (nothing converted or moved).
  EXPECT_EQ(m->fc->weight.scalar_type(), torch::kFloat32);
  EXPECT_TRUE(m->fc->weight.is_same(before));
  w.erase("emb.weight");
  w["fc.weight"] = torch::zeros({2, 3});
  st = LoadIntoModule(*m, w, "tiny", {}, WeightPlacement{torch::kCPU, torch::kFloat16});
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("1 weights missing (emb.weight)"), std::string::npos) << st.message();
}

}  // namespace
}  // namespace easel::engine
