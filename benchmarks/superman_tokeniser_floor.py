"""Superman's tokeniser floor on held-out CMU: the VGMT trained on clips in their own box vs in the tasks' boxes.

The recipe's VGMT (``hf_skeleton.training.superman_recipe``) is trained twice at the same steps and seed:

- own box: every T-frame training window normalised into [-1, 1] by its own bounding box (the former recipe);
- task boxes: the windows normalised the way the tasks normalise what they tokenise
  (:func:`~hf_skeleton.training.superman_recipe.vgmt_training_clips`: own box, the history's box for a
  future, the keyframes' box for an in-betweening clip).

Each is scored by its tokeniser floor (VGMT-decoded ground truth vs raw joints, MPJPE in mm) on every
held-out window: prediction per horizon, in-betweening on the missing middle; and by the plain held-out
reconstruction of own-box windows. The first line gives the baselines on the same windows
(zero velocity per horizon, linear interpolation of the missing middle); ``--vgmt-steps`` with no value
prints only that line. Each row also gives ``predict_copy_mm``: the history's last step of codes repeated,
the token-space zero velocity a model that copies its last step scores.

``--vgmt FOLDER ...`` scores saved VGMTs (a recipe run's ``OUT/vgmt``) instead of training any, and
``--windows 30`` takes the recipe's evaluation windows (its ``--eval 30`` draw for the same seed) instead of
all held-out windows:

    OMP_NUM_THREADS=1 python benchmarks/superman_tokeniser_floor.py --vgmt-steps 300
    OMP_NUM_THREADS=1 python benchmarks/superman_tokeniser_floor.py --vgmt runs/superman_smollm2/vgmt --windows 30
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from hf_skeleton.evaluation.motion_metrics import (
    inbetween_error,
    linear_interpolation,
    prediction_errors,
    zero_velocity_prediction,
)
from hf_skeleton.models.vgmt import VGMTModel, normalize_motion
from hf_skeleton.training import superman_recipe as sr
from hf_skeleton.training.superman_tasks import keyframe_count


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=None, help="CMU .bvh folder (default: ../shared/data/cmu_mocap_bvh)")
    p.add_argument("--fps", type=float, default=20.0)
    p.add_argument("--clip", type=int, default=8)
    p.add_argument("--vgmt-steps", type=int, nargs="*", default=[300])
    p.add_argument("--max-trials", type=int, default=0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--vgmt", nargs="+", default=None, help="saved VGMT folders to score (no training)")
    p.add_argument("--windows", type=int, default=0, help="the recipe's N prediction / in-betweening evaluation "
                   "windows (its --eval N draw; 0: every held-out window)")
    args = p.parse_args()
    train, test = sr.split_trials(sr.load_cmu(sr.cmu_dir(args), args.fps, args.max_trials))
    T = args.clip
    data = {
        "own box": normalize_motion(torch.from_numpy(np.stack(sr.windows(train, T, 4))))[0],
        "task boxes": sr.vgmt_training_clips(sr.windows(train, 2 * T, 4), T),
    }
    pred_test, mib_test = sr.windows(test, 2 * T, T), sr.windows(test, T, T)
    if args.windows:  # as the recipe draws its evaluation windows
        rng = np.random.default_rng(args.seed)
        pred_test, mib_test = (
            [ws[i] for i in sorted(rng.choice(len(ws), min(args.windows, len(ws)), replace=False))]
            for ws in (pred_test, mib_test))
    k = keyframe_count(T)
    missing = np.zeros(T, bool)
    missing[k:-k] = True
    pred = np.stack(pred_test)
    print(json.dumps({"baselines on held-out windows": {
        "zero_velocity_mm": sr._mm(prediction_errors(zero_velocity_prediction(pred[:, :T], T), pred[:, T:], args.fps)),
        "linear_interpolation_mm": round(float(np.mean(
            [inbetween_error(linear_interpolation(c, missing), c, missing) for c in mib_test])) * 1000, 1)}}),
        flush=True)
    for folder in args.vgmt or ():
        vgmt = VGMTModel.from_pretrained(folder).eval()
        print(json.dumps({"vgmt": folder, "heldout_recon_own_box_mm": round(sr.vgmt_error_mm(vgmt, mib_test), 1),
                          **sr.tokeniser_floors(vgmt, pred_test, mib_test, args.fps)}), flush=True)
    rows = []
    for steps in [] if args.vgmt else args.vgmt_steps:
        for name, clips in data.items():
            t0 = time.time()
            vgmt = sr.train_vgmt(clips, steps, args.seed, log=lambda line: None)
            row = {"training clips": name, "n_clips": len(clips), "vgmt_steps": steps,
                   "train_s": round(time.time() - t0),
                   "heldout_recon_own_box_mm": round(sr.vgmt_error_mm(vgmt, mib_test), 1),
                   **sr.tokeniser_floors(vgmt, pred_test, mib_test, args.fps)}
            print(json.dumps(row), flush=True)
            rows.append(row)


if __name__ == "__main__":
    main()
