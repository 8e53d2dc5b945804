"""SMPL-22 joint positions into HumanML3D's 263-dim feature vectors (``process_file`` of HumanML3D's
``motion_representation.ipynb``), and the ``.npy`` writer.

What is exact and what is not, for positions P (T, 22, 3) in metres, y up, at 20 fps:

- HumanML3D first retargets every motion to one subject's bone lengths (``uniform_skeleton`` to the
  offsets of its example ``000021``). Those offsets are not shipped here, so this step is skipped: the
  vectors keep the clip's own bone lengths. Everything below follows ``process_file`` on the clip as
  given.
- The clip is put on the floor (lowest joint y = 0), its first root xz moved to the origin, and turned
  about y so its first frame faces +z (hips and shoulders); then T frames give T - 1 vectors (the last
  frame only contributes velocities).
- dims 0:4 (root) and 4:67 (``ric``) are exact: reading them back (:func:`recover_from_ric`) gives
  these canonical positions' first T - 1 frames to float precision, and on HumanML3D's own joints
  they reproduce the released vectors (see ``tests/skeletons/test_humanml3d_vecs.py``).
- dims 67:193 (``rot6d``) come from HumanML3D's inverse kinematics (rotation from each joint's raw
  offset direction to its bone, per kinematic chain; root rotation from the smoothed facing) and are
  exact with respect to that procedure; they are not SMPL's pose parameters.
- dims 193:259 (local velocities) are exact (global displacement rotated by the root's facing).
- dims 259:263 (foot contacts) use the original rule: squared per-frame displacement of the ankle /
  foot joints below ``feet_threshold`` (0.002 as in HumanML3D).

``faithful=True`` (the default) keeps two quirks of the released code that the released data carry:
the inverse kinematics reads its face joints in a swapped order (issues #55/#112 of HumanML3D: the hip
vector enters with the wrong sign), and every kinematic chain starts from the root rotation rather than
its first joint's (issue #119). ``faithful=False`` corrects both; either way dims 0:67 round-trip.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
from scipy.ndimage import gaussian_filter1d

from ...errors import SkeletonInputError
from ..readers.arrays import HUMANML3D_FPS
from ..readers.humanml3d_vecs import HUMANML3D_DIMS, NUM_JOINTS, qinv, qrot
from ._common import fill_missing, one_person

# HumanML3D's paramUtil: raw offset direction of each joint from its parent, and the kinematic chains
T2M_RAW_OFFSETS = np.array([[0, 0, 0], [1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, -1, 0], [0, 1, 0],
                            [0, -1, 0], [0, -1, 0], [0, 1, 0], [0, 0, 1], [0, 0, 1], [0, 1, 0], [1, 0, 0],
                            [-1, 0, 0], [0, 0, 1], [0, -1, 0], [0, -1, 0], [0, -1, 0], [0, -1, 0], [0, -1, 0],
                            [0, -1, 0]], dtype=np.float64)
T2M_KINEMATIC_CHAIN = [[0, 2, 5, 8, 11], [0, 1, 4, 7, 10], [0, 3, 6, 9, 12, 15], [9, 14, 17, 19, 21],
                       [9, 13, 16, 18, 20]]
FACE_JOINTS = (2, 1, 17, 16)  # right hip, left hip, right shoulder, left shoulder
FEET_LEFT, FEET_RIGHT = (7, 10), (8, 11)
FEET_THRESHOLD = 0.002


def qmul(q: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Hamilton product of quaternions (..., 4), scalar first."""
    w1, x1, y1, z1 = np.moveaxis(q, -1, 0)
    w2, x2, y2, z2 = np.moveaxis(r, -1, 0)
    return np.stack([w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2, w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2,
                     w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2, w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2], axis=-1)


def qbetween(v0: np.ndarray, v1: np.ndarray) -> np.ndarray:
    """The unit quaternion rotating ``v0`` onto ``v1`` (..., 3) (HumanML3D's ``qbetween``)."""
    v = np.cross(v0, v1)
    w = np.sqrt((v0 ** 2).sum(-1, keepdims=True) * (v1 ** 2).sum(-1, keepdims=True)) + (v0 * v1).sum(-1, keepdims=True)
    q = np.concatenate([w, v], axis=-1)
    return q / np.linalg.norm(q, axis=-1, keepdims=True)


def quat_to_matrix(q: np.ndarray) -> np.ndarray:
    w, x, y, z = np.moveaxis(q, -1, 0)
    return np.stack([np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
                     np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
                     np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1)], -2)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _facing(joints: np.ndarray, hips: tuple[int, int], shoulders: tuple[int, int]) -> np.ndarray:
    """Forward (..., 3): y x (across hips + across shoulders), not normalised."""
    across = _unit(joints[..., hips[0], :] - joints[..., hips[1], :] +
                   joints[..., shoulders[0], :] - joints[..., shoulders[1], :])
    return np.cross(np.array([0.0, 1.0, 0.0]), across)


def inverse_kinematics(joints: np.ndarray, *, faithful: bool = True) -> np.ndarray:
    """Local quaternions (T, 22, 4) of HumanML3D's ``Skeleton.inverse_kinematics_np(smooth_forward=True)``."""
    r_hip, l_hip, r_sdr, l_sdr = FACE_JOINTS
    hips = (l_hip, r_hip) if faithful else (r_hip, l_hip)  # the released code reads them swapped
    forward = _unit(gaussian_filter1d(_facing(joints, hips, (r_sdr, l_sdr)), 20, axis=0, mode="nearest"))
    root = qbetween(forward, np.broadcast_to([0.0, 0.0, 1.0], forward.shape))
    root[0] = [1.0, 0.0, 0.0, 0.0]
    quat = np.zeros(joints.shape[:-1] + (4,))
    quat[:, 0] = root
    glob = {0: root}
    for chain in T2M_KINEMATIC_CHAIN:
        R = root if faithful else glob[chain[0]]
        for a, b in itertools.pairwise(chain):
            u = np.broadcast_to(T2M_RAW_OFFSETS[b], (len(joints), 3))
            local = qmul(qinv(R), qbetween(u, _unit(joints[:, b] - joints[:, a])))
            quat[:, b] = local
            R = qmul(R, local)
            glob[b] = R
    return quat


def canonicalize(positions: np.ndarray) -> np.ndarray:
    """``process_file``'s placement: floor at y = 0, first root xz at the origin, first frame facing +z."""
    pos = np.array(positions, dtype=np.float64)
    pos[..., 1] -= pos[..., 1].min()
    pos -= pos[0, 0] * np.array([1.0, 0.0, 1.0])
    r_hip, l_hip, r_sdr, l_sdr = FACE_JOINTS
    forward = _unit(_facing(pos[0], (r_hip, l_hip), (r_sdr, l_sdr)))
    q = qbetween(forward, np.array([0.0, 0.0, 1.0]))
    return qrot(np.broadcast_to(q, pos.shape[:-1] + (4,)), pos)


def humanml3d_vectors(positions: np.ndarray, *, faithful: bool = True,
                      feet_threshold: float = FEET_THRESHOLD) -> np.ndarray:
    """HumanML3D vectors (T - 1, 263) float64 of SMPL-22 positions (T, 22, 3), T >= 2, in metres at
    20 fps (see the module docstring for what is exact). The positions are canonicalised first
    (:func:`canonicalize`); ``recover_from_ric`` of the result equals ``canonicalize(positions)[:-1]``."""
    pos = np.asarray(positions, dtype=np.float64)
    if pos.ndim != 3 or pos.shape[1:] != (NUM_JOINTS, 3) or len(pos) < 2:
        raise SkeletonInputError("positions", f"(T, {NUM_JOINTS}, 3) smpl22 joints with T >= 2", tuple(pos.shape))
    if not np.isfinite(pos).all():
        raise SkeletonInputError("positions", "finite coordinates", "NaN or infinity")
    glob = canonicalize(pos)
    T = len(glob)
    step = ((glob[1:] - glob[:-1]) ** 2).sum(-1)  # (T-1, 22) squared displacement
    feet = np.concatenate([step[:, list(FEET_LEFT)] < feet_threshold, step[:, list(FEET_RIGHT)] < feet_threshold],
                          axis=1).astype(np.float64)
    quat = inverse_kinematics(glob, faithful=faithful)
    mats = quat_to_matrix(quat)
    rot6d = np.concatenate([mats[..., 0], mats[..., 1]], axis=-1)  # (T, 22, 6): first two columns
    r_rot = quat[:, 0]
    velocity = qrot(r_rot[1:], glob[1:, 0] - glob[:-1, 0])
    r_velocity = qmul(r_rot[1:], qinv(r_rot[:-1]))
    local = glob.copy()
    local[..., 0] -= glob[:, :1, 0]
    local[..., 2] -= glob[:, :1, 2]
    local = qrot(np.broadcast_to(r_rot[:, None], local.shape[:-1] + (4,)), local)
    root_data = np.concatenate([np.arcsin(np.clip(r_velocity[:, 2:3], -1.0, 1.0)), velocity[:, [0, 2]],
                                local[:-1, 0, 1:2]], axis=-1)
    local_vel = qrot(np.broadcast_to(r_rot[:-1, None], (T - 1, NUM_JOINTS, 4)), glob[1:] - glob[:-1])
    out = np.concatenate([root_data, local[:-1, 1:].reshape(T - 1, -1), rot6d[:-1, 1:].reshape(T - 1, -1),
                          local_vel.reshape(T - 1, -1), feet], axis=-1)
    assert out.shape[1] == HUMANML3D_DIMS
    return out


def write_humanml3d_vecs(seq, path, *, person: int | None = None, faithful: bool = True,
                         feet_threshold: float = FEET_THRESHOLD) -> Path:
    """Write ``seq`` as HumanML3D vectors (T' - 1, 263) float32 ``.npy`` (no pickle).

    A non-``smpl22`` clip is converted by joint names first (every SMPL-22 joint must be found); a clip
    not at 20 fps is resampled to 20 fps (HumanML3D's rate; the reader assumes it); unobserved joints
    are interpolated in time. Positions must be metres, y up (as ``smpl22`` declares)."""
    from ..sequence import SkeletonSequence

    if not isinstance(seq, SkeletonSequence):
        raise SkeletonInputError("seq", "a SkeletonSequence", type(seq).__name__)
    try:
        feet_threshold = float(feet_threshold)
    except (TypeError, ValueError):
        feet_threshold = float("nan")
    if not np.isfinite(feet_threshold) or feet_threshold <= 0:
        raise SkeletonInputError("feet_threshold", "a positive number (squared metres per frame)", feet_threshold)
    if seq.format.name != "smpl22":
        converted = seq.to_format("smpl22")
        missing = [n for n, seen in zip(converted.format.joints, converted.mask.any(axis=(0, 1))) if not seen]
        if missing:
            raise SkeletonInputError("seq.format", f"smpl22 joints, or a format naming them all (format "
                                                   f"{seq.format.name!r} has no {missing})", seq.format.name)
        seq = converted
    if abs(seq.fps - HUMANML3D_FPS) > 1e-6 * HUMANML3D_FPS and seq.num_frames > 1:
        seq = seq.resample(max(2, round((seq.num_frames - 1) * HUMANML3D_FPS / seq.fps) + 1))
    pos, mask = one_person(seq, person, "HumanML3D vector file")
    pos = fill_missing(pos, mask, seq.format.parents)
    vectors = humanml3d_vectors(pos, faithful=bool(faithful), feet_threshold=feet_threshold).astype(np.float32)
    path = Path(path)
    with open(path, "wb") as f:
        np.save(f, vectors, allow_pickle=False)
    return path
