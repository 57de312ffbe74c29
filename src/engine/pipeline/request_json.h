// GenerateRequest <-> JSON: the one declaration of a request's JSON field names and types,
// used by the worker protocol, the server's native API and the images' JSON sidecars.
//
// Field names follow A1111's txt2img API where one exists, then Easel's own:
//   prompt, negative_prompt (string), steps (integer), cfg_scale (number),
//   sampler_name, scheduler (string), seed (integer, -1 = random), width, height,
//   batch_size, clip_skip (integer),
//   model, vae, device, dtype, prediction (string), text_heads (integer),
//   loras ([{name, weight, te_weight}]), loras_dir, embeddings_dir (string);
// img2img / inpainting (A1111's img2img API): init_image, mask (paths), denoising_strength,
//   resize_mode, mask_blur, inpaint_full_res (boolean or 0/1), inpaint_full_res_padding,
//   inpainting_fill, inpainting_mask_invert, outpaint ([left, right, top, bottom]);
// hires fix (A1111's txt2img API): enable_hr, hr_scale, hr_second_pass_steps, hr_upscaler,
//   hr_denoising_strength; refiner_checkpoint (path), refiner_switch_at; vae_tiling.
// A missing field or a null keeps GenerateRequest's default. Anything else is refused with
// kInvalidArgument naming the field and the expected type ("'steps' must be an integer, got
// string"): unknown fields, wrong types, integers out of range, non-objects. The parsed request
// then passes Validate() (request.h), so a Result that is ok holds a request within limits.
#pragma once

#include <nlohmann/json.hpp>

#include "engine/pipeline/request.h"
#include "util/status.h"

namespace easel::engine {

Result<GenerateRequest> RequestFromJson(const nlohmann::json& json);

// Every field, with the names above; RequestFromJson(RequestToJson(r)) == r.
nlohmann::json RequestToJson(const GenerateRequest& request);

}  // namespace easel::engine
