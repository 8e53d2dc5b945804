"""Superman's ``estimate`` task (3D motion from video) on the Pose2Sim trial, beside BlazePose.

Superman reads video through a VLM. The paper's is Qwen2.5-VL; none installs offline here, so the VLM is
composed of the two pretrained backbones that do (``SupermanForConditionalGeneration.from_backbones``):
EfficientNet-Lite0 (ImageNet, frozen) -> 2 x 2 tokens per frame -> a new projector -> SmolLM2-135M-Instruct
(LoRA r=8 on q/v, motion-token rows; the projector trains in full). Its motion tokenizer is the embedded
``superman-cmu``'s VGMT (H36M-17, trained on CMU at 20 fps), frozen.

Data: the 4 calibrated videos of one person (100 frames at 60 fps) and the TRC markers triangulated from
them. The markers become H36M-17: 14 joints by name; pelvis, spine and thorax, which no marker names, are
filled for the tokenizer (mid-hips, mid-shoulders, their midpoint) and never scored. 60 -> 20 fps by taking
every third frame from each of the 3 offsets; 8-frame windows. Frames before ``--split-frame`` (70) train,
windows wholly after it are held out (the last 0.5 s of the motion, all 4 cameras). Frames are squashed to
224 x 224 by FFmpeg's scaler.

Scores on the held-out windows (mm, the 14 measured joints): the model's answer mapped back with the ground
truth's box (the task's normalisation: box-aligned MPJPE) and P-MPJPE (per-frame Procrustes); strict: an
answer that does not parse counts as the mean training pose. Beside them: the tokenizer floor (the true codes
decoded), the mean training pose, and BlazePose (full, ``hs.load_skeleton(video)``) on the same frames, by
P-MPJPE over the 12 limb joints both name (shoulders, elbows, wrists, hips, knees, ankles).

    OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 python benchmarks/superman_estimate_pose2sim.py --steps 200 --out runs/superman_estimate
    ... --out runs/superman_estimate --eval-only --gray-frames --no-blazepose    # the same model without the video
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch

import hf_skeleton as hs
from hf_skeleton.evaluation.motion_metrics import p_mpjpe
from hf_skeleton.skeletons.box import box_normalize_like
from hf_skeleton.skeletons.formats import H36M17
from hf_skeleton.training.superman_eval import evaluate_estimate
from hf_skeleton.training.superman_tasks import (
    SupermanTaskBuilder,
    build_superman_trainer,
    superman_sft_config,
)

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("HF_SKELETON_DATA", REPO.parent / "shared" / "data")) / "pose2sim_demo"
TRC = DATA / "keypoints_2d_3d" / "pose-3d" / "S00_P00_T01_BalancingTrial_0-100.trc"
CAMERAS = [DATA / "videos" / f"cam0{i}.mp4" for i in range(1, 5)]
LIMBS = ["left_shoulder", "left_elbow", "left_wrist", "right_shoulder", "right_elbow", "right_wrist",
         "left_hip", "left_knee", "left_ankle", "right_hip", "right_knee", "right_ankle"]


def markers_as_h36m() -> tuple[np.ndarray, np.ndarray]:
    """The TRC markers as H36M-17 (100, 17, 3) metres and the mask (100, 17) of the 14 joints they name."""
    seq = hs.load_skeleton(TRC).to_format("h36m17")
    pos, mask = seq.positions[:, 0].copy(), seq.mask[:, 0].copy()
    j = {n: i for i, n in enumerate(H36M17.joints)}
    pos[:, j["pelvis"]] = (pos[:, j["left_hip"]] + pos[:, j["right_hip"]]) / 2
    pos[:, j["thorax"]] = (pos[:, j["left_shoulder"]] + pos[:, j["right_shoulder"]]) / 2
    pos[:, j["spine"]] = (pos[:, j["pelvis"]] + pos[:, j["thorax"]]) / 2
    return pos, mask


def windows(num_frames: int, clip: int, step: int, split: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Frame indices of the ``clip``-frame windows at 1/``step`` of the rate, from every offset: (train, test)."""
    train, test = [], []
    for offset in range(step):
        idx = np.arange(offset, num_frames, step)
        for s in range(len(idx) - clip + 1):
            w = idx[s : s + clip]
            (train if w[-1] < split else test if w[0] >= split else []).append(w)
    return train, test


def blazepose_limbs_p_mpjpe(videos_idx: list[tuple[Path, np.ndarray]], markers: np.ndarray) -> float:
    """BlazePose (full) on each camera, P-MPJPE (m) over the 12 limb joints on the given frames."""
    j = [H36M17.joints.index(n) for n in LIMBS]
    errors, cache = [], {}
    for video, idx in videos_idx:
        if video not in cache:
            cache[video] = hs.load_skeleton(video, progress=False).to_format("h36m17")
        seq = cache[video]
        pred, m = seq.positions[idx, 0][:, j], seq.mask[idx, 0][:, j]
        errors.append(p_mpjpe(pred, markers[idx][:, j], m))
    return float(np.mean(errors))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--token-grid", type=int, default=2, help="tokens per frame: its square")
    ap.add_argument("--clip", type=int, default=8, help="frames per window at 20 fps")
    ap.add_argument("--split-frame", type=int, default=70)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-blazepose", action="store_true")
    ap.add_argument("--eval-only", action="store_true", help="score the model a former run saved in OUT/model")
    ap.add_argument("--gray-frames", action="store_true",
                    help="ablation: the held-out windows' frames replaced by uniform gray (does the model read video?)")
    ap.add_argument("--out", default="runs/superman_estimate")
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()

    markers, mask = markers_as_h36m()
    frames = {cam: hs.video.load_video(cam, size=(224, 224)) for cam in CAMERAS}
    train_idx, test_idx = windows(len(markers), args.clip, 3, args.split_frame)
    vgmt = hs.SupermanForConditionalGeneration.from_pretrained(hs.embedded_model_path("superman-cmu")).vgmt
    model, proc = hs.SupermanForConditionalGeneration.from_backbones(
        "efficientnet-lite0", "smollm2-135m-instruct", vgmt, token_grid=args.token_grid, seed=args.seed)
    builder = SupermanTaskBuilder(model, proc)
    train = [builder.estimate(frames[c][w], markers[w]) for c in CAMERAS for w in train_idx]
    tests = [(frames[c][w], markers[w], mask[w]) for c in CAMERAS for w in test_idx]
    if args.gray_frames:
        tests = [(np.full_like(f, 128), clip, m) for f, clip, m in tests]
    mean_pose = np.mean([box_normalize_like(torch.from_numpy(markers[w]), torch.from_numpy(markers[w]))[0][0].numpy()
                         for w in train_idx], axis=(0, 1))
    print(f"{len(train)} training / {len(tests)} held-out windows; setup {time.time() - t0:.0f} s", flush=True)

    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    if args.eval_only:
        model = hs.SupermanForConditionalGeneration.from_pretrained(out / "model")
        proc = hs.SupermanProcessor.from_pretrained(out / "model")
        train_s, losses = None, []
    else:
        sft = superman_sft_config(str(out / "trainer"), max_steps=args.steps, per_device_train_batch_size=args.batch,
                                  learning_rate=args.lr, seed=args.seed, logging_steps=10)
        t = time.time()
        trainer = build_superman_trainer(model, proc, train, sft)
        trainer.train()
        train_s = round(time.time() - t)
        losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
        model.save_pretrained(out / "model")
        proc.save_pretrained(out / "model")

    model.eval()
    t = time.time()
    result = evaluate_estimate(model, proc, tests, constrained=False, fallback=mean_pose, keep_motions=True)
    eval_s = time.time() - t
    motions = result.pop("motions")
    limbs = [H36M17.joints.index(n) for n in LIMBS]
    result["strict_limbs_p_mpjpe_mm"] = round(1000 * float(np.mean(
        [p_mpjpe(m[:, limbs], c[:, limbs]) for m, (_, c, _) in zip(motions, tests)])), 1)
    if not args.no_blazepose:
        pairs = [(c, w) for c in CAMERAS for w in test_idx]
        result["blazepose_limbs_p_mpjpe_mm"] = round(1000 * blazepose_limbs_p_mpjpe(pairs, markers), 1)
    result.update(train_windows=len(train), trainable_parameters=trainable, steps=args.steps, batch=args.batch,
                  lr=args.lr, token_grid=args.token_grid, loss_first=losses[:1], loss_last=losses[-1:],
                  train_s=train_s, eval_s=round(eval_s), threads=torch.get_num_threads())
    result["gray_frames"] = args.gray_frames
    (out / ("results_gray.json" if args.gray_frames else "results.json")).write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
