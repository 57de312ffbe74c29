"""Reference txt2img sampling loop with ComfyUI semantics, for the generation goldens.

What this reproduces (read from ComfyUI's comfy/model_sampling.py, comfy/samplers.py and
comfy/k_diffusion/sampling.py; written here independently):
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

import importlib.util
import math
import os
import sys
import types

import torch

# ---------------------------------------------------------------- k-diffusion (loaded by file)


def _append_dims(x, target_dims):
    missing = target_dims - x.ndim
    if missing < 0:
        raise ValueError(f"tensor has {x.ndim} dims, more than the target {target_dims}")
    return x[(...,) + (None,) * missing]


def load_k_diffusion_sampling():
    """Loads k_diffusion/sampling.py without the package __init__ (which needs extra deps).

    Its only intra-package use is utils.append_dims, provided by a stub; torchdiffeq (used only by
    log_likelihood) is stubbed when missing.
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
    """ComfyUI ModelSamplingDiscrete for SD1/SD2 (scaled-linear betas, 1000 steps)."""

    def __init__(self, linear_start=0.00085, linear_end=0.012, timesteps=1000):
        betas = torch.linspace(linear_start**0.5, linear_end**0.5, timesteps, dtype=torch.float64) ** 2
        alphas_cumprod = torch.cumprod(1.0 - betas, dim=0)
        sigmas = ((1 - alphas_cumprod) / alphas_cumprod) ** 0.5
        self.sigmas = sigmas.float()  # [1000], increasing
        self.log_sigmas = sigmas.log().float()

    @property
    def sigma_min(self):
        return self.sigmas[0]

    @property
    def sigma_max(self):
        return self.sigmas[-1]

    def timestep(self, sigma):
        """sigma: [N] -> nearest discrete index in log-sigma space, [N] int64."""
        dists = sigma.log() - self.log_sigmas[:, None]
        return dists.abs().argmin(dim=0).view(sigma.shape)

    def sigma(self, timestep):
        """Fractional timestep -> sigma by log-linear interpolation."""
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


def calculate_sigmas(ms, scheduler, steps):
    kd = load_k_diffusion_sampling()
    if scheduler == "normal":
        return normal_scheduler(ms, steps)
    if scheduler == "sgm_uniform":
        return normal_scheduler(ms, steps, sgm=True)
    if scheduler == "simple":
        return simple_scheduler(ms, steps)
    if scheduler == "karras":
        return kd.get_sigmas_karras(n=steps, sigma_min=float(ms.sigma_min), sigma_max=float(ms.sigma_max))
    if scheduler == "exponential":
        return kd.get_sigmas_exponential(n=steps, sigma_min=float(ms.sigma_min), sigma_max=float(ms.sigma_max))
    raise ValueError(f"unknown scheduler '{scheduler}'")


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
        s = sigma.view(-1, 1, 1, 1)
        if self.prediction == "eps":
            return x - out * s
        return x / (s**2 + 1) - out * s / (s**2 + 1) ** 0.5

    def __call__(self, x, sigma):
        self.calls += 1
        s = sigma.view(-1, 1, 1, 1)
        xc = x / (s**2 + 1.0) ** 0.5
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
    g = torch.Generator().manual_seed(seed + 1)  # ComfyUI: seed + 1 for a CPU generator
    return lambda sigma, sigma_next: torch.randn(x.shape, generator=g, dtype=x.dtype)


@torch.no_grad()
def sample_lcm(model, x, sigmas, noise_sampler):
    """ComfyUI sample_lcm (s_noise 1): x0 prediction, then re-noise to the next sigma."""
    for i in range(len(sigmas) - 1):
        s_in = x.new_ones([x.shape[0]])
        x = model(x, sigmas[i] * s_in)
        if sigmas[i + 1] > 0:
            x = x + noise_sampler(sigmas[i], sigmas[i + 1]) * sigmas[i + 1]
    return x


SAMPLERS = ["euler", "euler_ancestral", "heun", "dpmpp_2m", "dpmpp_2m_sde", "dpmpp_sde", "ddim", "lcm"]


@torch.no_grad()
def run_sampler(name, model, x, sigmas, seed):
    kd = load_k_diffusion_sampling()
    ns = make_noise_sampler(x, seed)
    if name in ("euler", "ddim"):
        return kd.sample_euler(model, x, sigmas, disable=True)
    if name == "heun":
        return kd.sample_heun(model, x, sigmas, disable=True)
    if name == "dpmpp_2m":
        return kd.sample_dpmpp_2m(model, x, sigmas, disable=True)
    if name == "euler_ancestral":
        return kd.sample_euler_ancestral(model, x, sigmas, disable=True, noise_sampler=ns)
    if name == "dpmpp_2m_sde":
        return kd.sample_dpmpp_2m_sde(model, x, sigmas, disable=True, noise_sampler=ns, solver_type="midpoint")
    if name == "dpmpp_sde":
        return kd.sample_dpmpp_sde(model, x, sigmas, disable=True, noise_sampler=ns)
    if name == "lcm":
        return sample_lcm(model, x, sigmas, ns)
    raise ValueError(f"unknown sampler '{name}'")


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
