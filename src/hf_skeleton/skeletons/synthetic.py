"""Generated (SYNTHETIC) clips for demos and tests when no real recording is at hand.

A Kinect-v2 body in metres (y up, camera at the origin looking down +z, the person about 3 m in
front of it and facing it) is posed by forward kinematics from per-joint swing angles. Clips are
clearly marked: ``meta["synthetic"] = True`` and ``meta["source"]`` starts with ``"SYNTHETIC"``.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from ..errors import SkeletonInputError
from .formats import get_format
from .sequence import SkeletonSequence

ACTIONS = {
    "walk": "a person walks towards the camera, swinging the arms",
    "wave": "a person stands still and waves with the right hand",
    "squat": "a person squats down and stands up again",
}

# Offsets from the parent joint in the rest pose (person's left = -x when facing the camera).
_REST = {
    "pelvis": (0.0, 0.95, 3.0), "spine": (0.0, 0.25, 0.0), "thorax": (0.0, 0.25, 0.0),
    "neck": (0.0, 0.08, 0.0), "head": (0.0, 0.12, 0.0),
    "left_shoulder": (-0.18, -0.02, 0.0), "left_elbow": (0.0, -0.28, 0.0), "left_wrist": (0.0, -0.25, 0.0),
    "left_hand": (0.0, -0.08, 0.0), "left_hand_tip": (0.0, -0.07, 0.0), "left_thumb": (0.0, -0.03, -0.04),
    "left_hip": (-0.09, -0.05, 0.0), "left_knee": (0.0, -0.42, 0.0), "left_ankle": (0.0, -0.40, 0.0),
    "left_foot": (0.0, -0.05, -0.10),
}
for _name, (_x, _y, _z) in list(_REST.items()):
    if _name.startswith("left_"):
        _REST["right_" + _name[5:]] = (-_x, _y, _z)


def _angles(action: str, phase: np.ndarray, seconds: np.ndarray) -> tuple[dict[str, Rotation], np.ndarray]:
    """Local joint rotations and pelvis displacement (T, 3) for a phase in [0, 1) and times (T,) in s."""
    T = len(phase)
    w = 2 * np.pi * phase
    zero = np.zeros(T)
    swing = lambda deg: Rotation.from_rotvec(np.stack([np.deg2rad(deg), zero, zero], -1))
    raise_z = lambda deg: Rotation.from_rotvec(np.stack([zero, zero, np.deg2rad(deg)], -1))
    local: dict[str, Rotation] = {}
    shift = np.zeros((T, 3))
    if action == "walk":
        local["left_hip"] = swing(25 * np.sin(w))
        local["right_hip"] = swing(-25 * np.sin(w))
        local["left_knee"] = swing(-20 - 20 * np.cos(w))
        local["right_knee"] = swing(-20 + 20 * np.cos(w))
        local["left_shoulder"] = swing(-20 * np.sin(w))
        local["right_shoulder"] = swing(20 * np.sin(w))
        local["left_elbow"] = swing(15 + zero)
        local["right_elbow"] = swing(15 + zero)
        shift[:, 2] = -0.6 * seconds  # 0.6 m/s towards the camera
        shift[:, 1] = 0.02 * np.cos(2 * w)
    elif action == "wave":
        local["right_shoulder"] = raise_z(150 + zero)
        local["right_elbow"] = raise_z(25 * np.sin(2 * w))
        local["left_shoulder"] = raise_z(-5 + zero)
    elif action == "squat":
        depth = 0.5 - 0.5 * np.cos(w)
        local["left_hip"] = swing(80 * depth)
        local["right_hip"] = swing(80 * depth)
        local["left_knee"] = swing(-110 * depth)
        local["right_knee"] = swing(-110 * depth)
        local["left_shoulder"] = swing(70 * depth)
        local["right_shoulder"] = swing(70 * depth)
        shift[:, 1] = -0.35 * depth
    return local, shift


def synthetic_clip(action: str = "walk", num_frames: int = 60, fps: float = 30.0, *, format: str = "kinect_v2",
                   seed: int | None = None, noise_std: float = 0.0) -> SkeletonSequence:
    """A generated clip of one person (``action`` in :data:`ACTIONS`), positions (T, 1, J, 3) in metres.

    ``seed`` varies the body scale (+-5%) and the motion phase; ``noise_std`` adds Gaussian sensor
    noise (metres). ``format`` other than kinect_v2 converts by joint name (joints it lacks are masked).
    """
    if action not in ACTIONS:
        raise SkeletonInputError("action", f"one of {sorted(ACTIONS)}", action)
    if isinstance(num_frames, bool) or not isinstance(num_frames, (int, np.integer)) or num_frames < 1:
        raise SkeletonInputError("num_frames", "a positive integer", num_frames)
    if not (np.isfinite(noise_std) and noise_std >= 0):
        raise SkeletonInputError("noise_std", "a non-negative number", noise_std)
    rng = np.random.default_rng(seed)
    body = 1.0 + (rng.uniform(-0.05, 0.05) if seed is not None else 0.0)
    start = rng.uniform(0, 1) if seed is not None else 0.0
    fmt = get_format("kinect_v2")
    T = int(num_frames)
    if not (np.isfinite(fps) and fps > 0):
        raise SkeletonInputError("fps", "a positive number", fps)
    seconds = np.arange(T) / fps
    phase = (start + seconds / 2.0) % 1.0  # one cycle every 2 s
    local, shift = _angles(action, phase, seconds)
    ident = Rotation.identity(T)
    glob: list[Rotation | None] = [None] * fmt.num_joints
    pos = np.zeros((T, fmt.num_joints, 3))
    for j in fmt.topological_order():
        name, parent = fmt.joints[j], fmt.parents[j]
        rot = local.get(name, ident)
        if parent == -1:
            pos[:, j] = np.asarray(_REST[name]) + shift
            glob[j] = rot
        else:
            pos[:, j] = pos[:, parent] + glob[parent].apply(np.asarray(_REST[name]) * body)
            glob[j] = glob[parent] * rot
    if noise_std > 0:
        pos += rng.normal(0.0, noise_std, size=pos.shape)
    meta = {"label_name": action, "text": ACTIONS[action], "synthetic": True,
            "source": f"SYNTHETIC {action} clip (hf_skeleton.skeletons.synthetic, seed={seed})"}
    seq = SkeletonSequence(positions=pos[:, None].astype(np.float32), fps=fps, format=fmt, meta=meta)
    return seq if format == "kinect_v2" else seq.to_format(format)


__all__ = ["ACTIONS", "synthetic_clip"]
