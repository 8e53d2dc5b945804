"""Training throughput of the VGMT Trainer recipe with 1 and 2 processes (torchrun, gloo, CPU).

    python benchmarks/ddp_throughput.py --steps 40 --global-batch 16 --repeats 3

The same global batch and the same clips in both runs; clips/s is transformers' train_samples_per_second
(global), median of the repeats. Each process uses one thread, so 2 processes use both cores.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "tests" / "distributed" / "train_vgmt_steps.py"
DATA = Path(os.environ.get("HF_SKELETON_DATA", ROOT.parent / "shared" / "data"))


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run(procs: int, steps: int, global_batch: int) -> float:
    with tempfile.TemporaryDirectory() as out:
        base = [str(SCRIPT), "--data", str(DATA), "--out", out, "--steps", str(steps),
                "--per-device-batch", str(global_batch // procs), "--clips", str(min(steps * global_batch, 256))]
        if procs == 1:
            cmd = [sys.executable, *base]
        else:
            cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(procs),
                   "--master_addr", "127.0.0.1", "--master_port", str(_port()), *base]
        env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
        subprocess.run(cmd, check=True, env=env, capture_output=True, timeout=1200)
        return json.loads((Path(out) / "rank0.json").read_text())["clips_per_second"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--global-batch", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.1f}")
    print("| processes | per-process batch | clips/s (median) | runs |")
    print("|---|---|---|---|")
    for procs in (1, 2):
        rates = [run(procs, args.steps, args.global_batch) for _ in range(args.repeats)]
        print(f"| {procs} | {args.global_batch // procs} | {statistics.median(rates):.1f} | "
              f"{', '.join(f'{r:.1f}' for r in rates)} |")


if __name__ == "__main__":
    main()
