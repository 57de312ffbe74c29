"""Writes the reference-made files the io tests read (tests/fixtures/io/).

Each file is made by another implementation, so the tests check Easel against it rather than
against itself:
  reference.safetensors  the safetensors package's writer (F32, F16, BF16, I64, metadata)
  pil_text.png           Pillow: RGB 4x3 with tEXt, zTXt, iTXt (compressed and not) chunks
  palette.png            Pillow: palette image with a transparent entry (tRNS)
  gray16.png             Pillow: 16-bit grayscale
  gray_alpha.png         Pillow: 8-bit gray + alpha

Pixel values follow formulas the C++ tests recompute (see io fixtures in png_test.cpp and
safetensors_test.cpp). Deterministic: no randomness, no timestamps.

Run from the repo root: /work/pyenv/bin/python tools/make_io_fixtures.py
"""
import os

import numpy as np
import torch
from PIL import Image, PngImagePlugin
from safetensors.torch import save_file

OUT = os.path.join("tests", "fixtures", "io")


def rgb_value(x, y, c):
    return (x * 50 + y * 20 + c * 70) % 256


def main():
    os.makedirs(OUT, exist_ok=True)

    # safetensors: values are i * 0.5 - 1 (exact in all three float dtypes) and i * 1000.
    tensors = {
        "a.f32": (torch.arange(6, dtype=torch.float32) * 0.5 - 1).reshape(2, 3),
        "b.f16": (torch.arange(4, dtype=torch.float32) * 0.5 - 1).to(torch.float16),
        "c.bf16": (torch.arange(8, dtype=torch.float32) * 0.5 - 1).to(torch.bfloat16).reshape(2, 2, 2),
        "d.i64": torch.arange(3, dtype=torch.int64) * 1000,
    }
    # One metadata key only: the writer keeps metadata in a Rust HashMap, whose order (and so
    # the file's bytes) would vary from run to run with two.
    save_file(tensors, os.path.join(OUT, "reference.safetensors"), metadata={"format": "pt"})

    # RGB 4x3 with every kind of text chunk, in this order.
    w, h = 4, 3
    rgb = np.array([[[rgb_value(x, y, c) for c in range(3)] for x in range(w)] for y in range(h)],
                   dtype=np.uint8)
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "a cat, Steps: 20")                       # tEXt
    info.add_text("latin", "caf\u00e9", zip=True)                          # zTXt (Latin-1)
    info.add_itxt("unicode", "\u732b \U0001F3A8", zip=False)               # iTXt
    info.add_itxt("zipped", "long text " * 200 + "\u00e9", zip=True)       # compressed iTXt
    Image.fromarray(rgb).save(os.path.join(OUT, "pil_text.png"), pnginfo=info)

    # Palette: entry i = rgb_value(i, 0, c); entry 0 fully transparent.
    pal = Image.new("P", (w, h))
    pal.putpalette([rgb_value(i, 0, c) for i in range(4) for c in range(3)])
    pal.putdata([(x + y) % 4 for y in range(h) for x in range(w)])
    pal.info["transparency"] = 0
    pal.save(os.path.join(OUT, "palette.png"), transparency=0)

    # 16-bit gray: v = (x * 5000 + y * 3000) % 65536.
    g16 = np.array([[(x * 5000 + y * 3000) % 65536 for x in range(w)] for y in range(h)],
                   dtype=np.uint16)
    Image.fromarray(g16).save(os.path.join(OUT, "gray16.png"))

    # Gray + alpha: gray = x * 60 + y, alpha = 255 - y * 100.
    la = np.array([[[x * 60 + y, 255 - y * 100] for x in range(w)] for y in range(h)],
                  dtype=np.uint8)
    Image.fromarray(la).save(os.path.join(OUT, "gray_alpha.png"))


if __name__ == "__main__":
    main()
