"""Golden outputs (float32) of the tiny models, computed from the fp16 fixture files reloaded in f32.

Files (tests/fixtures/golden/, see /work/notes/fixtures.md):
  <m>_text.safetensors   ids [2,77] int64, hidden_skip1 / hidden_skip2 [2,77,16]
  <m>_unet.safetensors   x [2,4,8,8], timesteps [2], context [2,77,16] -> out [2,4,8,8]
  <m>_vae.safetensors    image [1,3,64,64] -> latent_mean [1,4,8,8], decoded [1,3,64,64]
  <m>_gen_<sampler>_<scheduler>[_cfg1].safetensors   whole txt2img runs (ref_comfy.py)
"""

import math

import torch

import ref_comfy

from .build import save_tensors

TEXT_PROMPTS = ["a red fox in the snow, highly detailed", ""]
GEN_PROMPT = "a red fox in the snow, highly detailed"
GEN_NEGATIVE = "blurry"
GEN_SEED = 42
GEN_SIZE = 64  # pixels; latent 8x8
UNET_TIMESTEPS = [999.0, 250.0]


def _meta(**kw):
    base = {"generated_by": "tools/make_fixtures.py", "dtype": "float32 goldens from fp16 weights"}
    base.update({k: str(v) for k, v in kw.items()})
    return base


def tokenize(tokenizer, prompts):
    ids = tokenizer(prompts, padding="max_length", max_length=77, truncation=True, return_tensors="pt").input_ids
    return ids.to(torch.int64)


@torch.no_grad()
def encode_text(text_encoder, ids, skip=1):
    """Hidden states after final_layer_norm; skip=2 uses hidden_states[-2] (clip skip 2)."""
    out = text_encoder(ids, output_hidden_states=True)
    if skip == 1:
        return out.last_hidden_state
    return text_encoder.final_layer_norm(out.hidden_states[-skip])


def _check_finite(label, **tensors):
    for name, t in tensors.items():
        if not torch.isfinite(t).all():
            raise AssertionError(f"{label}: {name} has non-finite values")


@torch.no_grad()
def text_golden(kind, pipe, path, file_text_encoder=None):
    ids = tokenize(pipe.tokenizer, TEXT_PROMPTS)
    te = pipe.text_encoder
    skip1 = encode_text(te, ids, 1)
    skip2 = encode_text(te, ids, 2)
    # Consistency: last_hidden_state == final_layer_norm(hidden_states[-1]).
    again = te.final_layer_norm(te(ids, output_hidden_states=True).hidden_states[-1])
    assert torch.allclose(again, skip1, atol=1e-6), "last_hidden_state != final_layer_norm(h[-1])"
    if file_text_encoder is not None:
        # SD2: the single file's 3-layer OpenCLIP tower, penultimate layer + ln_final, must equal
        # the 2-layer folder model's last_hidden_state.
        pen = encode_text(file_text_encoder, ids, 2)
        diff = (pen - skip1).abs().max().item()
        print(f"  ok  {kind}: 3-layer tower penultimate == folder last_hidden_state (max diff {diff:.2e})")
        assert diff < 1e-6
    _check_finite(path, skip1=skip1, skip2=skip2)
    save_tensors(
        path,
        {"ids": ids, "hidden_skip1": skip1.contiguous(), "hidden_skip2": skip2.contiguous()},
        _meta(
            model=kind,
            prompts=repr(TEXT_PROMPTS),
            hidden_skip1="last_hidden_state (after final_layer_norm)",
            hidden_skip2="final_layer_norm(hidden_states[-2])",
            num_layers=te.config.num_hidden_layers,
        ),
    )
    print(f"  {path}: ids {list(ids.shape)} first row {ids[0, :12].tolist()}")


@torch.no_grad()
def unet_golden(kind, pipe, path):
    g = torch.Generator().manual_seed(7)
    x = torch.randn(2, 4, 8, 8, generator=g)
    context = torch.randn(2, 77, 16, generator=g)
    timesteps = torch.tensor(UNET_TIMESTEPS, dtype=torch.float32)
    out = pipe.unet(x, timesteps, encoder_hidden_states=context).sample
    _check_finite(path, out=out)
    save_tensors(
        path,
        {"x": x, "timesteps": timesteps, "context": context, "out": out.contiguous()},
        _meta(model=kind, prediction_type=pipe.scheduler.config.prediction_type,
              inputs="x, context ~ randn (Generator seed 7); timesteps float"),
    )
    print(f"  {path}: out std {out.std().item():.4f} max|.| {out.abs().max().item():.4f}")


def test_image():
    """[1,3,64,64] in [-1,1]: smooth colour gradients plus seeded noise (deterministic)."""
    ys = torch.linspace(-1, 1, 64).view(1, 1, 64, 1)
    xs = torch.linspace(-1, 1, 64).view(1, 1, 1, 64)
    phase = torch.tensor([0.0, 2.0, 4.0]).view(1, 3, 1, 1)
    img = 0.6 * torch.sin(3.0 * xs + 2.0 * ys + phase) + 0.3 * torch.cos(5.0 * ys - phase)
    noise = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(11))
    return (img + 0.1 * noise).clamp(-1, 1).contiguous()


@torch.no_grad()
def vae_golden(label, vae, path):
    image = test_image()
    mean = vae.encode(image).latent_dist.mean
    decoded = vae.decode(mean).sample
    _check_finite(path, mean=mean, decoded=decoded)
    save_tensors(
        path,
        {"image": image, "latent_mean": mean.contiguous(), "decoded": decoded.contiguous()},
        _meta(model=label, latent_mean="posterior mean after quant_conv, before scaling_factor",
              decoded="decode(latent_mean) raw decoder output (after post_quant_conv), not clamped",
              scaling_factor=vae.config.scaling_factor),
    )
    print(f"  {path}: latent std {mean.std().item():.4f}, decoded std {decoded.std().item():.4f}")


def gen_jobs(kind):
    """(sampler, scheduler, steps, cfg, file suffix) for each generation golden."""
    if kind == "sd1":
        jobs = [(s, "karras", 4 if s == "lcm" else 6, 7.0, "") for s in ref_comfy.SAMPLERS]
        jobs += [("euler", sch, 6, 7.0, "") for sch in ("normal", "exponential", "sgm_uniform", "simple")]
        jobs += [("euler", "normal", 6, 1.0, "_cfg1")]
        return jobs
    return [("euler", "normal", 6, 7.0, ""), ("dpmpp_2m", "karras", 6, 7.0, "")]


def _unet_fn(unet):
    return lambda x, t, context: unet(x, t, encoder_hidden_states=context).sample


@torch.no_grad()
def gen_goldens(kind, pipe, golden_dir):
    prediction_type = pipe.scheduler.config.prediction_type  # "epsilon" or "v_prediction"
    prediction = "eps" if prediction_type == "epsilon" else "v"
    te, tok, vae = pipe.text_encoder, pipe.tokenizer, pipe.vae
    cond = encode_text(te, tokenize(tok, [GEN_PROMPT]), 1)
    uncond = encode_text(te, tokenize(tok, [GEN_NEGATIVE]), 1)
    unet = _unet_fn(pipe.unet)
    latent_shape = [1, 4, GEN_SIZE // 8, GEN_SIZE // 8]
    written = []
    for sampler, scheduler, steps, cfg, suffix in gen_jobs(kind):
        r = ref_comfy.generate(unet, prediction, cond, uncond, sampler=sampler, scheduler=scheduler,
                               steps=steps, cfg=cfg, seed=GEN_SEED, latent_shape=latent_shape)
        latent = r["latent"]
        image = vae.decode(latent / vae.config.scaling_factor).sample.clamp(-1, 1)
        path = f"{golden_dir}/{kind}_gen_{sampler}_{scheduler}{suffix}.safetensors"
        _check_finite(path, latent=latent, image=image)
        if not image.std() > 0:
            raise AssertionError(f"{path}: constant image")
        save_tensors(
            path,
            {"cond": cond.contiguous(), "uncond": uncond.contiguous(), "noise": r["noise"],
             "sigmas": r["sigmas"].float(), "latent": latent.contiguous(), "image": image.contiguous()},
            _meta(model=kind, prediction_type=prediction_type, prompt=GEN_PROMPT, negative=GEN_NEGATIVE,
                  steps=steps, cfg=cfg, seed=GEN_SEED, sampler=sampler, scheduler=scheduler,
                  width=GEN_SIZE, height=GEN_SIZE, clip_skip=1, model_calls=r["model_calls"],
                  noise="torch.randn([1,4,8,8], generator=torch.manual_seed(seed))",
                  noise_sampler="torch.randn(x.shape, generator=g) per call, g = torch.Generator().manual_seed(seed + 1) (ComfyUI CPU)",
                  latent="final sampler output, unscaled (UNet space)",
                  image="vae.decode(latent / scaling_factor) clamped to [-1, 1]"),
        )
        written.append(path)
        print(f"  {path}: sigmas {[round(float(s), 4) for s in r['sigmas']]} calls {r['model_calls']} "
              f"latent std {latent.std().item():.3f} image std {image.std().item():.3f}")
    return cond, uncond, written


@torch.no_grad()
def check_cfg1_equivalence(pipe, cond):
    """cfg 1 (cond only) must equal the CFG path with negative == prompt (uncond == cond)."""
    prediction = "eps" if pipe.scheduler.config.prediction_type == "epsilon" else "v"
    unet = _unet_fn(pipe.unet)
    common = dict(sampler="euler", scheduler="normal", steps=6, seed=GEN_SEED, latent_shape=[1, 4, 8, 8])
    a = ref_comfy.generate(unet, prediction, cond, cond, cfg=1.0, **common)["latent"]
    b = ref_comfy.generate(unet, prediction, cond, cond, cfg=7.0, **common)["latent"]
    diff = (a - b).abs().max().item()
    print(f"  ok  cfg 1 cond-only == cfg 7 with negative == prompt: max diff {diff:.2e}")
    assert diff < 1e-4 * max(1.0, a.abs().max().item())


def check_schedule_vs_diffusers():
    """ComfyUI's float64-built sigma table vs diffusers' float32 one: same schedule."""
    from diffusers import EulerDiscreteScheduler

    ms = ref_comfy.DiscreteSchedule()
    sched = EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear")
    ac = sched.alphas_cumprod
    ref = ((1 - ac) / ac) ** 0.5
    rel = ((ms.sigmas - ref).abs() / ref).max().item()
    print(f"  ok  discrete sigmas vs diffusers scaled_linear: max rel diff {rel:.2e}; "
          f"sigma_min {float(ms.sigma_min):.6f} sigma_max {float(ms.sigma_max):.6f}")
    assert rel < 1e-4
    for t in (0, 250, 999):
        back = int(ms.timestep(ms.sigmas[t].reshape(1))[0])
        assert back == t, (t, back)
    assert math.isclose(float(ms.sigma(torch.tensor(999.0))), float(ms.sigma_max), rel_tol=1e-6)
