"""Where a UNet step's GPU time goes: kernel time by category (matmul, convolution, attention,
GroupNorm, LayerNorm, elementwise, layout copies) for one denoising step of the real SD1.5 /
SDXL UNet shapes (diffusers' UNet, random fp16 weights, channels-last, batch 2 = one image with
CFG), from torch.profiler. Easel runs the same ATen kernels for these ops, so the shares say what
fusing would save; torch.compile's gain over eager is mostly the norm/elementwise/copy rows.

Usage (device machine, diffusers wheel carried as for bench/run_device.sh):
  python3 bench/profile_unet.py sd15 sdxl
"""
import sys

import torch
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from compare import unet_config  # noqa: E402
from trace_summary import category  # noqa: E402  (the categories shared with Easel's traces)

def main():
    from diffusers import UNet2DConditionModel

    for family in sys.argv[1:] or ["sd15", "sdxl"]:
        torch.manual_seed(0)
        with torch.device("cuda"):
            unet = UNet2DConditionModel(**unet_config(family)).half().eval()
        unet = unet.to(memory_format=torch.channels_last)
        sdxl = family == "sdxl"
        side = 128 if sdxl else 64
        x = torch.randn(2, 4, side, side, device="cuda", dtype=torch.half)
        x = x.to(memory_format=torch.channels_last)
        ctx = torch.randn(2, 77, 2048 if sdxl else 768, device="cuda", dtype=torch.half)
        t = torch.tensor([500.0, 500.0], device="cuda")
        extra = {}
        if sdxl:
            extra["added_cond_kwargs"] = {
                "text_embeds": torch.randn(2, 1280, device="cuda", dtype=torch.half),
                "time_ids": torch.randn(2, 6, device="cuda", dtype=torch.half),
            }

        def step():
            with torch.no_grad():
                unet(x, t, encoder_hidden_states=ctx, **extra)

        for _ in range(3):
            step()
        torch.cuda.synchronize()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        runs = 5
        start.record()
        for _ in range(runs):
            step()
        end.record()
        torch.cuda.synchronize()
        wall_ms = start.elapsed_time(end) / runs
        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            for _ in range(runs):
                step()
            torch.cuda.synchronize()
        totals, kernels, count = {}, [], 0
        for e in prof.key_averages():
            us = getattr(e, "self_device_time_total", None)
            if us is None:
                us = getattr(e, "self_cuda_time_total", 0)
            if us <= 0 or e.key.startswith("ProfilerStep"):
                continue
            totals[category(e.key)] = totals.get(category(e.key), 0) + us
            kernels.append((us, e.count, e.key))
            count += e.count
        gpu_ms = sum(totals.values()) / 1000 / runs
        print(f"== {family} UNet step, batch 2, fp16, channels-last, eager: "
              f"{wall_ms:.1f} ms wall, {gpu_ms:.1f} ms of kernels, {count // runs} kernels")
        for cat, us in sorted(totals.items(), key=lambda kv: -kv[1]):
            print(f"  {cat:12s} {us / 1000 / runs:7.2f} ms  {100 * us / sum(totals.values()):5.1f}%")
        print("  top kernels (ms per step, launches per step):")
        for us, n, key in sorted(kernels, reverse=True)[:12]:
            print(f"    {us / 1000 / runs:6.2f} {n // runs:5d}  [{category(key)}] {key[:90]}")


if __name__ == "__main__":
    main()
