#!/usr/bin/env bash
# Installs CLIP's BPE vocabulary, bpe_simple_vocab_16e6.txt.gz, into DEST_DIR.
#
# Single-file checkpoints carry no tokenizer files, so Easel needs this vocabulary (the merges
# list OpenAI published with CLIP; the SD1/SD2/SDXL text encoders all use it). The file ships
# inside the PyPI package open_clip_torch: this script downloads that wheel with pip (no
# install, no dependencies), takes the one file out and checks its sha256 against the pin
# below. Easel looks for it at $EASEL_CLIP_VOCAB, then <exe dir>/../share/easel/,
# <exe dir>/share/easel/, /usr/local/share/easel/ and /usr/share/easel/.
#
# Usage: tools/fetch_clip_vocab.sh DEST_DIR     (e.g. build/share/easel)
# Env:   PYTHON  the python with pip to use (default: python3)
set -euo pipefail

readonly FILE=bpe_simple_vocab_16e6.txt.gz
readonly PACKAGE=open_clip_torch==3.3.0
readonly MEMBER=open_clip/${FILE}
readonly SHA256=924691ac288e54409236115652ad4aa250f48203de50a9e4722a6ecd48d6804a

if [[ $# -ne 1 ]]; then
  echo "usage: $0 DEST_DIR" >&2
  exit 2
fi
exec bash "$(dirname "$0")/fetch_wheel_file.sh" fetch_clip_vocab "$FILE" "$PACKAGE" "$MEMBER" "$SHA256" "$1"
