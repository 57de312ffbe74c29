"""Writes the LLM layer's fixtures under tests/fixtures/llm/ from the reference packages.

1. quants.gguf + quants_ref.safetensors: a small GGUF file (written by the `gguf` package's
   GGUFWriter) with one metadata entry of every value type and one [2, 512] tensor of each
   type Easel dequantises (F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q4_K, Q5_K, Q6_K), whose block
   bytes are random except the f16 scales (kept in a sane range so no block is inf/nan);
   and the float32 values `gguf.quants.dequantize` gives for each tensor, under the same
   names, in PyTorch order ([2, 512]).
2. smollm2_tokens.json (needs SmolLM2's GGUF; tools/fetch_smollm2.sh): for each string in
   TOKEN_CASES the ids of the tokenizer transformers builds from that GGUF
   (AutoTokenizer.from_pretrained(..., gguf_file=...)), without special tokens added, and
   the decoded text.
3. smollm2_chat.json (same GGUF): transformers' apply_chat_template output for CHAT_CASES
   with SmolLM2's own template (ChatML) and the Llama 3 and Mistral templates below.
5. smollm2_greedy.safetensors (same GGUF; needs `accelerate`): for each of GREEDY_PROMPTS the
   prompt ids and 32 greedily decoded ids (metadata, JSON lists) from transformers' float32
   model loaded from the GGUF with a KV cache, the logits after the prompt (logits_i) and
   after the 32nd token (last_logits_i).
6. tiny_llama.gguf, tiny_qwen2.gguf + tiny_ref.safetensors: tiny random LlamaForCausalLM
   (separate output; Q/K rows permuted as llama.cpp's converter stores them) and
   Qwen2ForCausalLM (tied output, q/k/v biases) written as GGUF with a mix of F32, F16, BF16,
   Q8_0, Q4_0, Q4_1 tensors; the reference logits for TINY_IDS ([10, 96]) and after
   TINY_STEPS greedy tokens, from the transformers models holding the dequantised weights.
7. hf_tiny_llama/, hf_tiny_qwen2/ + hf_tiny_ref.safetensors: tiny random Llama (float32,
   untied, sharded with model.safetensors.index.json) and Qwen2 (bfloat16, tied, q/k/v biases)
   Hugging Face folders written by save_pretrained, each with a byte-level BPE tokenizer.json
   trained on HF_CORPUS (Llama: GPT-2 ByteLevel pre-tokenizer; Qwen2: Qwen2's Split regex +
   ByteLevel) and a ChatML chat template in tokenizer_config.json; the reference: the ids the
   `tokenizers` package gives HF_TEXT, the float32 logits for them and HF_STEPS greedy tokens.
4. pretokenize.json: the pieces the `tokenizers` package splits each TOKEN_CASES and
   PRETOK_EXTRA string into with the GPT-2, Llama 3, Qwen2 and SmolLM pre-tokenizer patterns
   (Split(Regex, "isolated"), SmolLM preceded by Digits(individual_digits=True)).

Deterministic (numpy seed 0). Run from the repository root:
  /work/pyenv/bin/python tools/make_llm_goldens.py [--gguf build/share/easel/models/...gguf]
"""

import argparse
import copy
import json
import pathlib
import sys

import numpy as np

OUT = pathlib.Path("tests/fixtures/llm")
DEFAULT_GGUF = pathlib.Path("build/share/easel/models/SmolLM2-135M-Instruct.Q4_1.gguf")

# Byte offsets of the f16 scale fields in each block type (ggml-common.h).
SCALE_FIELDS = {
    "Q8_0": [0],
    "Q4_0": [0],
    "Q4_1": [0, 2],
    "Q4_K": [0, 2],
    "Q5_K": [0, 2],
    "Q6_K": [208],
}

TOKEN_CASES = [
    "Hello, world!",
    "hello world",
    " Hello",
    "  leading spaces and trailing   ",
    "a photo of a cat, masterpiece, best quality",
    "don't stop, it's fine; we're here, they've gone, I'm ok, you'll see, he'd go",
    "DON'T IT'S WE'RE I'LL",
    "1234567890 3.14159 1,000,000 2024-01-31 0x1F",
    "tabs\tand\nnewlines\n\n\nand\r\nwindows",
    "    indented code\n        more\n",
    "def f(x):\n    return x ** 2  # square\n",
    "for (int i = 0; i < n; ++i) { a[i] = b[i] * 2; }",
    "{\"key\": [1, 2, 3], \"nested\": {\"a\": null}}",
    "café naïve résumé Ångström",
    "日本語のテキストと中文文本",
    "Привет, мир! Γειά σου κόσμε",
    "emoji 🎨🖌️👩‍🎨 and ✨ sparkles",
    "مرحبا بالعالم",
    "e-mail user@example.com http://x.y/z?q=1&r=2 #hashtag $100 50%",
    "<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n",
    "text<|endoftext|>more text",
    "!!!??? ... --- ~~~",
    "",
    " ",
    "\n",
    "a\u00a0non-breaking\u2003em space",
    "ÀÉÎÕÜ àéîõü ß ẞ",
    "x" * 40,
    "The quick brown fox jumps over the lazy dog. THE QUICK BROWN FOX!",
    "$$$ %%% ^^^ &&& *** ((( )))",
]

CHAT_CASES = [
    {"messages": [{"role": "user", "content": "Hello!"}], "add_generation_prompt": True},
    {"messages": [{"role": "system", "content": "You write prompts."},
                  {"role": "user", "content": "a cat"}], "add_generation_prompt": True},
    {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "Hello."},
                  {"role": "user", "content": "Describe a castle."}],
     "add_generation_prompt": True},
    {"messages": [{"role": "user", "content": "multi\nline\n\ncontent"}],
     "add_generation_prompt": False},
]


PRETOK_EXTRA = [
    "a  b   c    d",
    "x \n\n y\t\t z",
    "  \r\n  \n foo",
    "end with spaces   ",
    "'s 'S 'Re 'LL 'd'm'''t",
    "abc123def 12345 1234567",
    "?!. ,;: ...abc",
    " ,x , y",
    "\u3000full\u3000width\u3000",
    "x\u2028y\u0085z",
    "tab\there \t\nmix",
    "___init__ --flag=1 a/b/c.py",
]

PATTERNS = {
    "gpt2": r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+",
    "llama3": r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
    "qwen2": r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
}


def write_pretokenize():
    from tokenizers import Regex, pre_tokenizers as pt

    splitters = {name: pt.Split(Regex(p), behavior="isolated") for name, p in PATTERNS.items()}
    splitters["smollm"] = pt.Sequence([pt.Digits(individual_digits=True), splitters["gpt2"]])
    out = {"patterns": PATTERNS, "cases": []}
    for text in TOKEN_CASES + PRETOK_EXTRA:
        case = {"text": text}
        for name, sp in splitters.items():
            case[name] = [piece for piece, _ in sp.pre_tokenize_str(text)]
        out["cases"].append(case)
    (OUT / "pretokenize.json").write_text(json.dumps(out, ensure_ascii=False, indent=1) + "\n")
    print("wrote", OUT / "pretokenize.json", len(out["cases"]), "cases")


def sort_metadata(path):
    """Rewrites a safetensors header with its __metadata__ keys sorted, in place (same length).

    The safetensors library writes metadata from a hash map, in an order that changes from run
    to run; sorted keys make regenerated files byte-identical.
    """
    with open(path, "r+b") as f:
        n = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(n))
        if not header.get("__metadata__"):
            return
        header["__metadata__"] = dict(sorted(header["__metadata__"].items()))
        text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        assert len(text) <= n, f"{path}: the sorted header is longer than the original"
        f.seek(8)
        f.write(text + b" " * (n - len(text)))


def write_quants():
    import gguf
    from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType as T
    from safetensors.numpy import save_file

    rng = np.random.default_rng(0)
    rows, cols = 2, 512
    path = OUT / "quants.gguf"
    w = gguf.GGUFWriter(str(path), arch="test")
    w.add_uint8("test.u8", 200)
    w.add_int8("test.i8", -100)
    w.add_uint16("test.u16", 60000)
    w.add_int16("test.i16", -30000)
    w.add_uint32("test.u32", 4000000000)
    w.add_int32("test.i32", -2000000000)
    w.add_float32("test.f32", 0.25)
    w.add_bool("test.bool", True)
    w.add_string("test.string", "héllo")
    w.add_uint64("test.u64", 2**40)
    w.add_int64("test.i64", -(2**40))
    w.add_float64("test.f64", 1e-300)
    w.add_array("test.array_str", ["a", "bc", ""])
    w.add_array("test.array_i32", [1, -2, 3])
    w.add_array("test.array_f32", [0.5, -1.5])
    refs = {}
    for name in ["F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q4_K", "Q5_K", "Q6_K"]:
        qt = T[name]
        block, nbytes = GGML_QUANT_SIZES[qt]
        if name == "F32":
            raw = rng.standard_normal((rows, cols)).astype(np.float32)
            w.add_tensor(name, raw)
            refs[name] = raw
            continue
        if name == "F16":
            raw = rng.standard_normal((rows, cols)).astype(np.float16)
            w.add_tensor(name, raw)
            refs[name] = raw.astype(np.float32)
            continue
        if name == "BF16":
            f = rng.standard_normal((rows, cols)).astype(np.float32)
            bits = (f.view(np.uint32) >> 16).astype(np.uint16)
            data = bits.view(np.uint8).reshape(rows, cols * 2)
        else:
            nblocks = rows * cols // block
            data = rng.integers(0, 256, size=(nblocks, nbytes), dtype=np.uint8)
            for off in SCALE_FIELDS[name]:
                scale = rng.uniform(-0.05, 0.05, size=nblocks).astype(np.float16)
                data[:, off:off + 2] = scale.view(np.uint8).reshape(nblocks, 2)
            data = data.reshape(rows, cols // block * nbytes)
        w.add_tensor(name, data, raw_dtype=qt)
        refs[name] = gguf.quants.dequantize(data, qt).astype(np.float32).reshape(rows, cols)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    save_file({k: np.ascontiguousarray(v) for k, v in refs.items()},
              str(OUT / "quants_ref.safetensors"), metadata={"tool": "make_llm_goldens.py"})
    sort_metadata(OUT / "quants_ref.safetensors")
    print("wrote", path, OUT / "quants_ref.safetensors")


def load_tokenizer(gguf_path):
    from transformers import AutoTokenizer
    return AutoTokenizer.from_pretrained(str(gguf_path.parent), gguf_file=gguf_path.name)


def write_tokens(tok):
    cases = []
    for text in TOKEN_CASES:
        ids = tok.encode(text, add_special_tokens=False)
        cases.append({"text": text, "ids": ids,
                      "decoded": tok.decode(ids, skip_special_tokens=False)})
    (OUT / "smollm2_tokens.json").write_text(
        json.dumps({"tokenizer": "SmolLM2-135M-Instruct.Q4_1.gguf via transformers",
                    "cases": cases}, ensure_ascii=False, indent=1) + "\n")
    print("wrote", OUT / "smollm2_tokens.json", len(cases), "cases")


# Templates in the two other formats Easel renders, written for these tests (the ChatML
# one is SmolLM2's own, read from its GGUF). transformers renders each with Jinja.
LLAMA3_TEMPLATE = (
    "<|begin_of_text|>{% for m in messages %}{{ '<|start_header_id|>' + m['role'] + "
    "'<|end_header_id|>\n\n' + m['content'] | trim + '<|eot_id|>' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}"
    "{% endif %}")
MISTRAL_TEMPLATE = (
    "{% if messages[0]['role'] == 'system' %}{% set sys = messages[0]['content'] + '\n\n' %}"
    "{% set msgs = messages[1:] %}{% else %}{% set sys = '' %}{% set msgs = messages %}{% endif %}"
    "<s>{% for m in msgs %}{% if m['role'] == 'user' %}{% if loop.first %}"
    "{{ '[INST] ' + sys + m['content'] + ' [/INST]' }}{% else %}"
    "{{ '[INST] ' + m['content'] + ' [/INST]' }}{% endif %}{% elif m['role'] == 'assistant' %}"
    "{{ m['content'] + '</s>' }}{% endif %}{% endfor %}")


def write_chat(tok):
    templates = {"smollm2": tok.chat_template, "llama3": LLAMA3_TEMPLATE,
                 "mistral": MISTRAL_TEMPLATE}
    out = {"templates": templates, "cases": []}
    for case in CHAT_CASES:
        rendered = {}
        for name, template in templates.items():
            rendered[name] = tok.apply_chat_template(
                case["messages"], tokenize=False, chat_template=template,
                add_generation_prompt=case["add_generation_prompt"])
        out["cases"].append(dict(case, text=rendered))
    (OUT / "smollm2_chat.json").write_text(json.dumps(out, ensure_ascii=False, indent=1) + "\n")
    print("wrote", OUT / "smollm2_chat.json")


GREEDY_PROMPTS = [
    {"chat": [{"role": "user", "content": "Write a prompt for a painting of a lighthouse."}]},
    {"text": "The capital of France is"},
    {"text": "def fibonacci(n):"},
]
GREEDY_STEPS = 32


def write_greedy(gguf_path, tok):
    """Greedy decoding of SmolLM2 by transformers (float32 weights dequantised from the GGUF)."""
    import torch
    from safetensors.torch import save_file
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    torch.set_num_threads(2)
    model = AutoModelForCausalLM.from_pretrained(str(gguf_path.parent), gguf_file=gguf_path.name,
                                                 dtype=torch.float32)
    model.eval()
    tensors, meta = {}, {"tool": "make_llm_goldens.py", "steps": str(GREEDY_STEPS)}
    for i, p in enumerate(GREEDY_PROMPTS):
        if "chat" in p:
            text = tok.apply_chat_template(p["chat"], tokenize=False, add_generation_prompt=True)
        else:
            text = p["text"]
        ids = tok.encode(text, add_special_tokens=False)
        out = []
        with torch.no_grad():
            res = model(torch.tensor([ids]), use_cache=True)
            tensors[f"logits_{i}"] = res.logits[0, -1].float().contiguous()
            past = res.past_key_values
            nxt = int(res.logits[0, -1].argmax())
            for _ in range(GREEDY_STEPS):
                out.append(nxt)
                res = model(torch.tensor([[nxt]]), past_key_values=past, use_cache=True)
                past = res.past_key_values
                nxt = int(res.logits[0, -1].argmax())
            tensors[f"last_logits_{i}"] = res.logits[0, -1].float().contiguous()
        meta[f"prompt_{i}"] = json.dumps(ids)
        meta[f"generated_{i}"] = json.dumps(out)
        meta[f"text_{i}"] = text
        print(i, repr(tok.decode(out)))
    save_file(tensors, str(OUT / "smollm2_greedy.safetensors"), metadata=meta)
    sort_metadata(OUT / "smollm2_greedy.safetensors")
    print("wrote", OUT / "smollm2_greedy.safetensors")


TINY_IDS = [1, 17, 42, 5, 88, 23, 64, 9, 31, 77]
TINY_STEPS = 6


def write_tiny():
    """Tiny random Llama and Qwen2 models (transformers) written as GGUF by hand, with the
    reference logits of the original models (whose weights are replaced by the dequantised
    ones, so both sides compute with the same numbers)."""
    import gguf
    import torch
    from gguf.constants import GGMLQuantizationType as T
    from safetensors.torch import save_file
    from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(0)
    torch.set_num_threads(1)
    common = dict(vocab_size=96, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                  rms_norm_eps=1e-5)
    specs = {
        # llama: separate output, Q/K permuted as llama.cpp's converter does.
        "llama": (LlamaForCausalLM, LlamaConfig(**common, rope_theta=10000.0,
                                                tie_word_embeddings=False),
                  {"attn_q": T.Q8_0, "attn_k": T.Q4_1, "ffn_gate": T.Q4_0, "ffn_down": T.F16,
                   "attn_output": T.BF16}),
        # qwen2: tied output, q/k/v biases, Hugging Face's order (NeoX rope).
        "qwen2": (Qwen2ForCausalLM, Qwen2Config(**common, rope_theta=1000000.0,
                                                tie_word_embeddings=True),
                  {"attn_v": T.Q8_0, "ffn_up": T.Q4_0, "token_embd": T.Q8_0}),
    }
    tensors, meta = {}, {"tool": "make_llm_goldens.py", "ids": json.dumps(TINY_IDS)}
    for arch, (cls, cfg, quant) in specs.items():
        model = cls(cfg).eval()
        with torch.no_grad():
            for p in model.parameters():
                p.add_(0.1 * torch.randn_like(p))
        sd = model.state_dict()
        names = {"model.embed_tokens.weight": "token_embd.weight",
                 "model.norm.weight": "output_norm.weight", "lm_head.weight": "output.weight"}
        for i in range(cfg.num_hidden_layers):
            m, b = f"model.layers.{i}.", f"blk.{i}."
            names.update({m + "input_layernorm.weight": b + "attn_norm.weight",
                          m + "post_attention_layernorm.weight": b + "ffn_norm.weight",
                          m + "self_attn.o_proj.weight": b + "attn_output.weight",
                          m + "mlp.gate_proj.weight": b + "ffn_gate.weight",
                          m + "mlp.up_proj.weight": b + "ffn_up.weight",
                          m + "mlp.down_proj.weight": b + "ffn_down.weight"})
            for x in "qkv":
                names[m + f"self_attn.{x}_proj.weight"] = b + f"attn_{x}.weight"
                names[m + f"self_attn.{x}_proj.bias"] = b + f"attn_{x}.bias"
        path = OUT / f"tiny_{arch}.gguf"
        w = gguf.GGUFWriter(str(path), arch=arch)
        w.add_block_count(cfg.num_hidden_layers)
        w.add_context_length(cfg.max_position_embeddings)
        w.add_embedding_length(cfg.hidden_size)
        w.add_feed_forward_length(cfg.intermediate_size)
        w.add_head_count(cfg.num_attention_heads)
        w.add_head_count_kv(cfg.num_key_value_heads)
        w.add_rope_freq_base(cfg.rope_parameters["rope_theta"])
        w.add_layer_norm_rms_eps(cfg.rms_norm_eps)
        w.add_rope_dimension_count(cfg.hidden_size // cfg.num_attention_heads)
        new_sd = {}
        for hf_name, t in sd.items():
            if hf_name == "lm_head.weight" and cfg.tie_word_embeddings:
                continue
            g = names[hf_name]
            x = t.float().numpy()
            kind = g.split(".")[-2] if g.startswith("blk.") else g.split(".")[0]
            qt = quant.get(kind, T.F32) if x.ndim == 2 else T.F32
            if qt != T.F32:
                data = gguf.quants.quantize(x, qt)
                x = gguf.quants.dequantize(data, qt).reshape(x.shape).astype(np.float32)
            new_sd[hf_name] = torch.from_numpy(x.copy())
            if arch == "llama" and kind in ("attn_q", "attn_k"):
                heads = cfg.num_attention_heads if kind == "attn_q" else cfg.num_key_value_heads
                x = x.reshape(heads, 2, x.shape[0] // heads // 2, *x.shape[1:]).swapaxes(1, 2)
                x = x.reshape(t.shape)
            if qt == T.F32:
                w.add_tensor(g, np.ascontiguousarray(x, dtype=np.float32))
            elif qt == T.F16:
                w.add_tensor(g, np.ascontiguousarray(x).astype(np.float16))
            else:
                w.add_tensor(g, gguf.quants.quantize(np.ascontiguousarray(x), qt), raw_dtype=qt)
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
        model.load_state_dict(new_sd, strict=False)
        if cfg.tie_word_embeddings:
            model.tie_weights()
        with torch.no_grad():
            res = model(torch.tensor([TINY_IDS]), use_cache=True)
            tensors[f"{arch}_prefill"] = res.logits[0].float().contiguous()
            past, out = res.past_key_values, []
            nxt = int(res.logits[0, -1].argmax())
            for _ in range(TINY_STEPS):
                out.append(nxt)
                res = model(torch.tensor([[nxt]]), past_key_values=past, use_cache=True)
                past = res.past_key_values
                nxt = int(res.logits[0, -1].argmax())
            tensors[f"{arch}_last"] = res.logits[0, -1].float().contiguous()
        meta[f"{arch}_generated"] = json.dumps(out)
        print("wrote", path, out)
    save_file(tensors, str(OUT / "tiny_ref.safetensors"), metadata=meta)
    sort_metadata(OUT / "tiny_ref.safetensors")
    print("wrote", OUT / "tiny_ref.safetensors")


HF_CORPUS = [
    "a photo of a cat sitting on a sofa, masterpiece, best quality",
    "Hello world! The quick brown fox jumps over the lazy dog 1234567890.",
    "a portrait of a woman with red hair, soft light, detailed eyes",
    "anime girl, cherry blossoms, night sky, stars, city lights",
    "It's a test; we're here, they've gone, I'm ok.",
] * 4
HF_TEXT = "<|im_start|>user\nHello world, a photo of a red fox 42!<|im_end|>\n<|im_start|>assistant\n"
HF_STEPS = 8
QWEN2_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
               r"\s*[\r\n]+|\s+(?!\S)|\s+")
CHATML_TEMPLATE = ("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + "
                   "message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}"
                   "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")


def write_hf():
    """Tiny Hugging Face folders (config.json, safetensors, tokenizer.json,
    tokenizer_config.json) and the transformers reference for them."""
    import torch
    from safetensors.torch import save_file
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import (LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast,
                              Qwen2Config, Qwen2ForCausalLM)

    torch.manual_seed(1)
    torch.set_num_threads(1)
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tensors, meta = {}, {"tool": "make_llm_goldens.py", "text": HF_TEXT}
    for arch in ("llama", "qwen2"):
        tok = Tokenizer(models.BPE())
        if arch == "llama":
            tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        else:
            tok.pre_tokenizer = pre_tokenizers.Sequence([
                pre_tokenizers.Split(Regex(QWEN2_SPLIT), behavior="isolated"),
                pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=320, special_tokens=specials, show_progress=False,
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
        tok.train_from_iterator(HF_CORPUS, trainer=trainer)
        vocab = tok.get_vocab_size()
        common = dict(vocab_size=vocab, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                      rms_norm_eps=1e-6, bos_token_id=None, eos_token_id=2, pad_token_id=None)
        if arch == "llama":
            cfg = LlamaConfig(**common, rope_theta=10000.0, tie_word_embeddings=False)
            model, dtype = LlamaForCausalLM(cfg).eval(), torch.float32
        else:
            cfg = Qwen2Config(**common, rope_theta=1000000.0, tie_word_embeddings=True)
            model, dtype = Qwen2ForCausalLM(cfg).eval(), torch.bfloat16
        with torch.no_grad():
            for prm in model.parameters():
                prm.add_(0.2 * torch.randn_like(prm))
                prm.copy_(prm.to(dtype).float())  # the stored values, exactly
        folder = OUT / f"hf_tiny_{arch}"
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.iterdir():
            old.unlink()
        # A converted copy is saved: converting `model` itself in place would also round its
        # rotary inv_freq buffer to bfloat16 and spoil the float32 reference.
        copy.deepcopy(model).to(dtype).save_pretrained(
            str(folder), max_shard_size="60KB" if arch == "llama" else "10MB")
        fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>")
        fast.chat_template = CHATML_TEMPLATE
        fast.save_pretrained(str(folder))
        for extra in ("chat_template.jinja", "special_tokens_map.json", "generation_config.json"):
            if (folder / extra).exists() and extra != "chat_template.jinja":
                (folder / extra).unlink()
        for f in folder.iterdir():
            f.chmod(0o644)
        ids = tok.encode(HF_TEXT).ids
        meta[f"{arch}_ids"] = json.dumps(ids)
        with torch.no_grad():
            res = model(torch.tensor([ids]), use_cache=True)
            tensors[f"{arch}_prefill"] = res.logits[0].float().contiguous()
            past, out = res.past_key_values, []
            nxt = int(res.logits[0, -1].argmax())
            for _ in range(HF_STEPS):
                out.append(nxt)
                res = model(torch.tensor([[nxt]]), past_key_values=past, use_cache=True)
                past = res.past_key_values
                nxt = int(res.logits[0, -1].argmax())
            tensors[f"{arch}_last"] = res.logits[0, -1].float().contiguous()
        meta[f"{arch}_generated"] = json.dumps(out)
        print("wrote", folder, sorted(p.name for p in folder.iterdir()), "vocab", vocab, out)
    save_file(tensors, str(OUT / "hf_tiny_ref.safetensors"), metadata=meta)
    sort_metadata(OUT / "hf_tiny_ref.safetensors")
    (OUT / "hf_tiny_ref.safetensors").chmod(0o644)
    print("wrote", OUT / "hf_tiny_ref.safetensors")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gguf", type=pathlib.Path, default=DEFAULT_GGUF)
    ap.add_argument("--only", choices=["quants", "tokens", "greedy", "tiny", "hf"], default=None)
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    if args.only in (None, "quants"):
        write_quants()
        write_pretokenize()
    if args.only in (None, "tiny"):
        write_tiny()
    if args.only in (None, "hf"):
        write_hf()
    if args.only in (None, "tokens"):
        if not args.gguf.exists():
            sys.exit(f"{args.gguf} is missing: run tools/fetch_smollm2.sh first")
        tok = load_tokenizer(args.gguf)
        write_tokens(tok)
        write_chat(tok)
    if args.only in (None, "greedy"):
        if not args.gguf.exists():
            sys.exit(f"{args.gguf} is missing: run tools/fetch_smollm2.sh first")
        write_greedy(args.gguf, load_tokenizer(args.gguf))


if __name__ == "__main__":
    main()
