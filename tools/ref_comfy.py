"""Reference txt2img sampling loop with ComfyUI semantics, for the generation goldens.

What this reproduces (read from ComfyUI's comfy/model_sampling.py, comfy/samplers.py and
comfy/k_diffusion/sampling.py; written independently; the schedule, schedulers, formulas and
sampler dispatch live in tools/comfy_reference.py, shared with tools/make_sampler_goldens.py):
  - ModelSamplingDiscrete: betas = linspace(sqrt(0.00085), sqrt(0.012), 1000)^2 in float64,
    alphas_cumprod = cumprod(1 - betas), sigmas = sqrt((1 - ac) / ac), stored float32 (+ log).
    sigma_min = sigmas[0], sigma_max = sigmas[999].
    timestep(sigma) = index of the nearest log-sigma (argmin |log sigma - log_sigmas|).
    sigma(t) = exp of the linear interpolation of log_sigmas at fractional index t.
  - Model call: input x / sqrt(sigma^2 + 1), timestep(sigma) as float, context; then
    eps:  denoised = x - out * sigma
    v:    denoised = x / (sigma^2 + 1) - out * sigma / sqrt(sigma^2 + 1)
  - CFG on denoised: uncond + cfg * (cond - uncond); with cfg == 1 only cond is evaluated.
  - Start latent: noise * sqrt(1 + sigma0^2) when sigma0 is the model's sigma_max (max_denoise),
    else noise * sigma0 (ComfyUI EPS.noise_scaling), txt2img so the empty latent adds 0.
  - Schedulers: normal / sgm_uniform (ComfyUI normal_scheduler, sgm=False/True), simple
    (ComfyUI simple_scheduler), karras / exponential (k_diffusion.sampling.get_sigmas_*
    with the model's float sigma_min / sigma_max).
  - Samplers: the real k_diffusion.sampling functions (pip k-diffusion, loaded from its file):
    euler, euler_ancestral, heun, dpmpp_2m, dpmpp_2m_sde (midpoint), dpmpp_sde; ddim = euler
    (ComfyUI maps "ddim" to its euler sampler); lcm as ComfyUI's sample_lcm (x = denoised, then
    x += sigma_next * noise while sigma_next > 0), written here since pip k-diffusion lacks it.
  - Noise sampler for the stochastic samplers: torch.randn(x.shape, generator=g) per call with
    g = torch.Generator().manual_seed(seed + 1): ComfyUI's default_noise_sampler on the CPU, which
    adds 1 so the step noise is not the initial noise again; used for the SDE samplers too instead
    of ComfyUI's Brownian tree.
  - Initial noise: torch.randn([1, 4, H/8, W/8], generator=torch.manual_seed(seed)).
"""

import math

import torch

import comfy_reference
from comfy_reference import (SAMPLERS, DiscreteSchedule, GaussianNoise, calculate_denoised, calculate_input,
                             calculate_sigmas, load_k_diffusion_sampling, normal_scheduler, sample_lcm,
                             simple_scheduler)

__all__ = ["SAMPLERS", "DiscreteSchedule", "CFGDenoiser", "calculate_sigmas", "generate", "initial_noise",
           "load_k_diffusion_sampling", "make_noise_sampler", "normal_scheduler", "run_sampler", "sample_lcm",
           "simple_scheduler", "start_latent"]

# ---------------------------------------------------------------- denoiser with CFG


class CFGDenoiser:
    """(x, sigma[N]) -> denoised, ComfyUI semantics. `unet(x, t, context) -> eps or v`."""

    def __init__(self, unet, ms, prediction, cond, uncond, cfg):
        if prediction not in ("eps", "v"):
            raise ValueError(prediction)
        self.unet, self.ms, self.prediction = unet, ms, prediction
        self.cond, self.uncond, self.cfg = cond, uncond, cfg
        self.calls = 0

    def _denoised(self, x, sigma, out):
        return calculate_denoised(self.prediction, sigma, out, x)

    def __call__(self, x, sigma):
        self.calls += 1
        xc = calculate_input(sigma, x)
        t = self.ms.timestep(sigma).float()
        if math.isclose(self.cfg, 1.0):
            out = self.unet(xc, t, self.cond.expand(x.shape[0], -1, -1)).float()
            return self._denoised(x, sigma, out)
        n = x.shape[0]
        context = torch.cat([self.cond.expand(n, -1, -1), self.uncond.expand(n, -1, -1)])
        out = self.unet(torch.cat([xc, xc]), torch.cat([t, t]), context).float()
        cond_d = self._denoised(x, sigma, out[:n])
        uncond_d = self._denoised(x, sigma, out[n:])
        return uncond_d + (cond_d - uncond_d) * self.cfg


# ---------------------------------------------------------------- samplers


def make_noise_sampler(x, seed):
    return GaussianNoise(seed + 1, x.shape, x.dtype)  # ComfyUI: seed + 1 for a CPU generator


@torch.no_grad()
def run_sampler(name, model, x, sigmas, seed):
    return comfy_reference.run_sampler(name, model, x, sigmas, make_noise_sampler(x, seed))


def initial_noise(seed, latent_shape):
    return torch.randn(latent_shape, generator=torch.manual_seed(seed))


def start_latent(ms, sigmas, noise):
    """ComfyUI noise_scaling for txt2img (empty latent)."""
    sigma0, sigma_max = float(sigmas[0]), float(ms.sigma_max)
    max_denoise = math.isclose(sigma_max, sigma0, rel_tol=1e-05) or sigma0 > sigma_max
    if max_denoise:
        return noise * torch.sqrt(1.0 + sigmas[0] ** 2.0)
    return noise * sigmas[0]


@torch.no_grad()
def generate(unet, prediction, cond, uncond, *, sampler, scheduler, steps, cfg, seed, latent_shape):
    """Returns dict(noise, sigmas, latent, model_calls). `latent` is in the UNet's (scaled) space."""
    ms = DiscreteSchedule()
    sigmas = calculate_sigmas(ms, scheduler, steps)
    noise = initial_noise(seed, latent_shape)
    x = start_latent(ms, sigmas, noise)
    model = CFGDenoiser(unet, ms, prediction, cond, uncond, cfg)
    latent = run_sampler(sampler, model, x, sigmas, seed)
    return {"noise": noise, "sigmas": sigmas, "latent": latent, "model_calls": model.calls}
