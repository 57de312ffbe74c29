"""diffusers -> original LDM ("single file", as CompVis / Stability checkpoints) key conversion.

Written for the fixtures (our own mapping, derived from each model's config so it is general in
block count and layers_per_block); verified against diffusers' own LDM -> diffusers converters in
verify.py. Every source key must map to exactly one target key: a leftover is an error.

UNet (diffusers UNet2DConditionModel -> model.diffusion_model.*), lpb = layers_per_block:
  time_embedding.linear_{1,2}      -> time_embed.{0,2}
  conv_in                          -> input_blocks.0.0
  down_blocks.i.resnets.j          -> input_blocks.{1 + i*(lpb+1) + j}.0   (ResBlock names below)
  down_blocks.i.attentions.j       -> input_blocks.{1 + i*(lpb+1) + j}.1   (SpatialTransformer)
  down_blocks.i.downsamplers.0.conv-> input_blocks.{(i+1)*(lpb+1)}.0.op
  mid_block.resnets.0 / attentions.0 / resnets.1 -> middle_block.0 / .1 / .2
  up_blocks.i.resnets.j            -> output_blocks.{i*(lpb+1) + j}.0      (j in 0..lpb)
  up_blocks.i.attentions.j         -> output_blocks.{i*(lpb+1) + j}.1
  up_blocks.i.upsamplers.0.conv    -> output_blocks.{i*(lpb+1) + lpb}.{2 if attention else 1}.conv
  conv_norm_out / conv_out         -> out.0 / out.2
  ResBlock: norm1->in_layers.0, conv1->in_layers.2, time_emb_proj->emb_layers.1,
            norm2->out_layers.0, conv2->out_layers.3, conv_shortcut->skip_connection
  SpatialTransformer names (norm, proj_in, transformer_blocks.*, proj_out) are the same in both.

VAE (diffusers AutoencoderKL -> first_stage_model.* or no prefix), n = number of levels:
  {encoder,decoder}.conv_norm_out  -> norm_out
  encoder.down_blocks.i.resnets.j  -> encoder.down.i.block.j    (conv_shortcut -> nin_shortcut)
  encoder.down_blocks.i.downsamplers.0.conv -> encoder.down.i.downsample.conv
  decoder.up_blocks.i.resnets.j    -> decoder.up.{n-1-i}.block.j   (LDM numbers up levels from
  decoder.up_blocks.i.upsamplers.0.conv -> decoder.up.{n-1-i}.upsample.conv  the lowest resolution)
  mid_block.resnets.0/1 -> mid.block_1/block_2; mid_block.attentions.0 -> mid.attn_1 with
  group_norm->norm, to_q/to_k/to_v->q/k/v, to_out.0->proj_out, linear weights [C,C] stored as
  1x1 conv weights [C,C,1,1] (as real SD1/SD2 VAEs are).

Text encoders:
  SD1: HF CLIPTextModel -> cond_stage_model.transformer.text_model.* (+ int64 position_ids [1,77]).
  SD2: HF CLIPTextModel -> OpenCLIP layout cond_stage_model.model.*: token_embedding.weight,
       positional_embedding, transformer.resblocks.i.{ln_1, attn.in_proj_weight/bias (q;k;v
       stacked on dim 0), attn.out_proj, ln_2, mlp.c_fc, mlp.c_proj}, ln_final, text_projection
       [width, embed] (x @ text_projection), logit_scale (0-d).
"""

import re

import torch

RESNET_UNET = [
    ("norm1.", "in_layers.0."),
    ("conv1.", "in_layers.2."),
    ("time_emb_proj.", "emb_layers.1."),
    ("norm2.", "out_layers.0."),
    ("conv2.", "out_layers.3."),
    ("conv_shortcut.", "skip_connection."),
]
VAE_ATTN = [
    ("group_norm.", "norm."),
    ("to_q.", "q."),
    ("to_k.", "k."),
    ("to_v.", "v."),
    ("to_out.0.", "proj_out."),
]


def _rename_suffix(suffix, table):
    for old, new in table:
        if suffix.startswith(old):
            return new + suffix[len(old) :]
    raise KeyError(f"unexpected parameter name '{suffix}'")


class _Mapper:
    """Collects prefix rules (diffusers prefix -> LDM prefix, optional suffix renames)."""

    def __init__(self):
        self.rules = []  # (src_prefix, dst_prefix, suffix_table or None)

    def add(self, src, dst, table=None):
        self.rules.append((src, dst, table))

    def map_key(self, key):
        hits = [(s, d, t) for (s, d, t) in self.rules if key.startswith(s)]
        if len(hits) != 1:
            raise KeyError(f"key '{key}' matched {len(hits)} conversion rules (expected 1)")
        src, dst, table = hits[0]
        suffix = key[len(src) :]
        return dst + (_rename_suffix(suffix, table) if table else suffix)


def _apply(mapper, state_dict, prefix, reshape=None):
    out = {}
    for key in sorted(state_dict):
        new_key = prefix + mapper.map_key(key)
        if new_key in out:
            raise KeyError(f"two source keys map to '{new_key}'")
        value = state_dict[key]
        if reshape is not None:
            value = reshape(new_key, value)
        out[new_key] = value
    return out


def unet_to_ldm(state_dict, config, prefix="model.diffusion_model."):
    """diffusers UNet2DConditionModel state dict -> LDM UNetModel keys (see module comment)."""
    lpb = config["layers_per_block"]
    if not isinstance(lpb, int):
        raise ValueError("per-level layers_per_block is not supported by the LDM layout")
    levels = len(config["block_out_channels"])
    m = _Mapper()
    m.add("time_embedding.linear_1.", "time_embed.0.")
    m.add("time_embedding.linear_2.", "time_embed.2.")
    # SDXL: the size/crop/pooled-text embedding (diffusers add_embedding, LDM label_emb).
    m.add("add_embedding.linear_1.", "label_emb.0.0.")
    m.add("add_embedding.linear_2.", "label_emb.0.2.")
    m.add("conv_in.", "input_blocks.0.0.")
    m.add("conv_norm_out.", "out.0.")
    m.add("conv_out.", "out.2.")
    index = 1
    for i in range(levels):
        for j in range(lpb):
            m.add(f"down_blocks.{i}.resnets.{j}.", f"input_blocks.{index}.0.", RESNET_UNET)
            m.add(f"down_blocks.{i}.attentions.{j}.", f"input_blocks.{index}.1.")
            index += 1
        if i < levels - 1:
            m.add(f"down_blocks.{i}.downsamplers.0.conv.", f"input_blocks.{index}.0.op.")
            index += 1
    mid_attn = any(k.startswith("mid_block.attentions.") for k in state_dict)
    m.add("mid_block.resnets.0.", "middle_block.0.", RESNET_UNET)
    m.add("mid_block.attentions.0.", "middle_block.1.")
    m.add("mid_block.resnets.1.", f"middle_block.{2 if mid_attn else 1}.", RESNET_UNET)
    index = 0
    for i in range(levels):
        has_attn = any(k.startswith(f"up_blocks.{i}.attentions.") for k in state_dict)
        for j in range(lpb + 1):
            m.add(f"up_blocks.{i}.resnets.{j}.", f"output_blocks.{index}.0.", RESNET_UNET)
            m.add(f"up_blocks.{i}.attentions.{j}.", f"output_blocks.{index}.1.")
            if j == lpb and i < levels - 1:
                slot = 2 if has_attn else 1
                m.add(f"up_blocks.{i}.upsamplers.0.conv.", f"output_blocks.{index}.{slot}.conv.")
            index += 1
    return _apply(m, state_dict, prefix)


def vae_to_ldm(state_dict, config, prefix="first_stage_model."):
    """diffusers AutoencoderKL state dict -> LDM AutoencoderKL keys (see module comment)."""
    levels = len(config["block_out_channels"])
    m = _Mapper()
    for part in ("encoder", "decoder"):
        m.add(f"{part}.conv_in.", f"{part}.conv_in.")
        m.add(f"{part}.conv_out.", f"{part}.conv_out.")
        m.add(f"{part}.conv_norm_out.", f"{part}.norm_out.")
        m.add(f"{part}.mid_block.resnets.0.", f"{part}.mid.block_1.")
        m.add(f"{part}.mid_block.resnets.1.", f"{part}.mid.block_2.")
        m.add(f"{part}.mid_block.attentions.0.", f"{part}.mid.attn_1.", VAE_ATTN)
    for i in range(levels):
        m.add(f"encoder.down_blocks.{i}.resnets.", f"encoder.down.{i}.block.")
        m.add(f"encoder.down_blocks.{i}.downsamplers.0.conv.", f"encoder.down.{i}.downsample.conv.")
        up = levels - 1 - i
        m.add(f"decoder.up_blocks.{i}.resnets.", f"decoder.up.{up}.block.")
        m.add(f"decoder.up_blocks.{i}.upsamplers.0.conv.", f"decoder.up.{up}.upsample.conv.")
    m.add("quant_conv.", "quant_conv.")
    m.add("post_quant_conv.", "post_quant_conv.")

    def reshape(new_key, value):
        if ".mid.attn_1." in new_key and new_key.endswith(".weight") and value.ndim == 2:
            return value.reshape(*value.shape, 1, 1)  # linear [C,C] -> 1x1 conv [C,C,1,1]
        return value

    out = _apply(m, state_dict, prefix, reshape)
    # Every VAE ResnetBlock2D (down, up and mid) names its 1x1 shortcut nin_shortcut in LDM.
    return {re.sub(r"\.conv_shortcut\.", ".nin_shortcut.", k): v for k, v in out.items()}


def hf_clip_names(state_dict):
    """transformers >= 5.6 saves CLIPTextModel without the 'text_model.' level; add it back."""
    return {(k if k.startswith("text_model.") else "text_model." + k): v for k, v in state_dict.items()}


def clip_to_ldm_sd1(state_dict, max_positions=77):
    out = {"cond_stage_model.transformer." + k: v for k, v in hf_clip_names(state_dict).items()}
    out["cond_stage_model.transformer.text_model.embeddings.position_ids"] = torch.arange(
        max_positions, dtype=torch.int64
    ).reshape(1, max_positions)
    return out


def clip_to_openclip(state_dict, num_layers, text_projection, logit_scale,
                     prefix="cond_stage_model.model."):
    """HF CLIPTextModel state dict -> OpenCLIP text tower keys (SD2 checkpoints)."""
    sd = {k[len("text_model.") :]: v for k, v in hf_clip_names(state_dict).items()}
    out = {}
    taken = set()

    def take(key):
        taken.add(key)
        return sd[key]

    out[prefix + "token_embedding.weight"] = take("embeddings.token_embedding.weight")
    out[prefix + "positional_embedding"] = take("embeddings.position_embedding.weight")
    for i in range(num_layers):
        src = f"encoder.layers.{i}."
        dst = f"{prefix}transformer.resblocks.{i}."
        for kind in ("weight", "bias"):
            out[dst + f"ln_1.{kind}"] = take(src + f"layer_norm1.{kind}")
            out[dst + f"ln_2.{kind}"] = take(src + f"layer_norm2.{kind}")
            out[dst + f"attn.in_proj_{kind}"] = torch.cat(
                [take(src + f"self_attn.{p}_proj.{kind}") for p in ("q", "k", "v")], dim=0
            )
            out[dst + f"attn.out_proj.{kind}"] = take(src + f"self_attn.out_proj.{kind}")
            out[dst + f"mlp.c_fc.{kind}"] = take(src + f"mlp.fc1.{kind}")
            out[dst + f"mlp.c_proj.{kind}"] = take(src + f"mlp.fc2.{kind}")
    out[prefix + "ln_final.weight"] = take("final_layer_norm.weight")
    out[prefix + "ln_final.bias"] = take("final_layer_norm.bias")
    left = sorted(set(sd) - taken)
    if left:
        raise KeyError(f"OpenCLIP conversion left keys unmapped: {left[:5]}")
    out[prefix + "text_projection"] = text_projection
    out[prefix + "logit_scale"] = logit_scale
    return out
