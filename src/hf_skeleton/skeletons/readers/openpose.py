"""OpenPose JSON keypoints: one file per frame (``people[i]["pose_keypoints_2d"]`` = 25 x (x, y, c)
in pixels), or a folder of such files holding one clip (Pose2Sim's per-camera ``*_json`` folders)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ...errors import SkeletonFileError
from ..formats import get_format
from ..sequence import SkeletonSequence
from ._common import check_dense_size, float_array, json_keys, natural_key, read_json, regular_file_size, require_key

OPENPOSE_FPS = 30.0


def is_openpose_json(path: Path) -> bool:
    return "people" in json_keys(path)


def _frame_files(path: Path) -> list[Path]:
    try:
        # every *.json entry is a frame: one that is not a readable regular file (a FIFO, a device, a
        # dangling link, a folder) is a typed error when read, not a frame silently dropped
        files = [f for f in path.iterdir() if f.suffix.lower() == ".json"]
    except OSError as e:
        raise SkeletonFileError(path, None, "a readable folder", f"{type(e).__name__}: {e}") from None
    return sorted(files, key=lambda f: natural_key(f.name))


def is_openpose_folder(path: Path) -> bool:
    files = _frame_files(Path(path))
    return bool(files) and is_openpose_json(files[0])


def _people(path: Path, obj: Any, key: str, J: int) -> tuple[list[np.ndarray], list[int | None]]:
    """(J, 3) keypoints and the tracked id (or None) of each person in one frame file."""
    people = require_key(path, obj, "people")
    if not isinstance(people, list):
        raise SkeletonFileError(path, "people", "a list of persons", type(people).__name__)
    out, ids = [], []
    for i, person in enumerate(people):
        kp = require_key(path, person, key, f"people[{i}]")
        arr = float_array(path, f"people[{i}].{key}", kp, f"a flat list of {J} x (x, y, confidence) numbers")
        if arr.size == 0:  # a person entry without body keypoints: fully unobserved
            arr = np.zeros((J, 3))
        elif arr.ndim != 1 or arr.size != 3 * J:
            raise SkeletonFileError(path, f"people[{i}].{key}", f"{3 * J} numbers ({J} keypoints x (x, y, c))",
                                    f"shape {arr.shape}")
        out.append(arr.reshape(J, 3))
        pid = person.get("person_id")
        pid = pid[0] if isinstance(pid, list) and len(pid) == 1 else pid
        ids.append(pid if isinstance(pid, int) and not isinstance(pid, bool) and pid >= 0 else None)
    return out, ids


def read_openpose(path: Path, *, fps: float = OPENPOSE_FPS, threshold: float = 0.0,
                  key: str = "pose_keypoints_2d", format: str = "openpose25") -> SkeletonSequence:
    """OpenPose keypoints: positions (T, P, 25, 3) in pixels with z = 0 (``meta["is_2d"]``), mask =
    confidence > ``threshold``; persons padded to the most seen in a frame (slots follow
    ``person_id`` where OpenPose tracked people, else the order in each file).

    Args:
        path: one JSON file (T = 1) or a folder of per-frame JSON files (sorted by name).
        fps: frame rate; OpenPose files do not record it (Pose2Sim's demo is 60 fps).
        threshold: keypoints with confidence at or below it are masked.
        key: which keypoint list to read.

    ``meta``: ``confidence`` float32 (T, P, J), ``frames`` (file names), ``camera`` (folder name).
    """
    path = Path(path)
    fmt = get_format(format)
    J = fmt.num_joints
    files = _frame_files(path) if path.is_dir() else [path]
    if not files:
        raise SkeletonFileError(path, None, "a folder holding OpenPose *.json frame files", "no .json files")
    frames = [_people(f, read_json(f), key, J) for f in files]
    tracked = all(pid is not None for _, ids in frames for pid in ids) and any(ids for _, ids in frames)
    if tracked:
        order = sorted({pid for _, ids in frames for pid in ids})
        slot_of = {pid: k for k, pid in enumerate(order)}
        if any(len(set(ids)) != len(ids) for _, ids in frames):
            tracked = False
    P = max([len(order) if tracked else max((len(p) for p, _ in frames), default=0), 1])
    check_dense_size(path, "frame files x person_ids" if tracked else "frame files x persons", (len(files), P, J, 3),
                     sum(regular_file_size(f) for f in files))
    data = np.zeros((len(files), P, J, 3))
    for t, (people, ids) in enumerate(frames):
        for i, (kp, pid) in enumerate(zip(people, ids)):
            data[t, slot_of[pid] if tracked else i] = kp
    conf = data[..., 2]
    with np.errstate(invalid="ignore"):
        mask = np.isfinite(conf) & (conf > threshold)
    positions = data.copy()
    positions[..., 2] = 0.0
    meta = {"dataset": "openpose", "confidence": np.nan_to_num(conf).astype(np.float32),
            "frames": [f.name for f in files], "clip": path.stem if path.is_file() else path.name}
    if path.is_dir():
        meta["camera"] = path.name.removesuffix("_json")
    return SkeletonSequence(positions=positions.astype(np.float32), mask=mask, fps=fps, format=fmt, meta=meta)
