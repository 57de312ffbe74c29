// Tiled VAE encode and decode: the image (or latent) is cut into overlapping tiles, each
// tile runs through the VAE on its own, and the results are blended across the overlaps
// with linear cross-fade weights, so the peak memory is that of one tile and no seams show.
//
// Not exact: each tile's GroupNorms normalise with that tile's own statistics and the mid
// attention attends only within the tile, so tiled results differ from the untiled call by
// an amount that depends on the weights and on how uniform the image is (see
// tests/golden/vae_tiled_test.cpp for the measured error on the tiny fixture VAE). A1111's
// "Tiled VAE" shares GroupNorm statistics across tiles in a first pass; Easel does not (yet).
//
// ShouldTile estimates the untiled decode's peak memory and compares it with what the device
// has free. Not thread-safe for one VaeImpl (like VaeImpl itself).
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <vector>

#include "engine/nets/vae.h"

namespace easel::engine {

struct VaeTiling {
  int64_t tile_latent = 64;     // decode: tile side in latent pixels (512 image pixels for SD)
  int64_t overlap_latent = 16;  // decode: overlap of neighbouring tiles, latent pixels
  int64_t tile_pixels = 512;    // encode: tile side in image pixels (rounded down to /8)
  int64_t overlap_pixels = 64;  // encode: overlap in image pixels (rounded down to /8)
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
