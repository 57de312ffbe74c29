"""Checks the written fixtures against the reference libraries (diffusers / transformers).

1. The diffusers folder reloads (float32) to exactly the in-memory weights.
2. The LDM single file, converted back by diffusers' own converters in
   diffusers.loaders.single_file_utils (convert_ldm_unet_checkpoint, convert_ldm_vae_checkpoint,
   convert_ldm_clip_checkpoint, convert_open_clip_checkpoint), equals the folder weights exactly.
3. StableDiffusionPipeline.from_single_file(file, config=folder) (diffusers' full loader, offline)
   gives exactly the folder pipeline's weights.
Any mismatch raises; each check prints one line.
"""

import torch
from safetensors.torch import load_file

from .ldm_convert import hf_clip_names


def _compare(label, expected, actual, allow_extra=()):
    """Exact equality of two state dicts (values compared in float32)."""
    missing = sorted(set(expected) - set(actual))
    extra = sorted(k for k in set(actual) - set(expected) if not any(k.startswith(p) for p in allow_extra))
    bad = [k for k in expected if k in actual and not torch.equal(expected[k].float(), actual[k].float())]
    if missing or extra or bad:
        raise AssertionError(
            f"{label}: {len(missing)} missing (e.g. {missing[:3]}), {len(extra)} unexpected "
            f"(e.g. {extra[:3]}), {len(bad)} different (e.g. {bad[:3]})"
        )
    print(f"  ok  {label}: {len(expected)} tensors identical")


def load_folder(folder):
    from diffusers import StableDiffusionPipeline

    return StableDiffusionPipeline.from_pretrained(folder, torch_dtype=torch.float32, local_files_only=True)


def check_folder(model, folder):
    pipe = load_folder(folder)
    _compare(f"{folder}: unet reload", model.unet.state_dict(), pipe.unet.state_dict())
    _compare(f"{folder}: vae reload", model.vae.state_dict(), pipe.vae.state_dict())
    _compare(f"{folder}: text_encoder reload", model.text_encoder.state_dict(), pipe.text_encoder.state_dict())
    return pipe


def check_single_file_converters(model, path):
    from diffusers.loaders import single_file_utils as sfu

    ckpt = load_file(path)
    unet = sfu.convert_ldm_unet_checkpoint(ckpt, dict(model.unet.config))
    _compare(f"{path}: convert_ldm_unet_checkpoint", model.unet.state_dict(), unet)
    vae = sfu.convert_ldm_vae_checkpoint(ckpt, dict(model.vae.config))
    _compare(f"{path}: convert_ldm_vae_checkpoint", model.vae.state_dict(), vae)
    folder_te = hf_clip_names(model.text_encoder.state_dict())
    if model.kind == "sd1":
        te = sfu.convert_ldm_clip_checkpoint(ckpt)
        ids = te.pop("text_model.embeddings.position_ids")
        if ids.dtype != torch.int64 or not torch.equal(ids, torch.arange(77).reshape(1, 77)):
            raise AssertionError("position_ids must be int64 arange(77) of shape [1, 77]")
        _compare(f"{path}: convert_ldm_clip_checkpoint", folder_te, te)
    else:
        te = sfu.convert_open_clip_checkpoint(model.text_encoder, ckpt)
        te = hf_clip_names(te)
        last = model.file_text_encoder.config.num_hidden_layers - 1
        # diffusers only drops resblocks.23 (real SD2); our 3-layer tower's unused last layer
        # comes back as layer 2, which the 2-layer folder model does not have.
        _compare(
            f"{path}: convert_open_clip_checkpoint (+unused layer {last})",
            folder_te,
            te,
            allow_extra=(f"text_model.encoder.layers.{last}.",),
        )
        full = hf_clip_names(model.file_text_encoder.state_dict())
        extra = {k: v for k, v in full.items() if f"encoder.layers.{last}." in k}
        _compare(f"{path}: OpenCLIP unused layer {last}", extra, {k: te[k] for k in extra if k in te})
        if "v_pred" not in ckpt or ckpt["v_pred"].numel() != 0:
            raise AssertionError("sd2v single file must carry an empty 'v_pred' tensor")


def check_single_file_pipeline(folder, path, folder_pipe):
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline.from_single_file(
        path, config=folder, local_files_only=True, torch_dtype=torch.float32
    )
    for name in ("unet", "vae", "text_encoder"):
        _compare(
            f"{path}: from_single_file {name}",
            getattr(folder_pipe, name).state_dict(),
            getattr(pipe, name).state_dict(),
        )
    expected = folder_pipe.scheduler.config.prediction_type
    if pipe.scheduler.config.prediction_type != expected:
        raise AssertionError(f"{path}: prediction_type {pipe.scheduler.config.prediction_type} != {expected}")


def check_loose_vae(vae, path, config_folder):
    from diffusers import AutoencoderKL
    from diffusers.loaders import single_file_utils as sfu

    ckpt = load_file(path)
    if any(k.startswith("first_stage_model.") for k in ckpt):
        raise AssertionError(f"{path} must have no first_stage_model. prefix")
    _compare(f"{path}: convert_ldm_vae_checkpoint", vae.state_dict(), sfu.convert_ldm_vae_checkpoint(ckpt, dict(vae.config)))
    loaded = AutoencoderKL.from_single_file(
        path, config=config_folder, subfolder="vae", local_files_only=True, torch_dtype=torch.float32
    )
    _compare(f"{path}: AutoencoderKL.from_single_file", vae.state_dict(), loaded.state_dict())
    return loaded.eval()


def check_tokenizers(pipes):
    """The real CLIP vocab: known ids for a known string, and each model's padding token."""
    expected = [49406, 320, 1125, 539, 320, 2368, 49407]  # "a photo of a cat" (OpenAI CLIP)
    pads = {"sd1": 49407, "sd2v": 0}
    for kind, pipe in pipes.items():
        tok = pipe.tokenizer
        if len(tok) != 49408:
            raise AssertionError(f"{kind}: tokenizer has {len(tok)} tokens, expected 49408")
        ids = tok("a photo of a cat").input_ids
        if ids != expected:
            raise AssertionError(f"{kind}: 'a photo of a cat' -> {ids}, expected {expected}")
        padded = tok("a photo of a cat", padding="max_length", max_length=77).input_ids
        if padded[7:] != [pads[kind]] * 70:
            raise AssertionError(f"{kind}: padding is {padded[7:10]}..., expected {pads[kind]}")
        print(f"  ok  {kind} tokenizer: 49408 tokens, 'a photo of a cat' -> {ids}, pad id {pads[kind]}")
