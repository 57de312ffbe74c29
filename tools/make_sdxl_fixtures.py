#!/usr/bin/env python3
"""Regenerates the tiny SDXL fixtures, SDXL LoRAs, embeddings and their goldens (deterministic).

Usage (from the repo root):  /work/pyenv/bin/python tools/make_sdxl_fixtures.py [--out DIR]

Writes under tests/fixtures/ (see tests/fixtures/README.md, "SDXL"):
  sdxl/                       diffusers StableDiffusionXLPipeline folder (fp16): text_encoder (CLIP-L-like,
                              hidden 16, 3 layers, quick_gelu), text_encoder_2 (bigG-like
                              CLIPTextModelWithProjection, hidden 12, 3 layers, gelu, projection 20),
                              tokenizer/ (real CLIP vocab, pad <|endoftext|>), tokenizer_2/ (configs only,
                              pad "!"; both without vocab files, see below), unet/ (text_time,
                              levels 32/32/32, attention depth [0, 1, 2], mid 2), vae/ (scaling 0.13025),
                              scheduler/
  sdxl.safetensors            the same weights in the SGM single-file layout
  sdxl_refiner.safetensors    a tiny refiner (bigG only, aesthetic score), SGM layout without a VAE
  sdxl_lora/{kohya,peft}.safetensors   SDXL LoRAs for sdxl/ (UNet + both text encoders)
  embeddings/*.safetensors    textual-inversion embeddings (SD1 and SDXL formats, one of a wrong
                              width) and a pickled-looking .pt that Easel must refuse
  golden/sdxl_*.safetensors   float32 references computed by diffusers / transformers

tokenizer/ and tokenizer_2/ carry only special_tokens_map.json + tokenizer_config.json to keep the fixture
small (vocab.json + merges.txt are 1.4 MB): both are the standard CLIP vocabulary, which Easel then uses,
and they differ only in the pad token. Reference-side only.
"""

import argparse
import math
import os
import shutil
import sys
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
warnings.filterwarnings("ignore")

import torch  # noqa: E402
from safetensors.torch import load_file  # noqa: E402

from fixtures_lib import clip_vocab, ldm_convert, tiny_models  # noqa: E402
from fixtures_lib.build import _half_dict, save_tensors  # noqa: E402

L_HIDDEN, G_HIDDEN, G_PROJ = 16, 12, 20
CONTEXT = L_HIDDEN + G_HIDDEN  # 28, the base UNet's cross-attention width
TIME_DIM = 8  # addition_time_embed_dim (256 in real SDXL)
ADM_BASE = G_PROJ + 6 * TIME_DIM  # 68 (real: 1280 + 6 * 256 = 2816)
ADM_REFINER = G_PROJ + 5 * TIME_DIM  # 60 (real: 1280 + 5 * 256 = 2560)
VAE_SCALE = 0.13025
SEEDS = {"l": 5000, "g": 5100, "unet": 5200, "vae": 5300, "refiner": 5400, "lora": 5500, "emb": 5600}

EMPH_PROMPT = "a photo of a (red fox:1.3) in the [snow]"
EMPH_FRAGMENTS = [("a photo of a ", 1.0), ("red fox", 1.3), (" in the ", 1.0), ("snow", 1 / 1.1)]
LONG_PROMPT = " ".join(["a beautiful detailed painting of a quiet mountain lake at dawn"] * 9)
GEN_PROMPT, GEN_NEGATIVE = "a red fox in the snow, highly detailed", "blurry"
# Micro-conditioning of the text goldens: (height, width) original/target, crop (top, left).
COND = dict(width=96, height=64, crop_top=8, crop_left=4)
AESTHETIC, NEG_AESTHETIC = 6.0, 2.5


# ---------------------------------------------------------------- models


def clip_config(kind):
    from transformers import CLIPTextConfig

    big = kind == "g"
    return CLIPTextConfig(vocab_size=49408, hidden_size=G_HIDDEN if big else L_HIDDEN, num_attention_heads=2,
                          intermediate_size=24 if big else 32, num_hidden_layers=3, max_position_embeddings=77,
                          hidden_act="gelu" if big else "quick_gelu", projection_dim=G_PROJ if big else L_HIDDEN,
                          layer_norm_eps=1e-5, bos_token_id=49406, eos_token_id=49407,
                          pad_token_id=0 if big else 49407)


def make_clip(kind):
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    torch.manual_seed(SEEDS[kind])
    cls = CLIPTextModelWithProjection if kind == "g" else CLIPTextModel
    return tiny_models.perturb_and_round(cls(clip_config(kind)).eval(), SEEDS[kind] + 1)


def unet_config(refiner):
    common = dict(sample_size=8, in_channels=4, out_channels=4, layers_per_block=1, norm_num_groups=32,
                  # 2 heads of 16 channels (real SDXL: 64 channels per head; single files need
                  # ModelFileOptions::unet_head_dim = 16 for this tiny model).
                  block_out_channels=(32, 32, 32), attention_head_dim=(2, 2, 2),
                  use_linear_projection=True, addition_embed_type="text_time",
                  addition_time_embed_dim=TIME_DIM)
    if refiner:
        # Real refiner: 4 levels 384..1536, depth [0, 4, 4, 0], mid 4: attention in the middle only.
        return dict(common, down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
                    up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
                    transformer_layers_per_block=2, cross_attention_dim=G_HIDDEN,
                    projection_class_embeddings_input_dim=ADM_REFINER)
    # Real base: 320/640/1280, depth [0, 2, 10], mid 10: no attention at the first level.
    return dict(common, down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
                up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
                transformer_layers_per_block=(1, 1, 2), cross_attention_dim=CONTEXT,
                projection_class_embeddings_input_dim=ADM_BASE)


def make_unet(refiner):
    from diffusers import UNet2DConditionModel

    seed = SEEDS["refiner" if refiner else "unet"]
    torch.manual_seed(seed)
    return tiny_models.perturb_and_round(UNet2DConditionModel(**unet_config(refiner)).eval(), seed + 1)


def make_vae():
    from diffusers import AutoencoderKL

    torch.manual_seed(SEEDS["vae"])
    cfg = dict(tiny_models.vae_config(), scaling_factor=VAE_SCALE)
    return tiny_models.perturb_and_round(AutoencoderKL(**cfg).eval(), SEEDS["vae"] + 1)


# ---------------------------------------------------------------- writing


def te_file_dict(model):
    """transformers >= 5.6 saves without 'text_model.'; real SDXL folders have it (and text_projection)."""
    return {(k if k.startswith(("text_model.", "text_projection.")) else "text_model." + k): v
            for k, v in model.state_dict().items()}


def write_folder(folder, te, te2, unet, vae):
    from diffusers import EulerDiscreteScheduler, StableDiffusionXLPipeline
    from transformers import CLIPTokenizer

    if os.path.exists(folder):
        shutil.rmtree(folder)
    tok_dir, tok2_dir = folder + ".tok.tmp", folder + ".tok2.tmp"
    clip_vocab.write_tokenizer(tok_dir, clip_vocab.EOS)
    clip_vocab.write_tokenizer(tok2_dir, "!")
    sched = EulerDiscreteScheduler(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012,
                                   beta_schedule="scaled_linear", prediction_type="epsilon",
                                   timestep_spacing="leading", steps_offset=1)
    pipe = StableDiffusionXLPipeline(vae=vae, text_encoder=te, text_encoder_2=te2,
                                     tokenizer=CLIPTokenizer.from_pretrained(tok_dir),
                                     tokenizer_2=CLIPTokenizer.from_pretrained(tok2_dir), unet=unet,
                                     scheduler=sched, force_zeros_for_empty_prompt=True)
    pipe.to(torch.float16)
    pipe.save_pretrained(folder, safe_serialization=True)
    pipe.to(torch.float32)
    for name, src in (("tokenizer", tok_dir), ("tokenizer_2", tok2_dir)):
        shutil.rmtree(os.path.join(folder, name))
        shutil.move(src, os.path.join(folder, name))
    for name in ("tokenizer", "tokenizer_2"):  # the standard vocabulary: see the module comment
        for f in ("vocab.json", "merges.txt"):
            os.remove(os.path.join(folder, name, f))
    for name, model in (("text_encoder", te), ("text_encoder_2", te2)):
        save_tensors(os.path.join(folder, name, "model.safetensors"), _half_dict(te_file_dict(model)),
                     metadata={"format": "pt"})


def openclip_dict(te2, prefix):
    """CLIPTextModelWithProjection -> OpenCLIP text tower (SGM conditioner.embedders.N.model.*)."""
    sd = {k: v for k, v in te_file_dict(te2).items() if k.startswith("text_model.")}
    proj = te2.text_projection.weight.detach().t().contiguous()  # OpenCLIP: x @ P, P [width, embed]
    return ldm_convert.clip_to_openclip(sd, 3, proj, torch.tensor(math.log(1 / 0.07)), prefix=prefix)


def base_single_dict(te, te2, unet, vae):
    out = {}
    out.update(ldm_convert.unet_to_ldm(unet.state_dict(), unet.config))
    out.update(ldm_convert.vae_to_ldm(vae.state_dict(), vae.config))
    for k, v in te_file_dict(te).items():
        out["conditioner.embedders.0.transformer." + k] = v
    out.update(openclip_dict(te2, "conditioner.embedders.1.model."))
    out = _half_dict(out)
    out["conditioner.embedders.0.transformer.text_model.embeddings.position_ids"] = torch.arange(77).reshape(1, 77)
    return out


def refiner_single_dict(te2, unet):
    out = {}
    out.update(ldm_convert.unet_to_ldm(unet.state_dict(), unet.config))
    # No VAE (first_stage_model.*): real refiner files carry the base's VAE; the tests give the base
    # file as the VAE instead, which keeps this fixture 0.7 MB smaller.
    out.update(openclip_dict(te2, "conditioner.embedders.0.model."))
    return _half_dict(out)


def compare(label, expected, actual):
    missing = sorted(set(expected) - set(actual))
    extra = sorted(set(actual) - set(expected))
    bad = [k for k in expected if k in actual and not torch.equal(expected[k].float(), actual[k].float())]
    if missing or extra or bad:
        raise AssertionError(f"{label}: missing {missing[:3]} extra {extra[:3]} different {bad[:3]}")
    print(f"  ok  {label}: {len(expected)} tensors identical")


def verify_files(folder, single, refiner_path, te, te2, unet, refiner_unet, vae):
    """Reloads the folder with diffusers and the single files with diffusers' own converters."""
    from diffusers import StableDiffusionXLPipeline
    from diffusers.loaders import single_file_utils as sfu

    tok2 = os.path.join(folder, "tokenizer_2")
    tmp = folder + ".verify.tmp"
    shutil.copytree(folder, tmp)
    clip_vocab.write_tokenizer(tmp + ".tok", "!")
    for name in ("tokenizer", "tokenizer_2"):
        for f in ("vocab.json", "merges.txt"):
            shutil.copy(os.path.join(tmp + ".tok", f), os.path.join(tmp, name, f))
    shutil.rmtree(tmp + ".tok")
    pipe = StableDiffusionXLPipeline.from_pretrained(tmp, torch_dtype=torch.float32, local_files_only=True)
    shutil.rmtree(tmp)
    assert os.path.isdir(tok2)
    compare("sdxl/ unet reload", unet.state_dict(), pipe.unet.state_dict())
    compare("sdxl/ vae reload", vae.state_dict(), pipe.vae.state_dict())
    compare("sdxl/ text_encoder reload", te.state_dict(), pipe.text_encoder.state_dict())
    compare("sdxl/ text_encoder_2 reload", te2.state_dict(), pipe.text_encoder_2.state_dict())
    assert pipe.tokenizer.pad_token_id == 49407 and pipe.tokenizer_2.pad_token_id == 0

    ckpt = load_file(single)
    compare("sdxl.safetensors unet (diffusers converter)", unet.state_dict(),
            sfu.convert_ldm_unet_checkpoint(ckpt, dict(unet.config)))
    compare("sdxl.safetensors vae (diffusers converter)", vae.state_dict(),
            sfu.convert_ldm_vae_checkpoint(ckpt, dict(vae.config)))
    g = sfu.convert_open_clip_checkpoint(te2, ckpt, prefix="conditioner.embedders.1.model.")
    g = {k: v for k, v in g.items() if "position_ids" not in k}
    compare("sdxl.safetensors text_encoder_2 (diffusers converter)", te_file_dict(te2), g)
    ref = load_file(refiner_path)
    compare("sdxl_refiner.safetensors unet (diffusers converter)", refiner_unet.state_dict(),
            sfu.convert_ldm_unet_checkpoint(ref, dict(refiner_unet.config)))
    return pipe


# ---------------------------------------------------------------- reference conditioning (A1111 semantics)


def token_embedding(model):
    """CLIPTextModel (transformers 5) is the text transformer itself; the projection model wraps one."""
    return getattr(model, "text_model", model).embeddings.token_embedding


def param(model, name):
    """A text encoder's or UNet's parameter by its file name ('text_model.' optional)."""
    params = dict(model.named_parameters())
    return params[name] if name in params else params[name[len("text_model."):]]


def tokens(tok, text):
    return tok(text, add_special_tokens=False).input_ids


def chunk(fragments, tok, pad, vocab_emb=None):
    """A1111 tokenize_line for prompts without commas/BREAK: 75-token chunks; embeddings (name -> n vectors)
    move to the next chunk when they do not fit. Returns [(ids[77], weights[77], fixes[(offset, name)])]."""
    chunks, ids, ws, fixes = [], [], [], []

    def close():
        c_ids = [49406] + ids + [49407] + [pad] * (75 - len(ids))
        chunks.append((c_ids, [1.0] + ws + [1.0] * (76 - len(ws)), list(fixes)))
        ids.clear(), ws.clear(), fixes.clear()

    for text, w in fragments:
        t = tokens(tok, text)
        i = 0
        while i < len(t):
            hit = None
            for name, (seq, n) in (vocab_emb or {}).items():
                if t[i:i + len(seq)] == seq:
                    hit = (name, seq, n)
            if hit is None:
                if len(ids) == 75:
                    close()
                ids.append(t[i]), ws.append(w)
                i += 1
                continue
            name, seq, n = hit
            if len(ids) + n > 75:
                close()
            fixes.append((len(ids), name))
            ids.extend([0] * n), ws.extend([w] * n)
            i += len(seq)
    if ids or not chunks:
        close()
    return chunks


@torch.no_grad()
def encode_chunks(model, chunks, emb_vectors=None, pooled=False):
    """Penultimate hidden states (no final norm; SDXL) with A1111 emphasis, chunks side by side. Embedding
    vectors are put in place of the token embeddings through a forward hook (inputs_embeds)."""
    zs, first_pooled = [], None
    for ids, ws, fixes in chunks:
        hook = None
        if fixes:
            def replace(_mod, _inp, out, fixes=fixes):
                out = out.clone()
                for off, name in fixes:
                    v = emb_vectors[name]
                    out[0, 1 + off:1 + off + v.shape[0]] = v
                return out
            hook = token_embedding(model).register_forward_hook(replace)
        out = model(torch.tensor([ids]), output_hidden_states=True)
        if hook:
            hook.remove()
        z = out.hidden_states[-2]
        w = torch.tensor([ws]).unsqueeze(-1)
        zw = z * w
        zs.append(zw * (z.mean() / zw.mean()))
        if first_pooled is None and pooled:
            first_pooled = out.text_embeds
    return torch.cat(zs, dim=1), first_pooled


def time_ids(unet, values):
    """diffusers' own add_time_proj (sinusoidal, cos first): the size/crop/score part of y."""
    t = torch.tensor(values, dtype=torch.float32)
    return unet.add_time_proj(t).reshape(1, -1)


@torch.no_grad()
def sdxl_condition(pipe, fragments, emb=None, emb_vectors=None):
    chunks_l = chunk(fragments, pipe.tokenizer, 49407, emb)
    chunks_g = chunk(fragments, pipe.tokenizer, 0, emb)
    zl, _ = encode_chunks(pipe.text_encoder, chunks_l, emb_vectors and emb_vectors["clip_l"])
    zg, pooled = encode_chunks(pipe.text_encoder_2, chunks_g, emb_vectors and emb_vectors["clip_g"], pooled=True)
    return torch.cat([zl, zg], dim=-1), pooled, chunks_l, chunks_g


def base_y(unet, pooled, c):
    h, w = c["height"], c["width"]
    return torch.cat([pooled, time_ids(unet, [h, w, c["crop_top"], c["crop_left"], h, w])], dim=1)


# ---------------------------------------------------------------- goldens


def meta(**kw):
    base = {"generated_by": "tools/make_sdxl_fixtures.py", "dtype": "float32 goldens from fp16 weights"}
    base.update({k: str(v) for k, v in kw.items()})
    return base


@torch.no_grad()
def text_golden(pipe, path):
    ctx, pooled, cl, cg = sdxl_condition(pipe, EMPH_FRAGMENTS)
    lctx, lpooled, _, _ = sdxl_condition(pipe, [(LONG_PROMPT, 1.0)])
    assert lctx.shape[1] == 154, lctx.shape
    # A1111 zeros the empty negative (force_zero_embeddings), pooled included; y keeps the sizes.
    neg_y = base_y(pipe.unet, torch.zeros_like(pooled), COND)
    out = {"emph_context": ctx, "emph_pooled": pooled, "emph_y": base_y(pipe.unet, pooled, COND),
           "emph_ids_l": torch.tensor([cl[0][0]]), "emph_ids_g": torch.tensor([cg[0][0]]),
           "long_context": lctx, "long_pooled": lpooled, "long_y": base_y(pipe.unet, lpooled, COND),
           "empty_negative_y": neg_y}
    save_tensors(path, {k: v.contiguous() for k, v in out.items()},
                 meta(emph_prompt=EMPH_PROMPT, long_prompt=LONG_PROMPT, **COND,
                      context="penultimate hidden states of CLIP-L ++ bigG (no final norm), A1111 emphasis per encoder",
                      pooled="bigG text_embeds of the first chunk (unweighted)",
                      y="pooled ++ add_time_proj([h, w, crop_top, crop_left, h, w])"))
    print(f"  {path}: context {tuple(ctx.shape)} long {tuple(lctx.shape)}")


@torch.no_grad()
def unet_golden(unet, path, context_dim, adm):
    g = torch.Generator().manual_seed(77)
    x = torch.randn(2, 4, 8, 8, generator=g)
    t = torch.tensor([999.0, 250.0])
    context = torch.randn(2, 77, context_dim, generator=g)
    text_embeds = torch.randn(2, G_PROJ, generator=g)
    if (adm - G_PROJ) // TIME_DIM == 6:  # base: original (h, w), crop (top, left), target (h, w)
        ids = torch.tensor([[64, 96, 0, 0, 64, 96], [128, 128, 8, 4, 128, 128]], dtype=torch.float32)
    else:  # refiner: original (h, w), crop (top, left), aesthetic score
        ids = torch.tensor([[64, 96, 0, 0, 6.0], [128, 128, 8, 4, 2.5]])
    out = unet(x, t, encoder_hidden_states=context,
               added_cond_kwargs={"text_embeds": text_embeds, "time_ids": ids}).sample
    y = torch.cat([text_embeds, unet.add_time_proj(ids.flatten()).reshape(2, -1)], dim=1)
    save_tensors(path, {"x": x, "timesteps": t, "context": context, "y": y.contiguous(), "out": out.contiguous()},
                 meta(y="text_embeds ++ add_time_proj(time_ids) (diffusers' own path inside the UNet)"))
    print(f"  {path}: out std {out.std():.4f}")
    return {"x": x, "timesteps": t, "context": context, "y": y, "text_embeds": text_embeds, "time_ids": ids}


@torch.no_grad()
def gen_golden(pipe, path):
    import ref_comfy

    c = dict(width=64, height=64, crop_top=0, crop_left=0)
    cond, pc, _, _ = sdxl_condition(pipe, [(GEN_PROMPT, 1.0)])
    uncond, pu, _, _ = sdxl_condition(pipe, [(GEN_NEGATIVE, 1.0)])
    yc, yu = base_y(pipe.unet, pc, c), base_y(pipe.unet, pu, c)
    unet = pipe.unet
    rows = math.ceil(ADM_BASE / CONTEXT)

    def pack(ctx, y):
        pad = torch.zeros(1, rows * CONTEXT)
        pad[:, :ADM_BASE] = y
        return torch.cat([ctx, pad.reshape(1, rows, CONTEXT)], dim=1)

    def fn(x, t, context):
        ctx, y = context[:, :-rows], context[:, -rows:].reshape(context.shape[0], -1)[:, :ADM_BASE]
        # diffusers computes y itself from text_embeds + time_ids: feed the pieces back.
        emb_part = y[:, G_PROJ:]
        ids = torch.tensor([[c["height"], c["width"], 0, 0, c["height"], c["width"]]] * x.shape[0],
                           dtype=torch.float32)
        assert torch.allclose(unet.add_time_proj(ids.flatten()).reshape(x.shape[0], -1), emb_part, atol=1e-6)
        return unet(x, t, encoder_hidden_states=ctx,
                    added_cond_kwargs={"text_embeds": y[:, :G_PROJ], "time_ids": ids}).sample

    steps, cfg = 4, 5.0
    r = ref_comfy.generate(fn, "eps", pack(cond, yc), pack(uncond, yu), sampler="euler", scheduler="normal",
                           steps=steps, cfg=cfg, seed=42, latent_shape=[1, 4, 8, 8])
    latent = r["latent"]
    image = pipe.vae.decode(latent / VAE_SCALE).sample.clamp(-1, 1)
    assert image.std() > 0 and torch.isfinite(latent).all()
    save_tensors(path, {"cond": cond, "uncond": uncond, "y_cond": yc, "y_uncond": yu, "noise": r["noise"],
                        "sigmas": r["sigmas"].float(), "latent": latent.contiguous(), "image": image.contiguous()},
                 meta(model="sdxl", prompt=GEN_PROMPT, negative=GEN_NEGATIVE, steps=steps, cfg=cfg, seed=42,
                      sampler="euler",
                      scheduler="normal", width=64, height=64, prediction_type="epsilon",
                      image="vae.decode(latent / 0.13025) clamped to [-1, 1]"))
    print(f"  {path}: latent std {latent.std():.3f} image std {image.std():.3f}")


@torch.no_grad()
def refiner_goldens(te2, refiner_unet, tok, text_path, unet_path):
    chunks = chunk(EMPH_FRAGMENTS, tok, 0)
    ctx, pooled = encode_chunks(te2, chunks, pooled=True)
    neg_chunks = chunk([(GEN_NEGATIVE, 1.0)], tok, 0)
    nctx, npooled = encode_chunks(te2, neg_chunks, pooled=True)
    h, w = COND["height"], COND["width"]
    y = torch.cat([pooled, time_ids(refiner_unet, [h, w, COND["crop_top"], COND["crop_left"], AESTHETIC])], 1)
    ny = torch.cat([npooled, time_ids(refiner_unet, [h, w, COND["crop_top"], COND["crop_left"], NEG_AESTHETIC])], 1)
    save_tensors(text_path, {"context": ctx, "y": y, "neg_context": nctx, "neg_y": ny},
                 meta(prompt=EMPH_PROMPT, negative=GEN_NEGATIVE, aesthetic_score=AESTHETIC,
                      negative_aesthetic_score=NEG_AESTHETIC, **COND,
                      y="pooled ++ add_time_proj([h, w, crop_top, crop_left, aesthetic])"))
    unet_golden(refiner_unet, unet_path, G_HIDDEN, ADM_REFINER)
    print(f"  {text_path}: context {tuple(ctx.shape)}")


# ---------------------------------------------------------------- LoRA

LORA_RANK, LORA_UNET_STRENGTH, LORA_TE_STRENGTH = 4, 0.8, 0.6


def lora_targets(pipe):
    """(diffusers component, module name) pairs: attention at both attention levels, a ResBlock conv,
    label_emb, and q/v/fc1 of both text encoders."""
    unet = ["down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_q",
            "down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k",
            "down_blocks.2.attentions.0.transformer_blocks.1.attn2.to_v",
            "down_blocks.2.attentions.0.proj_in",
            "mid_block.attentions.0.transformer_blocks.1.ff.net.2",
            "up_blocks.0.attentions.1.transformer_blocks.0.attn1.to_out.0",
            "up_blocks.1.resnets.0.conv1", "add_embedding.linear_1"]
    te = ["text_model.encoder.layers.0.self_attn.q_proj", "text_model.encoder.layers.2.mlp.fc1"]
    te2 = ["text_model.encoder.layers.1.self_attn.v_proj", "text_model.encoder.layers.1.mlp.fc2"]
    return [("unet", n) for n in unet] + [("text_encoder", n) for n in te] + [("text_encoder_2", n) for n in te2]


def ldm_module_names(unet):
    """diffusers UNet module -> our LDM name, through the fixture converter's own table."""
    sd = unet.state_dict()
    index = {k: torch.tensor(float(i)) for i, k in enumerate(sorted(sd))}
    names = sorted(sd)
    out = {}
    for new, v in ldm_convert.unet_to_ldm(index, unet.config, prefix="").items():
        out[names[int(v)]] = new
    return {k[: -len(".weight")]: v[: -len(".weight")] for k, v in out.items() if k.endswith(".weight")}


def make_loras(pipe, out_dir):
    g = torch.Generator().manual_seed(SEEDS["lora"])
    comps = {"unet": pipe.unet, "text_encoder": pipe.text_encoder, "text_encoder_2": pipe.text_encoder_2}
    kohya, peft, deltas = {}, {}, {"kohya": {}, "peft": {}}
    ldm_names = ldm_module_names(pipe.unet)
    for i, (comp, name) in enumerate(lora_targets(pipe)):
        w = param(comps[comp], name + ".weight")
        for fmt in ("kohya", "peft"):
            if w.dim() == 4:
                down = torch.randn(LORA_RANK, w.shape[1], w.shape[2], w.shape[3], generator=g) * 0.1
                up = torch.randn(w.shape[0], LORA_RANK, 1, 1, generator=g) * 0.1
            else:
                down = torch.randn(LORA_RANK, w.shape[1], generator=g) * 0.1
                up = torch.randn(w.shape[0], LORA_RANK, generator=g) * 0.1
            down, up = down.half(), up.half()
            delta = (up.flatten(1).float() @ down.flatten(1).float()).reshape(w.shape)
            if fmt == "kohya":
                alpha = float(1 + i % 3)
                if comp == "unet":  # kohya's SDXL UNet names are the SGM/LDM ones
                    key = "lora_unet_" + ldm_names[name].replace(".", "_")
                else:
                    key = ("lora_te1_" if comp == "text_encoder" else "lora_te2_") + name.replace(".", "_")
                kohya[key + ".lora_down.weight"], kohya[key + ".lora_up.weight"] = down, up
                kohya[key + ".alpha"] = torch.tensor(alpha, dtype=torch.float16)
                deltas[fmt][(comp, name)] = alpha / LORA_RANK * delta
            else:
                key = f"{comp}.{name}"
                peft[key + ".lora_A.weight"], peft[key + ".lora_B.weight"] = down, up
                deltas[fmt][(comp, name)] = delta
    os.makedirs(out_dir, exist_ok=True)
    save_tensors(os.path.join(out_dir, "kohya.safetensors"), kohya, {"generator": "tools/make_sdxl_fixtures.py"})
    save_tensors(os.path.join(out_dir, "peft.safetensors"), peft, {"generator": "tools/make_sdxl_fixtures.py"})
    return deltas


@torch.no_grad()
def lora_golden(pipe, deltas, unet_inputs, path):
    out = {}
    for fmt, d in deltas.items():
        saved = {}
        comps = {"unet": pipe.unet, "text_encoder": pipe.text_encoder, "text_encoder_2": pipe.text_encoder_2}
        for (comp, name), delta in d.items():
            p = param(comps[comp], name + ".weight")
            saved[(comp, name)] = p.detach().clone()
            p.add_((LORA_UNET_STRENGTH if comp == "unet" else LORA_TE_STRENGTH) * delta)
        i = unet_inputs
        out[f"{fmt}.unet_out"] = pipe.unet(i["x"], i["timesteps"], encoder_hidden_states=i["context"],
                                           added_cond_kwargs={"text_embeds": i["text_embeds"],
                                                              "time_ids": i["time_ids"]}).sample
        ctx, pooled, _, _ = sdxl_condition(pipe, EMPH_FRAGMENTS)
        out[f"{fmt}.context"], out[f"{fmt}.pooled"] = ctx, pooled
        for (comp, name), orig in saved.items():
            param(comps[comp], name + ".weight").copy_(orig)
    save_tensors(path, {k: v.contiguous() for k, v in out.items()},
                 meta(unet_strength=LORA_UNET_STRENGTH, te_strength=LORA_TE_STRENGTH, prompt=EMPH_PROMPT,
                      unet_inputs="golden/sdxl_unet.safetensors"))
    print(f"  {path}: {len(out)} tensors")


# ---------------------------------------------------------------- embeddings


@torch.no_grad()
def make_embeddings(pipe, sd1_pipe, emb_dir, golden_dir):
    if os.path.exists(emb_dir):
        shutil.rmtree(emb_dir)
    os.makedirs(emb_dir)
    g = torch.Generator().manual_seed(SEEDS["emb"])
    xl = {"clip_l": (torch.randn(3, L_HIDDEN, generator=g) * 0.5).half(),
          "clip_g": (torch.randn(3, G_HIDDEN, generator=g) * 0.5).half()}
    sd1 = (torch.randn(2, L_HIDDEN, generator=g) * 0.5).half()
    sd1_old = (torch.randn(1, L_HIDDEN, generator=g) * 0.5).half()
    save_tensors(os.path.join(emb_dir, "xlstyle.safetensors"), xl)
    save_tensors(os.path.join(emb_dir, "foxstyle.safetensors"), {"emb_params": sd1})
    save_tensors(os.path.join(emb_dir, "oldstyle.safetensors"), {"string_to_param.*": sd1_old})
    save_tensors(os.path.join(emb_dir, "widestyle.safetensors"), {"emb_params": torch.zeros(1, 32).half()})
    with open(os.path.join(emb_dir, "pickled.pt"), "wb") as f:
        f.write(b"\x80\x02}q\x00.")  # a pickle header: Easel must refuse it without reading it

    tok = pipe.tokenizer
    emb = {"xlstyle": (tokens(tok, "xlstyle"), 3)}
    vectors = {"clip_l": {"xlstyle": xl["clip_l"].float()}, "clip_g": {"xlstyle": xl["clip_g"].float()}}
    out = {}
    ctx, pooled, cl, _ = sdxl_condition(pipe, [("a photo of xlstyle in the snow", 1.0)], emb, vectors)
    out["xl_context"], out["xl_pooled"], out["xl_ids_l"] = ctx, pooled, torch.tensor([cl[0][0]])
    # 74 words before the embedding: its 3 vectors do not fit in the first chunk and move to the second.
    filler = " ".join(["lake"] * 74)
    assert len(tokens(tok, filler)) == 74
    ctx2, _, cl2, _ = sdxl_condition(pipe, [(filler + " xlstyle snow", 1.0)], emb, vectors)
    assert cl2[1][2] == [(0, "xlstyle")], cl2[1][2]
    out["xl_boundary_context"] = ctx2
    # SD1: foxstyle (emb_params) and oldstyle (string_to_param) through the tiny sd1 model, clip skip 1.
    emb1 = {"foxstyle": (tokens(tok, "foxstyle"), 2), "oldstyle": (tokens(tok, "oldstyle"), 1)}
    vec1 = {"foxstyle": sd1.float(), "oldstyle": sd1_old.float()}
    chunks = chunk([("a foxstyle painting, oldstyle", 1.0)], sd1_pipe.tokenizer, 49407, emb1)
    te = sd1_pipe.text_encoder
    zs = []
    for ids, _, fixes in chunks:
        def replace(_m, _i, o, fixes=fixes):
            o = o.clone()
            for off, name in fixes:
                o[0, 1 + off:1 + off + vec1[name].shape[0]] = vec1[name]
            return o
        h = token_embedding(te).register_forward_hook(replace)
        zs.append(te(torch.tensor([ids])).last_hidden_state)
        h.remove()
    out["sd1_context"] = torch.cat(zs, 1)
    path = os.path.join(golden_dir, "sdxl_embeddings.safetensors")
    save_tensors(path, {k: v.contiguous() for k, v in out.items()},
                 meta(xl_prompt="a photo of xlstyle in the snow", xl_boundary_prompt="74 x 'lake' + ' xlstyle snow'",
                      sd1_prompt="a foxstyle painting, oldstyle", sd1_model="sd1/ (clip skip 1)",
                      how="embedding vectors put in place of the token embeddings (forward hook = inputs_embeds)"))
    print(f"  {path}: {len(out)} tensors")


# ---------------------------------------------------------------- main


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=os.path.join(REPO, "tests", "fixtures"))
    args = parser.parse_args()
    out = os.path.abspath(args.out)
    golden = os.path.join(out, "golden")
    torch.set_num_threads(1)
    import diffusers.utils.logging as dlog
    import transformers.utils.logging as tlog
    dlog.set_verbosity_error(), dlog.disable_progress_bar(), tlog.set_verbosity_error()

    print("== building tiny SDXL models")
    te, te2, unet, vae, refiner = make_clip("l"), make_clip("g"), make_unet(False), make_vae(), make_unet(True)
    folder, single = os.path.join(out, "sdxl"), os.path.join(out, "sdxl.safetensors")
    refiner_path = os.path.join(out, "sdxl_refiner.safetensors")
    write_folder(folder, te, te2, unet, vae)
    save_tensors(single, base_single_dict(te, te2, unet, vae), metadata={"format": "pt"})
    save_tensors(refiner_path, refiner_single_dict(te2, refiner), metadata={"format": "pt"})

    print("== checking the files with diffusers' own loaders")
    pipe = verify_files(folder, single, refiner_path, te, te2, unet, refiner, vae)

    print("== goldens")
    text_golden(pipe, os.path.join(golden, "sdxl_text.safetensors"))
    inputs = unet_golden(pipe.unet, os.path.join(golden, "sdxl_unet.safetensors"), CONTEXT, ADM_BASE)
    gen_golden(pipe, os.path.join(golden, "sdxl_gen_euler_normal.safetensors"))
    refiner_goldens(pipe.text_encoder_2, refiner, pipe.tokenizer, os.path.join(golden, "sdxl_refiner_text.safetensors"),
                    os.path.join(golden, "sdxl_refiner_unet.safetensors"))
    deltas = make_loras(pipe, os.path.join(out, "sdxl_lora"))
    lora_golden(pipe, deltas, inputs, os.path.join(golden, "sdxl_lora_reference.safetensors"))
    from diffusers import StableDiffusionPipeline
    sd1 = StableDiffusionPipeline.from_pretrained(os.path.join(out, "sd1"), torch_dtype=torch.float32,
                                                  local_files_only=True)
    make_embeddings(pipe, sd1, os.path.join(out, "embeddings"), golden)

    total = 0
    for p in [folder, single, refiner_path, os.path.join(out, "sdxl_lora"), os.path.join(out, "embeddings")] + [
            os.path.join(golden, f) for f in sorted(os.listdir(golden)) if f.startswith("sdxl_")]:
        size = os.path.getsize(p) if os.path.isfile(p) else sum(
            os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(p) for f in fs)
        total += size
        print(f"  {size / 1e6:8.3f} MB  {os.path.relpath(p, out)}")
    print(f"  {total / 1e6:8.3f} MB written by this tool")


if __name__ == "__main__":
    main()
