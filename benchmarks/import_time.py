"""Start-up cost: `import hf_skeleton`, the CLI's `--version` / `--help`, and the first Auto-class use.

    python benchmarks/import_time.py --repeats 7

Each case runs in a fresh interpreter (``python -c ...``, or the installed ``hf-skeleton`` entry point
run through this interpreter) ``--repeats`` times; prints the median and min wall time and whether the
case imported torch. ``import transformers`` and ``import torch`` are the reference points.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import subprocess
import sys
import time

CASES = {
    "python -c pass": "pass",
    "import torch": "import torch",
    "import transformers": "import transformers",
    "import hf_skeleton": "import hf_skeleton",
    "import hf_skeleton + hs.load_skeleton": "import hf_skeleton as hs; hs.load_skeleton",
    "import hf_skeleton + AutoConfig.for_model('llamo')":
        "import hf_skeleton; from transformers import AutoConfig; AutoConfig.for_model('llamo')",
    "from transformers import AutoConfig (reference)": "from transformers import AutoConfig",
}
CLI = {"hf-skeleton --version": ["--version"], "hf-skeleton --help": ["--help"]}
PROBE = "\nimport sys; print('torch' in sys.modules)"
# the console script's code path, run by this interpreter (no shell shim in the timing)
CLI_CODE = ("import sys\nfrom hf_skeleton.cli import main\nsys.argv[0] = 'hf-skeleton'\n"
            "try:\n    main({!r})\nexcept SystemExit:\n    pass")


def median_run(code: str, repeats: int) -> tuple[float, float, str]:
    """(median, min) wall seconds of ``python -c code`` and its last stdout line."""
    times, out = [], ""
    for _ in range(repeats):
        start = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", code + PROBE], capture_output=True, text=True,
                             check=True).stdout
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times), out.strip().splitlines()[-1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()
    print(f"python {platform.python_version()} on {platform.machine()}, {args.repeats} runs per case\n")
    print("| case | median | min | imports torch |\n|---|---|---|---|")
    cases = {**CASES, **{name: CLI_CODE.format(argv) for name, argv in CLI.items()}}
    for name, code in cases.items():
        median, fastest, torch_loaded = median_run(code, args.repeats)
        print(f"| `{name}` | {median:.3f} s | {fastest:.3f} s | {torch_loaded} |")


if __name__ == "__main__":
    main()
