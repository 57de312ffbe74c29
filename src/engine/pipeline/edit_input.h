// EditInput: the pixels an img2img / inpainting / outpainting request hands to the sampler,
// and how its result goes back into the picture (A1111's img2img processing, in pixels).
//
// PrepareEdit, in order:
//   1. the init image (and mask, which must have the same size) are resized to width x height
//      by resize_mode; with inpaint_full_res ("only masked") they keep their own size instead;
//   2. the mask is inverted (inpainting_mask_invert) and blurred (mask_blur, Gaussian sigma);
//   3. outpaint margins (rounded up to 8) extend the canvas; the new pixels are filled from
//      the edges and are added to the mask (blurred like it, so the seam blends);
//   4. "only masked": the mask's bounding box plus padding, grown to the aspect of
//      width x height, is cropped and resized (A1111's resize-and-fill) to width x height;
//   5. fill mode 0 ("fill") replaces the masked pixels by colours from their surroundings.
// PasteBack undoes 4 (resize the result to the crop and paste it) and composites the
// canvas over the result with the blurred mask as alpha (A1111's overlay), so pixels outside
// the mask are the original's exactly.
//
// Thread-safety: pure functions.
#pragma once

#include <torch/types.h>

#include "engine/pipeline/image_ops.h"
#include "engine/pipeline/request.h"
#include "util/status.h"

namespace easel::engine {

struct EditInput {
  // What is encoded: [1, 3, height, width] in [-1, 1]. With resize mode 3 ("latent upscale")
  // it has the source's size rounded to multiples of 8 and latent_size says where its latent
  // is resized to.
  torch::Tensor image;
  int64_t width = 0, height = 0;  // the sampling size in pixels (latent = / 8)
  bool latent_resize = false;     // resize mode 3
  // [1, 1, height, width] in [0, 1], 1 = repaint, blurred; undefined for plain img2img.
  torch::Tensor mask;
  // The picture the result goes back into: [1, 3, CH, CW] and its blurred mask
  // [1, 1, CH, CW]; `crop` is the region of the canvas that `image` covers.
  torch::Tensor canvas;
  torch::Tensor canvas_mask;
  Box crop;
};

// Reads init_image and mask (PNG files) and prepares them. kInvalidArgument when the mask's
// size differs from the init image's (naming both sizes) or the mask is empty with "only
// masked"; kIo / kCorrupt from the PNG reader.
Result<EditInput> PrepareEdit(const GenerateRequest& request);

// The same from decoded tensors: image [1, 3, H, W] in [-1, 1], mask [1, 1, H, W] in [0, 1]
// or undefined. Throws easel::Error(kInvalidArgument) as PrepareEdit fails.
EditInput PrepareEditTensors(const GenerateRequest& request, const torch::Tensor& image,
                             const torch::Tensor& mask);

// generated [N, 3, height, width] in [-1, 1] -> [N, 3, CH, CW]: pasted into the canvas and
// composited with the mask (unchanged when there is no mask and no crop).
torch::Tensor PasteBack(const EditInput& edit, const torch::Tensor& generated);

}  // namespace easel::engine
