"""Builds and writes the tiny model fixtures: diffusers folders, LDM single files, a loose VAE.

Layout and configs: /work/notes/fixtures.md (mirrored in tests/fixtures/README.md).
"""

import json
import math
import os
import shutil

import torch
from safetensors.torch import load_file, save_file

from . import clip_vocab, ldm_convert, tiny_models

SEEDS = {
    "sd1": {"text": 1000, "unet": 1100, "vae": 1200},
    "sd2v": {"text": 2000, "unet": 2100, "vae": 2200, "extra": 2300},
    "vae_other": 3200,
}
SD1_TEXT_LAYERS = 3
SD2_TEXT_LAYERS_FILE = 3  # the OpenCLIP tower in sd2v.safetensors
SD2_TEXT_LAYERS_FOLDER = 2  # diffusers drops the last layer (SD2 uses the penultimate one)
PAD_TOKEN = {"sd1": clip_vocab.EOS, "sd2v": "!"}


class TinyModel:
    """The float32 components of one tiny model (values exactly representable in fp16)."""

    def __init__(self, kind, text_encoder, unet, vae, file_text_encoder=None, text_projection=None):
        self.kind = kind
        self.text_encoder = text_encoder  # HF CLIPTextModel as in the diffusers folder
        self.unet = unet
        self.vae = vae
        self.file_text_encoder = file_text_encoder or text_encoder  # tower in the single file
        self.text_projection = text_projection
        self.prediction = "eps" if kind == "sd1" else "v"


def build_sd1():
    s = SEEDS["sd1"]
    return TinyModel(
        "sd1",
        tiny_models.make_text_encoder("sd1", SD1_TEXT_LAYERS, s["text"]),
        tiny_models.make_unet("sd1", s["unet"]),
        tiny_models.make_vae(s["vae"]),
    )


def build_sd2v():
    s = SEEDS["sd2v"]
    full = tiny_models.make_text_encoder("sd2v", SD2_TEXT_LAYERS_FILE, s["text"])
    # The folder's encoder = the full OpenCLIP tower minus its last layer, same weights.
    folder = tiny_models.CLIPTextModel(tiny_models.text_config("sd2v", SD2_TEXT_LAYERS_FOLDER)).eval()
    last = f"encoder.layers.{SD2_TEXT_LAYERS_FILE - 1}."
    kept = {k: v for k, v in full.state_dict().items() if last not in k}
    folder.load_state_dict(kept, strict=True)
    g = torch.Generator().manual_seed(s["extra"])
    projection = (torch.randn(tiny_models.TEXT_HIDDEN, tiny_models.TEXT_HIDDEN, generator=g) * 0.25).half().float()
    return TinyModel(
        "sd2v",
        folder,
        tiny_models.make_unet("sd2v", s["unet"]),
        tiny_models.make_vae(s["vae"]),
        file_text_encoder=full,
        text_projection=projection,
    )


def build_vae_other():
    return tiny_models.make_vae(SEEDS["vae_other"])


def _half_dict(state_dict):
    return {k: (v.half() if v.is_floating_point() else v).contiguous() for k, v in state_dict.items()}


def _sort_header_metadata(path):
    """Rewrites the header with __metadata__ keys sorted (same length, same offsets).

    The safetensors library serialises metadata from a hash map, so its key order (and thus the
    file bytes) changes from run to run; sorting makes regenerated files byte-identical.
    """
    with open(path, "r+b") as f:
        n = int.from_bytes(f.read(8), "little")
        raw = f.read(n)
        header = json.loads(raw, object_pairs_hook=dict)
        meta = header.get("__metadata__")
        if not meta:
            return
        header["__metadata__"] = dict(sorted(meta.items()))
        text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        if len(text) > n:
            raise RuntimeError(f"{path}: canonical header is longer than the original")
        f.seek(8)
        f.write(text + b" " * (n - len(text)))


def save_tensors(path, tensors, metadata=None):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    save_file({k: v.contiguous() for k, v in tensors.items()}, path, metadata=metadata)
    _sort_header_metadata(path)


def write_folder(model, folder):
    """Writes a StableDiffusionPipeline folder (fp16 safetensors, no safety checker)."""
    from diffusers import StableDiffusionPipeline
    from transformers import CLIPTokenizer

    if os.path.exists(folder):
        shutil.rmtree(folder)
    tok_dir = folder + ".tokenizer.tmp"
    clip_vocab.write_tokenizer(tok_dir, PAD_TOKEN[model.kind])
    tokenizer = CLIPTokenizer.from_pretrained(tok_dir)
    pipe = StableDiffusionPipeline(
        vae=model.vae,
        text_encoder=model.text_encoder,
        tokenizer=tokenizer,
        unet=model.unet,
        scheduler=tiny_models.make_scheduler(model.kind),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.to(torch.float16)
    pipe.save_pretrained(folder, safe_serialization=True)
    pipe.to(torch.float32)
    # Our own tokenizer files (vocab.json + merges.txt as real SD folders ship them), not whatever
    # the installed transformers chooses to serialise.
    shutil.rmtree(os.path.join(folder, "tokenizer"))
    shutil.move(tok_dir, os.path.join(folder, "tokenizer"))
    # Real SD text_encoder files name weights 'text_model.*'; transformers >= 5.6 drops that level
    # when saving. Restore the real layout (transformers loads both).
    te_path = os.path.join(folder, "text_encoder", "model.safetensors")
    sd = load_file(te_path)
    save_tensors(te_path, ldm_convert.hf_clip_names(sd), metadata={"format": "pt"})


def single_file_dict(model):
    """The LDM single-file state dict (fp16; position_ids int64; v_pred marker for sd2v)."""
    out = {}
    out.update(ldm_convert.unet_to_ldm(model.unet.state_dict(), model.unet.config))
    out.update(ldm_convert.vae_to_ldm(model.vae.state_dict(), model.vae.config))
    if model.kind == "sd1":
        out.update(ldm_convert.clip_to_ldm_sd1(model.file_text_encoder.state_dict()))
    else:
        logit_scale = torch.tensor(math.log(1 / 0.07))  # 0-d, as OpenCLIP stores it
        out.update(
            ldm_convert.clip_to_openclip(
                model.file_text_encoder.state_dict(),
                SD2_TEXT_LAYERS_FILE,
                model.text_projection,
                logit_scale,
            )
        )
    out = _half_dict(out)
    if model.kind == "sd2v":
        out["v_pred"] = torch.tensor([], dtype=torch.float32)  # ComfyUI's v-prediction marker
    return out


def write_single_file(model, path):
    save_tensors(path, single_file_dict(model), metadata={"format": "pt"})


def write_loose_vae(vae, path):
    sd = ldm_convert.vae_to_ldm(vae.state_dict(), vae.config, prefix="")
    save_tensors(path, _half_dict(sd), metadata={"format": "pt"})
