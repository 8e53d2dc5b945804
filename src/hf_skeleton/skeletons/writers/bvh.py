"""Any skeleton sequence as a BVH file: a hierarchy from the format's parents, per-frame joint rotations
solved so that forward kinematics reproduces the positions.

The choices, and the error each leaves (:func:`fit_bvh` reports it per joint):

- Rest offsets: for each bone, the component-wise median of its bone vector over the clip, rescaled
  to the median bone length (a swinging forearm's median vector is shorter than the forearm). The
  children of a joint with several are taken together, since one rotation must carry them all: their
  bones at the clip's most typical frame, refined by the median of the bones as seen from the joint
  (:func:`rest_offsets`); medians taken one bone at a time in world axes would distort their layout
  whenever the body turns. The rest pose is thus the clip's typical pose, not a T-pose.
- Rotations (``Zrotation Xrotation Yrotation``, scipy's intrinsic ``"ZXY"``, as CMU's files): a joint
  with one child gets the shortest-arc rotation taking the child's rest offset onto its observed bone
  (positions say nothing about twist about a bone, so none is invented); a joint with several
  children gets the least-squares rotation of all their offsets onto their bones (Kabsch, the same
  fit as ``scipy.spatial.transform.Rotation.align_vectors``). The root carries its position. A forest
  format (several roots: two arms without a torso) becomes several ``ROOT`` blocks, each with its
  position channels, as the BVH grammar allows; :func:`hf_skeleton.load_skeleton` reads them back.
- A BVH joint has one rotation and fixed offsets, so rotations alone reproduce a joint exactly when its
  bone keeps its length and, under a joint with several children, when those children keep their
  layout relative to each other (true of anything made by forward kinematics: BVH, SMPL/HumanML3D;
  not of Kinect or video estimates, whose bones stretch). With ``exact=True`` (the default) each joint
  whose bone, seen from its parent, leaves its rest offset by more than ``tolerance`` (clip units,
  default 5e-5) in some frame gets ``Xposition Yposition Zposition`` channels holding the difference (a
  per-frame offset correction, which BVH allows on any joint), so every position round-trips; rigid
  joints keep rotation channels only. ``exact=False`` writes a rigid skeleton
  (rotation channels only, root aside) and the residual becomes the error.
- Joints the mask leaves unobserved are filled in first (interpolated in time; a joint never observed
  sits on its parent); leaves get an ``End Site`` at offset 0. Joints are written depth first, so a
  round trip gives the same names, possibly in another order; whitespace in a name becomes ``_``.
"""

from __future__ import annotations

import io
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from ...errors import SkeletonInputError
from ..readers.bvh import BVHHierarchy, forward_kinematics
from ..sequence import SkeletonSequence
from ._common import fill_missing, one_person

ROTATION_CHANNELS = ["zrotation", "xrotation", "yrotation"]
POSITION_CHANNELS = ["xposition", "yposition", "zposition"]
DEFAULT_TOLERANCE = 5e-5


@dataclass
class BVHFit:
    """A hierarchy, its motion values and what rotations alone would leave.

    Attributes:
        hierarchy: joints in file (depth-first) order; ``order[i]`` is the format joint of file joint i.
        values: float64 (T, C) channel values in file order.
        order: format joint index of each file joint.
        rigid_error: float64 (J,) per format joint, the largest distance over the clip between its
            position and the one rotations alone give; 0 for joints given position channels (which
            correct exactly that).
    """

    hierarchy: BVHHierarchy
    values: np.ndarray
    order: list[int]
    rigid_error: np.ndarray


def _depth_first(parents: list[int]) -> list[int]:
    children: dict[int, list[int]] = {}
    for j, p in enumerate(parents):
        children.setdefault(p, []).append(j)
    order, stack = [], list(reversed(children.get(-1, [])))
    while stack:
        j = stack.pop()
        order.append(j)
        stack.extend(reversed(children.get(j, [])))
    return order


def rest_offsets(positions: np.ndarray, parents: list[int] | tuple[int, ...]) -> np.ndarray:
    """(J, 3) rest offsets (root: 0): each bone's component-wise median vector rescaled to its median
    length; the children of a joint with several are taken together instead (their layout must be one
    rigid configuration): their bones at the most typical frame, then, twice, the median of their bones
    seen from the joint (each frame turned back by the Kabsch fit), rescaled to the median lengths."""
    J = positions.shape[1]
    parents = [int(p) for p in parents]
    bones = np.zeros_like(positions)
    offsets = np.zeros((J, 3))
    for j, p in enumerate(parents):
        if p < 0:
            continue
        bone = bones[:, j] = positions[:, j] - positions[:, p]
        length = float(np.median(np.linalg.norm(bone, axis=-1)))
        direction = np.median(bone, axis=0)
        norm = float(np.linalg.norm(direction))
        if norm <= 1e-3 * length:  # a bone swinging all round: its first frame's direction
            direction, norm = bone[0], float(np.linalg.norm(bone[0]))
        offsets[j] = direction * (length / norm) if norm > 0 else 0.0
    lengths = np.linalg.norm(offsets, axis=-1)
    for j in range(J):
        kids = [c for c, p in enumerate(parents) if p == j and lengths[c] > 1e-9 * max(lengths.max(), 1e-12)]
        if len(kids) < 2:
            continue
        b = bones[:, kids]
        typical = int(np.argmin(np.linalg.norm(b - offsets[kids], axis=-1).sum(-1)))
        group = b[typical].copy()
        for _ in range(2):
            seen = np.einsum("tba,tcb->tca", kabsch(group, b), b)  # R^T b: bones in the joint's frame
            group = np.median(seen, axis=0)
            norms = np.linalg.norm(group, axis=-1, keepdims=True)
            group = np.where(norms > 0, group * (lengths[kids][:, None] / np.maximum(norms, 1e-300)), b[typical])
        offsets[kids] = group
    return offsets


def shortest_arc(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Rotation matrices (..., 3, 3) taking direction ``a`` (3,) onto directions ``b`` (..., 3) by the
    smallest angle; identity where ``b`` is zero or not finite."""
    a = a / np.linalg.norm(a)
    with np.errstate(all="ignore"):
        b = b / np.linalg.norm(b, axis=-1, keepdims=True)
    ok = np.isfinite(b).all(-1)
    b = np.where(ok[..., None], b, a)
    axis = np.cross(a, b)
    s = np.linalg.norm(axis, axis=-1)
    c = (b * a).sum(-1)
    angle = np.arctan2(s, c)
    perp = np.cross(a, np.eye(3)[np.argmin(np.abs(a))])  # for opposite directions
    perp /= np.linalg.norm(perp)
    with np.errstate(all="ignore"):
        unit = np.where((s > 1e-12)[..., None], axis / s[..., None], perp)
    return Rotation.from_rotvec((unit * angle[..., None]).reshape(-1, 3)).as_matrix().reshape(b.shape[:-1] + (3, 3))


def kabsch(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Rotations (T, 3, 3) minimising sum_c |R src_c - dst[t, c]|^2, for src (C, 3), dst (T, C, 3)."""
    H = np.einsum("ca,tcb->tab", src, dst)
    U, _, Vt = np.linalg.svd(H)
    d = np.sign(np.linalg.det(np.einsum("tba,tcb->tac", Vt, U)))
    d[d == 0] = 1.0
    D = np.zeros_like(H)
    D[:, 0, 0] = D[:, 1, 1] = 1.0
    D[:, 2, 2] = d
    return np.einsum("tba,tbc,tdc->tad", Vt, D, U)


def fit_bvh(positions: np.ndarray, parents: list[int] | tuple[int, ...], names: list[str] | tuple[str, ...], *,
            exact: bool = True, tolerance: float = DEFAULT_TOLERANCE) -> BVHFit:
    """A BVH hierarchy and motion for positions (T, J, 3) of a tree ``parents`` (see the module docstring)."""
    pos = np.asarray(positions, dtype=np.float64)
    parents = [int(p) for p in parents]
    T, J, _ = pos.shape
    offsets = rest_offsets(pos, parents)
    lengths = np.linalg.norm(offsets, axis=-1)
    scale = max(float(lengths.max(initial=0.0)), 1e-12)
    children: dict[int, list[int]] = {}
    for j, p in enumerate(parents):
        children.setdefault(p, []).append(j)
    order = _depth_first(parents)
    glob = np.empty((T, J, 3, 3))
    local = np.empty((T, J, 3, 3))
    for j in order:
        p = parents[j]
        parent_rot = glob[:, p] if p >= 0 else np.broadcast_to(np.eye(3), (T, 3, 3))
        kids = [c for c in children.get(j, []) if lengths[c] > 1e-9 * scale]
        # each child's observed bone, in the frame of j's parent
        target = np.einsum("tba,tcb->tca", parent_rot, pos[:, kids] - pos[:, j:j + 1])
        if not kids:
            local[:, j] = np.eye(3)
        elif len(kids) == 1:
            local[:, j] = shortest_arc(offsets[kids[0]], target[:, 0])
        else:
            local[:, j] = kabsch(offsets[kids], np.nan_to_num(target))
        glob[:, j] = parent_rot @ local[:, j]
    # what rotations alone give, and the per-joint corrections
    rigid = np.empty_like(pos)
    correction = np.zeros_like(pos)
    for j in order:
        p = parents[j]
        if p < 0:
            rigid[:, j] = pos[:, j]
            continue
        rigid[:, j] = rigid[:, p] + glob[:, p] @ offsets[j]
        correction[:, j] = np.einsum("tba,tb->ta", glob[:, p], pos[:, j] - pos[:, p]) - offsets[j]
    rigid_error = np.linalg.norm(rigid - pos, axis=-1).max(axis=0)
    stretchy = np.abs(correction).max(axis=0).max(axis=-1) > tolerance if exact else np.zeros(J, bool)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # gimbal lock: the angles still give the same matrix
        euler = Rotation.from_matrix(local.reshape(-1, 3, 3)).as_euler("ZXY", degrees=True).reshape(T, J, 3)
    euler = np.unwrap(euler, period=360.0, axis=0)
    h = BVHHierarchy()
    file_index = {j: i for i, j in enumerate(order)}
    columns = []
    used: set[str] = set()
    for j in order:
        name = re.sub(r"\s+", "_", str(names[j])) or f"joint{j}"
        while name in used:
            name += "_"
        used.add(name)
        h.names.append(name)
        h.parents.append(file_index[parents[j]] if parents[j] >= 0 else -1)
        h.offsets.append(offsets[j])
        if parents[j] < 0:
            h.channels.append(POSITION_CHANNELS + ROTATION_CHANNELS)
            columns += [pos[:, j], euler[:, j]]
        elif stretchy[j]:
            h.channels.append(POSITION_CHANNELS + ROTATION_CHANNELS)
            columns += [correction[:, j], euler[:, j]]
        else:
            h.channels.append(list(ROTATION_CHANNELS))
            columns.append(euler[:, j])
        if not children.get(j):
            h.end_sites.append((len(h.names) - 1, np.zeros(3)))
    values = np.concatenate(columns, axis=1)
    return BVHFit(h, values, order, np.where(stretchy, 0.0, rigid_error))


def _hierarchy_text(h: BVHHierarchy) -> str:
    out = ["HIERARCHY"]
    ends = {j for j, _ in h.end_sites}
    kids: dict[int, list[int]] = {}
    for j, p in enumerate(h.parents):
        kids.setdefault(p, []).append(j)

    def num(v: float) -> str:
        return f"{float(v):.9g}"

    def block(j: int, depth: int) -> None:
        pad = "  " * depth
        out.append(f"{pad}{'ROOT' if h.parents[j] < 0 else 'JOINT'} {h.names[j]}")
        out.append(f"{pad}{{")
        out.append(f"{pad}  OFFSET {' '.join(num(v) for v in h.offsets[j])}")
        out.append(f"{pad}  CHANNELS {len(h.channels[j])} " + " ".join(c[0].upper() + c[1:] for c in h.channels[j]))
        for c in kids.get(j, []):
            block(c, depth + 1)
        if j in ends:
            out.extend([f"{pad}  End Site", f"{pad}  {{", f"{pad}    OFFSET 0 0 0", f"{pad}  }}"])
        out.append(f"{pad}}}")

    for root in kids.get(-1, []):  # one ROOT block per disconnected part of a forest format
        block(root, 0)
    return "\n".join(out) + "\n"


def write_bvh(seq: SkeletonSequence, path: str | Path, *, person: int | None = None, exact: bool = True,
              tolerance: float = DEFAULT_TOLERANCE) -> Path:
    """Write ``seq`` (any format) as BVH: see the module docstring. ``person`` picks one person of a
    multi-person clip; ``exact``/``tolerance`` decide which joints get position channels."""
    try:
        tolerance = float(tolerance)
    except (TypeError, ValueError):
        tolerance = float("nan")
    if not np.isfinite(tolerance) or tolerance < 0:
        raise SkeletonInputError("tolerance", "a non-negative number (clip units)", tolerance)
    pos, mask = one_person(seq, person, "BVH file")
    pos = fill_missing(pos, mask, seq.format.parents)
    fit = fit_bvh(pos, seq.format.parents, seq.format.joints, exact=bool(exact), tolerance=tolerance)
    buf = io.StringIO()
    buf.write(_hierarchy_text(fit.hierarchy))
    buf.write(f"MOTION\nFrames: {len(fit.values)}\nFrame Time: {1.0 / seq.fps:.9g}\n")
    np.savetxt(buf, fit.values, fmt="%.9g")
    path = Path(path)
    path.write_text(buf.getvalue())
    return path


__all__ = ["BVHFit", "fit_bvh", "forward_kinematics", "kabsch", "rest_offsets", "shortest_arc", "write_bvh"]
