"""Latency of one clip through pipeline("skeleton-understanding") with an embedded model (default: the default).

    OMP_NUM_THREADS=2 HF_HUB_OFFLINE=1 python benchmarks/pipeline_latency.py --repeats 20 [--model skeleton-llm-nucla]

Times recognition over the 10 N-UCLA actions and a generated description for a real N-UCLA clip
(file already read; the reader's time is in the readers section), median of the repeats after one
warm-up call, plus the one-off pipeline load time.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path

import torch
from transformers import pipeline

import hf_skeleton as hs
from hf_skeleton.data import action_labels

DATA = Path(os.environ.get("HF_SKELETON_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--model", default=None, help="an embedded model's name or a folder (default: the "
                                                      "pipeline's default model)")
    parser.add_argument("--clip", default=str(DATA / "nw_ucla" / "all_sqe" / "a04_s01_e00_v03.json"))
    args = parser.parse_args()
    start = time.perf_counter()
    model = None if args.model is None else hs.embedded.resolve_model(args.model)
    pipe = pipeline("skeleton-understanding", model=model)
    load = time.perf_counter() - start
    seq = hs.load_skeleton(args.clip)
    labels = list(action_labels("nucla").values())
    rows = []
    for name, call in (("recognition, 10 candidate labels", lambda: pipe(seq, candidate_labels=labels)),
                       ("description, up to 24 new tokens", lambda: pipe(seq, prompt="Describe the motion.",
                                                                        max_new_tokens=24))):
        call()
        times = []
        for _ in range(args.repeats):
            t = time.perf_counter()
            call()
            times.append(time.perf_counter() - t)
        rows.append((name, statistics.median(times), min(times), max(times)))
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch threads "
          f"{torch.get_num_threads()}, load average {os.getloadavg()[0]:.1f}; model {Path(pipe.model.name_or_path).name}; "
          f"clip {Path(args.clip).name} ({seq.num_frames} frames)")
    print(f"pipeline load (one-off): {load:.3f} s")
    print("| call | median s | min s | max s |")
    print("|---|---|---|---|")
    for name, med, lo, hi in rows:
        print(f"| {name} | {med:.4f} | {lo:.4f} | {hi:.4f} |")


if __name__ == "__main__":
    main()
