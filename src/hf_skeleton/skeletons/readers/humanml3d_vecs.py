"""HumanML3D's 263-dim feature vectors (``new_joint_vecs/<id>.npy``, shape (T, 263)) into SMPL-22 joints.

The layout (Guo et al., CVPR 2022, ``motion_representation.ipynb``), per frame t:

====================  =====  ==========================================================================
dims                  width  meaning
====================  =====  ==========================================================================
0                     1      root angular velocity about y (a half-angle, radians per frame)
1:3                   2      root linear velocity on xz, in the frame facing +z
3                     1      root height (y)
4:67                  63     ``ric``: joints 1..21 relative to the root's xz, rotated to face +z
67:193                126    ``rot6d``: local rotations of joints 1..21 (first two matrix columns)
193:259               66     local velocities of all 22 joints
259:263               4      foot contacts (left ankle, left foot, right ankle, right foot)
====================  =====  ==========================================================================

:func:`recover_from_ric` is HumanML3D's ``recover_from_ric`` (and ``recover_root_rot_pos``): the root
rotation velocity is integrated (the first frame faces +z) into a quaternion ``(cos a, 0, sin a, 0)``
about y, the root's velocity is rotated back by it and integrated (starting at xz = 0), the root height
is dim 3, and the 21 ``ric`` joints are rotated by the inverse root quaternion and offset by the root's
xz. HumanML3D's ``new_joints/<id>.npy`` are exactly this function of ``new_joint_vecs/<id>.npy`` (in
float32); this one computes in float64.
"""

from __future__ import annotations

import tokenize
from pathlib import Path

import numpy as np

from ...errors import SkeletonFileError
from ..formats import get_format
from ..sequence import SkeletonSequence
from ._common import open_regular
from .arrays import HUMANML3D_FPS, _positive, humanml3d_meta, load_array

HUMANML3D_DIMS = 263
NUM_JOINTS = 22
# (start, stop) of each part of the vector; see the module docstring
ROOT, RIC, ROT6D, LOCAL_VEL, FEET = (0, 4), (4, 67), (67, 193), (193, 259), (259, 263)


def qrot(q: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Rotate vectors ``v`` (..., 3) by unit quaternions ``q`` (..., 4), scalar first (HumanML3D's ``qrot``)."""
    qvec = q[..., 1:]
    uv = np.cross(qvec, v)
    uuv = np.cross(qvec, uv)
    return v + 2.0 * (q[..., :1] * uv + uuv)


def qinv(q: np.ndarray) -> np.ndarray:
    """Conjugate (the inverse of a unit quaternion), scalar first."""
    return q * np.array([1.0, -1.0, -1.0, -1.0])


def recover_root_rot_pos(data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Root quaternions (T, 4) about y and root positions (T, 3) from vectors (T, >= 4)."""
    data = np.asarray(data, dtype=np.float64)
    angle = np.zeros(data.shape[:-1])
    angle[..., 1:] = data[..., :-1, 0]
    angle = np.cumsum(angle, axis=-1)
    quat = np.zeros(data.shape[:-1] + (4,))
    quat[..., 0] = np.cos(angle)
    quat[..., 2] = np.sin(angle)
    pos = np.zeros(data.shape[:-1] + (3,))
    pos[..., 1:, 0] = data[..., :-1, 1]
    pos[..., 1:, 2] = data[..., :-1, 2]
    pos = np.cumsum(qrot(qinv(quat), pos), axis=-2)
    pos[..., 1] = data[..., 3]
    return quat, pos


def recover_from_ric(data: np.ndarray, joints_num: int = NUM_JOINTS) -> np.ndarray:
    """Joint positions (T, joints_num, 3) from HumanML3D vectors (T, D): dims 0:4 and the ``ric`` dims
    ``4 : 4 + 3 (joints_num - 1)`` only (the rotations, velocities and contacts are redundant)."""
    data = np.asarray(data, dtype=np.float64)
    quat, root = recover_root_rot_pos(data)
    local = data[..., 4:(joints_num - 1) * 3 + 4].reshape(data.shape[:-1] + (joints_num - 1, 3))
    joints = qrot(np.broadcast_to(qinv(quat)[..., None, :], local.shape[:-1] + (4,)), local)
    joints[..., 0] += root[..., None, 0]
    joints[..., 2] += root[..., None, 2]
    return np.concatenate([root[..., None, :], joints], axis=-2)


def npy_shape(path: Path) -> tuple[int, ...] | None:
    """The shape in a ``.npy`` header, without reading the data (``None`` for anything else)."""
    try:
        with open_regular(path, "rb") as f:
            if f.read(6) != b"\x93NUMPY":
                return None
            f.seek(0)
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, _, _ = np.lib.format.read_array_header_1_0(f)
            elif version == (2, 0):
                shape, _, _ = np.lib.format.read_array_header_2_0(f)
            else:
                return None
    except (SkeletonFileError, OSError, ValueError, SyntaxError, TypeError, tokenize.TokenError, OverflowError,
            MemoryError, EOFError):  # a damaged header is the reader's to report, not the sniffer's
        return None
    return tuple(int(n) for n in shape)


def is_humanml3d_vecs(path: Path) -> bool:
    """A ``.npy`` in a ``new_joint_vecs/`` folder, or any ``.npy`` holding a (T, 263) array."""
    path = Path(path)
    if path.parent.name == "new_joint_vecs":
        return True
    shape = npy_shape(path)
    return shape is not None and len(shape) == 2 and shape[1] == HUMANML3D_DIMS


def read_humanml3d_vecs(path: Path, *, fps: float = HUMANML3D_FPS) -> SkeletonSequence:
    """HumanML3D feature vectors ``new_joint_vecs/<id>.npy`` (T, 263) as ``smpl22`` joints (T, 1, 22, 3),
    metres, y up, 20 fps, recovered with :func:`recover_from_ric`. The remaining dims are kept in
    ``meta["rot6d"]`` (T, 21, 6), ``meta["local_velocity"]`` (T, 22, 3) and ``meta["foot_contact"]``
    (T, 4); captions and split as for ``new_joints`` (a ``texts/`` folder beside ``new_joint_vecs/``)."""
    path = Path(path)
    arr, _ = load_array(path)
    if arr.dtype.kind not in "biuf":
        raise SkeletonFileError(path, "dtype", "a numeric array of HumanML3D vectors", str(arr.dtype))
    if arr.ndim != 2 or arr.shape[1] != HUMANML3D_DIMS or arr.shape[0] < 1:
        raise SkeletonFileError(path, "shape", f"(T, {HUMANML3D_DIMS}) HumanML3D feature vectors, T >= 1 "
                                               "(4 root + 63 ric + 126 rot6d + 66 velocity + 4 foot contact)",
                                tuple(arr.shape))
    with np.errstate(all="ignore"):  # a mutated file's signalling NaNs warn on the cast; they are masked below
        data = arr.astype(np.float64)
        finite = np.isfinite(data[:, 3:RIC[1]]).all(1)  # this frame's height and joints
        # a non-finite velocity (dims 0:3) poisons every later frame through the integrals
        integrated = np.cumsum(np.isfinite(data[:, :3]).all(1)) == np.arange(1, len(data) + 1)
        ok = finite & np.concatenate([[True], integrated[:-1]])
        pos = recover_from_ric(np.where(np.isfinite(data), data, 0.0))
        ok &= np.isfinite(pos).all((1, 2)) & (np.abs(pos) < 1e30).all((1, 2))
    mask = np.broadcast_to(ok[:, None, None], (len(data), 1, NUM_JOINTS)).copy()
    with np.errstate(all="ignore"):  # float64 files: values beyond float32's range become inf, as the file says
        meta = {**humanml3d_meta(path), "representation": "humanml3d263",
                "rot6d": arr[:, slice(*ROT6D)].reshape(-1, NUM_JOINTS - 1, 6).astype(np.float32),
                "local_velocity": arr[:, slice(*LOCAL_VEL)].reshape(-1, NUM_JOINTS, 3).astype(np.float32),
                "foot_contact": arr[:, slice(*FEET)].astype(np.float32)}
    return SkeletonSequence(positions=np.where(mask[..., None], pos[:, None], 0.0).astype(np.float32), mask=mask,
                            fps=_positive(path, "fps", fps), format=get_format("smpl22"), meta=meta)
