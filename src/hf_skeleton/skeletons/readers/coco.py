"""COCO keypoint annotations (``images`` + ``annotations`` with 17 x (x, y, v) ``keypoints``) as a clip.

Each image is a frame (ordered by ``frame_id`` where given, as in PoseTrack-style files, else by
the order of ``images``); annotations of one image are its persons, slotted by ``track_id`` when
every annotation has one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ...errors import SkeletonFileError
from ..formats import get_format
from ..sequence import SkeletonSequence
from ._common import as_int, check_dense_size, float_array, json_keys, read_json, regular_file_size, require_key

COCO_FPS = 30.0


def is_coco_json(path: Path) -> bool:
    keys = json_keys(path)
    return "annotations" in keys and "images" in keys


def _hashable(path: Path, field: str, value: Any) -> Any:
    if isinstance(value, (int, str)) and not isinstance(value, bool):
        return value
    raise SkeletonFileError(path, field, "an integer or string id", value)


def read_coco(path: Path, *, fps: float = COCO_FPS, threshold: float = 0.0,
              format: str = "coco17") -> SkeletonSequence:
    """A COCO keypoint file: positions (T, P, 17, 3) pixels, z = 0; mask = visibility ``v`` > threshold
    (COCO: 0 unlabelled, 1 labelled but hidden, 2 visible; detector outputs put a score there).

    ``meta``: ``image_ids``, ``file_names``, ``track_ids`` (when tracked), ``visibility`` float32 (T, P, J).
    """
    path = Path(path)
    fmt = get_format(format)
    J = fmt.num_joints
    obj = read_json(path)
    anns = require_key(path, obj, "annotations")
    images = require_key(path, obj, "images")
    if not isinstance(anns, list) or not isinstance(images, list):
        raise SkeletonFileError(path, "annotations/images", "two lists", (type(anns).__name__, type(images).__name__))
    cats = obj.get("categories") or []
    if not isinstance(cats, list):
        raise SkeletonFileError(path, "categories", "a list", type(cats).__name__)
    for c, cat in enumerate(cats):
        names = cat.get("keypoints") if isinstance(cat, dict) else None
        if isinstance(names, list) and names and len(names) != J:
            raise SkeletonFileError(path, f"categories[{c}].keypoints", f"{J} keypoint names ({fmt.name})",
                                    len(names))
    frame_of: dict[Any, int] = {}
    keyed = []
    for i, img in enumerate(images):
        iid = _hashable(path, f"images[{i}].id", require_key(path, img, "id", f"images[{i}]"))
        if iid in frame_of:
            raise SkeletonFileError(path, f"images[{i}].id", "unique image ids", iid)
        frame_of[iid] = i
        fid = img.get("frame_id", img.get("frame_index"))
        keyed.append((as_int(path, f"images[{i}].frame_id", fid) if fid is not None else i, i))
    rows = []
    for a, ann in enumerate(anns):
        iid = _hashable(path, f"annotations[{a}].image_id",
                        require_key(path, ann, "image_id", f"annotations[{a}]"))
        if iid not in frame_of:
            raise SkeletonFileError(path, f"annotations[{a}].image_id", "the id of an entry in images", iid)
        kp = float_array(path, f"annotations[{a}].keypoints", require_key(path, ann, "keypoints", f"annotations[{a}]"),
                         f"{3 * J} numbers")
        if kp.ndim != 1 or kp.size != 3 * J:
            raise SkeletonFileError(path, f"annotations[{a}].keypoints", f"{3 * J} numbers ({J} x (x, y, v))",
                                    f"shape {kp.shape}")
        tid = ann.get("track_id")
        rows.append((frame_of[iid], None if tid is None else _hashable(path, f"annotations[{a}].track_id", tid),
                     kp.reshape(J, 3)))
    if not images:
        raise SkeletonFileError(path, "images", "at least one image (frame)", "an empty list")
    order = [i for _, i in sorted(keyed)]
    t_of = {i: t for t, i in enumerate(order)}
    tracked = bool(rows) and all(tid is not None for _, tid, _ in rows)
    per_frame: dict[int, list] = {}
    for img, tid, kp in rows:
        per_frame.setdefault(t_of[img], []).append((tid, kp))
    if tracked:
        track_ids = sorted({tid for _, tid, _ in rows}, key=str)
        slot = {tid: k for k, tid in enumerate(track_ids)}
        if any(len({tid for tid, _ in people}) != len(people) for people in per_frame.values()):
            raise SkeletonFileError(path, "annotations.track_id", "each track at most once per image", "a repeat")
        P = len(track_ids)
    else:
        P = max([len(p) for p in per_frame.values()] + [1])
    check_dense_size(path, "images x tracks" if tracked else "images x persons", (len(images), P, J, 3),
                     regular_file_size(path))
    data = np.zeros((len(images), P, J, 3))
    for t, people in per_frame.items():
        for k, (tid, kp) in enumerate(people):
            data[t, slot[tid] if tracked else k] = kp
    vis = data[..., 2]
    with np.errstate(invalid="ignore"):
        mask = np.isfinite(vis) & (vis > threshold)
    positions = data.copy()
    positions[..., 2] = 0.0
    meta = {"dataset": "coco", "clip": path.stem, "visibility": np.nan_to_num(vis).astype(np.float32),
            "image_ids": [images[i]["id"] for i in order],
            "file_names": [images[i].get("file_name") for i in order]}
    if tracked:
        meta["track_ids"] = track_ids
    return SkeletonSequence(positions=positions.astype(np.float32), mask=mask, fps=fps, format=fmt, meta=meta)
