// Tiled VAE encode/decode computed layer by layer over tiles (exact up to float rounding), and
// the decode memory estimate: see vae_tiled.h.
#include "engine/nets/vae_tiled.h"

#include <torch/torch.h>

#include <algorithm>
#include <array>
#include <sstream>
#include <string>
#include <unordered_map>

#include "engine/device_memory.h"
#include "engine/torch_compat.h"
#include "util/status.h"

namespace easel::engine {

namespace {

namespace F = torch::nn::functional;

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

// Runs the VAE layer by layer over the whole tensor, each layer tile by tile: the activations
// between layers live in `store` memory (the host), each tile is computed on the VAE's
// device. A 3x3 convolution's output tile reads its input tile plus a one-pixel halo from the
// neighbours (zero only at the image border, as the untiled convolution pads), GroupNorm
// statistics are summed over all tiles before any tile is normalised, and the mid-block
// attention attends over all positions in query chunks. So every layer computes what the
// untiled layer computes, up to float rounding.
class LayerRunner {
 public:
  // store_on_device: keep the activations between layers on the VAE's device (when they fit)
  // instead of the host: no transfers, no waits for the device, ~100x faster on a GPU.
  LayerRunner(VaeImpl& vae, int64_t tile, bool store_on_device)
      : tile_(std::max<int64_t>(tile, 8)) {
    for (const auto& item : vae.named_parameters(/*recurse=*/true))
      params_.emplace(item.key(), item.value());
    const torch::Tensor& any = params_.begin()->second;
    device_ = any.device();
    dtype_ = any.scalar_type();
    store_ = store_on_device ? device_ : torch::Device(torch::kCPU);
  }

  const torch::Tensor& P(const std::string& name) const {
    auto it = params_.find(name);
    if (it == params_.end()) throw Error(Code::kInternal, "tiled VAE: no parameter " + name);
    return it->second;
  }

  // Stored tensors: the store device (the host, or the VAE's device), the VAE's dtype.
  torch::Tensor Store(const torch::Tensor& x) const { return x.to(store_, dtype_); }

  // conv2d with explicit zero padding (top, left, bottom, right) and stride; weight
  // [Cout, Cin, k, k]. x: [N, Cin, H, W] -> [N, Cout, Ho, Wo]
  torch::Tensor Conv(const torch::Tensor& x, const std::string& name, int64_t stride,
                     std::array<int64_t, 4> pad) const {
    const torch::Tensor& w = P(name + ".weight");
    const torch::Tensor& b = P(name + ".bias");
    const int64_t k = w.size(2);
    const int64_t h = x.size(2), wd = x.size(3);
    const int64_t ho = (h + pad[0] + pad[2] - k) / stride + 1;
    const int64_t wo = (wd + pad[1] + pad[3] - k) / stride + 1;
    torch::Tensor out = torch::empty({x.size(0), w.size(0), ho, wo}, x.options());
    for (int64_t oy = 0; oy < ho; oy += tile_) {
      const int64_t oy1 = std::min(ho, oy + tile_);
      for (int64_t ox = 0; ox < wo; ox += tile_) {
        const int64_t ox1 = std::min(wo, ox + tile_);
        // Input rows [iy0, iy1) and columns [ix0, ix1) this output tile reads (may leave the
        // image: those are the zero padding).
        const int64_t iy0 = oy * stride - pad[0], iy1 = (oy1 - 1) * stride - pad[0] + k;
        const int64_t ix0 = ox * stride - pad[1], ix1 = (ox1 - 1) * stride - pad[1] + k;
        torch::Tensor piece = x.slice(2, std::max<int64_t>(iy0, 0), std::min(iy1, h))
                                  .slice(3, std::max<int64_t>(ix0, 0), std::min(ix1, wd))
                                  .to(device_);
        piece = F::pad(
            piece, F::PadFuncOptions({std::max<int64_t>(0, -ix0), std::max<int64_t>(0, ix1 - wd),
                                      std::max<int64_t>(0, -iy0), std::max<int64_t>(0, iy1 - h)}));
        torch::Tensor y = F::conv2d(piece, w, F::Conv2dFuncOptions().bias(b).stride(stride));
        out.slice(2, oy, oy1).slice(3, ox, ox1).copy_(y);
      }
    }
    return out;
  }
  torch::Tensor Conv3(const torch::Tensor& x, const std::string& name) const {
    return Conv(x, name, 1, {1, 1, 1, 1});
  }
  torch::Tensor Conv1(const torch::Tensor& x, const std::string& name) const {
    return Conv(x, name, 1, {0, 0, 0, 0});
  }

  // GroupNorm (32 groups, eps 1e-6: every norm of the SD VAE, vae_blocks.h) with statistics
  // over the whole tensor (summed in float64 over row bands), then optionally SiLU.
  torch::Tensor Norm(const torch::Tensor& x, const std::string& name, bool silu) const {
    constexpr int64_t kGroups = 32;
    constexpr double kEps = 1e-6;
    const int64_t n = x.size(0), c = x.size(1), h = x.size(2);
    const int64_t band = std::max<int64_t>(1, tile_ * tile_ / std::max<int64_t>(1, x.size(3)));
    // Statistics live with the stored tensor (the host: as before; the device: no waits).
    const auto f64 = torch::TensorOptions().dtype(torch::kFloat64).device(x.device());
    torch::Tensor sum = torch::zeros({n, kGroups}, f64);
    torch::Tensor sq = torch::zeros({n, kGroups}, f64);
    for (int64_t y = 0; y < h; y += band) {
      // [N, G, C/G * rows * W]
      torch::Tensor part = x.slice(2, y, std::min(h, y + band))
                               .to(device_, torch::kFloat64)
                               .reshape({n, kGroups, c / kGroups, -1});
      sum += part.sum({2, 3}).to(x.device());
      sq += part.pow(2).sum({2, 3}).to(x.device());
    }
    const double count = static_cast<double>(c / kGroups * h * x.size(3));
    const torch::Tensor mean = sum / count;
    const torch::Tensor var = (sq / count - mean * mean).clamp_min(0.0);
    const torch::Tensor rstd = (var + kEps).rsqrt();
    // per channel: y = x * scale + shift
    const torch::Tensor gamma = P(name + ".weight").to(x.device(), torch::kFloat64);
    const torch::Tensor beta = P(name + ".bias").to(x.device(), torch::kFloat64);
    const torch::Tensor rstd_c = rstd.repeat_interleave(c / kGroups, 1);  // [N, C]
    const torch::Tensor mean_c = mean.repeat_interleave(c / kGroups, 1);
    const torch::Tensor scale = (rstd_c * gamma).view({n, c, 1, 1}).to(device_, torch::kFloat32);
    const torch::Tensor shift =
        (beta - mean_c * rstd_c * gamma).view({n, c, 1, 1}).to(device_, torch::kFloat32);
    torch::Tensor out = torch::empty_like(x);
    for (int64_t y = 0; y < h; y += band) {
      const int64_t y1 = std::min(h, y + band);
      torch::Tensor t = x.slice(2, y, y1).to(device_, torch::kFloat32) * scale + shift;
      if (silu) t = torch::silu(t);
      out.slice(2, y, y1).copy_(t);
    }
    return out;
  }

  torch::Tensor Resnet(const torch::Tensor& x, const std::string& name) const {
    torch::Tensor h = Conv3(Norm(x, name + ".norm1", true), name + ".conv1");
    h = Conv3(Norm(h, name + ".norm2", true), name + ".conv2");
    const bool shortcut = params_.count(name + ".nin_shortcut.weight") > 0;
    return (shortcut ? Conv1(x, name + ".nin_shortcut") : x) + h;
  }

  // Single-head self-attention over all H*W positions, queries in chunks of kQueryChunk: the
  // scores of one chunk are kQueryChunk * H*W values (128 MiB in fp16 for a 2048^2 image's
  // 256^2 latent), never the full [H*W, H*W] matrix.
  torch::Tensor Attention(const torch::Tensor& x, const std::string& name) const {
    const int64_t n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
    const torch::Tensor t = Norm(x, name + ".norm", false);
    auto tokens = [&](const torch::Tensor& m) {  // [N, C, H, W] -> [N, 1, H*W, C]
      return m.flatten(2).transpose(1, 2).unsqueeze(1);
    };
    const torch::Tensor q = tokens(Conv1(t, name + ".q"));
    const torch::Tensor k = tokens(Conv1(t, name + ".k")).to(device_);
    const torch::Tensor v = tokens(Conv1(t, name + ".v")).to(device_);
    constexpr int64_t kQueryChunk = 1024;
    const int64_t chunk = kQueryChunk;
    torch::Tensor out = torch::empty({n, 1, h * w, c}, x.options());
    for (int64_t i = 0; i < h * w; i += chunk) {
      const int64_t i1 = std::min(h * w, i + chunk);
      out.slice(2, i, i1).copy_(ScaledDotProductAttention(q.slice(2, i, i1).to(device_), k, v));
    }
    out = out.squeeze(1).transpose(1, 2).reshape({n, c, h, w});
    return x + Conv1(out, name + ".proj_out");
  }

  torch::Tensor Mid(const torch::Tensor& x, const std::string& name) const {
    return Resnet(Attention(Resnet(x, name + ".block_1"), name + ".attn_1"), name + ".block_2");
  }

 private:
  std::unordered_map<std::string, torch::Tensor> params_;
  torch::Device device_{torch::kCPU};
  torch::Device store_{torch::kCPU};
  torch::ScalarType dtype_ = torch::kFloat32;
  int64_t tile_;
};

// Whether a layer-by-layer run over an [n, *, height, width] image keeps its activations on
// the VAE's device: a CUDA device with room for kStoreFactor of the widest full-resolution
// activations (input, output and the temporaries of a resnet block) beside what is in use.
bool StoreOnDevice(VaeImpl& vae, int64_t n, int64_t height, int64_t width) {
  const torch::Tensor any = vae.parameters().front();
  if (!any.is_cuda()) return false;
  constexpr double kStoreFactor = 6;
  const VaeConfig& c = vae.config();
  const int64_t mult =
      c.levels() > 1 ? std::max(c.channel_mult[0], c.channel_mult[1]) : c.channel_mult.at(0);
  const double widest = static_cast<double>(n) * static_cast<double>(c.channels * mult) *
                        static_cast<double>(height) * static_cast<double>(width) *
                        static_cast<double>(any.element_size());
  return static_cast<double>(AvailableDeviceBytes(any.device())) > kStoreFactor * widest;
}

// The decoder (vae.cpp's VaeDecoderImpl::forward and VaeImpl::Decode) layer by layer.
torch::Tensor DecodeByLayers(VaeImpl& vae, const torch::Tensor& latent, int64_t tile) {
  const VaeConfig& c = vae.config();
  const int64_t f = c.DownFactor();
  LayerRunner run(vae, tile,
                  StoreOnDevice(vae, latent.size(0), latent.size(2) * f, latent.size(3) * f));
  torch::Tensor h = run.Store(latent);
  if (c.has_quant_conv) h = run.Conv1(h, "post_quant_conv");
  h = run.Mid(run.Conv3(h, "decoder.conv_in"), "decoder.mid");
  for (size_t i = c.levels(); i-- > 0;) {
    const std::string level = "decoder.up." + std::to_string(i);
    for (int64_t j = 0; j < c.num_res_blocks + 1; ++j)
      h = run.Resnet(h, level + ".block." + std::to_string(j));
    if (i > 0) {
      h = F::interpolate(h, F::InterpolateFuncOptions()
                                .size(std::vector<int64_t>{h.size(2) * 2, h.size(3) * 2})
                                .mode(torch::kNearest));
      h = run.Conv3(h, level + ".upsample.conv");
    }
  }
  return run.Conv3(run.Norm(h, "decoder.norm_out", true), "decoder.conv_out").to(latent.device());
}

// The encoder (VaeEncoderImpl::forward and VaeImpl::EncodeParams' mean) layer by layer.
torch::Tensor EncodeByLayers(VaeImpl& vae, const torch::Tensor& image, int64_t tile) {
  const VaeConfig& c = vae.config();
  LayerRunner run(vae, tile, StoreOnDevice(vae, image.size(0), image.size(2), image.size(3)));
  torch::Tensor h = run.Conv3(run.Store(image), "encoder.conv_in");
  for (size_t i = 0; i < c.levels(); ++i) {
    const std::string level = "encoder.down." + std::to_string(i);
    for (int64_t j = 0; j < c.num_res_blocks; ++j)
      h = run.Resnet(h, level + ".block." + std::to_string(j));
    // Zero padding right and bottom only, stride 2 (VaeDownsample).
    if (i + 1 < c.levels()) h = run.Conv(h, level + ".downsample.conv", 2, {0, 0, 1, 1});
  }
  h = run.Mid(h, "encoder.mid");
  h = run.Conv3(run.Norm(h, "encoder.norm_out", true), "encoder.conv_out");
  if (c.has_quant_conv) h = run.Conv1(h, "quant_conv");
  return h.slice(1, 0, c.embed_dim).contiguous().to(image.device());
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
  if (latent.size(2) <= tiling.tile_latent && latent.size(3) <= tiling.tile_latent)
    return vae.Decode(latent);  // one tile: the untiled call
  // Tiles of tile_latent * f pixels at every layer (at full resolution: the decode's tiles).
  return DecodeByLayers(vae, latent, tiling.tile_latent * c.DownFactor());
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
  if (image.size(2) <= tile * f && image.size(3) <= tile * f) return vae.Encode(image);
  return EncodeByLayers(vae, image, tile * f);
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
