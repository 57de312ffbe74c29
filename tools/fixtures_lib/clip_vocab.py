"""Builds the real OpenAI CLIP BPE vocabulary (vocab.json + merges.txt, 49408 tokens).

Source: open_clip's bundled bpe_simple_vocab_16e6.txt.gz (the same file OpenAI CLIP ships).
Construction (as OpenAI's SimpleTokenizer does it): the 256 byte-level unicode symbols, the same
256 with '</w>' appended, one token per merge for the first 48894 merges (the merge pair joined),
then <|startoftext|> (49406) and <|endoftext|> (49407). merges.txt is the '#version: 0.2' header
followed by those 48894 merges, which is what HF CLIPTokenizer reads.
"""

import gzip
import json
import os

N_MERGES = 49152 - 256 - 2  # 48894: the merge count OpenAI CLIP uses
BOS = "<|startoftext|>"
EOS = "<|endoftext|>"


def _open_clip_bpe_path():
    import importlib.util

    spec = importlib.util.find_spec("open_clip")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("open_clip is not installed: it carries bpe_simple_vocab_16e6.txt.gz")
    path = os.path.join(list(spec.submodule_search_locations)[0], "bpe_simple_vocab_16e6.txt.gz")
    if not os.path.exists(path):
        raise SystemExit(f"missing {path}")
    return path


def byte_symbols():
    """The 256 byte -> printable unicode symbol table of GPT-2/CLIP byte-level BPE, in vocab order.

    Printable latin-1 bytes map to themselves; the other 68 bytes map to U+0100.. in byte order.
    The vocab lists the printable ones first (in byte order) and then the remapped ones.
    """
    keep = [b for b in range(256) if 0x21 <= b <= 0x7E or 0xA1 <= b <= 0xAC or 0xAE <= b <= 0xFF]
    rest = [b for b in range(256) if b not in set(keep)]
    order = keep + rest
    chars = [chr(b) for b in keep] + [chr(256 + i) for i in range(len(rest))]
    return order, chars


def build_vocab():
    """Returns (vocab dict token->id, merges list of 'a b' strings)."""
    with gzip.open(_open_clip_bpe_path(), "rt", encoding="utf-8") as f:
        lines = f.read().split("\n")
    merges = lines[1 : 1 + N_MERGES]  # line 0 is the file's own version header
    assert len(merges) == N_MERGES and all(len(m.split()) == 2 for m in merges)
    _, chars = byte_symbols()
    tokens = list(chars) + [c + "</w>" for c in chars] + ["".join(m.split()) for m in merges]
    tokens += [BOS, EOS]
    assert len(tokens) == 49408, len(tokens)
    vocab = {t: i for i, t in enumerate(tokens)}
    assert len(vocab) == 49408, "duplicate tokens in the CLIP vocab"
    return vocab, merges


def write_tokenizer(folder, pad_token):
    """Writes an HF CLIPTokenizer folder (vocab.json, merges.txt, configs) to `folder`."""
    os.makedirs(folder, exist_ok=True)
    vocab, merges = build_vocab()
    with open(os.path.join(folder, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump(vocab, f, ensure_ascii=False)
    with open(os.path.join(folder, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n")
        f.write("\n".join(merges) + "\n")
    special = {
        "bos_token": BOS,
        "eos_token": EOS,
        "unk_token": EOS,
        "pad_token": pad_token,
    }
    with open(os.path.join(folder, "special_tokens_map.json"), "w") as f:
        json.dump(special, f, indent=2)
    config = dict(special)
    config.update(
        {
            "tokenizer_class": "CLIPTokenizer",
            "model_max_length": 77,
            "do_lower_case": True,
            "errors": "replace",
            "add_prefix_space": False,
            "clean_up_tokenization_spaces": True,
        }
    )
    with open(os.path.join(folder, "tokenizer_config.json"), "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)
