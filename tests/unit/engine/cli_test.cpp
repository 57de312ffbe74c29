// The easel binary end to end: generate / inspect / png-info on the fixture models, and every
// bad input the CLI can meet answered by one clear line and the documented exit code.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "../core/io_temp_dir.h"
#include "detect_synthetic.h"
#include "io/png.h"
#include "test_paths.h"
#include "unit/engine/cli_run.h"

namespace easel {
namespace {

using testing::CliRun;
using testing::Easel;
using testing::Q;

std::string ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

const std::string kModel = EASEL_FIXTURES_DIR "/sd1";

std::string GenerateArgs(const std::string& out) {
  return "generate -q --model " + Q(kModel) +
         " -p 'a (red:1.2) fox, snow' -n blurry --steps 2 --seed 1234 -W 64 -H 64 "
         "--sampler 'DPM++ 2M Karras' -o " +
         Q(out);
}

TEST(Cli, GenerateWritesPngWithA1111ParametersAndSidecar) {
  testing::TempDir dir;
  const std::string out = dir.File("fox.png");
  CliRun r = Easel(GenerateArgs(out));
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out, out + "\n");
  CliRun info = Easel("png-info " + Q(out));
  ASSERT_EQ(info.code, 0) << info.out;
  EXPECT_NE(info.out.find("a (red:1.2) fox, snow\nNegative prompt: blurry\nSteps: 2, "
                          "Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7, Seed: 1234, "
                          "Size: 64x64, Model hash: "),
            std::string::npos)
      << info.out;
  EXPECT_NE(info.out.find("Model: sd1"), std::string::npos);
  auto side = nlohmann::json::parse(ReadBytes(dir.File("fox.json")));
  EXPECT_EQ(side["request"]["seed"], 1234);
  EXPECT_EQ(side["model"]["family"], "SD1");
  auto json = nlohmann::json::parse(Easel("png-info --json " + Q(out)).out);
  EXPECT_EQ(json["parameters"]["settings"]["Seed"], "1234");
}

TEST(Cli, SameSeedGivesByteIdenticalPngs) {
  testing::TempDir dir;
  ASSERT_EQ(Easel(GenerateArgs(dir.File("a.png"))).code, 0);
  ASSERT_EQ(Easel(GenerateArgs(dir.File("b.png"))).code, 0);
  const std::string a = ReadBytes(dir.File("a.png"));
  EXPECT_GT(a.size(), 100u);
  EXPECT_EQ(a, ReadBytes(dir.File("b.png")));
}

TEST(Cli, BatchWritesOneFilePerImageWithConsecutiveSeeds) {
  testing::TempDir dir;
  CliRun r = Easel("generate -q --model " + Q(kModel) +
                   " -p cat --steps 1 --seed 10 -W 64 -H 64 --batch 2 -o " + Q(dir.File("b.png")));
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(Easel("png-info " + Q(dir.File("b.png"))).out.find("Seed: 10,"), std::string::npos);
  EXPECT_NE(Easel("png-info " + Q(dir.File("b-1.png"))).out.find("Seed: 11,"), std::string::npos);
}

struct BadCase {
  const char* name;
  std::string args;
  int code;
  const char* message;  // must appear in the one-line error
};

TEST(Cli, BadInputsAreClearErrorsWithExitCodes) {
  testing::TempDir dir;
  const std::string out = " -o " + Q(dir.File("x.png"));
  const std::string gen = "generate -q --model " + Q(kModel) + " ";
  // A truncated checkpoint: the fixture's first 100 KB.
  const std::string truncated = dir.Write(
      "truncated.safetensors", ReadBytes(EASEL_FIXTURES_DIR "/sd1.safetensors").substr(0, 100000));
  const std::string pickle = dir.Write("model.ckpt", std::string("PK\x03\x04", 4) + "junk");
  const std::string sd3 = dir.File("sd3.safetensors");
  testing::WriteZeroSafetensors(sd3, testing::Sd3Checkpoint());

  const BadCase cases[] = {
      {"width not multiple of 8", gen + "-p cat -W 65 -H 64" + out, 2, "multiple of 8"},
      {"absurd size", gen + "-W 100000 -H 64" + out, 2, "out of range"},
      {"absurd steps", gen + "--steps 100000 -W 64 -H 64" + out, 2, "steps 100000"},
      {"unknown flag", gen + "--stpes 3" + out, 2, "stpes"},
      {"zero batch", gen + "--batch 0 -W 64 -H 64" + out, 2, "batch"},
      {"unknown sampler", gen + "--sampler warp -W 64 -H 64" + out, 2, "euler"},
      {"unknown scheduler", gen + "--scheduler zigzag -W 64 -H 64" + out, 2, "karras"},
      {"unknown dtype", gen + "--dtype fp8 -W 64 -H 64" + out, 2, "fp32"},
      {"fp16 on cpu", gen + "--dtype fp16 -W 64 -H 64" + out, 4, "--dtype fp32"},
      {"output folder missing", gen + "-W 64 -H 64 -o /nonexistent/dir/x.png", 5,
       "/nonexistent/dir"},
      {"output not png", gen + "-W 64 -H 64 -o " + Q(dir.File("x.jpg")), 2, ".png"},
      {"missing model", "generate -q --model /nonexistent/m.safetensors -p x -W 64 -H 64" + out, 3,
       "/nonexistent/m.safetensors"},
      {"pickle", "generate -q --model " + Q(pickle) + " -p x -W 64 -H 64" + out, 4, "pickle"},
      {"truncated", "generate -q --model " + Q(truncated) + " -p x -W 64 -H 64" + out, 4,
       "truncated"},
      {"unsupported family", "generate -q --model " + Q(sd3) + " -p x -W 64 -H 64" + out, 4, "SD3"},
      {"missing lora", gen + "-p 'cat <lora:x:1>' -W 64 -H 64" + out, 3, "LoRA 'x'"},
      {"corrupt lora", gen + "-p cat --lora " + Q(truncated) + " -W 64 -H 64" + out, 4,
       "truncated"},
      {"png-info of a non-png", "png-info " + Q(pickle), 2, "not a PNG"},
      {"inspect missing", "inspect /nonexistent/x.safetensors", 3, "/nonexistent"},
  };
  for (const BadCase& c : cases) {
    CliRun r = Easel(c.args);
    EXPECT_EQ(r.code, c.code) << c.name << ": " << r.out;
    EXPECT_NE(r.out.find(c.message), std::string::npos) << c.name << ": " << r.out;
    EXPECT_EQ(r.out.find("terminate called"), std::string::npos) << c.name;
    EXPECT_FALSE(std::filesystem::exists(dir.File("x.png"))) << c.name;
  }
}

TEST(Cli, InspectReportsFamilyAndComponents) {
  CliRun r = Easel("inspect --json " + Q(EASEL_FIXTURES_DIR "/sd2v.safetensors"));
  ASSERT_EQ(r.code, 0) << r.out;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["family"], "SD2");
  EXPECT_EQ(j["prediction"], "v");
  r = Easel("inspect " + Q(kModel));
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("family:      SD1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("unet"), std::string::npos);
}

TEST(Cli, PngInfoReadsComfyUiAndA1111Files) {
  testing::TempDir dir;
  const uint8_t px[3] = {1, 2, 3};
  const std::string comfy = dir.File("comfy.png");
  ASSERT_TRUE(io::WritePng(comfy, px, 1, 1, 3,
                           {{"prompt", R"({"3":{"class_type":"KSampler","inputs":{"seed":5}}})"},
                            {"workflow", R"({"nodes":[]})"}})
                  .ok());
  CliRun r = Easel("png-info " + Q(comfy));
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("KSampler"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("workflow:"), std::string::npos) << r.out;
  r = Easel("png-info " + Q(EASEL_FIXTURES_DIR "/io/pil_text.png"));
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("a cat, Steps: 20"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace easel
