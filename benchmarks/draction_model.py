"""End-to-end DrActionModel benchmark on real N-UCLA clips: clip in, frames out (and backward).

Measures the whole model (canonical pose, scales, velocities, sampling, skinning, NFM, framing,
depth cue, rasterization, grid assembly), not the rasterizer alone (see benchmarks/render.py).
Each configuration: one warm-up run, then the median of ``--repeats`` timed runs over a batch of
real clips; throughput is rendered frames per second.

    OMP_NUM_THREADS=2 python benchmarks/draction_model.py --repeats 5     # markdown table on stdout
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path

import torch

import hf_skeleton as hs

DATA = Path(os.environ.get("HF_SKELETON_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
CLIPS = ["a01_s01_e00_v01", "a06_s01_e00_v02", "a11_s02_e00_v01", "a04_s01_e00_v01"]

CONFIGS = [
    # name, config overrides, backward?
    ("default 224 px, 16 frames, GRU NFM", {"image_size": 224, "num_frames": 16}, False),
    ("default 224 px, 16 frames, GRU NFM, fwd+bwd", {"image_size": 224, "num_frames": 16}, True),
    ("authors' 448 px, 12 frames, MLP NFM", {"image_size": 448, "num_frames": 12, "nfm_type": "mlp"}, False),
    ("grid front/side/top 224 px, 16 frames", {"image_size": 224, "num_frames": 16,
                                                   "views": ["front", "side", "top"]}, False),
    ("small 112 px, 8 frames, fwd+bwd", {"image_size": 112, "num_frames": 8}, True),
]


def batch(clips: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """Real clips padded to one tensor (B, T, 1, 20, 3) with masks (padding is never sampled)."""
    seqs = [hs.load_skeleton(DATA / "nw_ucla" / "all_sqe" / f"{c}.json") for c in clips]
    T = max(s.num_frames for s in seqs)
    x = torch.zeros(len(seqs), T, 1, 20, 3)
    m = torch.zeros(len(seqs), T, 1, 20, dtype=torch.bool)
    for i, s in enumerate(seqs):
        x[i, : s.num_frames] = torch.from_numpy(s.positions)
        m[i, : s.num_frames] = torch.from_numpy(s.mask)
    return x, m


def run(overrides: dict, backward: bool, repeats: int, x: torch.Tensor, m: torch.Tensor) -> tuple[float, int]:
    torch.manual_seed(0)
    model = hs.DrActionModel(hs.DrActionConfig(format="kinect_v1", backend="torch", **overrides))
    model.train(backward)
    times = []
    for r in range(repeats + 1):
        start = time.perf_counter()
        if backward:
            model.zero_grad()
            out = model(x, m, seed=r)
            out.images.mean().backward()
        else:
            with torch.no_grad():
                out = model(x, m)
        if r:
            times.append(time.perf_counter() - start)
    return statistics.median(times), out.images.shape[0] * out.images.shape[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--clips", type=int, default=4, help="clips per batch (real N-UCLA clips)")
    args = parser.parse_args()
    x, m = batch((CLIPS * 4)[: args.clips])
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"torch {torch.__version__}, threads {torch.get_num_threads()}; batch of {args.clips} N-UCLA clips; "
          f"median of {args.repeats} runs after 1 warm-up\n")
    print("| configuration | seconds per batch | frames rendered | frames / s |")
    print("|---|---|---|---|")
    for name, overrides, backward in CONFIGS:
        seconds, frames = run(overrides, backward, args.repeats, x, m)
        print(f"| {name} | {seconds:.3f} | {frames} | {frames / seconds:.1f} |", flush=True)


if __name__ == "__main__":
    main()
