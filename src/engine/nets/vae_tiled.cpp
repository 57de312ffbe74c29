// Tiled VAE encode/decode with linear cross-fades, and the decode memory estimate: see
// vae_tiled.h.
#include "engine/nets/vae_tiled.h"

#include <torch/torch.h>

#include <algorithm>
#include <functional>
#include <sstream>

#include "engine/device_memory.h"
#include "engine/torch_compat.h"
#include "util/status.h"

namespace easel::engine {

namespace {

// See EstimateDecodeBytes in vae_tiled.h for the measurement behind it.
constexpr double kPeakFactor = 5.0;

void CheckTiling(int64_t tile, int64_t overlap, const char* what) {
  if (tile < 1 || overlap < 0 || overlap >= tile) {
    std::ostringstream msg;
    msg << "VAE " << what << " tiling has tile " << tile << " and overlap " << overlap
        << " (latent pixels); expected tile >= 1 and 0 <= overlap < tile";
    throw Error(Code::kInvalidArgument, msg.str());
  }
}

// Blend weights along one axis for the tile starting at starts[i] (grid units), sampled at
// `scale` output pixels per grid unit: 1 inside, a linear ramp across each overlap with a
// neighbour (from ~0 at the tile's edge to ~1 where the neighbour ends), none at the image
// edge. Ramps of two neighbours cover the same pixels and sum to 1 there.
// -> [tile * scale], float32
torch::Tensor AxisWeights(const std::vector<int64_t>& starts, size_t i, int64_t tile, int64_t scale,
                          const torch::TensorOptions& options) {
  const int64_t n = tile * scale;
  torch::Tensor pos = torch::arange(n, options).add_(0.5);  // pixel centres
  torch::Tensor w = torch::ones({n}, options);
  if (i > 0) {
    const int64_t ramp = (starts[i - 1] + tile - starts[i]) * scale;  // overlap with previous
    if (ramp > 0) w = torch::minimum(w, pos / static_cast<double>(ramp));
  }
  if (i + 1 < starts.size()) {
    const int64_t ramp = (starts[i] + tile - starts[i + 1]) * scale;  // overlap with next
    if (ramp > 0) w = torch::minimum(w, (static_cast<double>(n) - pos) / static_cast<double>(ramp));
  }
  return w;
}

// Runs `fn` over overlapping tiles of `input` and blends the results. The tiling grid is in
// latent pixels: the input has in_scale pixels per grid unit, the output out_scale.
// input: [N, C, h * in_scale, w * in_scale] -> [N, C', h * out_scale, w * out_scale]
torch::Tensor RunTiled(const torch::Tensor& input, int64_t in_scale, int64_t out_scale,
                       int64_t tile, int64_t overlap,
                       const std::function<torch::Tensor(const torch::Tensor&)>& fn) {
  const int64_t gh = input.size(2) / in_scale, gw = input.size(3) / in_scale;
  const std::vector<int64_t> ys = TileStarts(gh, tile, overlap);
  const std::vector<int64_t> xs = TileStarts(gw, tile, overlap);
  if (ys.size() == 1 && xs.size() == 1) return fn(input);  // one tile: the untiled call
  const int64_t th = std::min(tile, gh), tw = std::min(tile, gw);

  torch::Tensor sum, weight_sum;  // [N, C', H, W] and [1, 1, H, W], float32
  torch::ScalarType out_dtype = input.scalar_type();
  const auto f32 = torch::TensorOptions().dtype(torch::kFloat32).device(input.device());
  for (size_t yi = 0; yi < ys.size(); ++yi) {
    const torch::Tensor wy = AxisWeights(ys, yi, th, out_scale, f32);  // [th * out_scale]
    for (size_t xi = 0; xi < xs.size(); ++xi) {
      const torch::Tensor wx = AxisWeights(xs, xi, tw, out_scale, f32);  // [tw * out_scale]
      const torch::Tensor piece = input.slice(2, ys[yi] * in_scale, (ys[yi] + th) * in_scale)
                                      .slice(3, xs[xi] * in_scale, (xs[xi] + tw) * in_scale);
      const torch::Tensor out = fn(piece);  // [N, C', th * out_scale, tw * out_scale]
      if (!sum.defined()) {
        out_dtype = out.scalar_type();
        sum = torch::zeros({out.size(0), out.size(1), gh * out_scale, gw * out_scale}, f32);
        weight_sum = torch::zeros({1, 1, gh * out_scale, gw * out_scale}, f32);
      }
      const torch::Tensor w = torch::outer(wy, wx).view({1, 1, wy.size(0), wx.size(0)});
      const int64_t y0 = ys[yi] * out_scale, x0 = xs[xi] * out_scale;
      sum.slice(2, y0, y0 + wy.size(0))
          .slice(3, x0, x0 + wx.size(0))
          .add_(out.to(torch::kFloat32) * w);
      weight_sum.slice(2, y0, y0 + wy.size(0)).slice(3, x0, x0 + wx.size(0)).add_(w);
    }
  }
  // Every pixel has weight > 0: interior pixels of some tile weigh 1 in it.
  return (sum / weight_sum).to(out_dtype);
}

int64_t BytesPerElement(torch::ScalarType dtype) {
  return static_cast<int64_t>(c10::elementSize(dtype));
}

}  // namespace

std::vector<int64_t> TileStarts(int64_t size, int64_t tile, int64_t overlap) {
  CheckTiling(tile, overlap, "axis");
  std::vector<int64_t> starts = {0};
  if (tile >= size) return starts;
  const int64_t stride = tile - overlap;
  while (starts.back() + tile < size)
    starts.push_back(std::min(starts.back() + stride, size - tile));
  return starts;
}

torch::Tensor DecodeTiled(VaeImpl& vae, const torch::Tensor& latent, const VaeTiling& tiling) {
  const VaeConfig& c = vae.config();
  if (latent.dim() != 4 || latent.size(1) != c.embed_dim) {
    std::ostringstream msg;
    msg << "VAE decode input has shape " << latent.sizes() << ", expected [N, " << c.embed_dim
        << ", h, w]";
    throw Error(Code::kInvalidArgument, msg.str());
  }
  CheckTiling(tiling.tile_latent, tiling.overlap_latent, "decode");
  return RunTiled(latent, /*in_scale=*/1, /*out_scale=*/c.DownFactor(), tiling.tile_latent,
                  tiling.overlap_latent, [&](const torch::Tensor& z) { return vae.Decode(z); });
}

torch::Tensor EncodeTiled(VaeImpl& vae, const torch::Tensor& image, const VaeTiling& tiling) {
  const VaeConfig& c = vae.config();
  const int64_t f = c.DownFactor();
  if (image.dim() != 4 || image.size(1) != c.in_channels || image.size(2) % f != 0 ||
      image.size(3) % f != 0) {
    std::ostringstream msg;
    msg << "VAE encode input has shape " << image.sizes() << ", expected [N, " << c.in_channels
        << ", H, W] with H and W multiples of " << f;
    throw Error(Code::kInvalidArgument, msg.str());
  }
  // Tiles and overlaps in latent pixels, so every tile starts on the VAE's 8-pixel grid.
  const int64_t tile = tiling.tile_pixels / f, overlap = tiling.overlap_pixels / f;
  CheckTiling(tile, overlap, "encode");
  return RunTiled(image, /*in_scale=*/f, /*out_scale=*/1, tile, overlap,
                  [&](const torch::Tensor& x) { return vae.Encode(x); });
}

int64_t EstimateDecodeBytes(const VaeConfig& c, int64_t height, int64_t width, int64_t batch,
                            torch::ScalarType dtype) {
  const int64_t bytes = BytesPerElement(dtype);
  const int64_t mult =
      c.levels() > 1 ? std::max(c.channel_mult[0], c.channel_mult[1]) : c.channel_mult.at(0);
  const double full_res = static_cast<double>(batch) * static_cast<double>(c.channels * mult) *
                          static_cast<double>(height) * static_cast<double>(width) *
                          static_cast<double>(bytes);
  double estimate = kPeakFactor * full_res;
  if (SdpaMaterializesWeights()) {
    const double tokens =
        static_cast<double>(height / c.DownFactor()) * static_cast<double>(width / c.DownFactor());
    estimate += static_cast<double>(batch) * tokens * tokens * static_cast<double>(bytes);
  }
  constexpr double kMax = 9.0e18;  // saturate instead of overflowing int64
  return static_cast<int64_t>(std::min(estimate, kMax));
}

bool ShouldTile(int64_t height, int64_t width, int64_t batch, torch::Device device,
                int64_t available_bytes, const VaeConfig& config, torch::ScalarType dtype) {
  if (available_bytes == kQueryAvailableBytes) available_bytes = AvailableDeviceBytes(device);
  if (available_bytes <= 0) return false;  // unknown: untiled, with the OOM fallback
  return EstimateDecodeBytes(config, height, width, batch, dtype) > available_bytes;
}

}  // namespace easel::engine
