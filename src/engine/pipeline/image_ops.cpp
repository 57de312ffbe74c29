// Pixel operations for the edit modes (see image_ops.h).
#include "engine/pipeline/image_ops.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <sstream>

#include "util/status.h"

namespace easel::engine {
namespace {

namespace F = torch::nn::functional;

void Check4d(const torch::Tensor& x, const char* what) {
  if (x.dim() != 4) {
    std::ostringstream msg;
    msg << what << ": expected a [N, C, H, W] tensor, got " << x.sizes();
    throw Error(Code::kInvalidArgument, msg.str());
  }
}

double Lanczos3(double x) {
  x = std::abs(x);
  if (x < 1e-12) return 1.0;
  if (x >= 3.0) return 0.0;
  const double px = M_PI * x;
  return 3.0 * std::sin(px) * std::sin(px / 3.0) / (px * px);
}

// [out, in] float32 matrix resampling an axis of `in` samples to `out` (pixel centres aligned,
// PIL's convention: centre of output i at (i + 0.5) * in / out).
torch::Tensor LanczosMatrix(int64_t in, int64_t out) {
  const double scale = static_cast<double>(in) / static_cast<double>(out);
  const double widen = std::max(scale, 1.0);  // antialias when shrinking
  const double support = 3.0 * widen;
  torch::Tensor m = torch::zeros({out, in}, torch::kFloat64);
  auto a = m.accessor<double, 2>();
  for (int64_t i = 0; i < out; ++i) {
    const double centre = (static_cast<double>(i) + 0.5) * scale;
    const int64_t lo = std::max<int64_t>(0, static_cast<int64_t>(std::floor(centre - support)));
    const int64_t hi = std::min<int64_t>(in, static_cast<int64_t>(std::ceil(centre + support)));
    double sum = 0;
    for (int64_t j = lo; j < hi; ++j) {
      const double w = Lanczos3((static_cast<double>(j) + 0.5 - centre) / widen);
      a[i][j] = w;
      sum += w;
    }
    if (sum != 0)
      for (int64_t j = lo; j < hi; ++j) a[i][j] /= sum;
  }
  return m.to(torch::kFloat32);
}

// Pastes `inner` ([N, C, h, w]) centred into a [N, C, height, width] canvas; where inner is
// smaller the bars repeat its edge pixels, where larger it is cropped centred.
torch::Tensor CentreOnCanvas(const torch::Tensor& inner, int64_t height, int64_t width) {
  torch::Tensor x = inner;
  const int64_t h = x.size(2), w = x.size(3);
  if (h > height) x = x.slice(2, (h - height) / 2, (h - height) / 2 + height);
  if (w > width) x = x.slice(3, (w - width) / 2, (w - width) / 2 + width);
  const int64_t ph = height - x.size(2), pw = width - x.size(3);
  if (ph > 0 || pw > 0)
    x = F::pad(
        x, F::PadFuncOptions({pw / 2, pw - pw / 2, ph / 2, ph - ph / 2}).mode(torch::kReplicate));
  return x.contiguous();
}

}  // namespace

torch::Tensor ImageToTensor(const io::Image& image) {
  if (image.channels != 3 && image.channels != 4)
    throw Error(Code::kInvalidArgument, "image has " + std::to_string(image.channels) +
                                            " channels, expected 3 (RGB) or 4 (RGBA)");
  torch::Tensor bytes =
      torch::from_blob(const_cast<uint8_t*>(image.pixels.data()),
                       {image.height, image.width, image.channels}, torch::kUInt8);
  // [H, W, C] -> [1, 3, H, W]
  torch::Tensor rgb = bytes.slice(2, 0, 3).permute({2, 0, 1}).unsqueeze(0).to(torch::kFloat32);
  return rgb.div(127.5).sub(1.0).contiguous();
}

torch::Tensor MaskToTensor(const io::Image& image) {
  if (image.channels != 3 && image.channels != 4)
    throw Error(Code::kInvalidArgument, "mask has " + std::to_string(image.channels) +
                                            " channels, expected 3 (RGB) or 4 (RGBA)");
  torch::Tensor bytes = torch::from_blob(const_cast<uint8_t*>(image.pixels.data()),
                                         {image.height, image.width, image.channels}, torch::kUInt8)
                            .to(torch::kFloat32);
  torch::Tensor m;
  if (image.channels == 4 && bytes.select(2, 3).lt(255).any().item<bool>()) {
    m = bytes.select(2, 3);
  } else {
    m = bytes.select(2, 0) * 0.299 + bytes.select(2, 1) * 0.587 + bytes.select(2, 2) * 0.114;
  }
  return (m / 255.0).clamp(0.0, 1.0).view({1, 1, image.height, image.width}).contiguous();
}

torch::Tensor ResizeLanczos(const torch::Tensor& x, int64_t height, int64_t width) {
  Check4d(x, "resize");
  if (height < 1 || width < 1) throw Error(Code::kInvalidArgument, "resize to an empty size");
  torch::Tensor out = x.to(torch::kFloat32);
  if (out.size(2) != height) {
    const torch::Tensor mh = LanczosMatrix(out.size(2), height).to(out.device());
    out = torch::einsum("oh,nchw->ncow", {mh, out});
  }
  if (out.size(3) != width) {
    const torch::Tensor mw = LanczosMatrix(out.size(3), width).to(out.device());
    out = torch::einsum("ow,nchw->ncho", {mw, out});
  }
  return out.contiguous();
}

torch::Tensor ResizeToMode(const torch::Tensor& x, int mode, int64_t height, int64_t width) {
  Check4d(x, "resize");
  const double ih = static_cast<double>(x.size(2)), iw = static_cast<double>(x.size(3));
  const double ratio = static_cast<double>(width) / static_cast<double>(height);
  const double src_ratio = iw / ih;
  if (mode == 0 || mode == 3) return ResizeLanczos(x, height, width);
  if (mode != 1 && mode != 2)
    throw Error(Code::kInvalidArgument, "resize mode " + std::to_string(mode) + " is not 0..3");
  // Mode 1 scales to cover the target (crop the overflow); mode 2 to fit inside (fill bars).
  const bool match_width = mode == 1 ? ratio > src_ratio : ratio < src_ratio;
  int64_t sw, sh;
  if (match_width) {
    sw = width;
    sh = std::max<int64_t>(1, std::llround(ih * static_cast<double>(width) / iw));
  } else {
    sw = std::max<int64_t>(1, std::llround(iw * static_cast<double>(height) / ih));
    sh = height;
  }
  return CentreOnCanvas(ResizeLanczos(x, sh, sw), height, width);
}

torch::Tensor GaussianBlur(const torch::Tensor& x, double sigma) {
  Check4d(x, "blur");
  if (sigma <= 0) return x;
  const int64_t radius = static_cast<int64_t>(2.5 * sigma + 0.5);
  if (radius < 1) return x;
  torch::Tensor k = torch::arange(-radius, radius + 1, torch::kFloat64);
  k = torch::exp(-(k * k) / (2.0 * sigma * sigma));
  k = (k / k.sum()).to(torch::kFloat32);
  const int64_t c = x.size(1);
  torch::Tensor out = x.to(torch::kFloat32);
  for (int axis : {3, 2}) {
    const int64_t n = out.size(axis);
    std::vector<int64_t> pad = axis == 3 ? std::vector<int64_t>{radius, radius, 0, 0}
                                         : std::vector<int64_t>{0, 0, radius, radius};
    // Mirror (OpenCV's BORDER_REFLECT_101) when the axis is long enough, else repeat edges.
    const torch::Tensor padded = n > radius
                                     ? F::pad(out, F::PadFuncOptions(pad).mode(torch::kReflect))
                                     : F::pad(out, F::PadFuncOptions(pad).mode(torch::kReplicate));
    torch::Tensor weight = axis == 3 ? k.view({1, 1, 1, -1}) : k.view({1, 1, -1, 1});
    out = F::conv2d(padded, weight.expand({c, 1, weight.size(2), weight.size(3)}).contiguous(),
                    F::Conv2dFuncOptions().groups(c));
  }
  return out;
}

torch::Tensor FillMasked(const torch::Tensor& image, const torch::Tensor& mask) {
  Check4d(image, "fill");
  Check4d(mask, "fill mask");
  const torch::Tensor known = mask.lt(0.5).to(torch::kFloat32);  // [N|1, 1, H, W]
  const int64_t h = image.size(2), w = image.size(3);
  const torch::Tensor weighted = image * known;
  // Coarsest: the mean colour of the kept pixels (mid-grey when there are none).
  const torch::Tensor total = known.sum({2, 3}, true);
  torch::Tensor estimate =
      (weighted.sum({2, 3}, true) / total.clamp_min(1.0)).expand_as(image).contiguous();
  // Finer scales: normalised box averages, trusted where enough kept pixels fall in the box.
  for (int64_t cell : {64, 16, 4, 1}) {
    if (cell > std::max(h, w)) continue;
    auto pool = F::AvgPool2dFuncOptions(cell).stride(cell).ceil_mode(true);
    torch::Tensor num = F::avg_pool2d(weighted, pool), den = F::avg_pool2d(known, pool);
    const auto up = F::InterpolateFuncOptions()
                        .size(std::vector<int64_t>{h, w})
                        .mode(torch::kBilinear)
                        .align_corners(false);
    num = F::interpolate(num, up);
    den = F::interpolate(den, up);
    const torch::Tensor local = num / den.clamp_min(1e-6);
    const torch::Tensor trust = (den * 4.0).clamp(0.0, 1.0);
    estimate = estimate * (1.0 - trust) + local * trust;
  }
  return (image * known + estimate * (1.0 - known)).contiguous();
}

std::optional<Box> MaskBox(const torch::Tensor& mask, int64_t padding) {
  Check4d(mask, "mask box");
  const torch::Tensor m = mask[0][0].gt(0);
  const torch::Tensor rows = m.any(1).nonzero(), cols = m.any(0).nonzero();
  if (rows.numel() == 0) return std::nullopt;
  const int64_t h = mask.size(2), w = mask.size(3);
  Box b;
  b.y0 = std::max<int64_t>(0, rows.min().item<int64_t>() - padding);
  b.y1 = std::min<int64_t>(h, rows.max().item<int64_t>() + 1 + padding);
  b.x0 = std::max<int64_t>(0, cols.min().item<int64_t>() - padding);
  b.x1 = std::min<int64_t>(w, cols.max().item<int64_t>() + 1 + padding);
  return b;
}

Box ExpandToAspect(Box b, int64_t width, int64_t height, int64_t image_width,
                   int64_t image_height) {
  // Grows one axis [lo, hi) to `want` units inside [0, limit), centred, shifted back inside.
  auto grow = [](int64_t& lo, int64_t& hi, int64_t want, int64_t limit) {
    const int64_t diff = want - (hi - lo);
    if (diff <= 0) return;
    lo -= diff / 2;
    hi += diff - diff / 2;
    if (hi > limit) {
      lo -= hi - limit;
      hi = limit;
    }
    if (lo < 0) {
      hi -= lo;
      lo = 0;
    }
    hi = std::min(hi, limit);
  };
  const double box_ratio = static_cast<double>(b.width()) / static_cast<double>(b.height());
  const double ratio = static_cast<double>(width) / static_cast<double>(height);
  if (box_ratio > ratio) {
    grow(b.y0, b.y1, static_cast<int64_t>(static_cast<double>(b.width()) / ratio), image_height);
  } else {
    grow(b.x0, b.x1, static_cast<int64_t>(static_cast<double>(b.height()) * ratio), image_width);
  }
  return b;
}

torch::Tensor CropBox(const torch::Tensor& x, const Box& b) {
  Check4d(x, "crop");
  return x.slice(2, b.y0, b.y1).slice(3, b.x0, b.x1);
}

}  // namespace easel::engine
