"""Writes tests/fixtures/golden/samplers.safetensors: reference values for src/engine/sample/.

Run from the repository root:  /work/pyenv/bin/python tools/make_sampler_goldens.py
Deterministic (fixed seeds, CPU, float32 where the references use it). Read by
tests/golden/sample_golden_test.cpp.

What is reference and what is re-derived here:
  - Samplers euler, euler_ancestral, heun, dpmpp_2m, dpmpp_2m_sde (midpoint), dpmpp_sde and the
    karras / exponential schedules: the real functions of pip k-diffusion 0.1.1
    (k_diffusion/sampling.py, loaded by file because the package __init__ needs extra deps).
  - ComfyUI-only pieces, written here from ComfyUI's definitions (comfy/model_sampling.py,
    comfy/samplers.py, comfy/k_diffusion/sampling.py): the discrete SD schedule, timestep() and
    sigma(), the normal / sgm_uniform / simple / ddim_uniform / beta schedulers, sample_lcm,
    ddim (= euler), and the eps / v formulas.
  - Noise: torch.manual_seed(seed); torch.randn([1, C, H, W]) (ComfyUI prepare_noise). The noise
    sampler for every stochastic sampler (the SDE ones included, instead of ComfyUI's Brownian
    tree) is torch.randn(x.shape, generator=g) per call, g = torch.Generator().manual_seed(s).
  - The denoiser is closed-form, identical in the C++ test:
        x0 = tanh(0.7 * x / sqrt(sigma^2 + 1)) * 0.9 + 0.05 * sin(3 * sigma)
"""

import importlib.util
import math
import os
import sys
import types

import numpy
import scipy.stats
import torch
from safetensors.torch import save_file

OUT = "tests/fixtures/golden/samplers.safetensors"
START_SEED = 42  # the starting latent noise
NOISE_SEED = 43  # the noise sampler (ComfyUI seeds its CPU noise sampler with seed + 1)
SAMPLE_STEPS = 8
LATENT = [1, 4, 8, 8]
SCHEDULERS = ["normal", "karras", "exponential", "sgm_uniform", "simple", "ddim_uniform", "beta"]
SAMPLERS = ["euler", "euler_ancestral", "heun", "dpmpp_2m", "dpmpp_2m_sde", "dpmpp_sde", "ddim",
            "lcm"]
NOISE_SEEDS = [0, 42, 2**32 + 5]


# ------------------------------------------------------------------ k-diffusion, loaded by file


def load_k_diffusion_sampling():
    spec = importlib.util.find_spec("k_diffusion")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("k-diffusion is not installed (pip install --no-deps k-diffusion)")
    path = os.path.join(list(spec.submodule_search_locations)[0], "sampling.py")
    package = types.ModuleType("_kd")
    package.__path__ = []
    utils = types.ModuleType("_kd.utils")

    def append_dims(x, target_dims):
        return x[(...,) + (None,) * (target_dims - x.ndim)]

    utils.append_dims = append_dims
    package.utils = utils
    sys.modules["_kd"] = package
    sys.modules["_kd.utils"] = utils
    if importlib.util.find_spec("torchdiffeq") is None:  # used only by log_likelihood
        stub = types.ModuleType("torchdiffeq")
        stub.odeint = None
        sys.modules["torchdiffeq"] = stub
    module_spec = importlib.util.spec_from_file_location("_kd.sampling", path)
    module = importlib.util.module_from_spec(module_spec)
    sys.modules["_kd.sampling"] = module
    module_spec.loader.exec_module(module)
    return module


KD = load_k_diffusion_sampling()


# ------------------------------------------------------------------ ComfyUI's discrete schedule


class Discrete:
    """ComfyUI ModelSamplingDiscrete: float64 betas, float32 sigmas and log-sigmas."""

    def __init__(self, beta_start=0.00085, beta_end=0.012, schedule="scaled_linear", steps=1000):
        if schedule == "scaled_linear":  # ComfyUI "linear"
            betas = torch.linspace(beta_start**0.5, beta_end**0.5, steps, dtype=torch.float64) ** 2
        else:  # diffusers "linear" = ComfyUI "sqrt_linear"
            betas = torch.linspace(beta_start, beta_end, steps, dtype=torch.float64)
        alphas_cumprod = torch.cumprod(1.0 - betas, dim=0)
        sigmas = ((1 - alphas_cumprod) / alphas_cumprod) ** 0.5
        self.sigmas = sigmas.float()
        self.log_sigmas = sigmas.log().float()

    @property
    def sigma_min(self):
        return self.sigmas[0]

    @property
    def sigma_max(self):
        return self.sigmas[-1]

    def timestep(self, sigma):
        dists = sigma.log() - self.log_sigmas[:, None]
        return dists.abs().argmin(dim=0).view(sigma.shape)

    def sigma(self, t):
        t = torch.clamp(t.float(), min=0, max=len(self.sigmas) - 1)
        low, high, w = t.floor().long(), t.ceil().long(), t.frac()
        return ((1 - w) * self.log_sigmas[low] + w * self.log_sigmas[high]).exp()


# ------------------------------------------------------------------ ComfyUI's schedulers


def normal_scheduler(s, steps, sgm=False):
    start, end = s.timestep(s.sigma_max), s.timestep(s.sigma_min)
    append_zero = True
    if sgm:
        timesteps = torch.linspace(start, end, steps + 1)[:-1]
    else:
        if math.isclose(float(s.sigma(end)), 0, abs_tol=1e-5):
            steps += 1
            append_zero = False
        timesteps = torch.linspace(start, end, steps)
    sigs = [float(s.sigma(timesteps[i])) for i in range(len(timesteps))]
    if append_zero:
        sigs.append(0.0)
    return torch.FloatTensor(sigs)


def simple_scheduler(s, steps):
    ss = len(s.sigmas) / steps
    sigs = [float(s.sigmas[-(1 + int(i * ss))]) for i in range(steps)]
    return torch.FloatTensor(sigs + [0.0])


def ddim_scheduler(s, steps):
    x = 1
    if math.isclose(float(s.sigmas[x]), 0, abs_tol=1e-5):
        steps += 1
        sigs = []
    else:
        sigs = [0.0]
    ss = max(len(s.sigmas) // steps, 1)
    while x < len(s.sigmas):
        sigs.append(float(s.sigmas[x]))
        x += ss
    return torch.FloatTensor(sigs[::-1])


def beta_scheduler(s, steps, alpha=0.6, beta=0.6):
    total = len(s.sigmas) - 1
    ts = 1 - numpy.linspace(0, 1, steps, endpoint=False)
    ts = numpy.rint(scipy.stats.beta.ppf(ts, alpha, beta) * total)
    sigs, last = [], -1
    for t in ts:
        if t != last:
            sigs.append(float(s.sigmas[int(t)]))
        last = t
    return torch.FloatTensor(sigs + [0.0])


def make_sigmas(s, scheduler, steps):
    if scheduler == "normal":
        return normal_scheduler(s, steps)
    if scheduler == "sgm_uniform":
        return normal_scheduler(s, steps, sgm=True)
    if scheduler == "simple":
        return simple_scheduler(s, steps)
    if scheduler == "ddim_uniform":
        return ddim_scheduler(s, steps)
    if scheduler == "beta":
        return beta_scheduler(s, steps)
    if scheduler == "karras":
        return KD.get_sigmas_karras(steps, float(s.sigma_min), float(s.sigma_max))
    if scheduler == "exponential":
        return KD.get_sigmas_exponential(steps, float(s.sigma_min), float(s.sigma_max))
    raise ValueError(scheduler)


# ------------------------------------------------------------------ denoiser, noise, samplers


def denoiser(x, sigma):
    """The closed-form x0 predictor shared with the C++ test (sigma: [N])."""
    s = sigma.view(-1, *([1] * (x.ndim - 1)))
    return torch.tanh(0.7 * x / (s**2 + 1).sqrt()) * 0.9 + 0.05 * torch.sin(3 * s)


class GaussianNoise:
    def __init__(self, seed, shape):
        self.generator = torch.Generator().manual_seed(seed)
        self.shape = shape

    def __call__(self, sigma, sigma_next):
        return torch.randn(self.shape, generator=self.generator, dtype=torch.float32)


@torch.no_grad()
def sample_lcm(model, x, sigmas, noise_sampler):
    """ComfyUI sample_lcm for eps/v models (noise_scaling = noise * sigma + latent)."""
    s_in = x.new_ones([x.shape[0]])
    for i in range(len(sigmas) - 1):
        x = model(x, sigmas[i] * s_in)
        if sigmas[i + 1] > 0:
            x = noise_sampler(sigmas[i], sigmas[i + 1]) * sigmas[i + 1] + x
    return x


def run_sampler(name, x, sigmas):
    noise = GaussianNoise(NOISE_SEED, list(x.shape))
    if name in ("euler", "ddim"):  # ComfyUI runs "ddim" as euler
        return KD.sample_euler(denoiser, x, sigmas, disable=True)
    if name == "euler_ancestral":
        return KD.sample_euler_ancestral(denoiser, x, sigmas, disable=True, noise_sampler=noise)
    if name == "heun":
        return KD.sample_heun(denoiser, x, sigmas, disable=True)
    if name == "dpmpp_2m":
        return KD.sample_dpmpp_2m(denoiser, x, sigmas, disable=True)
    if name == "dpmpp_2m_sde":
        return KD.sample_dpmpp_2m_sde(denoiser, x, sigmas, disable=True, noise_sampler=noise,
                                      solver_type="midpoint")
    if name == "dpmpp_sde":
        return KD.sample_dpmpp_sde(denoiser, x, sigmas, disable=True, noise_sampler=noise)
    if name == "lcm":
        return sample_lcm(denoiser, x, sigmas, noise)
    raise ValueError(name)


# ------------------------------------------------------------------ eps / v formulas


def calculate_input(sigma, x):
    s = sigma.view(sigma.shape[:1] + (1,) * (x.ndim - 1))
    return x / (s**2 + 1.0) ** 0.5


def calculate_denoised(prediction, sigma, out, x):
    s = sigma.view(sigma.shape[:1] + (1,) * (out.ndim - 1))
    if prediction == "eps":
        return x - out * s
    return x * 1.0**2 / (s**2 + 1.0**2) - out * s * 1.0 / (s**2 + 1.0**2) ** 0.5


def noise_scaling(sigma, noise, latent, max_denoise):
    s = sigma.view(sigma.shape[:1] + (1,) * (noise.ndim - 1))
    noise = noise * torch.sqrt(1.0 + s**2.0) if max_denoise else noise * s
    return noise + latent


# ------------------------------------------------------------------ main


def main():
    torch.set_num_threads(1)
    out = {}
    sd = Discrete()
    out["schedule_sigmas"] = sd.sigmas
    out["schedule_log_sigmas"] = sd.log_sigmas
    out["schedule_linear_sigmas"] = Discrete(0.0001, 0.02, "linear").sigmas

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
            out[f"sigmas_{scheduler}_{steps}"] = make_sigmas(sd, scheduler, steps).float()
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
        sigmas = make_sigmas(sd, "karras", SAMPLE_STEPS)
        x = start_noise * sigmas[0]
        out[f"sample_{sampler}_karras"] = run_sampler(sampler, x, sigmas)
    for scheduler in SCHEDULERS:
        sigmas = make_sigmas(sd, scheduler, SAMPLE_STEPS)
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
    save_file(out, OUT, metadata=metadata)
    print(f"wrote {OUT}: {len(out)} tensors")


if __name__ == "__main__":
    main()
