"""UNet goldens at an odd latent size (9x7), where the up path must resize to each skip.

Writes tests/fixtures/golden/unet_odd.safetensors (float32): `x` [1,4,9,7], `timesteps` [1],
`context` [1,77,16] (randn, torch.Generator seed 11) and `sd1_out`, `sd2v_out`: diffusers'
UNet2DConditionModel of tests/fixtures/{sd1,sd2v}/unet (fp16 weights upcast to float32) on those
inputs. Diffusers passes each Upsample the size of the skip connection it meets next
(upsample_size), which is the behaviour Easel matches. Deterministic; run from the repo root:

    /work/pyenv/bin/python tools/make_unet_odd_golden.py
"""
import os

import torch
from diffusers import UNet2DConditionModel
from diffusers.utils import logging as diffusers_logging

from fixtures_lib.build import save_tensors  # sorted header metadata: byte-identical reruns

ROOT = "tests/fixtures"
OUT = os.path.join(ROOT, "golden", "unet_odd.safetensors")


def main():
    torch.set_num_threads(1)
    diffusers_logging.set_verbosity_error()
    g = torch.Generator().manual_seed(11)
    x = torch.randn(1, 4, 9, 7, generator=g)
    context = torch.randn(1, 77, 16, generator=g)
    timesteps = torch.tensor([500.0])
    tensors = {"x": x, "timesteps": timesteps, "context": context}
    for model in ("sd1", "sd2v"):
        unet = UNet2DConditionModel.from_pretrained(os.path.join(ROOT, model, "unet"))
        unet = unet.to(torch.float32).eval()
        with torch.no_grad():
            out = unet(x, timesteps, encoder_hidden_states=context).sample
        tensors[model + "_out"] = out.contiguous()
    metadata = {
        "generated_by": "tools/make_unet_odd_golden.py",
        "inputs": "x, context ~ randn (Generator seed 11); timesteps float",
        "dtype": "float32 goldens from fp16 weights",
    }
    save_tensors(OUT, tensors, metadata=metadata)
    print("wrote", OUT, {k: tuple(v.shape) for k, v in tensors.items()})


if __name__ == "__main__":
    main()
