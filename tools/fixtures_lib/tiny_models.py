"""Tiny random Stable Diffusion models (SD1-style eps and SD2-style v-prediction) for fixtures.

Each model is built with a fixed torch seed, then EVERY parameter gets 0.1 * randn added (diffusers
initialises many norms/biases to exactly 0 or 1, which would hide loading bugs such as a missing
bias), then every parameter is rounded to float16 and back: the float32 model used for goldens holds
exactly the values stored in the fp16 files.

Shapes follow /work/notes/fixtures.md (the fixture contract); comments give the real-model analogue.
"""

import torch
from diffusers import AutoencoderKL, EulerDiscreteScheduler, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel

VOCAB = 49408
TEXT_HIDDEN = 16  # cross_attention_dim of the UNets
SCALING_FACTOR = 0.18215


def perturb_and_round(module, seed, scale=0.1):
    """Adds scale*randn to every parameter (deterministic), then rounds to fp16 precision."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _, p in sorted(module.named_parameters(), key=lambda kv: kv[0]):
            p.add_(scale * torch.randn(p.shape, generator=g))
            p.copy_(p.half().float())
    return module


def text_config(kind, num_layers):
    # SD1: CLIP ViT-L/14 text tower (quick_gelu). SD2: OpenCLIP ViT-H text tower (exact gelu).
    return CLIPTextConfig(
        vocab_size=VOCAB,
        hidden_size=TEXT_HIDDEN,
        num_attention_heads=2,
        intermediate_size=32,
        num_hidden_layers=num_layers,
        max_position_embeddings=77,
        hidden_act="quick_gelu" if kind == "sd1" else "gelu",
        projection_dim=TEXT_HIDDEN,
        layer_norm_eps=1e-5,
        bos_token_id=49406,
        eos_token_id=49407,
        pad_token_id=49407 if kind == "sd1" else 0,
    )


def make_text_encoder(kind, num_layers, seed):
    torch.manual_seed(seed)
    model = CLIPTextModel(text_config(kind, num_layers)).eval()
    return perturb_and_round(model, seed + 1)


def unet_config(kind):
    common = dict(
        sample_size=8,
        in_channels=4,
        out_channels=4,
        layers_per_block=2,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=TEXT_HIDDEN,
        norm_num_groups=32,
    )
    if kind == "sd1":
        # diffusers' `attention_head_dim` is really the head COUNT (SD1: 8 heads at every level).
        return dict(common, block_out_channels=(32, 64), attention_head_dim=8)
    # SD2: 64 channels per head -> 1 head at 64 channels; linear proj_in/proj_out.
    # One res block per level (SD2's real UNet has 2): keeps the fixture small and makes the
    # C++ side read num_res_blocks from the weights rather than assume 2.
    return dict(
        common,
        block_out_channels=(64, 64),
        attention_head_dim=(1, 1),
        use_linear_projection=True,
        layers_per_block=1,
    )


def make_unet(kind, seed):
    torch.manual_seed(seed)
    model = UNet2DConditionModel(**unet_config(kind)).eval()
    return perturb_and_round(model, seed + 1)


def vae_config():
    # Real SD VAE: (128, 256, 512, 512), layers_per_block 2; same topology (3 downsamples, x8).
    return dict(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(32, 32, 32, 32),
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=32,
        sample_size=64,
        scaling_factor=SCALING_FACTOR,
    )


def make_vae(seed):
    torch.manual_seed(seed)
    model = AutoencoderKL(**vae_config()).eval()
    return perturb_and_round(model, seed + 1)


def make_scheduler(kind):
    return EulerDiscreteScheduler(
        num_train_timesteps=1000,
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        prediction_type="epsilon" if kind == "sd1" else "v_prediction",
        timestep_spacing="leading",
        steps_offset=1,
    )
