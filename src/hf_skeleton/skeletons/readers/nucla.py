"""N-UCLA Multiview Action3D clips as laid out by CTR-GCN: one JSON per clip.

``{"file_name": "a01_s01_e00_v01", "skeletons": (T, 20, 3) metres, "label": 1..10}``; Kinect v1
joint order, 30 fps. Subject, episode and view come from the ``aNN_sNN_eNN_vNN`` file name.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ...errors import SkeletonFileError
from ..sequence import SkeletonSequence
from ._common import as_int, float_array, json_keys, read_json, require_key

# JSON label 1..10 in this order; the file-name prefix aNN uses the original action ids.
NUCLA_ACTIONS = ("pick up with one hand", "pick up with two hands", "drop trash", "walk around", "sit down",
                 "stand up", "donning", "doffing", "throw", "carry")
NUCLA_ACTION_IDS = (1, 2, 3, 4, 5, 6, 8, 9, 11, 12)
NUCLA_FPS = 30.0
_NAME = re.compile(r"a(\d{1,9})_s(\d{1,9})_e(\d{1,9})_v(\d{1,9})(?!\d)")  # bounded: int() of 4,300+ digits raises


def is_nucla_json(path: Path) -> bool:
    keys = json_keys(path)
    return "skeletons" in keys and "label" in keys


def read_nucla_json(path: Path, *, fps: float = NUCLA_FPS) -> SkeletonSequence:
    """One N-UCLA clip: positions (T, 1, 20, 3) in metres, ``kinect_v1``.

    ``meta``: ``label`` (1..10 as in the file), ``label_name``, ``action_id`` (the ``aNN`` number),
    ``subject``, ``episode``, ``view`` (from the file name), ``dataset = "nw_ucla"``.
    """
    path = Path(path)
    obj = read_json(path)
    raw = require_key(path, obj, "skeletons")
    label = as_int(path, "label", require_key(path, obj, "label"), 1, len(NUCLA_ACTIONS))
    pos = float_array(path, "skeletons", raw, "a (T, 20, 3) nested list of numbers")
    if pos.ndim != 3 or pos.shape[0] < 1 or pos.shape[1:] != (20, 3):
        raise SkeletonFileError(path, "skeletons", "shape (T >= 1, 20, 3)", tuple(pos.shape))
    meta = {"dataset": "nw_ucla", "label": label, "label_name": NUCLA_ACTIONS[label - 1]}
    name = obj.get("file_name") if isinstance(obj.get("file_name"), str) else path.stem
    m = _NAME.search(name) or _NAME.search(path.stem)
    if m is not None:
        action, subject, episode, view = (int(g) for g in m.groups())
        meta.update(action_id=action, subject=subject, episode=episode, view=view)
    meta["clip"] = name
    return SkeletonSequence(positions=pos[:, None].astype(np.float32), fps=fps, format="kinect_v1", meta=meta)
