#!/usr/bin/env python3
"""Fixture and goldens for img2img and inpainting (deterministic).

Usage (from the repo root):  /work/pyenv/bin/python tools/make_edit_goldens.py

Writes:
  tests/fixtures/sd1_inpaint/sd1_inpaint.safetensors
      a tiny SD1 *inpainting* checkpoint in the LDM single-file layout (fp16): the sd1 fixture's
      text encoder and VAE (read back from tests/fixtures/sd1) and a new random UNet with the sd1
      UNet config but in_channels 9 (noisy latent ++ mask ++ masked-image latent), seed 4100.
  tests/fixtures/golden/edit_init.png, edit_mask.png
      a 64x64 RGB picture and a binary mask (white = repaint, an 8-pixel-aligned rectangle).
  tests/fixtures/golden/img2img_sd1.safetensors, inpaint_sd1.safetensors,
  inpaint_sd1_blur.safetensors, inpaint_sd1_inpaint.safetensors
      float32 references: `latent` (final, UNet space), `decoded` (vae decode, clamped),
      `image` (decoded pasted over the init image with the blurred mask), `init_latent`,
      `mask` (the blurred pixel mask) and the settings as metadata.

Reference = Easel's documented semantics (src/engine/pipeline/img2img.h, edit_input.h,
edit_denoiser.h) written with diffusers' UNet/VAE and k-diffusion's sample_euler:
  - init latent = VAE posterior mean * scaling_factor ("argmax" latents, deterministic);
  - A1111's strength rule: t_enc = int(min(strength, 0.999) * steps); sigmas[steps - t_enc - 1:]
    of the full schedule; x = init + noise * sigma_start, noise = randn(generator=manual_seed(seed));
  - mask: Gaussian blur (sigma = mask_blur px, 2*int(2.5 sigma + 0.5) + 1 taps, mirrored borders),
    latent mask = area average over 8x8 cells; ComfyUI KSamplerX0Inpaint blending at every step;
  - 9-channel UNets: concat [nearest(mask >= 0.5), latent(image * (mask < 0.5))] after the input
    scaling; CFG on denoised (tools/ref_comfy.py).
Each golden's reference loop is cross-checked here against diffusers' own pipelines where their
semantics coincide (StableDiffusionImg2ImgPipeline / StableDiffusionInpaintPipeline with the
"simple" schedule's integer timesteps, VAE latents patched to argmax, a binary 8-aligned mask):
  - diffusers walks int(strength' * steps) steps, A1111 int(strength * steps) + 1: diffusers is run
    with strength' = (t_enc + 1) / steps, which selects the same sigmas;
  - diffusers' 9-channel pipeline does not blend latents: it is compared with the reference loop
    run without blending (the golden itself blends, as Easel does).
Reference-side only, never needed to build or test Easel.
"""

import os
import sys
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TQDM_DISABLE", "1")
warnings.filterwarnings("ignore")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from PIL import Image  # noqa: E402

import ref_comfy  # noqa: E402
from fixtures_lib import build, goldens, tiny_models, verify  # noqa: E402

FIX = os.path.join(REPO, "tests", "fixtures")
GOLDEN = os.path.join(FIX, "golden")
INPAINT_DIR = os.path.join(FIX, "sd1_inpaint")
INPAINT_FILE = os.path.join(INPAINT_DIR, "sd1_inpaint.safetensors")
INPAINT_UNET_SEED = 4100
SIZE = 64
PROMPT, NEGATIVE = goldens.GEN_PROMPT, goldens.GEN_NEGATIVE
SEED, STEPS, CFG = 42, 5, 7.0
SAMPLER, SCHEDULER = "euler", "simple"
MASK_BOX = (16, 24, 48, 56)  # x0, y0, x1, y1: multiples of 8


# ---------------------------------------------------------------- inputs


def make_inputs():
    """The init picture (uint8 RGB) and the binary mask (uint8 L), both 64x64."""
    ys = np.linspace(0, 1, SIZE)[:, None]
    xs = np.linspace(0, 1, SIZE)[None, :]
    chans = []
    for c in range(3):
        v = 0.5 + 0.35 * np.sin(5 * xs + 3 * ys + 2 * c) + 0.15 * np.cos(11 * xs * ys - c)
        chans.append(v)
    rgb = np.clip(np.stack(chans, -1), 0, 1)
    rgb[20:40, 10:30] = [0.9, 0.2, 0.1]  # a red square for structure
    image = (rgb * 255).round().astype(np.uint8)
    mask = np.zeros((SIZE, SIZE), np.uint8)
    x0, y0, x1, y1 = MASK_BOX
    mask[y0:y1, x0:x1] = 255
    return image, mask


def to_tensor(image_u8):
    """[H, W, 3] uint8 -> [1, 3, H, W] in [-1, 1] (x / 127.5 - 1, as Easel)."""
    return torch.from_numpy(image_u8).permute(2, 0, 1)[None].float() / 127.5 - 1.0


def gaussian_blur(x, sigma):
    """Easel's GaussianBlur: separable, W then H, reflect padding."""
    if sigma <= 0:
        return x
    radius = int(2.5 * sigma + 0.5)
    k = torch.arange(-radius, radius + 1, dtype=torch.float64)
    k = torch.exp(-(k * k) / (2.0 * sigma * sigma))
    k = (k / k.sum()).float()
    c = x.shape[1]
    x = F.pad(x, (radius, radius, 0, 0), mode="reflect")
    x = F.conv2d(x, k.view(1, 1, 1, -1).expand(c, 1, 1, -1).contiguous(), groups=c)
    x = F.pad(x, (0, 0, radius, radius), mode="reflect")
    return F.conv2d(x, k.view(1, 1, -1, 1).expand(c, 1, -1, 1).contiguous(), groups=c)


# ---------------------------------------------------------------- reference loop


def start_index(steps, strength):
    t_enc = int(min(strength, 0.999) * steps)
    return max(0, steps - t_enc - 1)


class Masked:
    """ComfyUI KSamplerX0Inpaint around a denoiser (mask 1 = repaint)."""

    def __init__(self, inner, mask, init, noise):
        self.inner, self.mask, self.init, self.noise = inner, mask, init, noise

    def __call__(self, x, sigma):
        s = sigma.view(-1, 1, 1, 1)
        x = x * self.mask + (self.init + self.noise * s) * (1 - self.mask)
        return self.inner(x, sigma) * self.mask + self.init * (1 - self.mask)


@torch.no_grad()
def reference(pipe, *, image, mask, strength, fill=1, blend=True):
    """image [1,3,H,W] in [-1,1]; mask [1,1,H,W] blurred (or None). Returns a dict of tensors."""
    vae, unet = pipe.vae, pipe.unet
    sf = vae.config.scaling_factor
    h, w = image.shape[2] // 8, image.shape[3] // 8
    cond = goldens.encode_text(pipe.text_encoder, goldens.tokenize(pipe.tokenizer, [PROMPT]))
    uncond = goldens.encode_text(pipe.text_encoder, goldens.tokenize(pipe.tokenizer, [NEGATIVE]))
    ms = ref_comfy.DiscreteSchedule()
    sigmas = ref_comfy.calculate_sigmas(ms, SCHEDULER, STEPS)[start_index(STEPS, strength):]
    noise = torch.randn([1, 4, h, w], generator=torch.manual_seed(SEED))
    init = vae.encode(image).latent_dist.mean * sf
    lmask = None
    if mask is not None:
        lmask = F.interpolate(mask, size=(h, w), mode="area")
        if fill == 2:
            init = init * (1 - lmask) + noise * lmask
        elif fill == 3:
            init = init * (1 - lmask)
    if unet.config.in_channels == 9:
        binary = (mask >= 0.5).float() if mask is not None else torch.ones_like(image[:, :1])
        masked = vae.encode(image * (1 - binary)).latent_dist.mean * sf
        concat = torch.cat([F.interpolate(binary, size=(h, w), mode="nearest"), masked], 1)

        def fn(xc, t, ctx):
            extra = concat.expand(xc.shape[0], -1, -1, -1)
            return unet(torch.cat([xc, extra], 1), t, encoder_hidden_states=ctx).sample
    else:

        def fn(xc, t, ctx):
            return unet(xc, t, encoder_hidden_states=ctx).sample

    model = ref_comfy.CFGDenoiser(fn, ms, "eps", cond, uncond, CFG)
    if lmask is not None and blend:
        model = Masked(model, lmask, init, noise)
    x = init + noise * sigmas[0]
    latent = ref_comfy.run_sampler(SAMPLER, model, x, sigmas, SEED)
    decoded = vae.decode(latent / sf).sample.clamp(-1, 1)
    pasted = decoded if mask is None else (image * (1 - mask) + decoded * mask).clamp(-1, 1)
    return {"latent": latent, "decoded": decoded, "image": pasted, "init_latent": init,
            "sigmas": sigmas.float(), "noise": noise,
            **({"mask": mask} if mask is not None else {})}


# ---------------------------------------------------------------- diffusers cross-checks


def simple_timesteps(steps):
    """ComfyUI's "simple" schedule as integer training timesteps (its sigmas are table entries)."""
    stride = 1000 / steps
    return [999 - int(i * stride) for i in range(steps)]


def _argmax_latents(module):
    module.retrieve_latents = lambda enc, generator=None, sample_mode="sample": enc.latent_dist.mode()


@torch.no_grad()
def diffusers_img2img(pipe, image_u8, strength):
    from diffusers import EulerDiscreteScheduler, StableDiffusionImg2ImgPipeline
    from diffusers.pipelines.stable_diffusion import pipeline_stable_diffusion_img2img as mod

    _argmax_latents(mod)
    p = StableDiffusionImg2ImgPipeline(
        vae=pipe.vae, text_encoder=pipe.text_encoder, tokenizer=pipe.tokenizer, unet=pipe.unet,
        scheduler=EulerDiscreteScheduler.from_config(pipe.scheduler.config), safety_checker=None,
        feature_extractor=None, requires_safety_checker=False)
    p.set_progress_bar_config(disable=True)
    t_enc = int(min(strength, 0.999) * STEPS)
    out = p(PROMPT, image=Image.fromarray(image_u8), strength=(t_enc + 1) / STEPS,
            timesteps=simple_timesteps(STEPS), guidance_scale=CFG, negative_prompt=NEGATIVE,
            generator=torch.manual_seed(SEED), output_type="latent")
    return out.images


@torch.no_grad()
def diffusers_inpaint(pipe, unet, image_u8, mask_u8, strength):
    from diffusers import EulerDiscreteScheduler, StableDiffusionInpaintPipeline

    p = StableDiffusionInpaintPipeline(
        vae=pipe.vae, text_encoder=pipe.text_encoder, tokenizer=pipe.tokenizer, unet=unet,
        scheduler=EulerDiscreteScheduler.from_config(pipe.scheduler.config), safety_checker=None,
        feature_extractor=None, requires_safety_checker=False)
    p.set_progress_bar_config(disable=True)
    sf = pipe.vae.config.scaling_factor
    p._encode_vae_image = lambda image, generator: pipe.vae.encode(image).latent_dist.mode() * sf
    t_enc = int(min(strength, 0.999) * STEPS)
    out = p(PROMPT, image=Image.fromarray(image_u8), mask_image=Image.fromarray(mask_u8),
            strength=(t_enc + 1) / STEPS, timesteps=simple_timesteps(STEPS), guidance_scale=CFG,
            negative_prompt=NEGATIVE, generator=torch.manual_seed(SEED), output_type="latent",
            height=SIZE, width=SIZE)
    return out.images


def cross_check(label, ours, theirs):
    diff = (ours - theirs).abs().max().item()
    scale = ours.abs().max().item()
    print(f"  {label}: reference loop vs diffusers max |diff| {diff:.2e} (latent scale {scale:.2f})")
    # Same float32 math up to op order (diffusers' CFG on eps, ComfyUI's on x0; its sigma table
    # is computed in float32, ComfyUI's in float64): 1e-4 relative.
    if diff > 1e-4 * max(1.0, scale):
        raise AssertionError(f"{label}: reference loop disagrees with diffusers")


# ---------------------------------------------------------------- main


def build_inpaint_fixture(sd1):
    torch.manual_seed(INPAINT_UNET_SEED)
    unet9 = tiny_models.UNet2DConditionModel(**dict(tiny_models.unet_config("sd1"), in_channels=9))
    unet9 = tiny_models.perturb_and_round(unet9.eval(), INPAINT_UNET_SEED + 1)
    model = build.TinyModel("sd1", sd1.text_encoder, unet9, sd1.vae)
    os.makedirs(INPAINT_DIR, exist_ok=True)
    build.write_single_file(model, INPAINT_FILE)
    verify.check_single_file_converters(model, INPAINT_FILE)
    print(f"  {INPAINT_FILE}: {os.path.getsize(INPAINT_FILE) / 1e6:.2f} MB")
    return unet9


def save(name, tensors, **meta):
    path = os.path.join(GOLDEN, name)
    base = {"generated_by": "tools/make_edit_goldens.py", "prompt": PROMPT, "negative": NEGATIVE,
            "seed": SEED, "steps": STEPS, "cfg": CFG, "sampler": SAMPLER, "scheduler": SCHEDULER,
            "width": SIZE, "height": SIZE, "init_image": "edit_init.png"}
    base.update(meta)
    build.save_tensors(path, {k: v.float().clone().contiguous() for k, v in tensors.items()},
                       {k: str(v) for k, v in base.items()})
    lat = tensors["latent"]
    print(f"  {path}: {len(tensors['sigmas']) - 1} steps, latent max|.| {lat.abs().max():.3f}")


def main():
    torch.set_num_threads(1)
    goldens_quiet()
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline.from_pretrained(os.path.join(FIX, "sd1"), torch_dtype=torch.float32,
                                                   safety_checker=None, requires_safety_checker=False)
    print("== sd1_inpaint fixture")
    unet9 = build_inpaint_fixture(pipe)

    print("== inputs")
    image_u8, mask_u8 = make_inputs()
    Image.fromarray(image_u8).save(os.path.join(GOLDEN, "edit_init.png"))
    Image.fromarray(mask_u8).save(os.path.join(GOLDEN, "edit_mask.png"))
    image = to_tensor(image_u8)
    mask = torch.from_numpy(mask_u8)[None, None].float() / 255.0

    print("== img2img (sd1), strength 0.6")
    r = reference(pipe, image=image, mask=None, strength=0.6)
    cross_check("img2img", r["latent"], diffusers_img2img(pipe, image_u8, 0.6))
    save("img2img_sd1.safetensors", r, model="sd1", denoising_strength=0.6)

    print("== inpaint (sd1, latent masking), strength 0.75, mask blur 0")
    r = reference(pipe, image=image, mask=mask, strength=0.75)
    cross_check("inpaint sd1", r["latent"], diffusers_inpaint(pipe, pipe.unet, image_u8, mask_u8, 0.75))
    save("inpaint_sd1.safetensors", r, model="sd1", denoising_strength=0.75, mask="edit_mask.png",
         mask_blur=0, inpainting_fill=1)

    print("== inpaint (sd1), mask blur 4, latent noise fill")
    r = reference(pipe, image=image, mask=gaussian_blur(mask, 4), strength=0.75, fill=2)
    save("inpaint_sd1_blur.safetensors", r, model="sd1", denoising_strength=0.75, mask="edit_mask.png",
         mask_blur=4, inpainting_fill=2)

    print("== inpaint (9-channel sd1_inpaint), strength 0.75, mask blur 0")
    pipe9 = StableDiffusionPipeline(vae=pipe.vae, text_encoder=pipe.text_encoder, tokenizer=pipe.tokenizer,
                                    unet=unet9, scheduler=pipe.scheduler, safety_checker=None,
                                    feature_extractor=None, requires_safety_checker=False)
    plain = reference(pipe9, image=image, mask=mask, strength=0.75, blend=False)
    cross_check("inpaint 9-channel (no blending)", plain["latent"],
                diffusers_inpaint(pipe, unet9, image_u8, mask_u8, 0.75))
    r = reference(pipe9, image=image, mask=mask, strength=0.75)
    save("inpaint_sd1_inpaint.safetensors", r, model="sd1_inpaint/sd1_inpaint.safetensors",
         denoising_strength=0.75, mask="edit_mask.png", mask_blur=0, inpainting_fill=1)


def goldens_quiet():
    import diffusers.utils.logging as dlog
    import transformers.utils.logging as tlog

    dlog.set_verbosity_error()
    dlog.disable_progress_bar()
    tlog.set_verbosity_error()


if __name__ == "__main__":
    main()
