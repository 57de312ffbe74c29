"""ComfyUI's sampling definitions, re-implemented for the reference side of the goldens.

Shared by tools/make_sampler_goldens.py (sampler / schedule goldens) and tools/ref_comfy.py (the
txt2img loop behind the tiny-model generation goldens of tools/make_fixtures.py). Written here
independently from ComfyUI's definitions (comfy/model_sampling.py, comfy/samplers.py,
comfy/k_diffusion/sampling.py); the samplers and the karras / exponential schedules are the real
functions of pip k-diffusion 0.1.1, loaded by file. Reference side only, never needed by Easel.

  - load_k_diffusion_sampling(): k_diffusion/sampling.py without the package __init__.
  - DiscreteSchedule: ModelSamplingDiscrete (betas in float64, sigmas and log-sigmas in float32),
    timestep(sigma) = nearest log-sigma index, sigma(t) = log-linear interpolation.
  - Schedulers normal / sgm_uniform / simple / ddim_uniform / beta (ComfyUI), karras /
    exponential (k-diffusion), dispatched by calculate_sigmas().
  - The eps / v formulas (calculate_input, calculate_denoised, noise_scaling).
  - sample_lcm (pip k-diffusion lacks it) and run_sampler(), the sampler dispatch; the caller
    passes the noise sampler, so each tool keeps its own seeding rule.
"""

import importlib.util
import math
import os
import sys
import types

import numpy
import scipy.stats
import torch

SCHEDULERS = ["normal", "karras", "exponential", "sgm_uniform", "simple", "ddim_uniform", "beta"]
SAMPLERS = ["euler", "euler_ancestral", "heun", "dpmpp_2m", "dpmpp_2m_sde", "dpmpp_sde", "ddim", "lcm"]

# ---------------------------------------------------------------- k-diffusion (loaded by file)


def _append_dims(x, target_dims):
    missing = target_dims - x.ndim
    if missing < 0:
        raise ValueError(f"tensor has {x.ndim} dims, more than the target {target_dims}")
    return x[(...,) + (None,) * missing]


def load_k_diffusion_sampling():
    """Loads k_diffusion/sampling.py without the package __init__ (which needs extra deps).

    Its only intra-package use is utils.append_dims, provided by a stub; torchdiffeq (used only by
    log_likelihood) is stubbed when missing. Loaded once per process.
    """
    if "_kdiff.sampling" in sys.modules:
        return sys.modules["_kdiff.sampling"]
    spec = importlib.util.find_spec("k_diffusion")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("k-diffusion is not installed (pip install --no-deps k-diffusion)")
    path = os.path.join(list(spec.submodule_search_locations)[0], "sampling.py")
    pkg = types.ModuleType("_kdiff")
    pkg.__path__ = []
    utils = types.ModuleType("_kdiff.utils")
    utils.append_dims = _append_dims
    pkg.utils = utils
    sys.modules["_kdiff"] = pkg
    sys.modules["_kdiff.utils"] = utils
    if importlib.util.find_spec("torchdiffeq") is None:
        stub = types.ModuleType("torchdiffeq")

        def odeint(*_args, **_kwargs):
            raise NotImplementedError("torchdiffeq is not installed")

        stub.odeint = odeint
        sys.modules["torchdiffeq"] = stub
    mspec = importlib.util.spec_from_file_location("_kdiff.sampling", path)
    module = importlib.util.module_from_spec(mspec)
    sys.modules["_kdiff.sampling"] = module
    mspec.loader.exec_module(module)
    return module


# ---------------------------------------------------------------- model sampling (discrete)


class DiscreteSchedule:
    """ComfyUI ModelSamplingDiscrete: float64 betas, float32 sigmas and log-sigmas.

    schedule "scaled_linear" (ComfyUI "linear", SD1/SD2) or "linear" (diffusers "linear" =
    ComfyUI "sqrt_linear").
    """

    def __init__(self, beta_start=0.00085, beta_end=0.012, schedule="scaled_linear", steps=1000):
        if schedule == "scaled_linear":
            betas = torch.linspace(beta_start**0.5, beta_end**0.5, steps, dtype=torch.float64) ** 2
        elif schedule == "linear":
            betas = torch.linspace(beta_start, beta_end, steps, dtype=torch.float64)
        else:
            raise ValueError(f"unknown beta schedule '{schedule}' (expected scaled_linear or linear)")
        alphas_cumprod = torch.cumprod(1.0 - betas, dim=0)
        sigmas = ((1 - alphas_cumprod) / alphas_cumprod) ** 0.5
        self.sigmas = sigmas.float()  # [steps], increasing
        self.log_sigmas = sigmas.log().float()

    @property
    def sigma_min(self):
        return self.sigmas[0]

    @property
    def sigma_max(self):
        return self.sigmas[-1]

    def timestep(self, sigma):
        """sigma: tensor of any shape -> nearest discrete index in log-sigma space, same shape, int64."""
        dists = sigma.log() - self.log_sigmas[:, None]
        return dists.abs().argmin(dim=0).view(sigma.shape)

    def sigma(self, timestep):
        """Fractional timestep (tensor or number) -> sigma by log-linear interpolation."""
        t = torch.clamp(torch.as_tensor(timestep).float(), min=0, max=len(self.sigmas) - 1)
        low, high, w = t.floor().long(), t.ceil().long(), t.frac()
        return ((1 - w) * self.log_sigmas[low] + w * self.log_sigmas[high]).exp()


# ---------------------------------------------------------------- schedulers


def normal_scheduler(ms, steps, sgm=False):
    start = float(ms.timestep(ms.sigma_max.reshape(1))[0])
    end = float(ms.timestep(ms.sigma_min.reshape(1))[0])
    append_zero = True
    if sgm:
        timesteps = torch.linspace(start, end, steps + 1)[:-1]
    else:
        if math.isclose(float(ms.sigma(end)), 0, abs_tol=1e-5):
            steps += 1
            append_zero = False
        timesteps = torch.linspace(start, end, steps)
    sigs = [float(ms.sigma(t)) for t in timesteps]
    if append_zero:
        sigs.append(0.0)
    return torch.FloatTensor(sigs)


def simple_scheduler(ms, steps):
    stride = len(ms.sigmas) / steps
    sigs = [float(ms.sigmas[-(1 + int(i * stride))]) for i in range(steps)]
    return torch.FloatTensor(sigs + [0.0])


def ddim_scheduler(ms, steps):
    x = 1
    if math.isclose(float(ms.sigmas[x]), 0, abs_tol=1e-5):
        steps += 1
        sigs = []
    else:
        sigs = [0.0]
    stride = max(len(ms.sigmas) // steps, 1)
    while x < len(ms.sigmas):
        sigs.append(float(ms.sigmas[x]))
        x += stride
    return torch.FloatTensor(sigs[::-1])


def beta_scheduler(ms, steps, alpha=0.6, beta=0.6):
    total = len(ms.sigmas) - 1
    ts = 1 - numpy.linspace(0, 1, steps, endpoint=False)
    ts = numpy.rint(scipy.stats.beta.ppf(ts, alpha, beta) * total)
    sigs, last = [], -1
    for t in ts:
        if t != last:
            sigs.append(float(ms.sigmas[int(t)]))
        last = t
    return torch.FloatTensor(sigs + [0.0])


def calculate_sigmas(ms, scheduler, steps):
    """The `steps + 1` sigmas (last 0) of a scheduler in SCHEDULERS for the schedule `ms`."""
    kd = load_k_diffusion_sampling()
    if scheduler == "normal":
        return normal_scheduler(ms, steps)
    if scheduler == "sgm_uniform":
        return normal_scheduler(ms, steps, sgm=True)
    if scheduler == "simple":
        return simple_scheduler(ms, steps)
    if scheduler == "ddim_uniform":
        return ddim_scheduler(ms, steps)
    if scheduler == "beta":
        return beta_scheduler(ms, steps)
    if scheduler == "karras":
        return kd.get_sigmas_karras(n=steps, sigma_min=float(ms.sigma_min), sigma_max=float(ms.sigma_max))
    if scheduler == "exponential":
        return kd.get_sigmas_exponential(n=steps, sigma_min=float(ms.sigma_min), sigma_max=float(ms.sigma_max))
    raise ValueError(f"unknown scheduler '{scheduler}' (expected one of {SCHEDULERS})")


# ---------------------------------------------------------------- eps / v formulas (sigma_data 1)


def _per_sample(sigma, x):
    """sigma: [N] -> [N, 1, ...] broadcastable against x."""
    return sigma.view(sigma.shape[:1] + (1,) * (x.ndim - 1))


def calculate_input(sigma, x):
    """Model input: x / sqrt(sigma^2 + 1)."""
    return x / (_per_sample(sigma, x) ** 2 + 1.0) ** 0.5


def calculate_denoised(prediction, sigma, out, x):
    """prediction "eps": x - out * sigma; otherwise v: x / (sigma^2 + 1) - out * sigma / sqrt(sigma^2 + 1)."""
    s = _per_sample(sigma, out)
    if prediction == "eps":
        return x - out * s
    return x * 1.0**2 / (s**2 + 1.0**2) - out * s * 1.0 / (s**2 + 1.0**2) ** 0.5


def noise_scaling(sigma, noise, latent, max_denoise):
    """Start latent: noise * sqrt(1 + sigma^2) (max_denoise) or noise * sigma, plus latent."""
    s = _per_sample(sigma, noise)
    noise = noise * torch.sqrt(1.0 + s**2.0) if max_denoise else noise * s
    return noise + latent


# ---------------------------------------------------------------- samplers


class GaussianNoise:
    """Noise sampler: torch.randn(shape, generator=g) per call, g = Generator().manual_seed(seed).

    The seed is used as given; callers apply their own rule (ComfyUI's CPU one is seed + 1).
    """

    def __init__(self, seed, shape, dtype=torch.float32):
        self.generator = torch.Generator().manual_seed(seed)
        self.shape = shape
        self.dtype = dtype

    def __call__(self, sigma, sigma_next):
        return torch.randn(self.shape, generator=self.generator, dtype=self.dtype)


@torch.no_grad()
def sample_lcm(model, x, sigmas, noise_sampler):
    """ComfyUI sample_lcm (s_noise 1) for eps / v models: x0 prediction, then re-noise to the next
    sigma (noise_scaling = noise * sigma + latent) while it is > 0."""
    for i in range(len(sigmas) - 1):
        s_in = x.new_ones([x.shape[0]])
        x = model(x, sigmas[i] * s_in)
        if sigmas[i + 1] > 0:
            x = x + noise_sampler(sigmas[i], sigmas[i + 1]) * sigmas[i + 1]
    return x


@torch.no_grad()
def run_sampler(name, model, x, sigmas, noise_sampler):
    """Runs sampler `name` (one of SAMPLERS) of the denoiser `model(x, sigma[N]) -> x0` from x.

    noise_sampler(sigma, sigma_next) -> noise feeds the stochastic samplers (the SDE ones too,
    instead of ComfyUI's Brownian tree). "ddim" runs as euler, as ComfyUI maps it.
    """
    kd = load_k_diffusion_sampling()
    if name in ("euler", "ddim"):
        return kd.sample_euler(model, x, sigmas, disable=True)
    if name == "heun":
        return kd.sample_heun(model, x, sigmas, disable=True)
    if name == "dpmpp_2m":
        return kd.sample_dpmpp_2m(model, x, sigmas, disable=True)
    if name == "euler_ancestral":
        return kd.sample_euler_ancestral(model, x, sigmas, disable=True, noise_sampler=noise_sampler)
    if name == "dpmpp_2m_sde":
        return kd.sample_dpmpp_2m_sde(model, x, sigmas, disable=True, noise_sampler=noise_sampler,
                                      solver_type="midpoint")
    if name == "dpmpp_sde":
        return kd.sample_dpmpp_sde(model, x, sigmas, disable=True, noise_sampler=noise_sampler)
    if name == "lcm":
        return sample_lcm(model, x, sigmas, noise_sampler)
    raise ValueError(f"unknown sampler '{name}' (expected one of {SAMPLERS})")
