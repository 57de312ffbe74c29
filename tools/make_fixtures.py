#!/usr/bin/env python3
"""Regenerates every tiny-model fixture and golden under tests/fixtures/ (deterministic).

Usage (from the repo root):  /work/pyenv/bin/python tools/make_fixtures.py [--out DIR]

Writes (contract: tests/fixtures/README.md):
  sd1/, sd2v/                 diffusers StableDiffusionPipeline folders (fp16 safetensors)
  sd1.safetensors, sd2v.safetensors   the same weights in the original LDM single-file layout
  vae_other.safetensors       a separate VAE, LDM layout without prefix
  golden/sd1_*, golden/sd2v_*, golden/vae_other_vae.safetensors   float32 reference outputs
and checks them against diffusers' own loaders (exact weight equality) before writing goldens.
Reference-side only: needs torch, diffusers, transformers, safetensors, k-diffusion, open_clip
(for the CLIP BPE file). Never needed to build or test Easel.
"""

import argparse
import hashlib
import os
import sys
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TQDM_DISABLE", "1")
warnings.filterwarnings("ignore")

import torch  # noqa: E402


def _quiet_libraries():
    import diffusers.utils.logging as dlog
    import transformers.utils.logging as tlog

    dlog.set_verbosity_error()
    dlog.disable_progress_bar()
    tlog.set_verbosity_error()
    tlog.disable_progress_bar()


def _size(path):
    if os.path.isfile(path):
        return os.path.getsize(path)
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs)


def _digest(path):
    h = hashlib.sha256()
    files = [path] if os.path.isfile(path) else sorted(
        os.path.join(d, f) for d, _, fs in os.walk(path) for f in fs
    )
    for f in files:
        h.update(os.path.relpath(f, os.path.dirname(path)).encode())
        with open(f, "rb") as fh:
            h.update(fh.read())
    return h.hexdigest()[:12]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    parser.add_argument("--out", default=os.path.join(REPO, "tests", "fixtures"),
                        help="fixtures directory (default: tests/fixtures of this repo)")
    args = parser.parse_args()
    out = os.path.abspath(args.out)
    golden = os.path.join(out, "golden")
    os.makedirs(golden, exist_ok=True)

    torch.set_num_threads(1)  # reproducible float32 reductions
    _quiet_libraries()
    from fixtures_lib import build, goldens, verify

    print("== building tiny models")
    models = {"sd1": build.build_sd1(), "sd2v": build.build_sd2v()}
    vae_other = build.build_vae_other()
    written = []
    for kind, model in models.items():
        build.write_folder(model, os.path.join(out, kind))
        build.write_single_file(model, os.path.join(out, kind + ".safetensors"))
        written += [os.path.join(out, kind), os.path.join(out, kind + ".safetensors")]
    build.write_loose_vae(vae_other, os.path.join(out, "vae_other.safetensors"))
    written.append(os.path.join(out, "vae_other.safetensors"))

    print("== checking the files with diffusers' own loaders")
    pipes = {}
    for kind, model in models.items():
        folder, single = os.path.join(out, kind), os.path.join(out, kind + ".safetensors")
        pipes[kind] = verify.check_folder(model, folder)
        verify.check_single_file_converters(model, single)
        verify.check_single_file_pipeline(folder, single, pipes[kind])
    vae_other_loaded = verify.check_loose_vae(
        vae_other, os.path.join(out, "vae_other.safetensors"), os.path.join(out, "sd1")
    )
    verify.check_tokenizers(pipes)

    print("== goldens (float32, from the reloaded fp16 files)")
    goldens.check_schedule_vs_diffusers()
    for kind, pipe in pipes.items():
        file_te = models[kind].file_text_encoder if kind == "sd2v" else None
        paths = [os.path.join(golden, f"{kind}_{name}.safetensors") for name in ("text", "unet", "vae")]
        goldens.text_golden(kind, pipe, paths[0], file_te)
        goldens.unet_golden(kind, pipe, paths[1])
        goldens.vae_golden(kind, pipe.vae, paths[2])
        written += paths
    path = os.path.join(golden, "vae_other_vae.safetensors")
    goldens.vae_golden("vae_other", vae_other_loaded, path)
    written.append(path)
    for kind, pipe in pipes.items():
        cond, _, paths = goldens.gen_goldens(kind, pipe, golden)
        written += paths
        if kind == "sd1":
            goldens.check_cfg1_equivalence(pipe, cond)

    print("== summary")
    total = 0
    for path in written:
        size = _size(path)
        total += size
        print(f"  {size / 1e6:8.3f} MB  {_digest(path)}  {os.path.relpath(path, out)}")
    print(f"  {total / 1e6:8.3f} MB  written by this tool; tests/fixtures holds {_size(out) / 1e6:.3f} MB")


if __name__ == "__main__":
    main()
