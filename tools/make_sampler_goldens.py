"""Writes tests/fixtures/golden/samplers.safetensors: reference values for src/engine/sample/.

Run from the repository root:  /work/pyenv/bin/python tools/make_sampler_goldens.py
Deterministic (fixed seeds, CPU, float32 where the references use it). Read by
tests/golden/sample_golden_test.cpp.

What is reference and what is re-derived here:
  - Samplers euler, euler_ancestral, heun, dpmpp_2m, dpmpp_2m_sde (midpoint), dpmpp_sde and the
    karras / exponential schedules: the real functions of pip k-diffusion 0.1.1
    (k_diffusion/sampling.py, loaded by file because the package __init__ needs extra deps).
  - ComfyUI-only pieces, re-implemented from ComfyUI's definitions in tools/comfy_reference.py
    (shared with tools/ref_comfy.py): the discrete SD schedule, timestep() and sigma(), the
    normal / sgm_uniform / simple / ddim_uniform / beta schedulers, sample_lcm, ddim (= euler),
    and the eps / v formulas.
  - Noise: torch.manual_seed(seed); torch.randn([1, C, H, W]) (ComfyUI prepare_noise). The noise
    sampler for every stochastic sampler (the SDE ones included, instead of ComfyUI's Brownian
    tree) is torch.randn(x.shape, generator=g) per call, g = torch.Generator().manual_seed(s).
  - The denoiser is closed-form, identical in the C++ test:
        x0 = tanh(0.7 * x / sqrt(sigma^2 + 1)) * 0.9 + 0.05 * sin(3 * sigma)
"""

import os

import scipy.stats
import torch
from fixtures_lib.build import save_tensors  # sorts metadata keys: reproducible bytes

import comfy_reference
from comfy_reference import (SAMPLERS, SCHEDULERS, DiscreteSchedule, GaussianNoise, calculate_denoised,
                             calculate_input, calculate_sigmas, noise_scaling)

OUT = "tests/fixtures/golden/samplers.safetensors"
START_SEED = 42  # the starting latent noise
NOISE_SEED = 43  # the noise sampler (ComfyUI seeds its CPU noise sampler with seed + 1)
SAMPLE_STEPS = 8
LATENT = [1, 4, 8, 8]
NOISE_SEEDS = [0, 42, 2**32 + 5]


# ------------------------------------------------------------------ denoiser and samplers


def denoiser(x, sigma):
    """The closed-form x0 predictor shared with the C++ test (sigma: [N])."""
    s = sigma.view(-1, *([1] * (x.ndim - 1)))
    return torch.tanh(0.7 * x / (s**2 + 1).sqrt()) * 0.9 + 0.05 * torch.sin(3 * s)


def run_sampler(name, x, sigmas):
    """Sampler `name` on the closed-form denoiser, noise sampler seeded with NOISE_SEED as is."""
    return comfy_reference.run_sampler(name, denoiser, x, sigmas, GaussianNoise(NOISE_SEED, list(x.shape)))


# ------------------------------------------------------------------ main


def main():
    torch.set_num_threads(1)
    out = {}
    sd = DiscreteSchedule()
    out["schedule_sigmas"] = sd.sigmas
    out["schedule_log_sigmas"] = sd.log_sigmas
    out["schedule_linear_sigmas"] = DiscreteSchedule(0.0001, 0.02, "linear").sigmas

    # timestep(sigma) at every training sigma, nudged values and out-of-range ones.
    probe = torch.cat([sd.sigmas, sd.sigmas * 1.01, torch.tensor([1e-4, 0.5, 3.0, 100.0])])
    out["timestep_probe_sigma"] = probe
    out["timestep_probe_t"] = sd.timestep(probe).float()
    # sigma(t) at fractional timesteps, per element as ComfyUI calls it.
    t_probe = torch.cat([torch.linspace(-2, 1001, 97), torch.tensor([0.0, 0.5, 998.25, 999.0])])
    out["sigma_probe_t"] = t_probe
    out["sigma_probe_sigma"] = torch.stack([sd.sigma(t) for t in t_probe])

    for scheduler in SCHEDULERS:
        for steps in (1, 7, 10, 25):
            out[f"sigmas_{scheduler}_{steps}"] = calculate_sigmas(sd, scheduler, steps).float()
    q = torch.linspace(0, 1, 1001, dtype=torch.float64)
    out["beta_ppf_q"] = q.float()  # exact: k / 1000 is recomputed in C++ from the index
    out["beta_ppf_x"] = torch.from_numpy(scipy.stats.beta.ppf(q.numpy(), 0.6, 0.6)).double().float()

    # eps / v formulas on a batch of two with different sigmas.
    g = torch.Generator().manual_seed(7)
    x = torch.randn([2, 4, 8, 8], generator=g) * 5
    model_out = torch.randn([2, 4, 8, 8], generator=g)
    sigma = torch.tensor([14.614641, 0.35])
    out["formula_x"] = x
    out["formula_model_output"] = model_out
    out["formula_sigma"] = sigma
    out["formula_input"] = calculate_input(sigma, x)
    out["formula_denoised_eps"] = calculate_denoised("eps", sigma, model_out, x)
    out["formula_denoised_v"] = calculate_denoised("v", sigma, model_out, x)
    out["formula_noise_scaling"] = noise_scaling(sigma, model_out, x, False)
    out["formula_noise_scaling_max"] = noise_scaling(sigma, model_out, x, True)

    for seed in NOISE_SEEDS:
        for h in (8, 64):
            out[f"noise_{seed}_{h}"] = torch.randn([1, 4, h, h], dtype=torch.float32,
                                                   generator=torch.manual_seed(seed))

    start_noise = torch.randn(LATENT, dtype=torch.float32, generator=torch.manual_seed(START_SEED))
    for sampler in SAMPLERS:
        sigmas = calculate_sigmas(sd, "karras", SAMPLE_STEPS)
        x = start_noise * sigmas[0]
        out[f"sample_{sampler}_karras"] = run_sampler(sampler, x, sigmas)
    for scheduler in SCHEDULERS:
        sigmas = calculate_sigmas(sd, scheduler, SAMPLE_STEPS)
        x = start_noise * sigmas[0]
        out[f"sample_euler_{scheduler}"] = run_sampler("euler", x, sigmas)

    out = {k: v.detach().to(torch.float32).contiguous() for k, v in out.items()}
    metadata = {
        "tool": "tools/make_sampler_goldens.py",
        "torch": torch.__version__,
        "start_seed": str(START_SEED),
        "noise_seed": str(NOISE_SEED),
        "sample_steps": str(SAMPLE_STEPS),
        "latent": "x = randn(1,4,8,8, manual_seed(start_seed)) * sigmas[0]",
        "denoiser": "tanh(0.7 * x / sqrt(sigma^2 + 1)) * 0.9 + 0.05 * sin(3 * sigma)",
        "noise_sampler": "torch.randn(x.shape, generator=torch.Generator().manual_seed(noise_seed))"
                         " per call",
    }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    save_tensors(OUT, out, metadata=metadata)
    print(f"wrote {OUT}: {len(out)} tensors")


if __name__ == "__main__":
    main()
