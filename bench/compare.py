"""Easel vs diffusers on the same random weights of the real SD1.5 and SDXL shapes.

Run by bench/run_device.sh on the GPU machine (no downloads there); three sub-commands:

  make      FAMILY DIR VOCAB   random-weight diffusers pipeline folder (fp16) that both engines
                               load: UNet, VAE, text encoder(s) from configs written here with the
                               released models' shapes, a CLIP tokenizer built from Easel's CLIP
                               vocabulary (bpe_simple_vocab_16e6.txt.gz), Euler "trailing".
  diffusers FAMILY DIR MODE    time diffusers (MODE eager | compile: torch.compile
                               mode="reduce-overhead" on a channels-last UNet and VAE decoder)
                               the way easel_bench --model times Easel: load, load -> first image,
                               whole image (median), per-step time (runs of `steps` and 1 step),
                               VAE decode, peak memory; appends one JSON record and writes the
                               first image's latents / pixels as raw float32 for the comparison.
  table     RESULTS_DIR        one table of every record, the image differences, and a JSON
                               summary (bench/results/<stamp>.json).

Same work on both sides: the same weights, prompt and negative prompt, Euler with the same
sigmas (Easel's "simple" schedule, every 1000/steps-th training sigma from the top, handed to
diffusers as explicit timesteps: its "trailing" spacing rounds differently at 30 steps), CFG 7, fp16, the same initial noise (ComfyUI's: torch.randn on a CPU generator seeded
seed + i per image; Easel starts from noise * sqrt(1 + sigma_max^2) at full denoise, diffusers
multiplies its given latents by sigma_max, so we hand diffusers noise * sqrt(1+s^2)/s).
"""

import gzip
import json
import math
import os
import statistics
import sys
import time

import numpy as np
import torch

PROMPT = "a photograph of an astronaut riding a horse on the moon, detailed, 8k"
NEGATIVE = "blurry, low quality"
SEED = 42
CFG = 7.0


def sizes(family):
    return (512, 512, 20) if family == "sd15" else (1024, 1024, 30)


# ---------------------------------------------------------------------------- make
def write_tokenizer(vocab_gz, out_dir, pad_token):
    """CLIP's BPE files (vocab.json, merges.txt) from the original bpe_simple_vocab merges."""
    from transformers import CLIPTokenizer

    lines = gzip.open(vocab_gz, "rt", encoding="utf-8").read().split("\n")
    merges = lines[1 : 49152 - 256 - 2 + 1]
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    bs += list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    byte_chars = [chr(c) for c in cs]
    vocab = byte_chars + [c + "</w>" for c in byte_chars]
    vocab += ["".join(m.split()) for m in merges]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "vocab.json"), "w") as f:
        json.dump({t: i for i, t in enumerate(vocab)}, f)
    with open(os.path.join(out_dir, "merges.txt"), "w") as f:
        f.write("#version: 0.2\n" + "\n".join(merges) + "\n")
    tok = CLIPTokenizer(
        os.path.join(out_dir, "vocab.json"), os.path.join(out_dir, "merges.txt"), pad_token=pad_token
    )
    tok.model_max_length = 77
    return tok


def unet_config(family):
    """diffusers UNet2DConditionModel arguments of the real SD1.5 / SDXL shapes."""
    if family == "sdxl":
        return dict(
            sample_size=128,
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
            block_out_channels=(320, 640, 1280),
            layers_per_block=2,
            transformer_layers_per_block=(1, 2, 10),
            attention_head_dim=(5, 10, 20),
            cross_attention_dim=2048,
            use_linear_projection=True,
            addition_embed_type="text_time",
            addition_time_embed_dim=256,
            projection_class_embeddings_input_dim=2816,
        )
    return dict(sample_size=64, cross_attention_dim=768, attention_head_dim=8)


def make(family, out, vocab_gz):
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    torch.manual_seed(0)
    sdxl = family == "sdxl"
    dev = os.environ.get("BENCH_DEVICE", "cuda")  # cpu: a smoke test of this script
    t0 = time.time()
    unet_cfg = unet_config(family)
    with torch.device(dev):
        unet = UNet2DConditionModel(**unet_cfg)
        vae = AutoencoderKL(
            block_out_channels=(128, 256, 512, 512),
            down_block_types=("DownEncoderBlock2D",) * 4,
            up_block_types=("UpDecoderBlock2D",) * 4,
            latent_channels=4,
            layers_per_block=2,
            sample_size=1024 if sdxl else 512,
            scaling_factor=0.13025 if sdxl else 0.18215,
            force_upcast=False,
        )
        te_cfg = CLIPTextConfig(
            vocab_size=49408, hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
            num_attention_heads=12, max_position_embeddings=77, hidden_act="quick_gelu",
            projection_dim=768, eos_token_id=49407, bos_token_id=49406, pad_token_id=49407,
        )
        te = CLIPTextModel(te_cfg)
        te2 = None
        if sdxl:
            te2_cfg = CLIPTextConfig(
                vocab_size=49408, hidden_size=1280, intermediate_size=5120, num_hidden_layers=32,
                num_attention_heads=20, max_position_embeddings=77, hidden_act="gelu",
                projection_dim=1280, eos_token_id=49407, bos_token_id=49406, pad_token_id=0,
            )
            te2 = CLIPTextModelWithProjection(te2_cfg)
    with torch.no_grad():
        # Random init keeps fp16 activations finite at half scale (the work does not change).
        for p in unet.parameters():
            p.mul_(0.5)
    sched = EulerDiscreteScheduler(
        num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
        prediction_type="epsilon", timestep_spacing="trailing", steps_offset=1,
    )
    tok = write_tokenizer(vocab_gz, "/tmp/tok_" + family, "<|endoftext|>")
    comps = dict(vae=vae.half(), text_encoder=te.half(), tokenizer=tok, unet=unet.half(),
                 scheduler=sched)
    if sdxl:
        from diffusers import StableDiffusionXLPipeline

        tok2 = write_tokenizer(vocab_gz, "/tmp/tok2_" + family, "!")
        pipe = StableDiffusionXLPipeline(text_encoder_2=te2.half(), tokenizer_2=tok2,
                                         force_zeros_for_empty_prompt=False, **comps)
    else:
        from diffusers import StableDiffusionPipeline

        pipe = StableDiffusionPipeline(safety_checker=None, feature_extractor=None,
                                       requires_safety_checker=False, **comps)
    pipe.save_pretrained(out)
    print(f"make {family}: {out} in {time.time() - t0:.1f} s", flush=True)


# ---------------------------------------------------------------------------- diffusers
def sync():
    torch.cuda.synchronize()


def median_time(fn, runs, warmup=0):
    for _ in range(warmup):
        fn()
    sync()
    ts = []
    for _ in range(runs):
        s = time.perf_counter()
        fn()
        sync()
        ts.append(time.perf_counter() - s)
    return statistics.median(ts)


def comfy_simple_timesteps(steps):
    """ComfyUI's "simple" schedule (Easel's) as timesteps: every 1000/steps-th from the top."""
    return [999 - int(x * (1000 / steps)) for x in range(steps)]


def start_latents(pipe, batch, h, w, steps):
    """ComfyUI's initial noise (what Easel draws) scaled so diffusers' x * sigma_max equals
    Easel's noise * sqrt(1 + sigma_max^2)."""
    noise = torch.cat([
        torch.randn([1, 4, h // 8, w // 8], generator=torch.Generator().manual_seed(SEED + i))
        for i in range(batch)
    ])
    pipe.scheduler.set_timesteps(timesteps=comfy_simple_timesteps(steps))
    smax = float(pipe.scheduler.sigmas.max())
    return noise * (math.sqrt(1 + smax * smax) / smax)


def run_diffusers(family, model, mode, batch, runs, json_path, out_prefix):
    from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline

    sdxl = family == "sdxl"
    w, h, steps = sizes(family)
    cls = StableDiffusionXLPipeline if sdxl else StableDiffusionPipeline
    torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    pipe = cls.from_pretrained(model, torch_dtype=torch.float16).to("cuda")
    pipe.set_progress_bar_config(disable=True)
    sync()
    load_s = time.perf_counter() - t0
    if mode == "compile":
        pipe.unet.to(memory_format=torch.channels_last)
        pipe.vae.to(memory_format=torch.channels_last)
        pipe.unet = torch.compile(pipe.unet, mode="reduce-overhead", fullgraph=True)
        pipe.vae.decode = torch.compile(pipe.vae.decode, mode="reduce-overhead", fullgraph=True)
    lat0 = start_latents(pipe, batch, h, w, steps)
    kw = dict(prompt=[PROMPT] * batch, negative_prompt=[NEGATIVE] * batch, height=h, width=w,
              guidance_scale=CFG)

    def image(n=steps, output="pt"):
        with torch.no_grad():
            r = pipe(timesteps=comfy_simple_timesteps(n), latents=lat0.to("cuda", torch.float16),
                     output_type=output, **kw)
            x = r.images
            return x.float().cpu() if output == "pt" else x

    t0 = time.perf_counter()
    first = image()
    sync()
    first_s = time.perf_counter() - t0
    torch.cuda.reset_peak_memory_stats()
    image_s = median_time(image, runs)
    peak = torch.cuda.max_memory_allocated() / 2**30
    lat = image(output="latent")
    if out_prefix:
        lat.float().cpu().numpy().tofile(out_prefix + "_latent.f32")
        # diffusers' "pt" images are in [0, 1]; Easel writes [-1, 1]
        (first * 2 - 1).clamp(-1, 1).numpy().tofile(out_prefix + "_image.f32")
    sampling_s = median_time(lambda: image(steps, "latent"), runs, warmup=1)
    sampling1_s = median_time(lambda: image(1, "latent"), runs, warmup=1)
    step_s = (sampling_s - sampling1_s) / max(1, steps - 1)
    z = lat[:1] / pipe.vae.config.scaling_factor

    def decode():
        with torch.no_grad():
            return pipe.vae.decode(z, return_dict=False)[0].float().cpu()

    decode_s = median_time(decode, runs, warmup=1)
    rec = dict(engine="diffusers-" + mode, family=family, width=w, height=h, batch=batch,
               steps=steps, dtype="fp16", load_s=load_s, first_image_s=first_s,
               load_to_first_image_s=load_s + first_s, image_s=image_s, step_s=step_s,
               sampling_s=sampling_s, decode_s=decode_s, peak_gib=peak, torch=torch.__version__,
               finite=bool(torch.isfinite(first).all()))
    print(json.dumps(rec), flush=True)
    with open(json_path, "a") as f:
        f.write(json.dumps(rec) + "\n")


# ---------------------------------------------------------------------------- table
def rel(a, b):
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-12))


def table(results):
    recs = []
    for name in sorted(os.listdir(results)):
        if name.endswith(".jsonl"):
            with open(os.path.join(results, name)) as f:
                recs += [json.loads(l) for l in f if l.strip()]
    fam = lambda r: "sd15" if r["family"] in ("sd15", "SD1.x", "SD1") else "sdxl"
    cols = ["load_to_first_image_s", "image_s", "step_s", "sampling_s", "encode_s", "decode_s",
            "peak_gib"]
    print(f"{'family':6} {'engine':28} {'b':>2} " + " ".join(f"{c[:14]:>14}" for c in cols))
    for r in sorted(recs, key=lambda r: (fam(r), r["batch"], r["engine"])):
        name = r["engine"]
        if r["engine"] == "easel":
            name += (f" g{r.get('graphs')} cl{int(bool(r.get('channels_last')))}"
                     f" cb{r.get('cudnn_benchmark', 0)} f{int(bool(r.get('fused_kernels')))}")
        vals = " ".join(
            f"{r[c] * (1e3 if c == 'step_s' else 1):14.4f}" if c in r else f"{'-':>14}" for c in cols
        )
        print(f"{fam(r):6} {name:28} {r['batch']:>2} {vals}")
    print("(step_s in ms; others s or GiB)")
    diffs = {}
    for f in ("sd15", "sdxl"):
        for b in (1, 4):
            e = os.path.join(results, f"easel_{f}_b{b}")
            d = os.path.join(results, f"diffusers_{f}_b{b}")
            if not (os.path.exists(e + "_image.f32") and os.path.exists(d + "_image.f32")):
                continue
            ei, di = np.fromfile(e + "_image.f32", np.float32), np.fromfile(d + "_image.f32", np.float32)
            el, dl = np.fromfile(e + "_latent.f32", np.float32), np.fromfile(d + "_latent.f32", np.float32)
            if ei.size != di.size or el.size != dl.size:
                continue
            e8 = np.floor((ei + 1) / 2 * 255).clip(0, 255)
            d8 = np.floor((di + 1) / 2 * 255).clip(0, 255)
            diffs[f"{f}_b{b}"] = dict(
                latent_rel_l2=rel(el, dl), image_rel_l2=rel(ei, di),
                image_max_abs_255=float(np.abs(e8 - d8).max()),
                image_mean_abs_255=float(np.abs(e8 - d8).mean()),
                image_psnr_db=float(10 * np.log10(4.0 / max(np.mean((ei - di) ** 2), 1e-20))),
                finite=bool(np.isfinite(ei).all() and np.isfinite(di).all()))
            print(f"image diff {f} batch {b}: " + ", ".join(f"{k} {v:.4g}" if isinstance(v, float)
                                                           else f"{k} {v}" for k, v in diffs[f"{f}_b{b}"].items()))
    stamp = time.strftime("%Y%m%d-%H%M%S")
    os.makedirs("bench/results", exist_ok=True)
    with open(f"bench/results/{stamp}.json", "w") as f:
        json.dump(dict(records=recs, image_diff=diffs,
                       gpu=torch.cuda.get_device_name() if torch.cuda.is_available() else ""), f,
                  indent=1)
    print(f"wrote bench/results/{stamp}.json")


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "make":
        make(sys.argv[2], sys.argv[3], sys.argv[4])
    elif cmd == "diffusers":
        fam, model, mode, batch, runs, js = sys.argv[2:8]
        out = sys.argv[8] if len(sys.argv) > 8 else ""
        run_diffusers(fam, model, mode, int(batch), int(runs), js, out)
    elif cmd == "table":
        table(sys.argv[2])
    else:
        sys.exit(f"unknown command {cmd}: make | diffusers | table")
