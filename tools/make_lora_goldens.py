"""Tiny LoRA files for the sd1 fixture model and the reference merged weights they give.

Writes tests/fixtures/lora/:
  kohya.safetensors      lora_unet_* (both diffusers- and LDM-underscored names), lora_te_*,
                         lora_down/lora_up/alpha, fp16 (as kohya's trainer saves them)
  diffusers.safetensors  unet.* / text_encoder.* with peft's lora_A/lora_B (and the older
                         lora.down/lora.up), no alpha (scale 1), fp32
  loha.safetensors       LyCORIS LoHa: hada_w{1,2}_{a,b}, one conv with hada_t1/t2 cores
  lokr.safetensors       LyCORIS LoKr: lokr_w1 | lokr_w1_a/b, lokr_w2 | lokr_w2_a/b, lokr_t2
  reference.safetensors  float32: "<fmt>.unet.<LDM param>" / "<fmt>.te.<HF param>" merged
                         weights (W + strength * alpha/rank * delta) for each format at UNet
                         strength 0.8, text-encoder strength 0.5; "stack.*" for kohya
                         (0.7 / 0.3) + LoHa (-0.5 / 1.0) together; "<fmt>.unet_out": the
                         diffusers UNet forward with that format's UNet deltas fused, on the
                         inputs of tests/fixtures/golden/sd1_unet.safetensors.

The reference deltas follow the published formulas in plain torch (peft is not installed, and
diffusers' pipe.load_lora_weights() refuses without it: "PEFT backend is required"):
  LoRA  up @ down, LoHa (w1a @ w1b) * (w2a @ w2b) with tucker einsum("ijkl,jr,ip->prkl"),
  LoKr  kron(w1, w2); the kohya names are checked against diffusers' own kohya
converter (_convert_non_diffusers_lora_to_diffusers), independent of Easel's resolver.
Deterministic: fixed seeds. Run from the repo root: /work/pyenv/bin/python tools/make_lora_goldens.py
"""

import os
import re

import torch
from diffusers import UNet2DConditionModel
from safetensors import safe_open
from safetensors.torch import load_file

from fixtures_lib.build import save_tensors  # sorts metadata keys: reproducible bytes

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIX = os.path.join(ROOT, "tests", "fixtures")
OUT = os.path.join(FIX, "lora")
RANK = 4
MAX_STORED = 10000  # elements: larger merged weights are not stored

# (our LDM module, diffusers module, kohya names it in LDM form?)
UNET = [
    ("input_blocks.1.1.proj_in", "down_blocks.0.attentions.0.proj_in", False),  # 1x1 conv
    ("input_blocks.1.1.transformer_blocks.0.attn2.to_k",
     "down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k", False),
    ("input_blocks.2.1.transformer_blocks.0.attn1.to_out.0",
     "down_blocks.0.attentions.1.transformer_blocks.0.attn1.to_out.0", False),
    ("input_blocks.1.0.in_layers.2", "down_blocks.0.resnets.0.conv1", False),  # 3x3 conv
    ("middle_block.1.transformer_blocks.0.ff.net.0.proj",
     "mid_block.attentions.0.transformer_blocks.0.ff.net.0.proj", False),
    ("output_blocks.5.1.proj_out", "up_blocks.1.attentions.2.proj_out", True),
    ("output_blocks.2.1.conv", "up_blocks.0.upsamplers.0.conv", True),  # 3x3 conv
    ("time_embed.0", "time_embedding.linear_1", True),
    ("output_blocks.0.0.skip_connection", "up_blocks.0.resnets.0.conv_shortcut", True),
]
# HF CLIP names without "text_model." (ours) — files write them with it.
TE = ["encoder.layers.0.self_attn.q_proj", "encoder.layers.1.mlp.fc1",
      "encoder.layers.2.self_attn.out_proj"]

UNET_STRENGTH, TE_STRENGTH = 0.8, 0.5
STACK = [("kohya", 0.7, 0.3), ("loha", -0.5, 1.0)]


def load_weights():
    ldm = {}
    with safe_open(os.path.join(FIX, "sd1.safetensors"), "pt") as f:
        for k in f.keys():
            if k.startswith("model.diffusion_model."):
                ldm[k[len("model.diffusion_model."):]] = f.get_tensor(k).float()
    diff = load_file(os.path.join(FIX, "sd1", "unet", "diffusion_pytorch_model.safetensors"))
    te = load_file(os.path.join(FIX, "sd1", "text_encoder", "model.safetensors"))
    te = {k[len("text_model."):]: v.float() for k, v in te.items() if k.startswith("text_model.")}
    # The name table is checked here, independently of Easel: both layouts hold the same values.
    for ours, theirs, _ in UNET:
        assert torch.equal(ldm[ours + ".weight"], diff[theirs + ".weight"].float()), ours
    return ldm, te


def kohya_name(ours, theirs, ldm_form):
    return "lora_unet_" + (ours if ldm_form else theirs).replace(".", "_")


def randn(g, *shape):
    return torch.randn(*shape, generator=g) * 0.1


def lora_factors(g, w):
    out_f = w.shape[0]
    if w.dim() == 4:
        down = randn(g, RANK, w.shape[1], w.shape[2], w.shape[3])
        up = randn(g, out_f, RANK, 1, 1)
    else:
        down, up = randn(g, RANK, w.shape[1]), randn(g, out_f, RANK)
    return down, up


def lora_delta(down, up, shape):
    return (up.flatten(1).float() @ down.flatten(1).float()).reshape(shape)


def tucker(t, b, a):
    return torch.einsum("ijkl,jr,ip->prkl", t.float(), b.float(), a.float())


def targets(ldm, te):
    """(file name for kohya-style keys, file name for diffusers keys, part, our param, W)."""
    for ours, theirs, ldm_form in UNET:
        yield (kohya_name(ours, theirs, ldm_form), "unet." + theirs, "unet", ours + ".weight",
               ldm[ours + ".weight"])
    for name in TE:
        yield ("lora_te_text_model_" + name.replace(".", "_"), "text_encoder.text_model." + name,
               "te", name + ".weight", te[name + ".weight"])


def make_kohya(g, ldm, te):
    sd, deltas = {}, {}
    for i, (kname, _, part, param, w) in enumerate(targets(ldm, te)):
        down, up = lora_factors(g, w)
        alpha = float(1 + i % 4)  # 1..4: alpha != rank on most entries
        down, up = down.half(), up.half()
        sd[kname + ".lora_down.weight"] = down
        sd[kname + ".lora_up.weight"] = up
        sd[kname + ".alpha"] = torch.tensor(alpha, dtype=torch.float16)
        deltas[(part, param)] = alpha / RANK * lora_delta(down, up, w.shape)
    return sd, deltas


def make_diffusers(g, ldm, te):
    sd, deltas = {}, {}
    for i, (_, dname, part, param, w) in enumerate(targets(ldm, te)):
        down, up = lora_factors(g, w)
        if i % 3 == 2:  # the older diffusers naming
            sd[dname + ".lora.down.weight"], sd[dname + ".lora.up.weight"] = down, up
        else:
            sd[dname + ".lora_A.weight"], sd[dname + ".lora_B.weight"] = down, up
        deltas[(part, param)] = lora_delta(down, up, w.shape)  # no alpha: scale 1
    return sd, deltas


def make_loha(g, ldm, te):
    sd, deltas = {}, {}
    for i, (kname, _, part, param, w) in enumerate(targets(ldm, te)):
        alpha = float(2 + i % 3)
        out_f, in_f = w.shape[0], w[0].numel()
        if w.dim() == 4 and w.shape[2] == 3 and part == "unet" and "conv1" not in param:
            # tucker: t [r, r, kh, kw], a [r, out], b [r, in]
            f = {"hada_t1": randn(g, RANK, RANK, 3, 3), "hada_w1_a": randn(g, RANK, out_f),
                 "hada_w1_b": randn(g, RANK, w.shape[1]), "hada_t2": randn(g, RANK, RANK, 3, 3),
                 "hada_w2_a": randn(g, RANK, out_f), "hada_w2_b": randn(g, RANK, w.shape[1])}
            d = tucker(f["hada_t1"], f["hada_w1_b"], f["hada_w1_a"]) * tucker(
                f["hada_t2"], f["hada_w2_b"], f["hada_w2_a"])
        else:
            f = {"hada_w1_a": randn(g, out_f, RANK), "hada_w1_b": randn(g, RANK, in_f),
                 "hada_w2_a": randn(g, out_f, RANK), "hada_w2_b": randn(g, RANK, in_f)}
            d = (f["hada_w1_a"] @ f["hada_w1_b"]) * (f["hada_w2_a"] @ f["hada_w2_b"])
        for k, v in f.items():
            sd[kname + "." + k] = v
        sd[kname + ".alpha"] = torch.tensor(alpha)
        deltas[(part, param)] = alpha / RANK * d.reshape(w.shape)
    return sd, deltas


def make_lokr(g, ldm, te):
    sd, deltas = {}, {}
    for i, (kname, _, part, param, w) in enumerate(targets(ldm, te)):
        alpha = float(1 + i % 4)
        o, n = w.shape[0], w.shape[1]
        o1, n1 = (4, 4) if n % 4 == 0 else (4, 2)
        o2, n2 = o // o1, n // n1
        kernel = tuple(w.shape[2:])
        f, scale_dim = {}, None
        mode = i % 3
        if part == "te":
            mode = 3  # both sides full: scale 1, alpha ignored
        if kernel == (3, 3) and part == "unet" and "conv1" not in param:
            mode = 4  # tucker w2
        if mode in (0, 2, 4):
            f["lokr_w1"] = randn(g, o1, n1)
            w1 = f["lokr_w1"]
        else:
            f["lokr_w1_a"], f["lokr_w1_b"] = randn(g, o1, RANK), randn(g, RANK, n1)
            w1, scale_dim = f["lokr_w1_a"] @ f["lokr_w1_b"], RANK
        if mode == 4:
            f["lokr_t2"] = randn(g, RANK, RANK, 3, 3)
            f["lokr_w2_a"], f["lokr_w2_b"] = randn(g, RANK, o2), randn(g, RANK, n2)
            w2 = tucker(f["lokr_t2"], f["lokr_w2_b"], f["lokr_w2_a"])
            scale_dim = RANK
            w1 = w1[:, :, None, None]
        elif mode in (0, 1):
            ksize = n2 * (kernel[0] * kernel[1] if kernel else 1)
            f["lokr_w2_a"], f["lokr_w2_b"] = randn(g, o2, RANK), randn(g, RANK, ksize)
            w2 = f["lokr_w2_a"] @ f["lokr_w2_b"]
            scale_dim = scale_dim or RANK
        else:
            f["lokr_w2"] = randn(g, o2, n2, *kernel)
            w2 = f["lokr_w2"]
            if kernel:
                w1 = w1[:, :, None, None]
        for k, v in f.items():
            sd[kname + "." + k] = v
        sd[kname + ".alpha"] = torch.tensor(alpha)
        scale = alpha / scale_dim if scale_dim else 1.0
        deltas[(part, param)] = scale * torch.kron(w1.contiguous(), w2.contiguous()).reshape(w.shape)
    return sd, deltas


def check_kohya_names_with_diffusers(kohya):
    """diffusers' kohya converter must name the same diffusers modules as our table."""
    from diffusers.loaders.lora_conversion_utils import _convert_non_diffusers_lora_to_diffusers

    sub = {k: v for k, v in kohya.items()
           if not any(kohya_name(o, t, True) in k for o, t, ldm_form in UNET if ldm_form)}
    converted, alphas = (lambda r: (r[0], r[1]) if isinstance(r, tuple) else (r, {}))(
        _convert_non_diffusers_lora_to_diffusers(dict(sub)))
    def module(key):  # diffusers' legacy attention-processor names -> module names
        m = key.split(".lora.")[0].split(".lora_linear_layer.")[0].split("_lora.")[0]
        m = m.replace(".processor.", ".")
        if m.startswith("text_encoder."):
            m = re.sub(r"self_attn\.to_(q|k|v)$", r"self_attn.\1_proj", m)
            return re.sub(r"self_attn\.to_out$", "self_attn.out_proj", m)
        return re.sub(r"\.to_out$", ".to_out.0", m)

    got = sorted({module(k) for k in converted if k.endswith("down.weight")})
    want = sorted(["unet." + t for o, t, ldm_form in UNET if not ldm_form] +
                  ["text_encoder.text_model." + n for n in TE])
    assert got == want, (got, want)


def main():
    torch.manual_seed(0)
    ldm, te = load_weights()
    os.makedirs(OUT, exist_ok=True)
    files, deltas = {}, {}
    for seed, (fmt, fn) in enumerate([("kohya", make_kohya), ("diffusers", make_diffusers),
                                      ("loha", make_loha), ("lokr", make_lokr)]):
        g = torch.Generator().manual_seed(1000 + seed)
        files[fmt], deltas[fmt] = fn(g, ldm, te)
        save_tensors(os.path.join(OUT, fmt + ".safetensors"), files[fmt],
                     metadata={"generator": "tools/make_lora_goldens.py"})
    check_kohya_names_with_diffusers(files["kohya"])

    base = {"unet": ldm, "te": te}
    ref = {}
    # Merged weights of the small layers only (keeps the fixtures < 1 MB); the larger ones
    # (ff.net.0.proj, the upsampler conv) are checked through the UNet forward below.
    small = lambda part, param: base[part][param].numel() <= MAX_STORED
    for fmt, d in deltas.items():
        for (part, param), delta in d.items():
            if not small(part, param):
                continue
            strength = UNET_STRENGTH if part == "unet" else TE_STRENGTH
            ref[f"{fmt}.{part}.{param}"] = base[part][param] + strength * delta
    stacked = {}
    for fmt, su, st in STACK:
        for (part, param), delta in deltas[fmt].items():
            s = su if part == "unet" else st
            stacked[(part, param)] = stacked.get((part, param), 0) + s * delta
    for (part, param), delta in stacked.items():
        if not small(part, param):
            continue
        ref[f"stack.{part}.{param}"] = base[part][param] + delta

    # UNet forwards with each format's deltas fused, through diffusers' own model.
    golden = load_file(os.path.join(FIX, "golden", "sd1_unet.safetensors"))
    to_diff = {o + ".weight": t + ".weight" for o, t, _ in UNET}
    for fmt in deltas:
        unet = UNet2DConditionModel.from_pretrained(os.path.join(FIX, "sd1", "unet")).float().eval()
        sd = unet.state_dict()
        for (part, param), delta in deltas[fmt].items():
            if part == "unet":
                sd[to_diff[param]] = sd[to_diff[param]].float() + UNET_STRENGTH * delta
        unet.load_state_dict(sd)
        with torch.no_grad():
            out = unet(golden["x"], golden["timesteps"], encoder_hidden_states=golden["context"]).sample
        ref[f"{fmt}.unet_out"] = out.float()

    save_tensors(os.path.join(OUT, "reference.safetensors"), {k: v.float() for k, v in ref.items()},
                 metadata={"unet_strength": str(UNET_STRENGTH), "te_strength": str(TE_STRENGTH),
                           "stack": ";".join(f"{f}:{u}:{t}" for f, u, t in STACK), "rank": str(RANK)})
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    print(f"wrote {len(ref)} reference tensors; tests/fixtures/lora is {total} bytes")


if __name__ == "__main__":
    main()
