"""NTU RGB+D ``.skeleton`` files (the official Kinect v2 text export), read and written.

Layout: the frame count; per frame the body count; per body one line of 10 body values
(``bodyID clippedEdges handLeftConfidence handLeftState handRightConfidence handRightState isRestricted
leanX leanY trackingState``), the joint count (25) and one line per joint with 12 values
(``x y z depthX depthY colorX colorY orientationW orientationX orientationY orientationZ
trackingState``). Bodies become persons by their ``bodyID`` (first-appearance order).
File names ``SsssCcccPpppRrrrAaaa`` give setup, camera, performer, replication and action.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from ...errors import SkeletonFileError, SkeletonInputError
from ..sequence import SkeletonSequence
from ._common import check_dense_size, decimal_int, read_text

NTU_FPS = 30.0
NTU_JOINTS = 25
_NAME = re.compile(r"S(\d{3})C(\d{3})P(\d{3})R(\d{3})A(\d{3})")

# NTU RGB+D 60 action names, A001..A060 (the dataset's own class list; 50-60 are two-person actions).
NTU60_ACTIONS = (
    "drink water", "eat meal/snack", "brushing teeth", "brushing hair", "drop", "pickup", "throw",
    "sitting down", "standing up (from sitting position)", "clapping", "reading", "writing", "tear up paper",
    "wear jacket", "take off jacket", "wear a shoe", "take off a shoe", "wear on glasses", "take off glasses",
    "put on a hat/cap", "take off a hat/cap", "cheer up", "hand waving", "kicking something",
    "reach into pocket", "hopping (one foot jumping)", "jump up", "make a phone call/answer phone",
    "playing with phone/tablet", "typing on a keyboard", "pointing to something with finger",
    "taking a selfie", "check time (from watch)", "rub two hands together", "nod head/bow", "shake head",
    "wipe face", "salute", "put the palms together", "cross hands in front (say stop)", "sneeze/cough",
    "staggering", "falling", "touch head (headache)", "touch chest (stomachache/heart pain)",
    "touch back (backache)", "touch neck (neckache)", "nausea or vomiting condition",
    "use a fan (with hand or paper)/feeling warm", "punching/slapping other person", "kicking other person",
    "pushing other person", "pat on back of other person", "point finger at the other person",
    "hugging other person", "giving something to other person", "touch other person's pocket",
    "handshaking", "walking towards each other", "walking apart from each other",
)


class _Lines:
    def __init__(self, path: Path, text: str):
        self.path = path
        self.lines = text.splitlines()
        self.i = 0

    def take(self, expected: str) -> tuple[str, int]:
        while self.i < len(self.lines) and not self.lines[self.i].strip():
            self.i += 1
        if self.i >= len(self.lines):
            raise SkeletonFileError(self.path, f"line {len(self.lines) + 1}", expected, "end of file")
        self.i += 1
        return self.lines[self.i - 1], self.i

    def count(self, what: str, hi: int) -> int:
        line, n = self.take(what)
        tok = line.strip()
        value = decimal_int(tok)
        if value is None or value > hi:
            raise SkeletonFileError(self.path, f"line {n}", f"{what} (an integer 0..{hi})", tok[:40])
        return value

    def numbers(self, count: int, what: str) -> tuple[list[str], int]:
        line, n = self.take(what)
        toks = line.split()
        if len(toks) != count:
            raise SkeletonFileError(self.path, f"line {n}", f"{count} values ({what})", f"{len(toks)} values")
        return toks, n


def _floats(path: Path, rows: list[list[str]], lines: list[int], what: str) -> np.ndarray:
    try:
        return np.array(rows, dtype=np.float64)
    except ValueError:
        for row, n in zip(rows, lines):
            for tok in row:
                try:
                    float(tok)
                except ValueError:
                    raise SkeletonFileError(path, f"line {n}", f"numbers ({what})", tok[:40]) from None
        raise


def read_ntu_skeleton(path: Path, *, min_tracking_state: int = 1, max_persons: int | None = None,
                      fps: float = NTU_FPS) -> SkeletonSequence:
    """An NTU ``.skeleton`` file: positions (T, P, 25, 3) metres (camera space), ``kinect_v2``,
    orientations (T, P, 25, 3, 3) from the joint quaternions.

    Args:
        min_tracking_state: joints with trackingState below it are masked (0 untracked, 1 inferred,
            2 tracked).
        max_persons: keep the bodies seen in the most frames (NTU's noisy extra detections).

    ``meta``: ``label`` (action number), ``label_name`` (NTU-60 classes), ``setup``, ``camera``, ``performer``, ``replication``,
    ``body_ids``, ``tracking_state`` int8 (T, P, J), ``depth_xy`` / ``color_xy`` float32 (T, P, J, 2).
    """
    path = Path(path)
    text = read_text(path)
    src = _Lines(path, text)
    T = src.count("the frame count", 10**6)
    if T < 1:
        raise SkeletonFileError(path, "line 1", "a frame count >= 1", T)
    check_dense_size(path, "frame count x bodies", (T, 1, NTU_JOINTS, 21), len(text))  # at least one body slot
    frames: list[list[tuple[str, np.ndarray, np.ndarray]]] = []
    for _ in range(T):
        bodies = []
        for _b in range(src.count("the body count", 64)):
            body, _n = src.numbers(10, "body values")
            joints = src.count("the joint count", 10**4)
            if joints != NTU_JOINTS:
                raise SkeletonFileError(path, f"line {src.i}", f"{NTU_JOINTS} joints (Kinect v2)", joints)
            rows, nums = zip(*(src.numbers(12, "joint values") for _j in range(NTU_JOINTS)))
            values = _floats(path, list(rows), list(nums), "joint values")
            bodies.append((body[0], values, np.array(nums)))
        frames.append(bodies)
    extra = src.lines[src.i:]
    if any(line.strip() for line in extra):
        raise SkeletonFileError(path, f"line {src.i + 1}", "end of file after the last frame",
                                next(line for line in extra if line.strip())[:40])

    ids: list[str] = []
    seen: dict[str, int] = {}
    for bodies in frames:
        for bid, _, _ in bodies:
            if bid not in seen:
                ids.append(bid)
                seen[bid] = 0
            seen[bid] += 1
    if max_persons is not None and len(ids) > max_persons:
        keep = set(sorted(ids, key=lambda b: -seen[b])[:max_persons])
        ids = [b for b in ids if b in keep]
    slot = {b: p for p, b in enumerate(ids)}
    P = max(len(ids), 1)
    # 12 values + a 3 x 3 orientation per joint: frames without bodies are cheap in text, not here
    check_dense_size(path, "frame count x bodies", (T, P, NTU_JOINTS, 21), len(text))
    raw = np.zeros((T, P, NTU_JOINTS, 12))
    for t, bodies in enumerate(frames):
        for bid, values, _ in bodies:
            if bid in slot:
                raw[t, slot[bid]] = values
    state = raw[..., 11]
    mask = (state >= min_tracking_state) & np.isfinite(raw[..., :3]).all(-1)
    present = np.zeros((T, P), bool)
    for t, bodies in enumerate(frames):
        for bid, _, _ in bodies:
            if bid in slot:
                present[t, slot[bid]] = True
    mask &= present[..., None]
    quat = raw[..., 7:11]  # w, x, y, z
    with np.errstate(all="ignore"):
        norm = np.linalg.norm(np.nan_to_num(quat, posinf=np.inf, neginf=-np.inf), axis=-1)
    good = np.isfinite(quat).all(-1) & np.isfinite(norm) & (norm > 1e-8)
    ori = np.broadcast_to(np.eye(3), (T, P, NTU_JOINTS, 3, 3)).copy()
    if good.any():
        ori[good] = Rotation.from_quat(quat[good], scalar_first=True).as_matrix()
    meta = {"dataset": "ntu_rgbd", "clip": path.stem, "body_ids": ids,
            "tracking_state": np.nan_to_num(state).clip(-1, 2).astype(np.int8),
            "depth_xy": raw[..., 3:5].astype(np.float32), "color_xy": raw[..., 5:7].astype(np.float32)}
    m = _NAME.search(path.stem)
    if m is not None:
        setup, camera, performer, replication, action = (int(g) for g in m.groups())
        meta.update(setup=setup, camera=camera, performer=performer, replication=replication, label=action)
        if 1 <= action <= len(NTU60_ACTIONS):
            meta["label_name"] = NTU60_ACTIONS[action - 1]
    return SkeletonSequence(positions=raw[..., :3].astype(np.float32), mask=mask, fps=fps, format="kinect_v2",
                            meta=meta, orientations=ori.astype(np.float32))


def write_ntu_skeleton(seq: SkeletonSequence, path: str | Path, *, body_ids: list[str] | None = None) -> Path:
    """Write a ``kinect_v2`` sequence in NTU's ``.skeleton`` text format.

    A person appears in a frame when any of its joints is observed; masked joints get
    trackingState 0. Orientations (identity when absent), ``meta["tracking_state"]``,
    ``meta["depth_xy"]`` and ``meta["color_xy"]`` are written when present (zeros otherwise), so a file
    read by :func:`read_ntu_skeleton` writes back to the same values.
    """
    if seq.format.num_joints != NTU_JOINTS or seq.format.name != "kinect_v2":
        raise SkeletonInputError("seq.format", "kinect_v2 (25 joints); convert with seq.to_format('kinect_v2')",
                                 seq.format.name)
    T, P, J = seq.mask.shape
    ids = list(body_ids or seq.meta.get("body_ids") or [])
    ids = ids + [str(72057594037928000 + p) for p in range(len(ids), P)]
    ori = seq.orientations if seq.orientations is not None else np.broadcast_to(np.eye(3), (T, P, J, 3, 3))
    quat = Rotation.from_matrix(ori.reshape(-1, 3, 3).astype(np.float64)).as_quat(scalar_first=True)
    quat = quat.reshape(T, P, J, 4)

    def extra(key: str, shape: tuple[int, ...], default: np.ndarray) -> np.ndarray:
        value = seq.meta.get(key)
        return np.asarray(value) if isinstance(value, np.ndarray) and value.shape == shape else default

    state = extra("tracking_state", (T, P, J), np.where(seq.mask, 2, 0))
    state = np.where(seq.mask, np.maximum(state, 1), 0)
    depth = extra("depth_xy", (T, P, J, 2), np.zeros((T, P, J, 2)))
    color = extra("color_xy", (T, P, J, 2), np.zeros((T, P, J, 2)))
    out = [str(T)]
    for t in range(T):
        people = [p for p in range(P) if seq.mask[t, p].any()]
        out.append(str(len(people)))
        for p in people:
            out.append(f"{ids[p]} 0 0 0 0 0 0 0 0 2")
            out.append(str(J))
            for j in range(J):
                vals = (*seq.positions[t, p, j], *depth[t, p, j], *color[t, p, j], *quat[t, p, j])
                out.append(" ".join(f"{float(v):.9g}" for v in vals) + f" {int(state[t, p, j])}")
    path = Path(path)
    path.write_text("\n".join(out) + "\n")
    return path
