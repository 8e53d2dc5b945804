"""Body geometry of skeleton poses in numpy: which way is up, which way the body faces, bone
lengths, root positions and the rotations built from them.

The one definition used by the transforms (:func:`~hf_skeleton.skeletons.transforms.normalize`,
``align_view``, augmentation), the stick-figure views of :mod:`hf_skeleton.viz` and DrAction's camera
(:mod:`hf_skeleton.rendering.camera`). Functions take arrays and a :class:`SkeletonFormat` (never a
sequence), so the renderer, and a model folder saved with remote code, need nothing else.

Conventions:
  - up: the format's ``up_axis`` as a unit vector (:func:`up_vector`).
  - the data's sensor looks along :func:`sensor_forward`: +z for y- or x-up data (a Kinect at the
    origin), +y for z-up data. A body "facing the camera" faces ``-sensor_forward``.
  - the body's facing (:func:`body_facing`) comes from its canonical pose (per joint the first frame
    observing it, :func:`canonical_pose`): its left is the mean of ``left - right`` over the format's
    mirror pairs, made horizontal, and ``facing = left x up``; the first person with an observed
    pair decides. DrAction's ``front`` view looks at that facing, and ``align_view`` turns it
    towards the sensor, so the two agree.

Positions are (..., J, 3) with a mask (..., J) of observed joints; masked joints never enter a
statistic.
"""

from __future__ import annotations

import numpy as np

from ..errors import SkeletonFormatError, SkeletonInputError
from .formats import UP_AXES, SkeletonFormat

_AXES = {"x": 0, "y": 1, "z": 2}


# ---------------------------------------------------------------------- axes
def _up_axis(up) -> str:
    """The up-axis name of an axis name, a format, or anything with a ``format`` (a sequence)."""
    axis = getattr(getattr(up, "format", up), "up_axis", up)
    if not isinstance(axis, str) or axis not in UP_AXES:
        raise SkeletonInputError("up_axis", f"one of {UP_AXES}", axis)
    return axis


def up_vector(up) -> np.ndarray:
    """Unit vector (3,) of the up axis (``"y"`` -> (0, 1, 0), ``"-y"`` -> (0, -1, 0)).

    ``up``: an axis name, a :class:`SkeletonFormat` or a :class:`SkeletonSequence`.
    """
    axis = _up_axis(up)
    vec = np.zeros(3)
    vec[_AXES[axis.lstrip("-")]] = -1.0 if axis.startswith("-") else 1.0
    return vec


def sensor_forward(up) -> np.ndarray:
    """Viewing direction (3,) of the data's sensor: +z for y- or x-up data, +y for z-up data."""
    out = np.zeros(3)
    out[1 if _up_axis(up).lstrip("-") == "z" else 2] = 1.0
    return out


def lateral_axis(up) -> int:
    """The left-right axis a mirror negates: x, or z when x is the up axis."""
    return 2 if _up_axis(up).lstrip("-") == "x" else 0


def rotation_about(axis: np.ndarray, angle: float) -> np.ndarray:
    """Rotation matrix (3, 3) by ``angle`` radians about the unit vector ``axis`` (right-handed)."""
    x, y, z = np.asarray(axis, dtype=np.float64)
    cross = np.array([[0.0, -z, y], [z, 0.0, -x], [-y, x, 0.0]])
    return np.eye(3) + np.sin(angle) * cross + (1.0 - np.cos(angle)) * (cross @ cross)


# ---------------------------------------------------------------------- statistics
def bone_lengths(positions: np.ndarray, fmt: SkeletonFormat, mask: np.ndarray | None = None) -> np.ndarray:
    """Lengths (..., E) float64 of the format's bones (``fmt.bones`` order) in poses (..., J, 3).

    With ``mask`` (..., J): NaN where an end of the bone is not observed.
    """
    positions = np.asarray(positions)
    bones = np.asarray(fmt.bones, dtype=int).reshape(-1, 2)
    if len(bones) == 0:
        return np.zeros(positions.shape[:-2] + (0,))
    diff = positions[..., bones[:, 1], :] - positions[..., bones[:, 0], :]
    lengths = np.linalg.norm(diff.astype(np.float64), axis=-1)
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        lengths[~(mask[..., bones[:, 1]] & mask[..., bones[:, 0]])] = np.nan
    return lengths


def median_bone_length(positions: np.ndarray, mask: np.ndarray, fmt: SkeletonFormat) -> float | None:
    """Median of every observed bone length (all frames and persons); None if none is observed or all
    have zero length."""
    lengths = bone_lengths(positions, fmt, mask)
    lengths = lengths[np.isfinite(lengths) & (lengths > 0)]
    return float(np.median(lengths)) if lengths.size else None


def root_positions(positions: np.ndarray, mask: np.ndarray, root: "int | tuple[int, ...] | list[int]"
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame reference point (T, 3) of a clip (T, P, J, 3) and whether it was found (T,).

    ``root``: one joint id, or several (the roots of a forest format): the mean of those joints of the
    first person observing all of them. Where no person observes them, the mean of all observed joints
    of that frame; frames with nothing observed are marked not found.
    """
    roots = [int(root)] if np.ndim(root) == 0 else [int(r) for r in root]
    T = positions.shape[0]
    ref = np.zeros((T, 3))
    has_root = mask[:, :, roots].all(axis=-1)  # (T, P)
    first = np.argmax(has_root, axis=1)
    rows = has_root.any(axis=1)
    ref[rows] = positions[np.flatnonzero(rows), first[rows]][:, roots].mean(axis=1)
    found = rows.copy()
    counts = mask.sum(axis=(1, 2))
    fallback = ~rows & (counts > 0)
    if fallback.any():
        sums = (positions * mask[..., None]).sum(axis=(1, 2))
        ref[fallback] = sums[fallback] / counts[fallback, None]
        found |= fallback
    return ref, found


def canonical_pose(positions: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per person and joint the position in the first frame observing it: (P, J, 3) and (P, J) bool
    from a clip (T, P, J, 3); 0 and False for joints never observed. DrAction's canonical pose."""
    first = np.argmax(mask, axis=0)  # (P, J)
    observed = mask.any(axis=0)
    canon = np.take_along_axis(positions, first[None, ..., None], axis=0)[0]
    return np.where(observed[..., None], canon, 0).astype(positions.dtype), observed


# ---------------------------------------------------------------------- facing
def body_facing(canonical: np.ndarray, canonical_mask: np.ndarray, fmt: SkeletonFormat) -> tuple[np.ndarray, np.ndarray]:
    """Horizontal unit facing direction (..., 3) of poses (..., P, J, 3) and whether it exists (...,).

    The person's left is ``mean(left joint - right joint)`` over the format's mirror pairs observed in
    ``canonical_mask`` (..., P, J), made horizontal; facing = left x up. The first person with an
    observed, non-vertical pair decides. Not found (zeros) for 2D data, formats without mirror pairs
    and poses without an observed pair. Computed in the input's float precision.
    """
    canonical = np.asarray(canonical)
    dtype = np.result_type(canonical.dtype, np.float32)
    canonical = canonical.astype(dtype, copy=False)
    lead = canonical.shape[:-3]
    if fmt.dims != 3 or not fmt.mirror_pairs:
        return np.zeros(lead + (3,), dtype), np.zeros(lead, bool)
    left = np.array([a for a, _ in fmt.mirror_pairs])
    right = np.array([b for _, b in fmt.mirror_pairs])
    mask = np.asarray(canonical_mask, dtype=bool)
    ok = (mask[..., left] & mask[..., right]).astype(dtype)  # (..., P, M)
    diff = (canonical[..., left, :] - canonical[..., right, :]) * ok[..., None]
    lr = diff.sum(-2) / np.maximum(ok.sum(-1, keepdims=True), dtype.type(1))  # (..., P, 3)
    up = up_vector(fmt).astype(dtype)
    lr = lr - (lr @ up)[..., None] * up
    facing = np.cross(lr, np.broadcast_to(up, lr.shape))
    norm = np.linalg.norm(facing, axis=-1)  # equals |horizontal left| since it is orthogonal to up
    usable = (ok.sum(-1) > 0) & (norm > 1e-9)  # (..., P)
    first = np.argmax(usable, axis=-1)  # first usable person
    chosen = np.take_along_axis(facing, first[..., None, None], axis=-2)[..., 0, :]
    chosen = chosen / np.maximum(np.linalg.norm(chosen, axis=-1, keepdims=True), dtype.type(1e-12))
    found = usable.any(-1)
    return np.where(found[..., None], chosen, dtype.type(0)), found


def facing_rotation(positions: np.ndarray, mask: np.ndarray, fmt: SkeletonFormat,
                    frame: int = 0) -> tuple[np.ndarray | None, str]:
    """Rotation (3, 3) about the up axis that turns the body of a clip (T, P, J, 3) to face the sensor
    (:func:`body_facing` of the canonical pose of frames ``frame:`` onto ``-sensor_forward``), and its
    source. ``(None, reason)`` when no facing exists."""
    if fmt.dims != 3:
        return None, "2D data"
    if not mask[frame:].any():
        return None, f"no observed joint at or after frame {frame}"
    canon, canon_mask = canonical_pose(np.asarray(positions[frame:], dtype=np.float64), mask[frame:])
    facing, found = body_facing(canon, canon_mask, fmt)
    if not found:
        return None, "no observed, non-vertical mirror pair (left/right joints)"
    up = up_vector(fmt)
    target = -sensor_forward(fmt)
    angle = np.arctan2(up @ np.cross(facing, target), facing @ target)
    return rotation_about(up, angle), "mirror pairs"


def _mean_vector(positions: np.ndarray, mask: np.ndarray, fmt: SkeletonFormat,
                 pairs: tuple[tuple[str, str], ...], sign: tuple[float, ...]) -> np.ndarray | None:
    """Clip mean of ``sum_k sign_k * (joint a_k - joint b_k)`` over frames where all joints are observed
    (first person observing them); None when no such frame or a joint is missing from the format."""
    names = [n for pair in pairs for n in pair]
    if any(n not in fmt.joints for n in names):
        return None
    ids = [fmt.index(n) for n in names]
    seen = mask[:, :, ids].all(-1)  # (T, P)
    if not seen.any():
        return None
    p = int(np.argmax(seen.any(0)))
    rows = seen[:, p]
    pos = positions[rows, p].astype(np.float64)
    vec = sum(w * (pos[:, fmt.index(a)] - pos[:, fmt.index(b)]) for w, (a, b) in zip(sign, pairs))
    return vec.mean(0)


# ---------------------------------------------------------------------- what a format allows
UPRIGHT_JOINTS = ("left_hip", "right_hip", "left_shoulder", "right_shoulder")
VIEW_ALIGNMENTS = ("none", "facing", "upright")  # each needs what the previous one needs, and more


def view_alignment_lacks(fmt: SkeletonFormat, mode: str) -> tuple[str, str] | None:
    """What format ``fmt`` lacks for view alignment ``mode`` (:data:`VIEW_ALIGNMENTS`), as ``(field, what)``,
    or None when it has it. Facing needs 3D data and mirror pairs (left/right joints); upright also needs
    joints named as in :data:`UPRIGHT_JOINTS` (both hips and both shoulders). A format-level fact: whether a
    given clip observes those joints is decided per clip (:func:`facing_rotation`, :func:`upright_rotation`)."""
    if mode not in VIEW_ALIGNMENTS:
        raise SkeletonInputError("align_view", f"one of {VIEW_ALIGNMENTS}", mode)
    if mode == "none":
        return None
    if fmt.dims != 3:
        return "dims", "3D positions (the format is 2D)"
    if mode == "upright":
        missing = [n for n in UPRIGHT_JOINTS if n not in fmt.joints]
        if missing:
            return "joints", f"joints named {list(UPRIGHT_JOINTS)} (it has no {', '.join(missing)})"
    if not fmt.mirror_pairs:
        return "mirror_pairs", "mirror pairs (left/right joints) to find the body's facing"
    return None


def supported_view_alignment(fmt: SkeletonFormat, requested: str) -> str:
    """The strongest view alignment, no stronger than ``requested``, that ``fmt`` allows: upright, else
    facing, else none (a forest of two arms has shoulders and mirror pairs but no hips: facing)."""
    allowed = VIEW_ALIGNMENTS[: VIEW_ALIGNMENTS.index(requested) + 1] if requested in VIEW_ALIGNMENTS else ()
    return next((m for m in reversed(allowed) if view_alignment_lacks(fmt, m) is None), "none")


def check_view_alignment(fmt: SkeletonFormat, mode: str) -> None:
    """A :class:`SkeletonFormatError` naming what ``fmt`` lacks when it cannot support view alignment ``mode``
    (and the strongest alignment it does support)."""
    lacks = view_alignment_lacks(fmt, mode)
    if lacks is not None:
        field, what = lacks
        raise SkeletonFormatError(f"align_view={mode!r} needs {what}; this format allows at most "
                                  f"align_view={supported_view_alignment(fmt, mode)!r}",
                                  format_name=fmt.name, field=field)


def upright_rotation(positions: np.ndarray, mask: np.ndarray, fmt: SkeletonFormat) -> tuple[np.ndarray | None, str]:
    """Rotation (3, 3) that makes the body of a clip (T, P, J, 3) upright and face the sensor, and its source.

    The view-invariant transform of NTU-style preprocessing, averaged over the clip: the spine
    (mid-hips -> mid-shoulders) is turned onto the up axis, then the left direction (left minus right
    hip and shoulder, made orthogonal to the spine) onto ``up x -sensor_forward``. Unlike
    :func:`facing_rotation` it also removes the camera's tilt, so clips filmed from above and at
    eye level agree. Returns ``(None, reason)`` without observed hips and shoulders or for 2D data.
    """
    if fmt.dims != 3:
        return None, "2D data"
    missing = [n for n in UPRIGHT_JOINTS if n not in fmt.joints]
    if missing:
        return None, f"format {fmt.name!r} has no {', '.join(missing)}"
    hips, shoulders = ("left_hip", "right_hip"), ("left_shoulder", "right_shoulder")
    spine = _mean_vector(positions, mask, fmt, (("left_shoulder", "left_hip"), ("right_shoulder", "right_hip")),
                         (0.5, 0.5))
    left = _mean_vector(positions, mask, fmt, (hips, shoulders), (1.0, 1.0))
    if spine is None or left is None:
        return None, "no frame with both hips and both shoulders observed"
    spine_norm = np.linalg.norm(spine)
    if spine_norm < 1e-9:
        return None, "zero-length spine"
    spine = spine / spine_norm
    left = left - spine * (left @ spine)
    if np.linalg.norm(left) < 1e-9:
        return None, "hips parallel to the spine"
    left = left / np.linalg.norm(left)
    up = up_vector(fmt)
    target_left = np.cross(up, -sensor_forward(fmt))
    # rows of the source basis (spine, left, spine x left) map onto (up, target_left, up x target_left)
    src = np.stack([spine, left, np.cross(spine, left)])
    dst = np.stack([up, target_left, np.cross(up, target_left)])
    return dst.T @ src, "upright: hips/shoulders"


def fill_unobserved_joints(positions: np.ndarray, mask: np.ndarray, fmt: SkeletonFormat) -> np.ndarray:
    """``positions`` (..., J, 3) with every joint ``mask`` (..., J) marks unobserved set to the mean of its
    observed neighbours in the skeleton tree (parent and children) in the same frame, repeated outwards until
    each joint connected to an observed one is set (the rest: the frame's observed mean, or 0). Observed joints
    are returned unchanged.

    For models that read every joint of their format (a VGMT tokenises all J): an unobserved joint is zero in a
    converted clip, which lies metres from the body in camera coordinates and would enter the clip's box.
    """
    pos = np.array(positions, dtype=np.float32, copy=True)
    known = np.array(mask, dtype=bool, copy=True)
    neighbours = [[p] if p >= 0 else [] for p in fmt.parents]
    for j, p in enumerate(fmt.parents):
        if p >= 0:
            neighbours[p].append(j)
    for _ in range(fmt.num_joints):
        todo = ~known
        if not todo.any():
            break
        filled = known.copy()
        for j in np.flatnonzero(todo.reshape(-1, fmt.num_joints).any(0)):
            nb = neighbours[j]
            if not nb:
                continue
            count = known[..., nb].sum(-1)
            total = (pos[..., nb, :] * known[..., nb, None]).sum(-2)
            here = todo[..., j] & (count > 0)
            pos[here, j] = total[here] / count[here, None]
            filled[here, j] = True
        if (filled == known).all():
            break
        known = filled
    rest = ~known
    if rest.any():
        count = np.maximum(known.sum(-1, keepdims=True), 1)
        centre = (pos * known[..., None]).sum(-2) / count
        pos[rest] = np.broadcast_to(centre[..., None, :], pos.shape)[rest]
    return pos


__all__ = [
    "UPRIGHT_JOINTS",
    "VIEW_ALIGNMENTS",
    "body_facing",
    "bone_lengths",
    "canonical_pose",
    "check_view_alignment",
    "facing_rotation",
    "fill_unobserved_joints",
    "lateral_axis",
    "median_bone_length",
    "root_positions",
    "rotation_about",
    "sensor_forward",
    "up_vector",
    "supported_view_alignment",
    "upright_rotation",
    "view_alignment_lacks",
]
