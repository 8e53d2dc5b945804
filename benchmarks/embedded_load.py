"""Load time of the embedded models: ``AutoModelForImageTextToText.from_pretrained(<embedded folder>)``.

    HF_HUB_OFFLINE=1 python benchmarks/embedded_load.py [--repeats 5] [--threads 1]

Each folder holds its trained parts and references SmolLM2-135M-Instruct (built once into the backbone cache
by ``hs.backbone_path``); a load copies the backbone's tensors in. Median of the repeats after one warm-up load.
"""

from __future__ import annotations

import argparse
import platform

import torch
from _timing import median_seconds
from transformers import AutoModelForImageTextToText

import hf_skeleton as hs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"{platform.processor() or platform.machine()}, torch {torch.__version__}, {args.threads} thread(s), "
          f"median of {args.repeats} after a warm-up")
    for name in ("skeleton-llm-nucla", "llamo-nucla", "superman-cmu"):
        folder = hs.embedded_model_path(name)
        seconds = median_seconds(lambda f=folder: AutoModelForImageTextToText.from_pretrained(f), args.repeats)
        print(f"{name:20s} {seconds:6.2f} s")


if __name__ == "__main__":
    main()
