"""Pose2Sim's own 2D keypoints (the trial's OpenPose JSON folders) triangulated through the reader, against the
trial's TRC markers by joint name, WITHOUT any alignment: what the OpenPose reader's layout does downstream.

    OMP_NUM_THREADS=1 python benchmarks/triangulation_openpose.py                 # the layout the reader picks
    OMP_NUM_THREADS=1 python benchmarks/triangulation_openpose.py --format openpose25   # read as BODY_25 (the old reading)

The JSON files are OpenPose BODY_25B (``body25b``); read as BODY_25, 11 of the 21 marker names point at other
keypoints (and the left/right swap check pairs an eye with a shoulder). Each camera folder is read with
``load_skeleton(folder, fps=60)`` (person slot 0 of each file; Pose2Sim associated persons across views, this
does not), triangulated with the Qualisys calibration by ``hs.skeletons.triangulate`` with its defaults and with
Pose2Sim's settings (likelihood >= 0.3, 15 px, no swap check, no smoothing; the lens model is applied in both),
and compared with the markers (TRC (Y, Z, X) -> calibration (X, Y, Z)) on the joints both formats name.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("HF_SKELETON_DATA", REPO.parent / "shared" / "data")) / "pose2sim_demo"
TRC = DATA / "keypoints_2d_3d" / "pose-3d" / "S00_P00_T01_BalancingTrial_0-100.trc"
QCA = DATA / "calibration" / "Calib.qca.txt"
CAMS = ["cam01", "cam02", "cam03", "cam04"]
SETTINGS = [("defaults (0.5, 30 px, swap check, smoothing)", {}),
            ("Pose2Sim's settings (0.3, 15 px, no swap check, no smoothing)",
             {"threshold": 0.3, "max_reprojection_error": 15.0, "swap_sides": False, "smooth": False})]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--format", default=None, help="read the JSON as this format (default: the reader's choice)")
    args = ap.parse_args()
    import hf_skeleton as hs
    from hf_skeleton.skeletons import load_calibration, triangulate

    trc = hs.load_skeleton(TRC)
    markers = trc.positions[:, 0].astype(np.float64)[..., [2, 0, 1]]
    calib = load_calibration(QCA)
    kwargs = {"fps": 60.0} if args.format is None else {"fps": 60.0, "format": args.format}
    views = [hs.load_skeleton(DATA / "keypoints_2d_3d" / "pose" / f"{c}_json", **kwargs) for c in CAMS]
    for cam, view in zip(CAMS, views):
        print(f"# {cam}: {view.format.name}, {view.num_frames} frames x {view.num_persons} person slots; "
              f"{view.meta['format_source']}")
    print("setting | joints by name | triangulated | mean / median error mm | within 1 mm")
    for label, options in SETTINGS:
        seq = triangulate(views, calib, **options)
        shared = [n for n in seq.format.joints if n in trc.format.joints]
        ours = np.where(seq.mask[:, 0, :, None], seq.positions[:, 0], np.nan)[:, [seq.format.index(n) for n in shared]]
        e = 1e3 * np.linalg.norm(ours - markers[:, [trc.format.index(n) for n in shared]], axis=-1)
        print(f"{label} | {len(shared)} | {np.isfinite(e).mean():.1%} | {np.nanmean(e):.1f} / {np.nanmedian(e):.1f} | "
              f"{np.mean(e[np.isfinite(e)] < 1):.1%}")


if __name__ == "__main__":
    main()
