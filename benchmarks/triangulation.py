"""Multi-view triangulation (``hs.skeletons.triangulate``) of BlazePose on the four Pose2Sim videos, against
the trial's TRC markers, WITHOUT any alignment.

    OMP_NUM_THREADS=1 python benchmarks/triangulation.py [--frames 100] [--cache /tmp/tri_cache] [--model heavy]

The TRC (``pose-3d/S00_P00_T01_BalancingTrial_0-100.trc``, metres, y up) was triangulated by Pose2Sim from
OpenPose BODY_25B keypoints of the same videos with the same Qualisys calibration; Pose2Sim writes the
calibration's z-up world as (Y, Z, X), so the markers are compared as (TRC z, TRC x, TRC y). Errors are
Euclidean distances in millimetres on the 15 joints both formats name, over the points triangulated.

Reported: time sync (frames and frame rates of the videos and the TRC, and the error with the videos
shifted by -2..+2 frames), the error and reprojection error for a few settings (defaults: threshold 0.5,
30 px, swap check on, smoothing on), per joint for the defaults, the error left once a constant per-joint
offset is removed (what the two keypoint definitions do not share), and a peer check: Pose2Sim's own
BODY_25B keypoints through ``triangulate`` with Pose2Sim's settings against its markers. ``--cache`` keeps
the BlazePose estimates (``.npz``) so that a second run skips the estimator.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("HF_SKELETON_DATA", REPO.parent / "shared" / "data")) / "pose2sim_demo"
TRC = DATA / "keypoints_2d_3d" / "pose-3d" / "S00_P00_T01_BalancingTrial_0-100.trc"
QCA = DATA / "calibration" / "Calib.qca.txt"
CAMS = ["cam01", "cam02", "cam03", "cam04"]
BODY_25B = ["nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
            "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
            "right_knee", "left_ankle", "right_ankle", "neck", "head", "left_big_toe", "left_small_toe",
            "left_heel", "right_big_toe", "right_small_toe", "right_heel"]
META = ("keypoints_2d", "visibility", "detected", "frame_indices", "times")


def blazepose_views(frames: int, cache: Path | None, model: str = "full"):
    """The four cameras read raw (``smooth=False``) with BlazePose ``model``, from ``cache`` when it holds them."""
    import hf_skeleton as hs
    from hf_skeleton.skeletons import SkeletonSequence

    views, seconds = [], 0.0
    for cam in CAMS:
        path = DATA / "videos" / f"{cam}.mp4"
        stored = cache / f"{cam}_{frames}_{model}.npz" if cache else None
        if stored is not None and stored.exists():
            with np.load(stored, allow_pickle=False) as z:
                meta = {k: z[k] for k in META}
                meta["source"] = str(path)
                views.append(SkeletonSequence(positions=z["positions"], mask=z["mask"], fps=float(z["fps"]),
                                              format="blazepose33", meta=meta))
            continue
        t0 = time.perf_counter()
        seq = hs.load_skeleton(path, max_frames=frames, smooth=False, progress=False, model=model)
        seconds += time.perf_counter() - t0
        if stored is not None:
            stored.parent.mkdir(parents=True, exist_ok=True)
            np.savez(stored, positions=seq.positions, mask=seq.mask, fps=seq.fps, **{k: seq.meta[k] for k in META})
        views.append(seq)
    return views, seconds


def errors_mm(seq, markers, pairs, shift: int = 0) -> np.ndarray:
    """(T', K) distances in mm, NaN where not triangulated; ``shift``: video frame t + shift vs marker frame t."""
    ours = [seq.format.index(a) for a, _ in pairs]
    theirs = [b for _, b in pairs]
    pos = np.where(seq.mask[:, 0, :, None], seq.positions[:, 0], np.nan)[:, ours].astype(np.float64)
    T = min(len(pos), len(markers))
    lo, hi = max(0, -shift), min(T, T - shift)
    return 1e3 * np.linalg.norm(pos[lo + shift:hi + shift] - markers[lo:hi][:, theirs], axis=-1)


def summary(e: np.ndarray) -> str:
    return f"{np.nanmean(e):.1f} / {np.nanmedian(e):.1f}"


def pose2sim_views(calib, markers):
    """Pose2Sim's BODY_25B keypoints of the subject (the person nearest the markers' projection)."""
    import hf_skeleton as hs
    from hf_skeleton.skeletons import SkeletonFormat, SkeletonSequence

    trc_fmt = hs.load_skeleton(TRC).format
    fmt = SkeletonFormat(**{**trc_fmt.to_dict(), "name": "pose2sim21_px", "dims": 2, "units": "px",
                            "up_axis": "-y"})
    order = [BODY_25B.index(n) for n in trc_fmt.joints]
    views = []
    for cam in calib:
        op = hs.load_skeleton(DATA / "keypoints_2d_3d" / "pose" / f"{cam.name}_json", fps=60)
        kp, conf = op.positions[:, :, order, :2], op.meta["confidence"][:, :, order]
        dist = np.where(conf > 0, np.linalg.norm(kp - cam.project(markers)[:, None], axis=-1), np.inf)
        who = np.median(dist, axis=-1).argmin(1)
        rows = np.arange(len(kp))
        views.append(SkeletonSequence(positions=kp[rows, who][:, None], mask=(conf[rows, who] > 0)[:, None],
                                      fps=60.0, format=fmt, meta={"camera": cam.name,
                                                                  "confidence": conf[rows, who][:, None]}))
    return views


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=100, help="frames per camera (the trial has 100)")
    ap.add_argument("--cache", type=Path, default=None, help="folder to keep the BlazePose estimates in")
    ap.add_argument("--model", default="full", choices=["lite", "full", "heavy"],
                    help="BlazePose's landmark model (lite/heavy: hf-skeleton install-pose-model first)")
    args = ap.parse_args()
    import hf_skeleton as hs
    from hf_skeleton.skeletons import load_calibration, triangulate
    from hf_skeleton.skeletons.calibration import Calibration
    from hf_skeleton.video import video_info

    trc = hs.load_skeleton(TRC)
    markers = trc.positions[:, 0].astype(np.float64)[..., [2, 0, 1]]  # TRC (Y, Z, X) -> calibration (X, Y, Z)
    calib = load_calibration(QCA)
    bp = hs.get_format("blazepose33")
    names = [n for n in bp.joints if n in trc.format.joints]
    pairs = [(n, trc.format.index(n)) for n in names]
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}; calibration {QCA.name}; TRC {TRC.name}")
    infos = [video_info(DATA / "videos" / f"{c}.mp4") for c in CAMS]
    print("# sync: videos " + ", ".join(f"{c} {i['num_frames']} frames {i['width']}x{i['height']} {i['fps']:g} fps"
                                         for c, i in zip(CAMS, infos))
          + f"; TRC {trc.num_frames} frames {trc.fps:g} fps, Frame# {int(trc.meta['frame_numbers'][0])}.."
            f"{int(trc.meta['frame_numbers'][-1])}, Time {trc.meta['time'][0]:.4f}..{trc.meta['time'][-1]:.4f} s")
    print(f"# joints ({len(names)}): {', '.join(names)}")
    views, estimate_s = blazepose_views(args.frames, args.cache, args.model)
    if estimate_s:
        print(f"# BlazePose {args.model} on {len(views)} x {views[0].num_frames} frames: {estimate_s:.1f} s")

    runs = []
    for _ in range(5):
        t0, c0 = time.perf_counter(), time.process_time()
        best = triangulate(views, calib)
        runs.append(((time.perf_counter() - t0) / best.num_frames * 1e3, (time.process_time() - c0) / best.num_frames * 1e3))
    wall_ms, cpu_ms = np.median(runs, axis=0)
    print(f"# triangulate (4 views, 33 joints, defaults): {wall_ms:.2f} ms per frame wall, {cpu_ms:.2f} CPU ms "
          f"(median of 5 runs)")
    print("\nsetting | mean / median error mm | reprojection mean / median px | triangulated | "
          "views swapped (frames, per camera)")
    settings = [
        ("defaults (0.5, 30 px, swap check, smoothing)", {}),
        ("no smoothing", {"smooth": False}),
        ("no swap check", {"swap_sides": False}),
        ("no view removal (max_reprojection_error=inf)", {"max_reprojection_error": float("inf")}),
        ("plain weighted DLT (no removal, no swap check, no smoothing)",
         {"max_reprojection_error": float("inf"), "swap_sides": False, "smooth": False}),
        ("15 px (Pose2Sim's default)", {"max_reprojection_error": 15.0}),
        ("no undistortion", {"calibration": Calibration(tuple(dataclasses.replace(c, distortion=np.zeros(5))
                                                              for c in calib))}),
    ]
    for label, kwargs in settings:
        seq = best if not kwargs else triangulate(views, kwargs.pop("calibration", calib), **kwargs)
        e = errors_mm(seq, markers, pairs)
        rep = seq.meta["reprojection_error"][:, [bp.index(n) for n in names]]
        swapped = seq.meta["swapped"].any(-1).sum(0).tolist()
        print(f"{label} | {summary(e)} | {np.nanmean(rep):.1f} / {np.nanmedian(rep):.1f} | "
              f"{np.isfinite(e).mean():.1%} | {swapped}")
    print("\nshift (video frame t+k vs TRC frame t) | mean / median error mm (defaults)")
    for k in (-2, -1, 0, 1, 2):
        print(f"{k:+d} | {summary(errors_mm(best, markers, pairs, k))}")

    e = errors_mm(best, markers, pairs)
    rep = best.meta["reprojection_error"]
    ours = [bp.index(n) for n in names]
    pos = np.where(best.mask[:, 0, :, None], best.positions[:, 0], np.nan)[:, ours]
    diff = pos - markers[:len(pos)][:, [b for _, b in pairs]]
    offset = np.nanmean(diff, axis=0)  # per joint, world frame
    left = 1e3 * np.linalg.norm(diff - offset, axis=-1)
    print("\njoint | mean / median error mm | constant offset (x, y, z) mm | error without it mm | "
          "reprojection px")
    for i, n in enumerate(names):
        o = np.round(1e3 * offset[i]).astype(int).tolist()
        print(f"{n} | {summary(e[:, i])} | {o} | {summary(left[:, i])} | {np.nanmean(rep[:, bp.index(n)]):.1f}")
    print(f"all {len(names)} | {summary(e)} | | {summary(left)} | {np.nanmean(rep[:, ours]):.1f}")

    flat = Calibration(tuple(dataclasses.replace(c, distortion=np.zeros(5)) for c in calib))
    peer = triangulate(pose2sim_views(flat, markers), flat, threshold=0.3, max_reprojection_error=15.0,
                       swap_sides=False, smooth=False)
    d = 1e3 * np.linalg.norm(peer.positions[:, 0] - markers, axis=-1)[peer.mask[:, 0]]
    print(f"\npeer check: Pose2Sim's BODY_25B keypoints, likelihood >= 0.3, 15 px, no undistortion, no swap "
          f"check -> {np.mean(d < 0.01):.1%} of {d.size} points within 0.01 mm of the TRC, median {np.median(d):.5f} mm")


if __name__ == "__main__":
    main()
