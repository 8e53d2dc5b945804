"""Speed of transforms, animations and dataset conversion on the real N-UCLA clips.

    OMP_NUM_THREADS=1 python benchmarks/data_viz.py --repeats 3

Prints the median wall time over ``--repeats`` runs of:
  - normalize(align_view=True) + resample(32) on every N-UCLA clip (clips/s);
  - a 141-frame N-UCLA clip drawn to GIF and to MP4 at 320x320 (frames/s, after one warm-up);
  - converting all 1,484 N-UCLA clips to parquet with num_proc=1 and 2 (clips/s);
  - reading every converted row back as numpy arrays, row by row and in batches of 64, in memory
    and streaming, against load_skeleton on every JSON file (clips/s).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("HF_SKELETON_DATA", REPO.parent / "shared" / "data"))
NUCLA = DATA / "nw_ucla" / "all_sqe"


def timed(fn, repeats: int) -> tuple[float, list[float]]:
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - start)
    return statistics.median(runs), runs


def report(name: str, med: float, runs: list[float], count: int, unit: str) -> None:
    print(f"{name:42s} median={med:7.3f} s  {count / med:9,.1f} {unit}/s  runs={[f'{r:.2f}' for r in runs]}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    import datasets

    import hf_skeleton as hs
    from hf_skeleton.dataset_tools import convert_dataset, load_converted
    from hf_skeleton.viz import save_animation

    datasets.disable_progress_bars()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}, load average {os.getloadavg()[0]:.1f}")
    files = sorted(NUCLA.glob("*.json"))
    clips = [hs.load_skeleton(f) for f in files]

    med, runs = timed(lambda: [c.normalized(align_view=True).resample(32) for c in clips], args.repeats)
    report("normalize+align+resample(32), N-UCLA", med, runs, len(clips), "clip")

    clip = hs.load_skeleton(NUCLA / "a04_s01_e00_v01.json")
    tmp = Path(tempfile.mkdtemp())
    try:
        for suffix in (".gif", ".mp4"):
            save_animation(clip, tmp / f"warm{suffix}", max_frames=10)
            med, runs = timed(lambda s=suffix: save_animation(clip, tmp / f"clip{s}"), args.repeats)
            report(f"save_animation {clip.num_frames} frames {suffix} 320px", med, runs, clip.num_frames, "frame")

        for num_proc in (1, 2):
            def convert(n=num_proc):
                shutil.rmtree(tmp / "out", ignore_errors=True)
                convert_dataset(NUCLA, tmp / "out", "nucla", num_proc=n, num_shards=4, progress=False)
            med, runs = timed(convert, args.repeats)
            report(f"convert all N-UCLA, num_proc={num_proc}", med, runs, len(files), "clip")

        def read(streaming: bool, batch_size: int | None):
            def run():
                ds = load_converted(tmp / "out", streaming=streaming)
                for split in ds.values():
                    split = split.with_format("numpy")
                    if batch_size is None:
                        for row in split:
                            row["positions"].shape  # noqa: B018
                    else:
                        for batch in split.iter(batch_size=batch_size):
                            len(batch["positions"])
            return run
        for name, fn in (("read parquet rows one by one (in memory)", read(False, None)),
                         ("read parquet in batches of 64 (in memory)", read(False, 64)),
                         ("read parquet in batches of 64 (streaming)", read(True, 64)),
                         ("load_skeleton every JSON file", lambda: [hs.load_skeleton(f) for f in files])):
            med, runs = timed(fn, args.repeats)
            report(name, med, runs, len(files), "clip")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
