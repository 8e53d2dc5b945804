"""Skeletons from video (``hs.load_skeleton("clip.mp4")``, BlazePose full) on the real videos.

    OMP_NUM_THREADS=1 python benchmarks/video_pose.py [--frames 100] [--model heavy]

Per Pose2Sim camera (cam01..cam04, 1080x1920, 60 fps; the person is the same in all four and
``pose-3d/S00_P00_T01_BalancingTrial_0-100.trc`` holds the 3D markers triangulated from them): the share of
frames with a detection, milliseconds per frame (decode + BlazePose, wall time, ``smooth=False``) and the
MPJPE after a per-frame Procrustes alignment (rotation, translation, scale) of the world landmarks to the
markers, with and without smoothing, on

- the 15 joints both formats name (nose, shoulders, elbows, wrists, hips, knees, ankles, heels), and
- those plus foot_index ~ big_toe (17 joints, as counted in issue #17),

over the joints observed in both (visibility > 0.5). Then the Sports2D video (outdoor, 30 fps, people
walking, no ground truth): detection rate and milliseconds per frame. Timings are wall time on whatever else
the machine runs: the "cpu ms" column (this process only) is steadier on a shared machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("HF_SKELETON_DATA", REPO.parent / "shared" / "data"))
TRC = DATA / "pose2sim_demo" / "keypoints_2d_3d" / "pose-3d" / "S00_P00_T01_BalancingTrial_0-100.trc"
FOOT = [("left_foot_index", "left_big_toe"), ("right_foot_index", "right_big_toe")]


def timed_load(path: Path, **kwargs):
    import hf_skeleton as hs

    wall, cpu = time.perf_counter(), time.process_time()
    seq = hs.load_skeleton(path, progress=False, **kwargs)
    return seq, (time.perf_counter() - wall) / seq.num_frames * 1e3, (time.process_time() - cpu) / seq.num_frames * 1e3


def procrustes_mpjpe_mm(seq, trc, pairs: list[tuple[str, str]]) -> float:
    from hf_skeleton.evaluation import p_mpjpe

    ours = [seq.format.index(a) for a, _ in pairs]
    theirs = [trc.format.index(b) for _, b in pairs]
    T = seq.num_frames
    mask = seq.mask[:, 0][:, ours] & trc.mask[:T, 0][:, theirs]
    return 1e3 * p_mpjpe(seq.positions[:, 0][:, ours], trc.positions[:T, 0][:, theirs], mask)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=100, help="frames per Pose2Sim camera (the trial has 100)")
    ap.add_argument("--model", default="full", choices=["lite", "full", "heavy"],
                    help="BlazePose's landmark model (lite/heavy: hf-skeleton install-pose-model first)")
    ap.add_argument("--sports2d-frames", type=int, default=None, help="frames of the Sports2D video (all: 230)")
    args = ap.parse_args()
    import hf_skeleton as hs

    hs.load_skeleton(DATA / "pose2sim_demo" / "videos" / "cam01.mp4", max_frames=1, progress=False,
                     model=args.model)  # warm-up
    trc = hs.load_skeleton(TRC)
    names = [n for n in hs.get_format("blazepose33").joints if n in trc.format.joints]
    shared = [(n, n) for n in names]
    print(f"# BlazePose {args.model}; {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}; TRC {TRC.name}")
    print(f"# shared joints ({len(shared)}): {', '.join(names)}")
    print("camera | frames | detected | ms/frame | cpu ms/frame | P-MPJPE 15 raw | 15 smoothed | 17 raw | 17 smoothed")
    raw_errors, smooth_errors = [], []
    for cam in ("cam01", "cam02", "cam03", "cam04"):
        path = DATA / "pose2sim_demo" / "videos" / f"{cam}.mp4"
        raw, ms, cpu_ms = timed_load(path, max_frames=args.frames, smooth=False, model=args.model)
        smooth, _, _ = timed_load(path, max_frames=args.frames, model=args.model)
        e = [procrustes_mpjpe_mm(s, trc, p) for p in (shared, shared + FOOT) for s in (raw, smooth)]
        raw_errors.append(e[0])
        smooth_errors.append(e[1])
        print(f"{cam} | {raw.num_frames} | {raw.meta['detected'].mean():.0%} | {ms:.1f} | {cpu_ms:.1f} | "
              f"{e[0]:.1f} mm | {e[1]:.1f} mm | {e[2]:.1f} mm | {e[3]:.1f} mm", flush=True)
    print(f"mean of 4 cameras (15 joints): raw {np.mean(raw_errors):.1f} mm, smoothed {np.mean(smooth_errors):.1f} mm "
          f"(smoothing window {smooth.meta['smooth_window']} frames at {smooth.fps:g} fps)")
    sports = DATA / "sports2d_demo" / "demo.mp4"
    seq, ms, cpu_ms = timed_load(sports, max_frames=args.sports2d_frames, smooth=False, model=args.model)
    w, h = seq.meta["video"]["width"], seq.meta["video"]["height"]
    print(f"sports2d demo.mp4 ({w}x{h}, {seq.fps:g} fps) | {seq.num_frames} frames | detected "
          f"{int(seq.meta['detected'].sum())}/{seq.num_frames} ({seq.meta['detected'].mean():.0%}) | "
          f"{ms:.1f} ms/frame | {cpu_ms:.1f} cpu ms/frame")


if __name__ == "__main__":
    main()
