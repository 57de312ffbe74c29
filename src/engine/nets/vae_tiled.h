// Tiled VAE encode and decode for images whose untiled VAE call would not fit in device
// memory.
//
// Exact, not blended: the VAE runs layer by layer, and each layer tile by tile. Activations
// between layers are kept in host memory; each tile goes to the VAE's device, where a 3x3
// convolution reads its tile plus a one-pixel halo from the neighbouring tiles (zeros only at
// the image border, as the untiled convolution), every GroupNorm first sums its statistics
// over all tiles (float64) and then normalises each tile with the whole image's statistics
// (what A1111's multidiffusion Tiled VAE approximates by syncing GroupNorms), and the
// mid-block attention attends over all positions in chunks of queries. Every output pixel is
// therefore what the untiled call computes, up to float rounding (measured on the tiny fixture
// in tests/golden/vae_tiled_test.cpp), and no seams can appear. Device memory is that of one
// tile (plus the latent-resolution keys and values of the attention); host memory holds about
// three activations of the widest layer.
//
// ShouldTile estimates the untiled decode's peak memory and compares it with what the device
// has free. Not thread-safe for one VaeImpl (like VaeImpl itself).
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <vector>

#include "engine/nets/vae.h"

namespace easel::engine {

// Tile sides. A layer is cut into tiles of tile_latent * f (decode) or tile_pixels (encode)
// pixels at that layer's resolution. The overlaps are only validated (0 <= overlap < tile,
// kept for callers of the earlier blending version): the exact algorithm reads each tile's
// halo from its neighbours instead of blending overlaps.
struct VaeTiling {
  int64_t tile_latent = 64;     // decode: tile side in latent pixels (512 image pixels for SD)
  int64_t overlap_latent = 16;  // decode: validated only (see above)
  int64_t tile_pixels = 512;    // encode: tile side in image pixels (rounded down to /8)
  int64_t overlap_pixels = 64;  // encode: validated only
};

// latent: [N, embed_dim, h, w] (unscaled, any h, w) -> [N, out_channels, h f, w f], the shape
// of vae.Decode(latent). When one tile covers the latent this is exactly vae.Decode(latent).
// Throws easel::Error(kInvalidArgument) on a wrong shape or tiling (overlap >= tile, tile < 1).
torch::Tensor DecodeTiled(VaeImpl& vae, const torch::Tensor& latent, const VaeTiling& tiling);

// image: [N, in_channels, H, W] in [-1, 1], H and W multiples of f -> posterior mean
// [N, embed_dim, H/f, W/f], the shape of vae.Encode(image); exactly vae.Encode(image) when one
// tile covers the image. Throws easel::Error(kInvalidArgument) like DecodeTiled.
torch::Tensor EncodeTiled(VaeImpl& vae, const torch::Tensor& image, const VaeTiling& tiling);

// Where tiles of `tile` units overlapping by `overlap` start along an axis of `size` units:
// 0, tile - overlap, ... and a last one shifted back to end at `size` (so no tile runs past
// the edge; its overlap with the one before may then be larger). {0} when tile >= size.
std::vector<int64_t> TileStarts(int64_t size, int64_t tile, int64_t overlap);

// Estimated peak bytes of an untiled vae.Decode to a [batch, 3, height, width] image:
//   factor * batch * C_full * height * width * bytes(dtype)   (full-resolution activations)
// + batch * (h w)^2 * bytes(dtype)   (mid-attention weights; only where SDPA materialises them)
// C_full = channels * max(channel_mult[0], channel_mult[1]): the widest tensors at full
// resolution are the upsampled output of level 1 and the first block of level 0 (256 channels
// in SD's VAE). factor = 5: peak RSS of a 256^2 and 512^2 SD-VAE decode on the CPU measured
// 3.8-4.0 times one 256-channel float32 full-resolution tensor (tools: see the test file); +25%
// for allocator fragmentation. h, w = height / f, width / f.
int64_t EstimateDecodeBytes(const VaeConfig& config, int64_t height, int64_t width, int64_t batch,
                            torch::ScalarType dtype);

// Pass as available_bytes to have ShouldTile ask the device (AvailableDeviceBytes).
constexpr int64_t kQueryAvailableBytes = -1;

// Whether the untiled decode of a [batch, 3, height, width] image (pixels) would not fit:
// EstimateDecodeBytes > available_bytes. available_bytes = kQueryAvailableBytes asks `device`;
// when that is unknown (0) the answer is false (untiled is exact; the caller still catches
// out-of-memory and retries tiled).
bool ShouldTile(int64_t height, int64_t width, int64_t batch, torch::Device device,
                int64_t available_bytes, const VaeConfig& config = VaeConfig{},
                torch::ScalarType dtype = torch::kFloat32);

}  // namespace easel::engine
