// The easel binary's edit flags end to end on the tiny fixtures: img2img, inpainting (only
// masked), outpainting, hires fix, refiner and VAE tiling each write a PNG of the expected size
// whose A1111 parameters record them; every bad value is one clear line and exit code 2
// (or 3 for a missing file).
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "../core/io_temp_dir.h"
#include "io/png.h"
#include "test_paths.h"
#include "unit/engine/cli_run.h"

namespace easel {
namespace {

using testing::CliRun;
using testing::Easel;
using testing::Q;

const std::string kModel = EASEL_FIXTURES_DIR "/sd1";
const std::string kInit = EASEL_FIXTURES_DIR "/golden/edit_init.png";
const std::string kMask = EASEL_FIXTURES_DIR "/golden/edit_mask.png";

std::string Gen(const std::string& out, const std::string& extra) {
  return "generate -q --model " + Q(kModel) + " -p 'a fox' --steps 2 --seed 5 -W 64 -H 64 " +
         extra + " -o " + Q(out);
}

struct GoodCase {
  const char* name;
  std::string flags;
  int width, height;
  std::vector<std::string> infotext;  // substrings of png-info's output
};

TEST(CliEdit, EditFlagsWriteTheExpectedImagesAndParameters) {
  testing::TempDir dir;
  const GoodCase cases[] = {
      {"img2img",
       "--init-image " + Q(kInit) + " --strength 0.5 --resize-mode 1",
       64,
       64,
       {"Denoising strength: 0.5", "Resize mode: 1"}},
      {"inpaint only masked",
       "--init-image " + Q(kInit) + " --mask " + Q(kMask) +
           " --mask-blur 2 --inpaint-only-masked --inpaint-padding 8 --inpaint-fill latent-noise",
       64,
       64,
       {"Mask blur: 2", "Inpaint area: Only masked", "Masked area padding: 8",
        "Masked content: latent noise"}},
      {"inverted mask",
       "--init-image " + Q(kInit) + " --mask " + Q(kMask) + " --mask-invert",
       64,
       64,
       {"Mask mode: Inpaint not masked"}},
      {"outpaint",
       "--init-image " + Q(kInit) + " --outpaint 8,12,0,8",
       64 + 8 + 16,
       64 + 8,
       {"Outpaint: \"8,12,0,8\"", "Masked content: original"}},
      {"hires",
       "--hires-scale 1.5 --hires-steps 2 --hires-strength 0.5",
       96,
       96,
       {"Hires upscale: 1.5", "Hires steps: 2", "Hires upscaler: Latent",
        "Denoising strength: 0.5"}},
      {"hires lanczos",
       "--hires-scale 1.25 --hires-upscaler Lanczos",
       80,
       80,
       {"Hires upscaler: Lanczos"}},
      {"refiner",
       "--refiner " + Q(EASEL_FIXTURES_DIR "/sd1") + " --refiner-switch-at 0.5",
       64,
       64,
       {"Refiner: sd1", "Refiner switch at: 0.5"}},
      {"vae tiling", "--vae-tiling on --embeddings-dir " + Q(dir.File("")), 64, 64, {}},
  };
  for (const GoodCase& c : cases) {
    const std::string out = dir.File("out.png");
    std::filesystem::remove(out);
    CliRun r = Easel(Gen(out, c.flags));
    ASSERT_EQ(r.code, 0) << c.name << ": " << r.out;
    auto png = io::ReadPng(out);
    ASSERT_TRUE(png.ok()) << c.name;
    EXPECT_EQ(png->width, c.width) << c.name;
    EXPECT_EQ(png->height, c.height) << c.name;
    CliRun info = Easel("png-info " + Q(out));
    for (const std::string& s : c.infotext)
      EXPECT_NE(info.out.find(s), std::string::npos) << c.name << ": no '" << s << "' in\n"
                                                     << info.out;
  }
}

struct BadCase {
  const char* name;
  std::string flags;
  int code;
  const char* message;
};

TEST(CliEdit, BadValuesAreOneClearLine) {
  testing::TempDir dir;
  std::vector<uint8_t> px(32 * 48 * 3, 255);
  const std::string small = dir.File("small.png");
  ASSERT_TRUE(io::WritePng(small, px.data(), 48, 32, 3).ok());
  const std::string init = " --init-image " + Q(kInit);
  const BadCase cases[] = {
      {"strength > 1", init + " --strength 1.5", 2, "denoising strength"},
      {"strength not a number", init + " --strength abc", 2, "--strength"},
      {"mask without init", "--mask " + Q(kMask), 2, "needs an init image"},
      {"mask of another size", init + " --mask " + Q(small), 2, "48x32 pixels"},
      {"negative mask blur", init + " --mask-blur -3", 2, "mask blur"},
      {"bad resize mode", init + " --resize-mode 7", 2, "resize mode 7"},
      {"bad fill", init + " --inpaint-fill blue", 2, "--inpaint-fill 'blue'"},
      {"outpaint needs four", init + " --outpaint 1,2", 2, "LEFT,RIGHT,TOP,BOTTOM"},
      {"outpaint letters", init + " --outpaint a,b,c,d", 2, "LEFT,RIGHT,TOP,BOTTOM"},
      {"outpaint without init", "--outpaint 8,8,8,8", 2, "needs an init image"},
      {"outpaint too large", init + " --outpaint 4096,0,0,0", 2, "outpaint left"},
      {"missing init", "--init-image /nonexistent/in.png", 3, "--init-image /nonexistent"},
      {"missing mask", init + " --mask /nonexistent/m.png", 3, "--mask /nonexistent"},
      {"hires scale", "--hires-scale 9", 2, "hires scale"},
      {"hires steps", "--hires-steps -1", 2, "hires steps"},
      {"hires strength", "--hires-strength 2", 2, "hires denoising strength"},
      {"hires upscaler", "--hires-upscaler ESRGAN", 2, "hires upscaler 'ESRGAN'"},
      {"hires with init", init + " --hires-scale 2", 2, "text-to-image"},
      {"missing refiner", "--refiner /nonexistent/r.safetensors", 3, "--refiner /nonexistent"},
      {"refiner switch 0", "--refiner-switch-at 0", 2, "switch-at"},
      {"vae tiling", "--vae-tiling maybe", 2, "auto, on or off"},
  };
  for (const BadCase& c : cases) {
    const std::string out = dir.File("x.png");
    CliRun r = Easel(Gen(out, c.flags));
    EXPECT_EQ(r.code, c.code) << c.name << ": " << r.out;
    EXPECT_NE(r.out.find(c.message), std::string::npos) << c.name << ": " << r.out;
    EXPECT_EQ(r.out.find("terminate called"), std::string::npos) << c.name;
    EXPECT_FALSE(std::filesystem::exists(out)) << c.name;
  }
}

}  // namespace
}  // namespace easel
