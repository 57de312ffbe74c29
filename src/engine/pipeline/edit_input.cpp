// Preparing img2img / inpainting / outpainting pixels and pasting results back (see
// edit_input.h).
#include "engine/pipeline/edit_input.h"

#include <torch/torch.h>

#include <string>

#include "io/png.h"

namespace easel::engine {
namespace {

namespace F = torch::nn::functional;

std::string SizeText(const torch::Tensor& x) {
  return std::to_string(x.size(3)) + "x" + std::to_string(x.size(2));
}

}  // namespace

EditInput PrepareEditTensors(const GenerateRequest& r, const torch::Tensor& source,
                             const torch::Tensor& source_mask) {
  torch::NoGradGuard no_grad;
  if (source_mask.defined() &&
      (source_mask.size(2) != source.size(2) || source_mask.size(3) != source.size(3)))
    throw Error(Code::kInvalidArgument, "the mask is " + SizeText(source_mask) +
                                            " pixels but the init image is " + SizeText(source) +
                                            ": paint the mask on a copy of the init image");
  const auto& pad = r.outpaint;
  const bool outpainting = pad[0] || pad[1] || pad[2] || pad[3];
  const bool masked = source_mask.defined() || outpainting;

  // 1. Resize (not for "only masked", which keeps the picture's size).
  torch::Tensor image = source, mask = source_mask;
  if (!r.inpaint_full_res) {
    if (r.resize_mode == 3 && !masked) {
      // Latent upscale: encode near the source size, resize the latent afterwards.
      const int64_t h8 = std::max<int64_t>(8, source.size(2) / 8 * 8);
      const int64_t w8 = std::max<int64_t>(8, source.size(3) / 8 * 8);
      EditInput e;
      e.image =
          (h8 == source.size(2) && w8 == source.size(3)) ? source : ResizeLanczos(source, h8, w8);
      e.width = r.width;
      e.height = r.height;
      e.latent_resize = true;
      e.canvas = torch::zeros({1, 3, r.height, r.width});
      e.crop = Box{0, 0, r.width, r.height};
      return e;
    }
    const int mode = r.resize_mode == 3 ? 0 : r.resize_mode;
    image = ResizeToMode(image, mode, r.height, r.width).clamp(-1.0, 1.0);
    if (mask.defined()) mask = ResizeToMode(mask, mode, r.height, r.width).clamp(0.0, 1.0);
  }

  // 2. Invert and blur.
  if (mask.defined() && r.inpainting_mask_invert) mask = 1.0 - mask;

  // 3. Outpainting: extend the canvas, fill the margins, mask them.
  if (outpainting) {
    const int64_t l = RoundUpTo8(pad[0]), rt = RoundUpTo8(pad[1]);
    const int64_t t = RoundUpTo8(pad[2]), b = RoundUpTo8(pad[3]);
    const int64_t h = image.size(2), w = image.size(3);
    torch::Tensor grown = torch::ones({1, 1, h + t + b, w + l + rt});
    grown.slice(2, t, t + h).slice(3, l, l + w).zero_();
    if (mask.defined()) grown.slice(2, t, t + h).slice(3, l, l + w).copy_(mask);
    mask = grown;
    image =
        FillMasked(F::pad(image, F::PadFuncOptions({l, rt, t, b}).mode(torch::kReplicate)), mask);
  }
  if (mask.defined()) mask = GaussianBlur(mask, r.mask_blur).clamp(0.0, 1.0);

  EditInput e;
  e.canvas = image;
  e.canvas_mask = mask;
  e.crop = Box{0, 0, image.size(3), image.size(2)};

  // 4. Only masked: crop the mask's box (with padding, at the sampling aspect) and resize.
  if (r.inpaint_full_res && mask.defined()) {
    auto box = MaskBox(mask, r.inpaint_full_res_padding);
    if (!box)
      throw Error(Code::kInvalidArgument,
                  "the mask is empty (all black): nothing to inpaint; paint the area to "
                  "repaint white");
    e.crop = ExpandToAspect(*box, r.width, r.height, image.size(3), image.size(2));
    image = ResizeToMode(CropBox(image, e.crop), 2, r.height, r.width).clamp(-1.0, 1.0);
    mask = ResizeToMode(CropBox(mask, e.crop), 2, r.height, r.width).clamp(0.0, 1.0);
  } else if (r.inpaint_full_res) {
    // No mask: "only masked" means nothing; sample the resized picture.
    image = ResizeToMode(image, r.resize_mode == 3 ? 0 : r.resize_mode, r.height, r.width);
    e.canvas = image;
    e.crop = Box{0, 0, r.width, r.height};
  }

  // 5. Fill mode 0.
  if (mask.defined() && r.inpainting_fill == 0) image = FillMasked(image, mask);

  e.image = image.contiguous();
  e.mask = mask.defined() ? mask.contiguous() : mask;
  e.height = image.size(2);
  e.width = image.size(3);
  return e;
}

Result<EditInput> PrepareEdit(const GenerateRequest& r) {
  EditInput out;
  Status st = CatchAll([&] {
    auto image = io::ReadPng(r.init_image);
    if (!image.ok()) throw Error(image.status().code(), "init image: " + image.status().message());
    torch::Tensor mask;
    if (!r.mask.empty()) {
      auto m = io::ReadPng(r.mask);
      if (!m.ok()) throw Error(m.status().code(), "mask: " + m.status().message());
      mask = MaskToTensor(*m);
    }
    out = PrepareEditTensors(r, ImageToTensor(*image), mask);
  });
  if (!st.ok()) return st;
  return out;
}

torch::Tensor PasteBack(const EditInput& e, const torch::Tensor& generated) {
  torch::NoGradGuard no_grad;
  if (e.latent_resize || !e.canvas.defined()) return generated;
  const int64_t n = generated.size(0);
  torch::Tensor result = generated;
  const bool whole = e.crop == Box{0, 0, e.canvas.size(3), e.canvas.size(2)} &&
                     e.crop.height() == generated.size(2) && e.crop.width() == generated.size(3);
  if (!whole) {
    torch::Tensor piece = ResizeLanczos(generated, e.crop.height(), e.crop.width());
    result = e.canvas.expand({n, -1, -1, -1}).clone();
    result.slice(2, e.crop.y0, e.crop.y1).slice(3, e.crop.x0, e.crop.x1).copy_(piece);
  }
  if (!e.canvas_mask.defined()) return result.clamp(-1.0, 1.0);
  // A1111's overlay: the original where the mask is 0, the result where it is 1. The original
  // is raised by half a byte level so that truncating to 8 bits (ToImages) gives back the init
  // image's bytes exactly where the mask is 0 (v / 127.5 - 1 alone can truncate to v - 1).
  const torch::Tensor original = e.canvas + 1.0 / 255.0;
  return (original * (1.0 - e.canvas_mask) + result * e.canvas_mask).clamp(-1.0, 1.0);
}

}  // namespace easel::engine
