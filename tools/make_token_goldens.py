"""Writes tests/fixtures/golden/tokens.json: transformers' CLIPTokenizer ids for tricky strings.

The vocabulary is the one Easel uses for single-file checkpoints, bpe_simple_vocab_16e6.txt.gz
(tools/fetch_clip_vocab.sh installs it; here it is taken from the installed open_clip package
or the path given as the first argument). This script first turns it into a diffusers-style
vocab.json + merges.txt the way CLIP builds its vocabulary (256 byte symbols, the same with
"</w>", the first 48894 merges joined, <|startoftext|>, <|endoftext|>), checks that the result
is the vocabulary of openai/clip-vit-large-patch14 (49408 tokens, ids known from that model's
tokenizer), then loads it with transformers.CLIPTokenizer (the `tokenizers`-backed one) and
records its ids, without bos/eos, for each string in CASES.

Run from the repository root: /work/pyenv/bin/python tools/make_token_goldens.py [VOCAB.txt.gz]
"""

import gzip
import hashlib
import json
import pathlib
import sys
import tempfile

OUT = pathlib.Path("tests/fixtures/golden/tokens.json")
MERGE_COUNT = 49152 - 256 - 2

CASES = [
    "a photo of a cat",
    "Hello, world!",
    "A PHOTO of  a Cat!",
    "MiXeD CaSe WoRdS and ALL CAPS",
    "masterpiece, best quality, 1girl, solo, long hair, looking at viewer, smile, "
    "(detailed background:1.1), by greg rutkowski, trending on artstation",
    "don't stop, it's fine; we're here, they've gone, I'm ok, you'll see, he'd go",
    "DON'T IT'S WE'RE I'LL",
    "'''s ''re 'll 'x rock'n'roll",
    "1024x768",
    "3.14",
    "1,000,000 and 42nd and 2024-01-31",
    "(masterpiece:1.2), best quality, [low quality], \\(escaped\\)",
    "hello!!! ??? ... --- ~~~ !?!",
    "e-mail user@example.com http://x.y/z?q=1&r=2 #hashtag $100 50%",
    "café",
    "cafe\u0301 and A\u030a and \u212b",
    "\u03a9mega \u039f\u0394\u039f\u03a3 \u03b1\u03b2\u03b3",
    "\u041c\u043e\u0441\u043a\u0432\u0430 \u0421\u0430\u043d\u043a\u0442-\u041f\u0435\u0442\u0435\u0440\u0431\u0443\u0440\u0433",
    "\u6771\u4eac\u30bf\u30ef\u30fc",
    "\u3072\u3089\u304c\u306a \u30ab\u30bf\u30ab\u30ca \u304b\u3099",
    "\ud55c\uad6d\uc5b4 \ud14d\uc2a4\ud2b8",
    "\u0645\u0631\u062d\u0628\u0627 \u0661\u0662\u0663",
    "\u0928\u092e\u0938\u094d\u0924\u0947",
    "\u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35",
    "emoji \U0001f600\U0001f389\U0001f44d\U0001f3fd flags \U0001f1ef\U0001f1f5",
    "  leading and trailing   ",
    "multiple   spaces\n\nnewlines\ttabs\r\nand\vmore\f",
    "non\u00a0breaking\u2009thin\u3000ideographic\u0085next",
    "zero\u200bwidth and\u180emongolian and\ufeffbom",
    "tab\x1cseparator\x00nul",
    "supercalifragilisticexpialidocious",
    "antidisestablishmentarianism" * 8,
    "<|endoftext|>",
    "a<|endoftext|>b <|startoftext|>c!!<|endoftext|>",
    "<|ENDOFTEXT|> <|startoftext",
    "\u0130stanbul stra\u00dfe \u00c6\u00d8\u00c5 \u1e9e",
    "\u00bd \u00b2 \u2462 \u216b \u2070",
    "fullwidth \uff21\uff22\uff23\uff11\uff12\uff13\uff01",
    "quotes \u201csmart\u201d \u2018single\u2019 \u00abguillemets\u00bb \u2014 dash\u2026",
    "",
    "   \n\t ",
    "\u0531\u0580\u0574\u0565\u0576\u056b\u0561 \u10e5\u10d0\u10e0\u10d7\u10e3\u10da\u10d8 \u05e9\u05dc\u05d5\u05dd",
]

# Ids of openai/clip-vit-large-patch14's tokenizer (the vocab.json every SD1 checkpoint's
# diffusers folder carries), known independently of this vocabulary file.
ANCHORS = {
    "a photo of a cat": [320, 1125, 539, 320, 2368],
    "a photo of a dog": [320, 1125, 539, 320, 1929],
    "Hello, world!": [3306, 267, 1002, 256],
}


def bytes_to_unicode():
    printable = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
                 + list(range(ord("®"), ord("ÿ") + 1)))
    order, symbols, extra = list(printable), list(printable), 0
    for b in range(256):
        if b not in printable:
            order.append(b)
            symbols.append(256 + extra)
            extra += 1
    return [chr(symbols[i]) for i in range(256)]  # in vocabulary order


def default_vocab_path():
    import importlib.util
    spec = importlib.util.find_spec("open_clip")
    if spec is None:
        sys.exit("give the path of bpe_simple_vocab_16e6.txt.gz (open_clip is not installed)")
    return pathlib.Path(spec.origin).parent / "bpe_simple_vocab_16e6.txt.gz"


def write_hf_files(gz_path, out_dir):
    lines = gzip.open(gz_path).read().decode("utf-8").split("\n")
    merges = [tuple(line.split()) for line in lines[1:MERGE_COUNT + 1]]
    assert all(len(m) == 2 for m in merges)
    byte_syms = bytes_to_unicode()
    vocab = byte_syms + [s + "</w>" for s in byte_syms] + ["".join(m) for m in merges]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    assert len(vocab) == 49408 and len(set(vocab)) == 49408, "vocabulary is not 49408 unique tokens"
    (out_dir / "vocab.json").write_text(
        json.dumps({tok: i for i, tok in enumerate(vocab)}, ensure_ascii=False))
    (out_dir / "merges.txt").write_text(
        "#version: 0.2\n" + "\n".join(" ".join(m) for m in merges) + "\n")
    return vocab


def main():
    gz_path = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else default_vocab_path()
    from transformers import CLIPTokenizer

    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        vocab = write_hf_files(gz_path, tmp)
        tok = CLIPTokenizer.from_pretrained(str(tmp))
        # The tokenizer must see exactly the vocabulary built above.
        assert len(tok) == 49408, len(tok)
        got = tok.get_vocab()
        assert all(got[t] == i for i, t in enumerate(vocab)), "transformers renumbered the vocab"
        assert tok.bos_token_id == 49406 and tok.eos_token_id == 49407
        assert tok.convert_tokens_to_ids(",</w>") == 267
        for text, ids in ANCHORS.items():
            enc = tok(text, add_special_tokens=False)["input_ids"]
            assert enc == ids, f"{text!r}: {enc} != {ids}: not the clip-vit-large-patch14 vocab"

        cases = []
        for text in CASES:
            ids = tok(text, add_special_tokens=False)["input_ids"]
            cases.append({"text": text, "ids": ids})

    import transformers
    import tokenizers
    doc = {
        "about": "transformers.CLIPTokenizer ids (no bos/eos) with the vocabulary built from "
                 "bpe_simple_vocab_16e6.txt.gz; written by tools/make_token_goldens.py",
        "vocab_sha256": hashlib.sha256(gz_path.read_bytes()).hexdigest(),
        "transformers": transformers.__version__,
        "tokenizers": tokenizers.__version__,
        "bos_id": 49406,
        "eos_id": 49407,
        "vocab_size": 49408,
        "cases": cases,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    # One case a line keeps the file short and its diffs readable.
    head = json.dumps({k: v for k, v in doc.items() if k != "cases"}, ensure_ascii=False, indent=1)
    body = ",\n".join("  " + json.dumps(c, ensure_ascii=False) for c in cases)
    OUT.write_text(head[:-2] + ',\n "cases": [\n' + body + "\n ]\n}\n")
    print(f"wrote {OUT}: {len(cases)} cases")


if __name__ == "__main__":
    main()
