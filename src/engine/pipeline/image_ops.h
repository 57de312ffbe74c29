// Pixel operations for img2img, inpainting and the hires fix, on float32 CPU tensors:
// images [N, 3, H, W] in [-1, 1], masks [N, 1, H, W] in [0, 1] (1 = repaint).
//
// Resizes follow A1111's resize modes (modules/images.py resize_image): 0 just resize,
// 1 crop and resize (fill the target, crop the overflow, centred), 2 resize and fill (fit
// inside, extend the edge pixels into the bars). The resampler is Lanczos-3 with PIL's rule of
// widening the kernel by the downscale factor (antialiasing); results are close to PIL's
// LANCZOS but not byte-equal (float32 without PIL's 8-bit rounding).
//
// All functions are pure (no state); they throw easel::Error(kInvalidArgument) on wrong shapes.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <optional>

#include "io/png.h"

namespace easel::engine {

// 8-bit RGB or RGBA -> [1, 3, H, W] in [-1, 1] (alpha ignored).
torch::Tensor ImageToTensor(const io::Image& image);

// A mask image -> [1, 1, H, W] in [0, 1], white = 1: the alpha channel when the image has
// any transparent pixel (opaque = repaint, as A1111 reads RGBA masks), otherwise the luma
// 0.299 R + 0.587 G + 0.114 B of the RGB pixels.
torch::Tensor MaskToTensor(const io::Image& image);

// Lanczos-3 resample of [N, C, H, W] to [N, C, height, width] (separable; the kernel widens
// by the scale factor when shrinking, like PIL).
torch::Tensor ResizeLanczos(const torch::Tensor& x, int64_t height, int64_t width);

// A1111 resize mode 0, 1 or 2 of [N, C, H, W] to [N, C, height, width] (Lanczos).
torch::Tensor ResizeToMode(const torch::Tensor& x, int mode, int64_t height, int64_t width);

// Separable Gaussian blur with standard deviation sigma pixels over a kernel of
// 2 * int(2.5 sigma + 0.5) + 1 taps (OpenCV's size rule that A1111 uses), mirrored borders.
// sigma <= 0 returns x unchanged.
torch::Tensor GaussianBlur(const torch::Tensor& x, double sigma);

// A1111's "fill" masked content: the pixels where mask >= 0.5 are replaced by colours
// spread from the surrounding kept pixels (normalised averages at coarse-to-fine scales);
// the rest is unchanged. image [N, 3, H, W], mask [N or 1, 1, H, W].
torch::Tensor FillMasked(const torch::Tensor& image, const torch::Tensor& mask);

// A pixel rectangle [x0, x1) x [y0, y1).
struct Box {
  int64_t x0 = 0, y0 = 0, x1 = 0, y1 = 0;
  int64_t width() const { return x1 - x0; }
  int64_t height() const { return y1 - y0; }
  bool operator==(const Box& o) const {
    return x0 == o.x0 && y0 == o.y0 && x1 == o.x1 && y1 == o.y1;
  }
};

// The bounding box of mask > 0 grown by `padding` on every side and clipped to the mask;
// nullopt when the mask is empty. mask [1, 1, H, W].
std::optional<Box> MaskBox(const torch::Tensor& mask, int64_t padding);

// Grows `box` (within an image of image_width x image_height) until its aspect ratio is
// width : height, like A1111's expand_crop_region: it grows on both sides and is shifted back
// inside the image where it would leave it.
Box ExpandToAspect(Box box, int64_t width, int64_t height, int64_t image_width,
                   int64_t image_height);

// x [N, C, H, W] -> x[:, :, y0:y1, x0:x1]
torch::Tensor CropBox(const torch::Tensor& x, const Box& box);

}  // namespace easel::engine
