"""Time to load every N-UCLA clip and every CMU BVH file with hf_skeleton.load_skeleton.

    OMP_NUM_THREADS=1 python benchmarks/load_time.py --repeats 3

Prints, per dataset, the median wall time and CPU time (this process only: steadier on a shared
machine) over ``--repeats`` full passes (each pass loads every file
once; the first pass also warms the OS file cache, so a cold first run can be slower), the
number of files and frames, and frames per second of loading.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("HF_SKELETON_DATA", REPO.parent / "shared" / "data"))


def time_pass(files: list[Path]) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds of this process, frames) for one pass over ``files``."""
    import hf_skeleton as hs

    start, cpu = time.perf_counter(), time.process_time()
    frames = sum(hs.load_skeleton(f).num_frames for f in files)
    return time.perf_counter() - start, time.process_time() - cpu, frames


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    import hf_skeleton  # noqa: F401  (import cost kept out of the timings)

    sets = {"N-UCLA JSON (all_sqe)": sorted((DATA / "nw_ucla" / "all_sqe").glob("*.json")),
            "CMU BVH": sorted((DATA / "cmu_mocap_bvh").glob("*.bvh"))}
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}")
    for name, files in sets.items():
        times, cpus, frames = [], [], 0
        for _ in range(args.repeats):
            t, c, frames = time_pass(files)
            times.append(t)
            cpus.append(c)
        med, cpu = statistics.median(times), statistics.median(cpus)
        print(f"{name:24s} files={len(files):5d} frames={frames:7d} wall median={med:6.2f} s "
              f"({1000 * med / len(files):.2f} ms/file, {frames / med:,.0f} frames/s) cpu median={cpu:6.2f} s "
              f"runs={[f'{t:.2f}' for t in times]}")
    print(f"load average (1 min) at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
