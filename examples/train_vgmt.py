"""Train VGMT (Superman's Vision-Guided Motion Tokenizer) with transformers.Trainer on real motion.

Two experiments, both seeded and CPU-feasible:

``cmu``: CMU motion capture (the 43-joint BVH hierarchy shared by 56 of the 58 trials in
../shared/data/cmu_mocap_bvh), 120 fps subsampled to 30 fps, 16-frame clips (stride 8). Whole trials
are held out (every 5th trial in sorted order), so test motion was never seen. A skeleton-only VGMT
(x2 temporal compression) is trained; the script reports reconstruction MPJPE in mm on the held-out
trials (clips are normalised into [-1, 1] as the authors do and mapped back before scoring) plus the
codebook health on the held-out tokens.

``pose2sim``: the Pose2Sim demo (one real person, 4 calibrated cameras, 100 frames at 60 fps). The motion
is the triangulated TRC 3D (21 markers, metres); the visual input is each camera's real video, decoded
with PyAV. Joints are projected into each camera with a projection matrix fitted by DLT to that
camera's own 2D detections (robust, inlier-refitted); the projection of every 3D marker gives the
sampling points. A fused VGMT (a frozen, randomly initialised tiny ResNet backbone: no pretrained
weights can be downloaded here) and a skeleton-only VGMT with the same budget are trained on frames
0-69 of all cameras and scored on clips from frames 70-99.

    OMP_NUM_THREADS=1 python examples/train_vgmt.py cmu --max-steps 1500 --output-dir runs/vgmt_cmu
    OMP_NUM_THREADS=1 python examples/train_vgmt.py pose2sim --max-steps 300 --output-dir runs/vgmt_p2s
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np
import torch
from transformers import ResNetConfig, set_seed

import hf_skeleton as hs
from hf_skeleton.evaluation import mm, mpjpe
from hf_skeleton.training.recipe_config import recipe_parser
from hf_skeleton.training.vgmt_cmu import ClipDataset, VGMTRecipeConfig, run_cmu, windows
from hf_skeleton.training.vgmt_cmu import evaluate_vgmt as evaluate
from hf_skeleton.training.vgmt_cmu import train_vgmt as train

DATA = Path(os.environ.get("HF_SKELETON_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


# Pose2Sim TRC markers as a skeleton format (canonical joint names; the neck is the root).
P2S_MARKERS = ["RHip", "RKnee", "RAnkle", "RBigToe", "RSmallToe", "RHeel", "LHip", "LKnee", "LAnkle", "LBigToe",
               "LSmallToe", "LHeel", "Neck", "Head", "Nose", "RShoulder", "RElbow", "RWrist", "LShoulder", "LElbow",
               "LWrist"]
P2S_FORMAT = hs.SkeletonFormat(
    "pose2sim_trc21",
    ["right_hip", "right_knee", "right_ankle", "right_big_toe", "right_small_toe", "right_heel", "left_hip",
     "left_knee", "left_ankle", "left_big_toe", "left_small_toe", "left_heel", "neck", "head", "nose",
     "right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow", "left_wrist"],
    [12, 0, 1, 2, 2, 2, 12, 6, 7, 8, 8, 8, -1, 12, 13, 12, 15, 16, 12, 18, 19],
    parts={"torso": (12, 13, 14), "right_leg": (0, 1, 2, 3, 4, 5), "left_leg": (6, 7, 8, 9, 10, 11),
           "right_arm": (15, 16, 17), "left_arm": (18, 19, 20)},
    up_axis="y", units="m", description="Pose2Sim demo TRC markers (Body_with_feet)")
# index of each TRC marker among the 25 detected keypoints of the demo's 2D JSON (COCO order, then
# head/neck, then feet in OpenPose order); checked by the DLT residual below
P2S_2D_INDEX = {"Nose": 0, "LShoulder": 5, "RShoulder": 6, "LElbow": 7, "RElbow": 8, "LWrist": 9, "RWrist": 10,
                "LHip": 11, "RHip": 12, "LKnee": 13, "RKnee": 14, "LAnkle": 15, "RAnkle": 16, "LBigToe": 19,
                "LSmallToe": 20, "LHeel": 21, "RBigToe": 22, "RSmallToe": 23, "RHeel": 24}


def read_trc(path: Path) -> tuple[list[str], np.ndarray, float]:
    lines = path.read_text().splitlines()
    names = [n for n in lines[3].split("\t")[2:] if n]
    rate = float(lines[2].split("\t")[0])
    data = np.genfromtxt(path, skip_header=5, delimiter="\t")
    return names, data[:, 2:2 + 3 * len(names)].reshape(len(data), len(names), 3), rate


def _dlt(p3: np.ndarray, p2: np.ndarray) -> np.ndarray:
    rows = []
    for (x, y, z), (u, v) in zip(p3, p2):
        rows.append([x, y, z, 1, 0, 0, 0, 0, -u * x, -u * y, -u * z, -u])
        rows.append([0, 0, 0, 0, x, y, z, 1, -v * x, -v * y, -v * z, -v])
    return np.linalg.svd(np.asarray(rows))[2][-1].reshape(3, 4)


def project(P: np.ndarray, x: np.ndarray) -> np.ndarray:
    h = np.concatenate([x, np.ones(x.shape[:-1] + (1,))], -1) @ P.T
    return h[..., :2] / h[..., 2:]


def fit_camera(cam_dir: Path, markers: list[str], X: np.ndarray, iters: int = 4) -> tuple[np.ndarray, float]:
    """Projection matrix (3, 4) of one camera by DLT from 3D markers to that camera's 2D detections.
    The tracked person is re-chosen per frame as the one closest to the current projection and the fit
    is redone on the best 60% of correspondences. Returns (P, median reprojection error in px)."""
    people = [[np.asarray(p["pose_keypoints_2d"], float).reshape(-1, 3) for p in json.loads(f.read_text())["people"]]
              for f in sorted(cam_dir.glob("*.json"))]
    i3 = [markers.index(n) for n in P2S_2D_INDEX]
    i2 = list(P2S_2D_INDEX.values())
    chosen = [max(ppl, key=lambda p: p[:, 2].sum()) for ppl in people]
    P = None
    for it in range(iters):
        K = np.stack(chosen)
        p3, p2, conf = X[:, i3].reshape(-1, 3), K[:, i2, :2].reshape(-1, 2), K[:, i2, 2].reshape(-1)
        ok = conf > 0.3
        if P is not None:
            r = np.linalg.norm(project(P, p3) - p2, axis=1)
            ok &= r < np.percentile(r[ok], 60)
        P = _dlt(p3[ok], p2[ok])
        chosen = [min(ppl, key=lambda p: np.median(np.linalg.norm(project(P, X[t][i3]) - p[i2, :2], axis=1)))
                  for t, ppl in enumerate(people)]
    K = np.stack(chosen)
    r = np.linalg.norm(project(P, X[:, i3]) - K[:, i2, :2], axis=-1)[K[:, i2, 2] > 0.3]
    return P, float(np.median(r))


def read_video(path: Path, size_hw: tuple[int, int]) -> np.ndarray:
    """All frames of a video as float32 (T, 3, H, W), ImageNet-normalised."""
    import av

    frames = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            img = frame.to_image().resize((size_hw[1], size_hw[0]))
            frames.append(np.asarray(img, np.float32) / 255.0)
    x = np.stack(frames).transpose(0, 3, 1, 2)
    mean, std = np.array([0.485, 0.456, 0.406])[:, None, None], np.array([0.229, 0.224, 0.225])[:, None, None]
    return ((x - mean) / std).astype(np.float32)


def load_pose2sim(clip_len: int, stride: int, size_hw: tuple[int, int], split_frame: int):
    root = DATA / "pose2sim_demo"
    markers, X, rate = read_trc(root / "keypoints_2d_3d" / "pose-3d" / "S00_P00_T01_BalancingTrial_0-100.trc")
    order = [markers.index(n) for n in P2S_MARKERS]
    out = {k: {"clips": [], "frames": [], "j2d": []} for k in ("train", "test")}
    residuals = {}
    for video in sorted((root / "videos").glob("cam*.mp4")):
        cam = video.stem
        P, residuals[cam] = fit_camera(root / "keypoints_2d_3d" / "pose" / f"{cam}_json", markers, X)
        frames = read_video(video, size_hw)
        import av

        with av.open(str(video)) as c:
            W, H = c.streams.video[0].codec_context.width, c.streams.video[0].codec_context.height
        uv = project(P, X[:, order])
        j2d = np.stack([2 * uv[..., 0] / W - 1, 2 * uv[..., 1] / H - 1], -1)
        T = min(len(frames), len(X))
        for split, (a, b) in (("train", (0, split_frame)), ("test", (split_frame, T))):
            for i in windows(T, clip_len, stride, a, b):
                out[split]["clips"].append(X[i:i + clip_len, order])
                out[split]["frames"].append(frames[i:i + clip_len])
                out[split]["j2d"].append(j2d[i:i + clip_len])
    stack = {s: {k: np.stack(v) for k, v in d.items()} for s, d in out.items()}
    return stack, residuals, rate


# ---------------------------------------------------------------------- training and evaluation
def tiny_backbone() -> ResNetConfig:
    return ResNetConfig(embedding_size=16, hidden_sizes=[16, 32, 64, 64], depths=[1, 1, 1, 1], layer_type="basic",
                        out_features=["stage1", "stage2", "stage3", "stage4"])


def run_pose2sim(args) -> dict:
    if args.augmentation():  # a turned or mirrored skeleton no longer matches its video frames
        raise hs.SkeletonInputError("augment_angle, mirror_prob", "0 for the pose2sim experiment",
                                    (args.augment_angle, args.mirror_prob))
    data, residuals, rate = load_pose2sim(args.clip_len, args.stride, (args.image_height, args.image_width),
                                          args.split_frame)
    print(f"Pose2Sim: DLT median reprojection error per camera (px): {residuals}; "
          f"{len(data['train']['clips'])} train / {len(data['test']['clips'])} test clips")
    result = {"experiment": "pose2sim", "fps": rate, "dlt_median_px": residuals}
    for name, use_vision in (("skeleton_only", False), ("fused", True)):
        kw = {"vision_config": tiny_backbone(), "num_heads": 8, "num_points": 4, "num_levels": 4} if use_vision else {}
        config = hs.VGMTConfig(format=P2S_FORMAT.to_dict(), num_codes=args.num_codes, code_dim=args.code_dim,
                               channels=args.channels, norm_groups=16, use_vision=use_vision, **kw)
        set_seed(args.seed)
        model = hs.VGMTModel(config)
        tr = ClipDataset(data["train"]["clips"], data["train"]["frames"] if use_vision else None,
                         data["train"]["j2d"] if use_vision else None)
        te = ClipDataset(data["test"]["clips"], data["test"]["frames"], data["test"]["j2d"])
        log = train(model, tr, args, Path(args.output_dir) / name)
        result[name] = {"train": log, "held_out": evaluate(model, te, "m", args.batch_size, visual=use_vision),
                        "train_subset": evaluate(model, ClipDataset(data["train"]["clips"][::4],
                                                                    data["train"]["frames"][::4],
                                                                    data["train"]["j2d"][::4]),
                                                 "m", args.batch_size, visual=use_vision)}
        print(name, result[name]["held_out"]["mpjpe_mm"], "mm")
    # context: the mean normalised training pose, placed in each test clip's box
    tr, te = ClipDataset(data["train"]["clips"]), ClipDataset(data["test"]["clips"])
    mean_pose = tr.x.mean((0, 1)).expand_as(te.x)
    result["mean_pose_baseline_mm"] = round(float(mm(mpjpe((mean_pose * te.scale + te.centre).numpy(),
                                                           (te.x * te.scale + te.centre).numpy()), "m")), 2)
    return result


def main() -> None:
    parser = recipe_parser(VGMTRecipeConfig, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("experiment", choices=["cmu", "pose2sim"])
    parser.add_argument("--image-height", type=int, default=112)
    parser.add_argument("--image-width", type=int, default=64)
    parser.add_argument("--split-frame", type=int, default=70, help="Pose2Sim: first test frame")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    Path(args.output_dir).mkdir(parents=True, exist_ok=True)
    result = run_cmu(args, log=print) if args.experiment == "cmu" else run_pose2sim(args)
    result["args"] = vars(args)
    (Path(args.output_dir) / "results.json").write_text(json.dumps(result, indent=2))
    print(json.dumps({k: v for k, v in result.items() if k != "split"}, indent=2))


if __name__ == "__main__":
    main()
