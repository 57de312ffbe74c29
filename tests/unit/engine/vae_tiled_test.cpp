// Unit tests of the tiled-VAE helpers that need no weights: tile placement, argument checks,
// the decode memory estimate and ShouldTile's decisions, and the /proc/meminfo parser.
#include "engine/nets/vae_tiled.h"

#include <gtest/gtest.h>
#include <torch/cuda.h>
#include <torch/torch.h>

#include "engine/device_memory.h"
#include "engine/torch_compat.h"

namespace easel::engine {
namespace {

using Starts = std::vector<int64_t>;
constexpr int64_t kGiB = int64_t{1} << 30;

TEST(VaeTiled, TileStartsCoverTheAxisAndShiftTheLastTileBack) {
  EXPECT_EQ(TileStarts(40, 16, 4), (Starts{0, 12, 24}));
  EXPECT_EQ(TileStarts(56, 16, 4), (Starts{0, 12, 24, 36, 40}));  // last shifted from 48
  EXPECT_EQ(TileStarts(16, 16, 4), (Starts{0}));
  EXPECT_EQ(TileStarts(10, 16, 4), (Starts{0}));  // tile larger than the axis
  EXPECT_EQ(TileStarts(17, 16, 4), (Starts{0, 1}));
  EXPECT_EQ(TileStarts(32, 16, 0), (Starts{0, 16}));
  for (int64_t size = 1; size < 100; ++size) {
    const Starts s = TileStarts(size, 7, 3);
    ASSERT_FALSE(s.empty());
    EXPECT_EQ(s.front(), 0);
    EXPECT_EQ(s.back() + std::min<int64_t>(7, size), size) << size;
    for (size_t i = 1; i < s.size(); ++i) {
      EXPECT_GT(s[i], s[i - 1]);
      EXPECT_LE(s[i] - s[i - 1], 4) << "gap or too little overlap at size " << size;
    }
  }
}

TEST(VaeTiled, RejectsBadTilingAndShapes) {
  EXPECT_THROW(TileStarts(10, 4, 4), Error);
  EXPECT_THROW(TileStarts(10, 0, 0), Error);
  EXPECT_THROW(TileStarts(10, 4, -1), Error);
  VaeConfig config;
  config.channels = 32;
  config.channel_mult = {1, 1};
  config.num_res_blocks = 1;
  Vae vae(config);
  torch::NoGradGuard no_grad;
  try {
    DecodeTiled(*vae, torch::zeros({1, 4, 8, 8}), {4, 4, 512, 64});
    ADD_FAILURE() << "overlap == tile accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.status().code(), Code::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("overlap"), std::string::npos) << e.what();
  }
  EXPECT_THROW(DecodeTiled(*vae, torch::zeros({1, 3, 8, 8}), {}), Error);
  EXPECT_THROW(EncodeTiled(*vae, torch::zeros({1, 3, 9, 8}), {}), Error);            // not /2
  EXPECT_THROW(EncodeTiled(*vae, torch::zeros({1, 3, 8, 8}), {4, 1, 1, 0}), Error);  // 1 px < f
}

TEST(VaeTiled, EstimateFollowsTheDocumentedFormula) {
  const VaeConfig sd;  // SD's VAE: 128 channels, mult {1, 2, 4, 4} -> 256 at full resolution
  const int64_t h = 512, w = 768;
  const int64_t attention = SdpaMaterializesWeights() ? 2 * (64 * 96) * (64 * 96) * 4 : 0;
  EXPECT_EQ(EstimateDecodeBytes(sd, h, w, 2, torch::kFloat32),
            static_cast<int64_t>(5.0 * 2 * 256 * h * w * 4) + attention);
  EXPECT_EQ(EstimateDecodeBytes(sd, h, w, 2, torch::kHalf) * 2,
            EstimateDecodeBytes(sd, h, w, 2, torch::kFloat32));
  // Saturates rather than overflowing.
  EXPECT_GT(EstimateDecodeBytes(sd, 1 << 20, 1 << 20, 1 << 10, torch::kFloat32), 0);
}

TEST(VaeTiled, ShouldTileSmallVersusHuge) {
  const torch::Device cpu(torch::kCPU);
  // 512^2 fp16 ~1.3 GB estimated: fits in 8 GiB; 4096^2 (~86 GB) does not.
  EXPECT_FALSE(ShouldTile(512, 512, 1, cpu, 8 * kGiB, VaeConfig{}, torch::kHalf));
  EXPECT_TRUE(ShouldTile(4096, 4096, 1, cpu, 8 * kGiB, VaeConfig{}, torch::kHalf));
  // Batch counts: 1024^2 fp32 one image ~5.4 GB fits in 8 GiB, four do not.
  EXPECT_FALSE(ShouldTile(1024, 1024, 1, torch::Device(torch::kCUDA, 0), 8 * kGiB));
  EXPECT_TRUE(ShouldTile(1024, 1024, 4, torch::Device(torch::kCUDA, 0), 8 * kGiB));
  // Unknown memory: do not tile.
  EXPECT_FALSE(ShouldTile(8192, 8192, 1, cpu, 0));
  // Asking the host: a tiny image fits, a 64k x 64k batch does not (on any machine today).
  EXPECT_FALSE(ShouldTile(64, 64, 1, cpu, kQueryAvailableBytes));
  EXPECT_TRUE(ShouldTile(65536, 65536, 8, cpu, kQueryAvailableBytes));
}

TEST(DeviceMemory, ParsesMemAvailable) {
  EXPECT_EQ(ParseMemAvailable("MemTotal:       24576000 kB\nMemFree:  100 kB\n"
                              "MemAvailable:   12345678 kB\nBuffers: 1 kB\n"),
            int64_t{12345678} * 1024);
  EXPECT_EQ(ParseMemAvailable("MemTotal: 1 kB\n"), 0);
  EXPECT_EQ(ParseMemAvailable("MemAvailable: lots kB\n"), 0);
  EXPECT_EQ(ParseMemAvailable("MemAvailable: 12 MB\n"), 0);
  EXPECT_EQ(ParseMemAvailable(""), 0);
}

TEST(DeviceMemory, HostHasSomeMemoryAndUnknownDevicesReportZero) {
  EXPECT_GT(AvailableDeviceBytes(torch::Device(torch::kCPU)), int64_t{16} << 20);
  if (!torch::cuda::is_available()) {
    EXPECT_EQ(AvailableDeviceBytes(torch::Device(torch::kCUDA, 0)), 0);
  } else {
    EXPECT_GE(AvailableDeviceBytes(torch::Device(torch::kCUDA, 0)), 0);
  }
}

}  // namespace
}  // namespace easel::engine
