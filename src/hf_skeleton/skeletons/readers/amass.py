"""AMASS / SMPL-H ``.npz`` motions (``poses`` (T, 156) axis-angle, ``betas``, ``trans``, ``gender``,
``mocap_framerate``) as ``smpl22`` joints.

Pose parameters are not joint positions: the joints come from the body model, whose files (SMPL-H
from the MANO site, https://mano.is.tue.mpg.de) are licensed per user and cannot be shipped with this
package. Given them (``body_model_dir=``), this reader does what SMPL does for its joints: rest joints
``J = J_regressor @ (v_template + shapedirs . betas)``, then forward kinematics down ``kintree_table``
with the axis-angle ``poses`` (52 joints for SMPL-H: 22 body + 30 hand) and the root translation
``trans``. The 22 body joints are returned. AMASS is z up; like HumanML3D's ``raw_pose_processing``
the result is turned to y up, ``(x, y, z) -> (-x, z, y)`` (a proper rotation), unless ``y_up=False``.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import numpy as np
from scipy.spatial.transform import Rotation

from ...errors import SkeletonFileError
from ..formats import get_format
from ..sequence import SkeletonSequence
from ._common import check_dense_size, open_regular
from .arrays import _positive, _scalar, load_arrays

BODY_JOINTS = 22
BODY_MODEL_KEYS = ("J_regressor", "kintree_table", "v_template", "shapedirs")
BODY_MODEL_SOURCE = "the SMPL-H body model (model.npz per gender, from https://mano.is.tue.mpg.de)"


def is_amass_npz(path: Path) -> bool:
    """An ``.npz`` whose members include ``poses`` and ``trans`` (AMASS's layout)."""
    try:
        with open_regular(Path(path), "rb") as f, zipfile.ZipFile(f) as archive:  # never a FIFO or device
            names = set(archive.namelist())
    except (SkeletonFileError, OSError, zipfile.BadZipFile, ValueError, EOFError, NotImplementedError, RuntimeError):
        return False
    return {"poses.npy", "trans.npy"} <= names


def _text(value: np.ndarray | None) -> str | None:
    if value is None or value.size != 1 or value.dtype.kind not in "US":
        return None
    item = value.reshape(()).item()
    return (item.decode("utf-8", "replace") if isinstance(item, bytes) else str(item)).strip().lower()


def find_body_model(body_model_dir: str | Path, gender: str | None, source: Path) -> Path:
    """The body model ``.npz``: ``body_model_dir`` itself when a file, else (for the motion's gender,
    then ``neutral``) ``<gender>/model.npz``, ``smplh/<gender>/model.npz``, ``<gender>.npz`` or
    ``SMPLH_<GENDER>.npz`` inside it."""
    root = Path(body_model_dir)
    if root.is_file():
        return root
    if not root.is_dir():
        raise SkeletonFileError(source, "body_model_dir", f"a folder (or .npz file) holding {BODY_MODEL_SOURCE}",
                                str(root))
    genders = [g for g in (gender, "neutral") if g]
    tried = []
    for g in genders:
        for rel in (f"{g}/model.npz", f"smplh/{g}/model.npz", f"{g}.npz", f"SMPLH_{g.upper()}.npz"):
            tried.append(rel)
            if (root / rel).is_file():
                return root / rel
    raise SkeletonFileError(source, "body_model_dir", f"{BODY_MODEL_SOURCE} at one of {tried} in {root}",
                            "none of them")


def load_body_model(path: Path) -> dict[str, np.ndarray]:
    """``J_regressor`` (J, V), ``parents`` (J,) (root -1), ``v_template`` (V, 3), ``shapedirs`` (V, 3, S)."""
    arrays = load_arrays(path)
    missing = [k for k in BODY_MODEL_KEYS if k not in arrays]
    if missing:
        raise SkeletonFileError(path, missing[0], f"a body model .npz with {list(BODY_MODEL_KEYS)} as dense "
                                                  f"arrays ({BODY_MODEL_SOURCE})", sorted(arrays))
    reg, tree, tmpl, dirs = (arrays[k] for k in BODY_MODEL_KEYS)
    for name, arr in zip(BODY_MODEL_KEYS, (reg, tree, tmpl, dirs)):
        if arr.dtype.kind not in "biuf":
            raise SkeletonFileError(path, name, "a numeric array", str(arr.dtype))
    V = tmpl.shape[0] if tmpl.ndim == 2 else -1
    if tmpl.ndim != 2 or tmpl.shape[1] != 3 or V < 1:
        raise SkeletonFileError(path, "v_template", "(V, 3) vertices", tuple(tmpl.shape))
    if reg.ndim != 2 or reg.shape[1] != V or reg.shape[0] < BODY_JOINTS:
        raise SkeletonFileError(path, "J_regressor", f"(J, {V}) with J >= {BODY_JOINTS}", tuple(reg.shape))
    J = reg.shape[0]
    if tree.ndim != 2 or tree.shape != (2, J):
        raise SkeletonFileError(path, "kintree_table", f"(2, {J}) parent/child table", tuple(tree.shape))
    if dirs.ndim != 3 or dirs.shape[:2] != (V, 3):
        raise SkeletonFileError(path, "shapedirs", f"({V}, 3, S) shape blend directions", tuple(dirs.shape))
    parents = tree[0].astype(np.int64)
    parents[0] = -1
    if any(not 0 <= p < j for j, p in enumerate(parents) if j):
        raise SkeletonFileError(path, "kintree_table", "each joint's parent listed before it (root first)",
                                parents.tolist()[:60])
    return {"J_regressor": reg.astype(np.float64), "parents": parents, "v_template": tmpl.astype(np.float64),
            "shapedirs": dirs.astype(np.float64)}


def smplh_joints(model: dict[str, np.ndarray], poses: np.ndarray, betas: np.ndarray, trans: np.ndarray) -> np.ndarray:
    """Joint positions (T, J, 3), in the model's frame (z up for AMASS), of axis-angle ``poses`` (T, 3 J),
    shape ``betas`` (B,) (the first min(B, S) are used) and root translation ``trans`` (T, 3)."""
    dirs = model["shapedirs"]
    n = min(len(betas), dirs.shape[-1])
    shaped = model["v_template"] + dirs[..., :n] @ betas[:n]
    rest = model["J_regressor"] @ shaped
    parents = model["parents"]
    T, J = len(poses), len(parents)
    rot = Rotation.from_rotvec(poses.reshape(T * J, 3)).as_matrix().reshape(T, J, 3, 3)
    glob = np.empty_like(rot)
    pos = np.empty((T, J, 3))
    glob[:, 0] = rot[:, 0]
    pos[:, 0] = rest[0] + trans
    for j in range(1, J):
        p = parents[j]
        glob[:, j] = glob[:, p] @ rot[:, j]
        pos[:, j] = pos[:, p] + glob[:, p] @ (rest[j] - rest[p])
    return pos


def read_amass(path: Path, *, body_model_dir: str | Path | None = None, fps: float | None = None,
               y_up: bool = True) -> SkeletonSequence:
    """An AMASS SMPL-H motion as ``smpl22`` (T, 1, 22, 3), metres; fps from ``mocap_framerate`` (or
    ``mocap_frame_rate``) unless ``fps=`` is given. Needs ``body_model_dir=`` (see the module docstring)."""
    path = Path(path)
    arrays = load_arrays(path)
    if body_model_dir is None:
        raise SkeletonFileError(path, "poses", f"joint positions, which AMASS pose parameters only give with "
                                               f"{BODY_MODEL_SOURCE}, licensed per user and not shippable: pass "
                                               "load_skeleton(path, body_model_dir=<folder with "
                                               "male|female|neutral/model.npz>)",
                                f"SMPL-H parameters {sorted(arrays)[:8]}")
    gender = _text(arrays.get("gender"))
    model = load_body_model(find_body_model(body_model_dir, gender, path))
    J = len(model["parents"])
    poses, trans = arrays["poses"], arrays.get("trans")
    betas = arrays.get("betas", np.zeros(0))
    for name, arr in (("poses", poses), ("trans", trans), ("betas", betas)):
        if arr is None or arr.dtype.kind not in "biuf":
            raise SkeletonFileError(path, name, "a numeric array", None if arr is None else str(arr.dtype))
    if poses.ndim != 2 or poses.shape[1] != 3 * J or len(poses) < 1:
        raise SkeletonFileError(path, "poses", f"(T, {3 * J}) axis-angle values for the body model's {J} joints",
                                tuple(poses.shape))
    if trans.shape != (len(poses), 3):
        raise SkeletonFileError(path, "trans", f"({len(poses)}, 3) root translations", tuple(trans.shape))
    betas = betas.reshape(-1).astype(np.float64)
    check_dense_size(path, "poses", (len(poses), J, 3 + 9 + 9), path.stat().st_size)
    with np.errstate(all="ignore"):
        pos = smplh_joints(model, np.nan_to_num(poses.astype(np.float64)), np.nan_to_num(betas),
                           trans.astype(np.float64))[:, :BODY_JOINTS]
    if y_up:
        pos = np.stack([-pos[..., 0], pos[..., 2], pos[..., 1]], axis=-1)
    ok = np.isfinite(poses).all(1) & np.isfinite(trans).all(1)
    if fps is None:
        rate = arrays.get("mocap_framerate", arrays.get("mocap_frame_rate"))
        fps = _scalar(path, "mocap_framerate", rate) if rate is not None else None
        if fps is None:
            raise SkeletonFileError(path, "mocap_framerate", "the frame rate (or pass fps=)", None)
    meta: dict[str, Any] = {"dataset": "amass", "clip": path.stem, "gender": gender, "y_up": bool(y_up)}
    mask = np.broadcast_to(ok[:, None, None], (len(pos), 1, BODY_JOINTS))
    return SkeletonSequence(positions=pos[:, None].astype(np.float32), mask=mask.copy(),
                            fps=_positive(path, "fps", fps), format=get_format("smpl22"), meta=meta)
