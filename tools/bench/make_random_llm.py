"""Writes a random-weight Hugging Face folder of a model's real shapes, for speed figures on a
machine that cannot download the model: the config and tokenizer files come from DIR_IN
(e.g. extracted from SmolLM2's GGUF with transformers: AutoConfig/AutoTokenizer.from_pretrained(
dir, gguf_file=...).save_pretrained(...)), the weights are random (seeded) in bf16.

Usage: python3 tools/bench/make_random_llm.py DIR_IN DIR_OUT [--layers N]
"""
import shutil
import sys
from pathlib import Path

import torch
from transformers import AutoConfig, AutoModelForCausalLM

src, dst = Path(sys.argv[1]), Path(sys.argv[2])
cfg = AutoConfig.from_pretrained(src)
if "--layers" in sys.argv:
    cfg.num_hidden_layers = int(sys.argv[sys.argv.index("--layers") + 1])
torch.manual_seed(0)
model = AutoModelForCausalLM.from_config(cfg, torch_dtype=torch.bfloat16)
model.save_pretrained(dst, safe_serialization=True)
for f in src.iterdir():
    if f.name.startswith("tokenizer") or f.name == "chat_template.jinja":
        shutil.copy(f, dst / f.name)
print("wrote", dst, sum(p.numel() for p in model.parameters()), "parameters")
